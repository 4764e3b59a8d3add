"""A model applied to images: a folder, a DICOM tree, a label table or single files -> one row each.

Images are decoded by the data layer at the model's resolution (DICOM windowing included), so a
prediction sees what the run's model saw. A file that cannot be used (unreadable, a DICOM without
pixels, too small) gets a row with its reason, never a stop. Labels in a table are not needed.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from alcore.data.decode import decode_file
from alcore.data.dicom import NoPixels, looks_like_dicom
from alcore.data.folder import IMAGE_SUFFIXES, walk
from alcore.data.table import KNOWN_COLUMNS, TABLE_SUFFIXES, is_table
from alcore.modelfolder import LoadedModel, load_model_folder
from alcore.modelio import ModelError, run_model
from alcore.runs import RunStore

MIN_SIDE = 32  # px: a smaller original holds no usable chest X-ray
BATCH = 32  # images decoded and predicted at once


@dataclass(frozen=True)
class ImageInput:
    """One image to predict: how it is named in the output, its file, its patient when known."""

    name: str
    file: Path
    patient: str = ""


@dataclass(frozen=True)
class Prediction:
    name: str
    patient: str
    probabilities: tuple[float, ...] = ()  # in the model's class order; empty when `error`
    predicted: str = ""
    error: str = ""


def open_model(spec: str, store: RunStore, at_labels: int | None = None) -> LoadedModel:
    """A model folder (a path) or a run's kept model (a run id in `store`)."""
    if Path(spec).expanduser().is_dir() and not store.exists(spec):
        return load_model_folder(spec)
    if not store.exists(spec):
        raise ModelError(f"'{spec}' is neither a model folder nor a run in {store.root}/: give the folder "
                         "`python -m alcore export` wrote, or a run id (`python -m alcore list`)")
    model = run_model(store, spec, at_labels)
    return LoadedModel(model.network, model.card)


def list_inputs(data: str | Path) -> list[ImageInput]:
    """The images of a folder (any depth, DICOM with or without extension), a label table's image
    column (paths relative to the table's folder or absolute), or one file. ModelError when none."""
    path = Path(data).expanduser()
    if not path.exists():
        raise ModelError(f"--data {data}: not found; give a folder, a label table (.csv / .tsv) or an image file")
    if path.is_dir():
        found = [ImageInput(str((folder / name).relative_to(path)), folder / name)
                 for folder, names in walk(path) for name in names
                 if not name.startswith(".") and _is_image(folder / name)]
    elif is_table(path):
        found = _table_inputs(path)
    else:
        found = [ImageInput(path.name, path)]
    if not found:
        raise ModelError(f"--data {data}: no image or DICOM file found there")
    return found


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or looks_like_dicom(path)


def _table_inputs(path: Path) -> list[ImageInput]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=TABLE_SUFFIXES[path.suffix.lower()]))
    header = {name.strip().lower().replace("_", " "): name for name in (rows[0] if rows else {})}
    image = next((header[n] for n in KNOWN_COLUMNS["image"] if n in header), None)
    if image is None:
        raise ModelError(f"{path.name}: no image column found (columns: {', '.join(header.values())}); "
                         f"name one of: {', '.join(KNOWN_COLUMNS['image'][:4])}")
    patient = next((header[n] for n in KNOWN_COLUMNS["patient"] if n in header), None)
    inputs = []
    for row in rows:
        cell = (row.get(image) or "").strip()
        if cell:
            file = Path(cell) if Path(cell).is_absolute() else path.parent / cell
            inputs.append(ImageInput(cell, file, (row.get(patient) or "").strip() if patient else ""))
    return inputs


def decode_input(item: ImageInput, resolution: int) -> tuple[np.ndarray, str]:
    """(the image as the model takes it, the DICOM PatientID or ""); ValueError with a person's reason."""
    if not item.file.is_file():
        raise ValueError("file not found")
    side = _original_side(item.file)
    if side is not None and side < MIN_SIDE:
        raise ValueError(f"image too small ({side} px on its short side; at least {MIN_SIDE} px needed)")
    try:
        decoded = decode_file(item.file, resolution)
    except NoPixels as exc:
        raise ValueError(f"DICOM without pixel data ({exc})") from None
    except Exception as exc:  # Pillow's and pydicom's many exceptions all mean "not usable"
        raise ValueError(f"cannot be decoded as an image or DICOM ({type(exc).__name__}: {str(exc)[:120]})") from None
    return decoded.image, decoded.patient


def _original_side(path: Path) -> int | None:
    """The short side of the stored image, without decoding its pixels; None when it cannot tell."""
    try:
        if looks_like_dicom(path):
            import pydicom
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            return min(int(ds.Rows), int(ds.Columns)) if "Rows" in ds and "Columns" in ds else None
        from PIL import Image
        with Image.open(path) as im:
            return min(im.size)
    except Exception:  # the decoder says what is wrong with it
        return None


