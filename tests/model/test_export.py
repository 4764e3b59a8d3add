"""Every run keeps its models; an exported model folder reproduces the run's test probabilities in a
Python process that has never seen alcore; bad model folders get a sentence, not a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from alcore.cli import main
from alcore.data import open_cached
from alcore.modelfolder import load_model_folder, write_model_folder
from alcore.modelio import ModelError, kept_rounds, run_model
from tests.model.conftest import finished_run

# runs in a fresh interpreter, from a folder where alcore cannot be imported: torch and numpy only
STANDALONE = """
import sys, numpy as np, torch
network = torch.export.load(sys.argv[1] + "/model.pt2").module()
images = torch.from_numpy(np.load(sys.argv[2]))
with torch.no_grad():
    np.save(sys.argv[3], network(images).numpy())
assert not any(name == "alcore" or name.startswith("alcore.") for name in sys.modules), "alcore was imported"
try:
    import alcore  # noqa: F401
    raise SystemExit("alcore is importable here: the test proves nothing")
except ImportError:
    pass
"""


def standalone_probabilities(tmp_path, model_dir, images: np.ndarray) -> np.ndarray:
    np.save(tmp_path / "images.npy", np.ascontiguousarray(images))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", STANDALONE, str(model_dir), str(tmp_path / "images.npy"),
                    str(tmp_path / "out.npy")], cwd=tmp_path, env=env, check=True, timeout=300)
    return np.load(tmp_path / "out.npy")


@pytest.mark.parametrize("changes", [dict(regime="frozen"), dict(regime="finetune"),
                                     dict(regime="frozen", head="adamw"),
                                     dict(regime="frozen", second_resolution=24)],
                         ids=["frozen-logistic", "finetune", "frozen-adamw", "frozen-two-scales"])
def test_an_exported_model_reproduces_the_runs_test_probabilities_without_alcore(tmp_path, store, changes):
    run_id = finished_run(store, **changes)
    out = tmp_path / "model"
    assert main(["--out", str(store.root), "export", run_id, "--out", str(out)]) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["classes"] == ["NORMAL", "PNEUMONIA"] and card["labels_used"] == 40 and card["round"] == 2
    assert card["preprocessing"]["resolution"] == 32 and 0 < card["threshold"] < 1
    assert set(card["test_intervals_95"]) >= {"accuracy", "roc_auc"} and "not a medical device" in card["intended_use"].lower()
    assert "not a medical device" in (out / "MODEL_CARD.md").read_text().lower()

    test = open_cached(store.load_resolved(run_id)["data_fingerprint"]).test
    probabilities = standalone_probabilities(tmp_path, out, test.images)

    expected = store.load_round_arrays(run_id, 2)["test_prob"]
    assert probabilities.shape == (len(test), 2)
    np.testing.assert_allclose(probabilities[:, 1], expected, atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)


def test_frozen_runs_keep_every_rounds_head_and_finetune_only_the_last_network(store):
    frozen = finished_run(store, regime="frozen")
    finetune = finished_run(store, regime="finetune")
    nothing = finished_run(store, regime="frozen", keep_models="none")
    assert kept_rounds(store.run_dir(frozen)) == [0, 1, 2]
    assert kept_rounds(store.run_dir(finetune)) == [2]
    assert kept_rounds(store.run_dir(nothing)) == []
    assert run_model(store, frozen, at_labels=30).card["labels_used"] == 30
    with pytest.raises(ModelError, match="kept no model at 35 labels; kept: 20, 30, 40 labels"):
        run_model(store, frozen, at_labels=35)
    with pytest.raises(ModelError, match="kept no model"):
        run_model(store, nothing)


def test_bad_model_folders_and_targets_get_a_sentence(tmp_path, store, capsys):
    run_id = finished_run(store)
    out = tmp_path / "model"
    write_model_folder(run_model(store, run_id), out)
    with pytest.raises(ModelError, match="already exists and is not empty.*--force"):
        write_model_folder(run_model(store, run_id), out)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(ModelError, match="not a model folder: --force replaces only a model folder"):
        write_model_folder(run_model(store, run_id), tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"

    card = json.loads((out / "model.json").read_text())
    (out / "model.json").write_text(json.dumps({**card, "format_version": 99}))
    with pytest.raises(ModelError, match="format version 99.*export it again"):
        load_model_folder(out)
    (out / "model.json").write_text(json.dumps(card))
    (out / "model.pt2").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="cannot be loaded.*damaged"):
        load_model_folder(out)
    with pytest.raises(ModelError, match="not a model folder"):
        load_model_folder(tmp_path)

    assert main(["--out", str(store.root), "export", "no-such-run", "--out", str(tmp_path / "x")]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_the_onnx_file_gives_the_same_probabilities_through_onnx_runtime(tmp_path, store):
    pytest.importorskip("onnx")
    runtime = pytest.importorskip("onnxruntime")
    run_id = finished_run(store, regime="frozen")
    out = tmp_path / "model"
    write_model_folder(run_model(store, run_id), out)
    assert json.loads((out / "model.json").read_text())["files"]["onnx"] == "model.onnx"
    test = open_cached(store.load_resolved(run_id)["data_fingerprint"]).test
    session = runtime.InferenceSession(str(out / "model.onnx"))
    [probabilities] = session.run(None, {"images": np.ascontiguousarray(test.images)})
    np.testing.assert_allclose(probabilities[:, 1], store.load_round_arrays(run_id, 2)["test_prob"], atol=1e-5)
