"""The data summary reaches the user: `python -m alcore data`, the run's printout and config.json,
and the API (DataError before any run folder; a Path for data; the closest setting named)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alcore import api, cli
from alcore.config import ConfigError, ExperimentConfig
from alcore.data import DataError, DataSummary
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore
from tests.data.dicom_files import source_image, write_dicom


@pytest.fixture
def dicom_tree(tmp_path) -> Path:
    """train/{NORMAL,PNEUMONIA}/*.dcm, 12-bit, one patient per two images, no extension on some."""
    base = source_image(None, 64)
    root = tmp_path / "dicom"
    for label, cls in enumerate(("NORMAL", "PNEUMONIA")):
        for i in range(30):
            image = np.clip(base + 0.15 * label * np.sin(i + np.arange(64))[None, :], 0, 1)
            name = f"{i}.dcm" if i % 3 else f"IMG{i:04d}"
            write_dicom(root / cls / name, np.round(image * 4095).astype(np.uint16), 12, patient=f"{cls}-{i // 2}")
    return root


def test_data_command_prints_the_summary_and_json(dicom_tree, capsys):
    assert cli.main(["data", str(dicom_tree), "--resolution", "32"]) == 0
    text = capsys.readouterr().out
    assert "classes: 0 NORMAL, 1 PNEUMONIA (positive)" in text and "(carved)" in text
    assert cli.main(["data", str(dicom_tree), "--resolution", "32", "--json"]) == 0
    summary = DataSummary.from_dict(json.loads(capsys.readouterr().out))
    assert summary.kind == "folder" and sum(s.images for s in summary.splits.values()) == 60
    assert summary.splits["train"].patients is not None and summary.positive == "PNEUMONIA"


def test_data_command_refusals_name_the_cause(tmp_path, make_image, capsys):
    for name in ("COVID", "Viral"):
        make_image(tmp_path / name / "a.png")
    assert cli.main(["data", str(tmp_path)]) == 2
    assert "--classes" in capsys.readouterr().err
    assert cli.main(["data", str(tmp_path), "--uncertain", "maybe"]) == 2
    assert "uncertain" in capsys.readouterr().err


def test_run_prints_the_summary_before_anything_is_created(dicom_tree, tmp_path, capsys):
    out = tmp_path / "results"
    code = cli.main(["run", "--data", str(dicom_tree), "--resolution", "32", "--init", "500", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and "classes: 0 NORMAL" in captured.out and "init_size" in captured.err
    assert not out.exists() or not any(out.iterdir())


def test_a_run_on_dicom_stores_its_data_summary(dicom_tree, tmp_path):
    store = RunStore(tmp_path / "results")
    cfg = ExperimentConfig(data=str(dicom_tree), model="tiny_cnn", regime="finetune", resolution=32, init_size=10,
                           budget=5, rounds=1, epochs=1, batch_size=8, seed=1, record_embeddings=False)
    run_id = create_run(cfg, store)
    assert execute_run(store, run_id).state == "done"
    summary = DataSummary.from_dict(store.load_resolved(run_id)["data_summary"])
    assert summary.classes == ("NORMAL", "PNEUMONIA") and set(summary.carved) == {"val", "test"}


def test_api_refuses_unusable_data_before_any_run_folder(tmp_path, make_image):
    for name in ("COVID", "Viral"):  # two classes, neither reads as normal: which is positive?
        make_image(tmp_path / "unclear" / name / "a.png")
    out = tmp_path / "results"
    with pytest.raises(DataError, match="--classes"):
        api.run(api.config(data=tmp_path / "unclear", model="tiny_cnn"), out=str(out))
    assert not out.exists() or not any(out.iterdir())


def test_api_config_takes_a_path_names_the_closest_setting_and_summarises(dicom_tree):
    assert api.config(data=dicom_tree).data == str(dicom_tree)
    with pytest.raises(ConfigError, match="did you mean 'budget'"):
        api.config(bugdet=3)
    summary = api.data_summary(data=dicom_tree, resolution=32, classes="healthy=NORMAL,sick=PNEUMONIA")
    assert summary.classes == ("healthy", "sick") and "1 sick (positive) <- PNEUMONIA" in summary.text()
    assert len(api.data(data=dicom_tree, resolution=32).train.patients)


def test_synthetic_classes_from_the_command_line(capsys):
    assert cli.main(["data", "synthetic", "--synthetic-classes", "3", "--resolution", "32"]) == 0
    text = capsys.readouterr().out
    assert "classes: 0 NORMAL, 1 BACTERIAL, 2 VIRAL" in text and "(positive)" not in text
    assert "train     2000          500          750          750" in text
    assert cli.main(["data", "synthetic", "--synthetic-classes", "9"]) == 2
    assert "synthetic_classes must be a whole number from 2 to 8" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["run", "--synthetic-classes", "3", "--synthetic-pneumonia-share", "0.6"])
    cfg = cli.configs_from_args(args)[0]
    assert (cfg.synthetic_classes, cfg.synthetic_pneumonia_share) == (3, 0.6)
