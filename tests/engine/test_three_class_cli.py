"""A three-class synthetic run end to end through the CLI (run, show, summary, export with its ONNX file,
predict with heat maps) and through the Python API."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from alcore import api
from alcore.cli import main
from alcore.data import open_cached
from alcore.modelfolder import load_model_folder
from alcore.runs import RunStore, probs_from_file

CLASSES = ("NORMAL", "BACTERIAL", "VIRAL")
TINY3 = ["--data", "synthetic", "--synthetic-classes", "3", "--synthetic-size", "150", "--model", "tiny_cnn",
         "--regime", "frozen", "--resolution", "32", "--init", "24", "--budget", "12", "--rounds", "1", "--quiet"]


def test_three_classes_through_the_cli(tmp_path, capsys):
    results = str(tmp_path / "results")
    assert main(["--out", results, "run", *TINY3, "--sampler", "margin", "--seeds", "1", "--experiment", "three"]) == 0
    store = RunStore(results)
    (run_id,) = store.run_ids()
    assert store.classes(run_id) == CLASSES
    capsys.readouterr()
    assert main(["--out", results, "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert "classes: NORMAL, BACTERIAL, VIRAL (argmax: no threshold)" in shown and "macroF1" in shown
    assert main(["--out", results, "summary", "three", "--markdown"]) == 0
    assert "margin" in capsys.readouterr().out
    assert main(["--out", results, "summary", "three"]) == 0
    text = capsys.readouterr().out  # the text table: macro metrics, not the two-class ones no run has
    assert "final_macro_f1_mean" in text and "final_sensitivity_mean" not in text

    model = tmp_path / "model"
    assert main(["--out", results, "export", run_id, "--out", str(model)]) == 0
    card = json.loads((model / "model.json").read_text())
    assert card["classes"] == list(CLASSES) and card["threshold"] is None and card["decision"] == "argmax"
    assert card["positive_class"] is None and set(card["test_metrics_per_class"]) == set(CLASSES)
    assert "macro_f1" in card["test_metrics"] and "argmax" in (model / "MODEL_CARD.md").read_text()

    test = open_cached(store.load_resolved(run_id)["data_fingerprint"]).test
    with torch.no_grad():
        with_network = load_model_folder(model).network(torch.from_numpy(test.images)).numpy()
    expected = probs_from_file(store.load_round_arrays(run_id, 1)["test_prob"])
    np.testing.assert_allclose(with_network, expected, atol=1e-5)  # the run's (n, 3) test probabilities
    if card["files"].get("onnx"):  # the ONNX file has the three outputs too
        runtime = pytest.importorskip("onnxruntime")
        [onnx_probs] = runtime.InferenceSession(str(model / "model.onnx")).run(None, {"images": test.images})
        np.testing.assert_allclose(onnx_probs, expected, atol=1e-5)

    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(test.images[i]).save(images / f"{i}.png")
    predictions, heatmaps = tmp_path / "predictions.csv", tmp_path / "heatmaps"
    # the run's own model (heat maps need its modules; the exported graph has none)
    assert main(["--out", results, "predict", run_id, "--data", str(images), "--out", str(predictions),
                 "--heatmaps", str(heatmaps), "--quiet"]) == 0
    rows = list(csv.DictReader(predictions.open()))
    assert len(rows) == 4 and [f"p_{c}" for c in CLASSES] == [k for k in rows[0] if k.startswith("p_")]
    for row in rows:
        p = [float(row[f"p_{c}"]) for c in CLASSES]
        assert row["predicted"] == CLASSES[int(np.argmax(p))] and abs(sum(p) - 1) < 1e-4
    assert len(list(heatmaps.glob("*.heatmap.png"))) == 4


def test_three_classes_through_the_api(tmp_path):
    cfg = api.config(data="synthetic", synthetic_classes=3, synthetic_size=150, model="tiny_cnn", resolution=32,
                     init_size=24, budget=12, rounds=1, sampler="entropy")
    run_ids = api.run(cfg, out=str(tmp_path))
    assert RunStore(tmp_path).classes(run_ids[0]) == CLASSES
    frame = api.rounds(run_ids, out=str(tmp_path))
    assert list(frame.n_labeled) == [24, 36] and frame.balanced_accuracy.between(0, 1).all()
    assert frame.macro_f1.between(0, 1).all()