def predict(model: LoadedModel, inputs: Sequence[ImageInput], on_batch: Callable[[int], None] | None = None,
            heatmaps: Path | None = None) -> list[Prediction]:
    """One Prediction per input, in order; `on_batch(n)` after each batch of n inputs. With `heatmaps`,
    a Grad-CAM overlay PNG per usable image goes into that folder (heatmap_file names it)."""
    results: list[Prediction] = []
    for start in range(0, len(inputs), BATCH):
        batch = inputs[start:start + BATCH]
        results += _predict_batch(model, batch, heatmaps)
        if on_batch:
            on_batch(len(batch))
    return results


def heatmap_file(folder: Path, name: str) -> Path:
    """The overlay of the input named `name` (its path below --data: folders joined by '__')."""
    return folder / (name.replace("/", "__").replace("\\", "__") + ".heatmap.png")


def write_heatmaps(model: LoadedModel, names: Sequence[str], images: Sequence[np.ndarray], folder: Path) -> None:
    """Each image's Grad-CAM overlay for its predicted class (predicted_class: threshold or argmax)."""
    from PIL import Image

    from alcore.gradcam import grad_cam, overlay
    if not len(images):
        return
    folder.mkdir(parents=True, exist_ok=True)
    batch = torch.from_numpy(np.stack(images))
    predicted = [model.classes.index(predicted_class(model, p)) for p in predict_images(model, images)]
    maps = grad_cam(model.network, batch, torch.tensor(predicted))
    for name, image, heat in zip(names, images, maps):
        Image.fromarray(overlay(image, heat)).save(heatmap_file(folder, name))


def _predict_batch(model: LoadedModel, batch: Sequence[ImageInput], heatmaps: Path | None = None) -> list[Prediction]:
    decoded: dict[int, tuple[np.ndarray, str]] = {}
    failed: dict[int, str] = {}
    for i, item in enumerate(batch):
        try:
            decoded[i] = decode_input(item, model.resolution)
        except ValueError as exc:
            failed[i] = str(exc)
    probabilities = predict_images(model, [image for image, _ in decoded.values()])
    if heatmaps is not None:
        write_heatmaps(model, [batch[i].name for i in decoded], [image for image, _ in decoded.values()], heatmaps)
    by_row = dict(zip(decoded, probabilities))
    out = []
    for i, item in enumerate(batch):
        if i in failed:
            out.append(Prediction(item.name, item.patient, error=failed[i]))
            continue
        p = tuple(float(v) for v in by_row[i])
        out.append(Prediction(item.name, item.patient or decoded[i][1], p, predicted_class(model, p)))
    return out


def predict_images(model: LoadedModel, images: Sequence[np.ndarray]) -> np.ndarray:
    """(n, classes) probabilities of uint8 images already at the model's resolution."""
    if not len(images):
        return np.empty((0, len(model.classes)), dtype=np.float32)
    with torch.no_grad():
        return model.network(torch.from_numpy(np.stack(images))).numpy()


def predicted_class(model: LoadedModel, probabilities: Sequence[float]) -> str:
    """The positive class at or above the model's threshold (two classes), else the most probable."""
    if len(model.classes) == 2:
        return model.classes[1] if probabilities[1] >= model.threshold else model.classes[0]
    return model.classes[int(np.argmax(probabilities))]


def write_predictions(rows: Iterable[Prediction], classes: Sequence[str], out: str | Path, force: bool = False,
                      extra: dict[str, Sequence[str]] | None = None) -> Path:
    """The CSV: path, patient, p_<class>..., predicted, error (and `extra` columns, one value per row).
    ModelError when `out` exists, unless `force`."""
    out = Path(out).expanduser()
    if out.exists() and not force:
        raise ModelError(f"{out} already exists: choose another --out, or add --force to replace it")
    rows = list(rows)
    extra = extra or {}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "patient", *(f"p_{c}" for c in classes), "predicted", "error", *extra])
        for i, row in enumerate(rows):
            probabilities = [f"{p:.6f}" for p in row.probabilities] or [""] * len(classes)
            writer.writerow([row.name, row.patient, *probabilities, row.predicted, row.error,
                             *(values[i] for values in extra.values())])
    partial.replace(out)
    return out


def pool_prelabels(store: RunStore, run_id: str, at_labels: int | None = None) -> tuple[LoadedModel, list[Prediction],
                                                                                        list[str]]:
    """The run's model (at `at_labels`, default its last kept round) on the train-pool images that
    model was not trained on: (the model, a Prediction each, their sample ids)."""
    from alcore.data import load_run_data, open_cached

    model = open_model(run_id, store, at_labels)
    fingerprint = store.load_resolved(run_id).get("data_fingerprint", "")
    dataset = (open_cached(fingerprint) if fingerprint else None) or load_run_data(store.load_config(run_id))
    labeled = store.load_round_arrays(run_id, model.card["round"])["labeled"]
    rows = np.flatnonzero(~labeled)
    train = dataset.train
    predictions = []
    for start in range(0, len(rows), BATCH):
        part = rows[start:start + BATCH]
        for row, p in zip(part, predict_images(model, list(np.asarray(train.images[part])))):
            p = tuple(float(v) for v in p)
            patient = str(train.patients[row]) if train.patients[row] != train.ids[row] else ""
            predictions.append(Prediction(str(train.sources[row]), patient, p, predicted_class(model, p)))
    return model, predictions, train.ids[rows].astype(str).tolist()
