"""The Predict page's content, without streamlit: a run's kept models to choose from, and uploaded
files -> predictions, thumbnails, Grad-CAM overlays and the CSV to download."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from alcore.modelio import kept_rounds
from alcore.predict import (Prediction, decode_input, heatmap_file, list_inputs, open_model, predict,
                            write_predictions)
from alcore.runs import RunStore


@dataclass(frozen=True)
class Shown:
    """One usable upload as the page shows it."""

    prediction: Prediction
    image: np.ndarray  # as the model saw it (uint8, its resolution)
    heatmap: np.ndarray  # (H, W, 3) uint8 overlay


@dataclass(frozen=True)
class Predicted:
    rows: list[Prediction]  # one per upload, failures included
    shown: list[Shown]
    csv: bytes
    classes: list[str]
    threshold: float


def kept_labels(store: RunStore, run_id: str) -> list[int]:
    """Labels used by each round whose model the run kept, latest first."""
    kept = set(kept_rounds(store.run_dir(run_id)))
    return [r.n_labeled for r in reversed(store.load_rounds(run_id)) if r.round in kept]


def predict_uploads(store: RunStore, run_id: str, at_labels: int, uploads: list[tuple[str, bytes]]) -> Predicted:
    """The run's model at `at_labels` on uploaded (file name, content) pairs."""
    model = open_model(run_id, store, at_labels)
    with tempfile.TemporaryDirectory() as scratch:
        folder, heat = Path(scratch) / "uploads", Path(scratch) / "heatmaps"
        folder.mkdir()
        for index, (name, content) in enumerate(uploads):
            (folder / f"{index:03d}-{Path(name).name}").write_bytes(content)
        inputs = list_inputs(folder)
        rows = [_named(row, uploads) for row in predict(model, inputs, heatmaps=heat)]
        shown = [Shown(row, decode_input(item, model.resolution)[0],
                       np.asarray(Image.open(heatmap_file(heat, item.name))))
                 for row, item in zip(rows, inputs) if not row.error]
        csv_path = write_predictions(rows, model.classes, Path(scratch) / "predictions.csv")
        return Predicted(rows, shown, csv_path.read_bytes(), model.classes, model.threshold)


def _named(row: Prediction, uploads: list[tuple[str, bytes]]) -> Prediction:
    """The row under the name the file was uploaded with (not the scratch copy's)."""
    index = int(row.name.split("-", 1)[0])
    return Prediction(uploads[index][0], row.patient, row.probabilities, row.predicted, row.error)


def table(result: Predicted) -> list[dict]:
    """A row per upload: file, patient, p per class (empty for a file that could not be used), decision, problem."""
    return [{"file": row.name, "patient": row.patient,
             **{f"p({name})": round(p, 4) for name, p in zip(result.classes, row.probabilities)},
             "predicted": row.predicted, "problem": row.error} for row in result.rows]


def model_zip(store: RunStore, run_id: str) -> tuple[str, bytes]:
    """(file name, a zip of the model folder of the run's last kept round) for a download."""
    import io
    import zipfile

    from alcore.modelfolder import write_model_folder
    from alcore.modelio import run_model
    model = run_model(store, run_id)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as scratch:
        files = write_model_folder(model, Path(scratch) / "model")
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, f"model/{file.name}")
    return f"{run_id}-model-{model.card['labels_used']}-labels.zip", buffer.getvalue()


def prelabels_csv(store: RunStore, run_id: str) -> tuple[str, bytes]:
    """(file name, the pre-labels CSV of the run's remaining unlabeled pool) for a download."""
    from alcore.predict import pool_prelabels
    model, rows, ids = pool_prelabels(store, run_id)
    with tempfile.TemporaryDirectory() as scratch:
        path = write_predictions(rows, model.classes, Path(scratch) / "prelabels.csv", extra={"sample_id": ids})
        return f"{run_id}-prelabels-{model.card['labels_used']}-labels.csv", path.read_bytes()


def looked_at(store: RunStore, run_id: str, sample_id: str, at_labels: int | None) -> tuple[np.ndarray, int] | None:
    """(the Grad-CAM overlay of a pool image, the labels of the model that made it): the run's model at
    `at_labels` when kept, else its last kept one; None when the run kept no model."""
    import torch

    from alcore.gradcam import grad_cam, overlay
    from alcore.modelio import run_model
    from alcore.viewmodels.image_view import images_by_id
    kept = kept_labels(store, run_id)
    if not kept:
        return None
    model = run_model(store, run_id, at_labels if at_labels in kept else kept[0])
    image = images_by_id(store, run_id, [sample_id])[0]
    heat = grad_cam(model.network, torch.from_numpy(np.ascontiguousarray(image)[None]))[0]
    return overlay(image, heat), model.card["labels_used"]
