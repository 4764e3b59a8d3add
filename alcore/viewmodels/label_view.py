"""What the Label page shows: the X-ray at a readable size, zoom / window, the model's view of an
image, and once a human run is done, the person's agreement with the truth and its simulated twin. No streamlit."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from alcore.oracle import SKIP
from alcore.records import RoundRecord
from alcore.runs import RunStore, probs_from_file
from alcore.viewmodels.image_view import images_by_id, original_file, run_images
from alcore.viewmodels.round_view import asks_for_labels, round_arrays
from alcore.viewmodels.run_list import experiments, twin_settings

LARGEST_SHOWN = 1024  # px: an original file is shown at most this large on the Label page
SKIP_KEY = "S"
RESERVED_KEYS = {"C", "R", SKIP_KEY}  # Streamlit's own shortcuts (clear cache, rerun) and skip's


def answer_keys(classes: tuple[str, ...]) -> dict[str, str | None]:
    """Each answer's keyboard shortcut: the class names' initials with two classes when they are distinct
    and free (N / P for NORMAL / PNEUMONIA), else the digits 1..9 in label order; S for skip."""
    initials = [name[:1].upper() for name in classes]
    if len(classes) == 2 and len(set(initials)) == 2 and all(k.isalnum() and k not in RESERVED_KEYS for k in initials):
        keys = initials
    else:
        keys = [str(k) if k <= 9 else None for k in range(1, len(classes) + 1)]
    return {**dict(zip(classes, keys)), SKIP: SKIP_KEY}


def label_image(store: RunStore, run_id: str, sample_id: str) -> np.ndarray:
    """The X-ray a person labels, (H, W) uint8: the original file when it is on disk (its aspect
    ratio and detail kept), else the decoded array the model sees."""
    original = original_file(store, run_id, sample_id)
    if original is None:
        return images_by_id(store, run_id, [sample_id])[0]
    return _grayscale(str(original), original.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _grayscale(path: str, mtime_ns: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("L", (LARGEST_SHOWN, LARGEST_SHOWN))  # JPEG: decode at a reduced scale
        im.thumbnail((LARGEST_SHOWN, LARGEST_SHOWN))
        if not (im.mode == "F" or im.mode.startswith("I")):
            return np.asarray(im.convert("L"))
        pixels = np.asarray(im, np.float32)  # 16-bit or float: its own min..max becomes 0..255
    span = max(float(pixels.max() - pixels.min()), 1e-6)
    return np.rint((pixels - pixels.min()) * 255 / span).astype(np.uint8)


def adjust_image(image: np.ndarray, zoom: float = 1.0, centre: tuple[float, float] = (0.5, 0.5),
                 level: int = 128, width: int = 256) -> np.ndarray:
    """Zoom: the crop of 1/zoom of each side around `centre` (x, y as fractions of the image).
    Window: intensities level - width/2 .. level + width/2 stretched to 0..255 (128/256: unchanged)."""
    h, w = image.shape[:2]
    crop_h, crop_w = max(1, round(h / zoom)), max(1, round(w / zoom))
    top = int(np.clip(round(centre[1] * h - crop_h / 2), 0, h - crop_h))
    left = int(np.clip(round(centre[0] * w - crop_w / 2), 0, w - crop_w))
    crop = image[top:top + crop_h, left:left + crop_w].astype(np.float32)
    low = level - width // 2
    return np.clip(np.rint((crop - low) * 255 / max(width - 1, 1)), 0, 255).astype(np.uint8)


def batch_name(round_index: int, records: list[RoundRecord]) -> str:
    """A batch waiting for labels, named as rounds are everywhere: by the labels of the model that picked it."""
    if round_index == 0:
        return "Initial set"
    picker = next((r for r in records if r.round == round_index - 1), None)
    return "Next batch" if picker is None else f"Picked by the model trained on {picker.n_labeled} labels"


@dataclass(frozen=True)
class ModelView:
    """What the model that picked an image thought of it."""

    probabilities: dict[str, float]  # class name -> p, in label order
    score: float  # the strategy's score of the image

    @property
    def text(self) -> str:
        return " · ".join(f"p({name}) = **{p:.2f}**" for name, p in self.probabilities.items())


def model_view(store: RunStore, run_id: str, round_index: int, sample_id: str) -> ModelView | None:
    """The class probabilities and strategy score of an image queued for round r, from round r - 1 whose
    model picked it; None for the initial set (no model yet)."""
    if round_index < 1 or not store.round_path(run_id, round_index - 1).is_file():
        return None
    arrays = round_arrays(store, run_id, round_index - 1)
    hit = np.flatnonzero(arrays["ids"] == sample_id)
    if not hit.size:
        return None
    probs = probs_from_file(arrays["prob"][hit[:1]])[0]
    return ModelView(dict(zip(store.classes(run_id), probs.astype(float).tolist())), float(arrays["score"][hit[0]]))


@dataclass(frozen=True)
class Agreement:
    """A person's labels against the true ones, over the labeled images whose truth is known."""

    n: int
    agreeing: int
    table: pd.DataFrame  # counts: a row per true class, a column per given label (C x C)

    @property
    def share(self) -> float:
        return self.agreeing / self.n


def label_agreement(store: RunStore, run_id: str, answers: dict[str, tuple[str, int]]) -> Agreement | None:
    """`answers` (LabelBook.answers) against the truth; None while the run may still ask for labels
    (round_view.asks_for_labels) and when no labeled image has a known one."""
    if asks_for_labels(store, run_id):
        return None
    images, classes = run_images(store, run_id), store.classes(run_id)
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for sample_id, (answer, _) in answers.items():
        truth = images.label(sample_id)
        if answer in classes and truth >= 0:
            counts[truth, classes.index(answer)] += 1
    if not counts.sum():
        return None
    table = pd.DataFrame(counts, index=[f"true {c}" for c in classes], columns=[f"labeled {c}" for c in classes])
    return Agreement(int(counts.sum()), int(np.trace(counts)), table)


def simulated_twin(store: RunStore, run_id: str) -> str | None:
    """The run of the same experiment and settings whose labels came from the truth, if any; None while
    the human run may still ask for labels (its picks would show which images the truth asks for)."""
    if asks_for_labels(store, run_id):
        return None
    config = store.load_config(run_id)
    for other in experiments(store).get(config.experiment, []):
        twin = store.load_config(other)
        if twin.oracle == "simulated" and twin_settings(twin) == twin_settings(config):
            return other
    return None
