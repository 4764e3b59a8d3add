"""The images of a run as the model saw them, and their thumbnails (decoded once per process). No streamlit."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from alcore.config import ExperimentConfig
from alcore.data.base import Dataset
from alcore.runs import RunStore


@dataclass(frozen=True)
class RunImages:
    dataset: Dataset
    rows: dict[str, tuple[str, int]]  # sample id -> (split, row)
    thumbnails: dict[str, str] = field(default_factory=dict, compare=False)  # encoded once, for every session

    def image(self, sample_id: str) -> np.ndarray:
        split, row = self.rows[sample_id]
        return np.asarray(self.dataset.splits[split].images[row])

    def thumbnail(self, sample_id: str) -> str:
        """The image as a thumbnail data URI: one shown to twenty browsers is encoded once, not twenty times."""
        if sample_id not in self.thumbnails:
            self.thumbnails[sample_id] = thumbnail_uri(self.image(sample_id))
        return self.thumbnails[sample_id]

    def source(self, sample_id: str) -> str:
        split, row = self.rows[sample_id]
        return str(self.dataset.splits[split].sources[row])

    def label(self, sample_id: str) -> int:
        """The true label index (the run's class order), -1 unknown (an unlabeled folder)."""
        split, row = self.rows[sample_id]
        return int(self.dataset.splits[split].labels[row])


# the settings load_run_data reads: runs that share them share one decoded data set in this process
DATA_SETTINGS = ("data", "resolution", "seed", "synthetic_size", "synthetic_pneumonia_share", "synthetic_preset",
                 "synthetic_classes", "oracle", "classes", "columns", "uncertain", "patient_from")


def run_images(store: RunStore, run_id: str) -> RunImages:
    """The decoded images of a run: the cache entry named in its config, else decoded again."""
    cfg = store.load_config(run_id)
    settings = tuple((name, getattr(cfg, name)) for name in DATA_SETTINGS)
    return _images(store.load_resolved(run_id).get("data_fingerprint", ""), settings)


@lru_cache(maxsize=4)
def _images(fingerprint: str, settings: tuple[tuple[str, object], ...]) -> RunImages:
    from alcore.data import load_run_data, open_cached

    dataset = open_cached(fingerprint) if fingerprint else None
    if dataset is None:
        dataset = load_run_data(ExperimentConfig(**dict(settings)))
    rows = {sample_id: (name, row) for name, split in dataset.splits.items()
            for row, sample_id in enumerate(split.ids.tolist())}
    return RunImages(dataset, rows)


def thumbnail_uris(store: RunStore, run_id: str, ids: list[str]) -> list[str]:
    """Each sample's image as the model saw it, as a thumbnail data URI (cached for every session)."""
    images = run_images(store, run_id)
    return [images.thumbnail(i) for i in ids]


def images_by_id(store: RunStore, run_id: str, ids: list[str]) -> list[np.ndarray]:
    """Each sample's decoded (H, W) uint8 image, as the model saw it."""
    images = run_images(store, run_id)
    return [images.image(i) for i in ids]


THUMBNAIL_PX = 192  # the longest side of a grid thumbnail (8 per row on a wide screen: about 160 px each)
SHORT_ID = 18  # characters of a sample id under a thumbnail: one line


def thumbnail_uri(image: np.ndarray) -> str:
    """A PNG data URI of the image at thumbnail size. Inline, not a media file: a file the server
    drops on a rerun gave the browser 404s ('Image source error') when a live page refreshed."""
    thumb = Image.fromarray(image)
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def short_id(sample_id: str) -> str:
    """A sample id that fits one line under a thumbnail: the file name, its middle elided."""
    name = Path(sample_id).name
    if len(name) <= SHORT_ID:
        return name
    keep = SHORT_ID - 1
    return name[:keep - keep // 2] + "…" + name[-(keep // 2):]


def original_file(store: RunStore, run_id: str, sample_id: str) -> Path | None:
    """The image file a sample was decoded from, when it is a file still on disk."""
    source = Path(run_images(store, run_id).source(sample_id))
    return source if source.suffix and source.is_file() else None
