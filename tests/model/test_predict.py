"""`predict` on what a researcher has (a folder with DICOM and broken files, a label table) and
pre-labels for the pool: a row per image, bad files listed with their reason, nothing overwritten."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from alcore.cli import main
from alcore.modelfolder import write_model_folder
from alcore.modelio import run_model
from alcore.predict import list_inputs
from tests.data.dicom_files import source_image, write_dicom, write_report
from tests.model.conftest import finished_run


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def folder(tmp_path):
    """Two PNGs, a DICOM without an extension (PatientID P042), a broken JPEG, a too small image and a
    DICOM report without pixels."""
    root = tmp_path / "studies"
    (root / "a").mkdir(parents=True)
    xray = (source_image(None, 96) * 255).astype(np.uint8)
    Image.fromarray(xray).save(root / "a" / "one.png")
    Image.fromarray(255 - xray).save(root / "two.png")
    write_dicom(root / "a" / "IM0001", (xray.astype(np.uint16) * 16), 12, patient="P042")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    Image.fromarray(xray[:12, :12]).save(root / "tiny.png")
    write_report(root / "report.dcm")
    return root


def test_predict_writes_a_row_per_image_and_lists_the_files_it_could_not_use(tmp_path, store, folder, capsys):
    run_id = finished_run(store)
    model_dir = tmp_path / "model"
    write_model_folder(run_model(store, run_id), model_dir)
    out = tmp_path / "predictions.csv"

    assert main(["predict", str(model_dir), "--data", str(folder), "--out", str(out), "--quiet"]) == 0

    rows = {row["path"]: row for row in read_csv(out)}
    assert set(rows) == {"a/one.png", "a/IM0001", "two.png", "broken.jpg", "tiny.png", "report.dcm"}
    assert list(read_csv(out)[0]) == ["path", "patient", "p_NORMAL", "p_PNEUMONIA", "predicted", "error"]
    for name in ("a/one.png", "a/IM0001", "two.png"):
        p = float(rows[name]["p_PNEUMONIA"])
        assert 0 <= p <= 1 and abs(float(rows[name]["p_NORMAL"]) + p - 1) < 1e-5 and not rows[name]["error"]
        assert rows[name]["predicted"] in ("NORMAL", "PNEUMONIA")
    assert rows["a/IM0001"]["patient"] == "P042"
    assert "cannot be decoded" in rows["broken.jpg"]["error"] and not rows["broken.jpg"]["p_PNEUMONIA"]
    assert "too small" in rows["tiny.png"]["error"]
    assert "without pixel data" in rows["report.dcm"]["error"]
    printed = capsys.readouterr().out
    assert "wrote 3 predictions" in printed and "3 files could not be used" in printed and "tiny.png" in printed

    assert main(["predict", str(model_dir), "--data", str(folder), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["predict", str(model_dir), "--data", str(folder), "--out", str(out), "--force", "--quiet"]) == 0


def test_predict_reads_a_label_tables_image_and_patient_columns_and_takes_a_run_id(tmp_path, store, folder):
    run_id = finished_run(store)
    table = folder / "labels.csv"
    table.write_text("Image Index,Finding Labels,Patient ID\na/one.png,Pneumonia,P7\ntwo.png,No Finding,P8\n")
    assert [(i.name, i.patient) for i in list_inputs(table)] == [("a/one.png", "P7"), ("two.png", "P8")]
    out = tmp_path / "p.csv"
    assert main(["--out", str(store.root), "predict", run_id, "--data", str(table), "--out", str(out), "--quiet"]) == 0
    assert [(r["path"], r["patient"], r["error"]) for r in read_csv(out)] == [("a/one.png", "P7", ""),
                                                                              ("two.png", "P8", "")]


def test_prelabels_are_the_pools_unlabeled_images_with_their_predictions(tmp_path, store):
    run_id = finished_run(store)
    out = tmp_path / "prelabels.csv"
    assert main(["prelabels", run_id, "--results", str(store.root), "--at", "30", "--out", str(out)]) == 0
    rows = read_csv(out)
    assert list(rows[0]) == ["path", "patient", "p_NORMAL", "p_PNEUMONIA", "predicted", "error", "sample_id"]
    labeled = store.load_round_arrays(run_id, 1)["labeled"]
    assert labeled.sum() == 30 and len(rows) == len(labeled) - 30
    ids = store.load_round_arrays(run_id, 1)["ids"]
    assert {r["sample_id"] for r in rows} == set(ids[~labeled])
    assert all(r["predicted"] in ("NORMAL", "PNEUMONIA") and not r["error"] for r in rows)


def test_bad_data_and_models_get_a_sentence(tmp_path, store, capsys):
    assert main(["predict", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "p.csv")]) == 2
    assert "not a model folder" in capsys.readouterr().err
    run_id = finished_run(store)
    assert main(["--out", str(store.root), "predict", run_id, "--data", str(tmp_path / "nothing"),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--out", str(store.root), "predict", run_id, "--data", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "no image or DICOM file" in capsys.readouterr().err
