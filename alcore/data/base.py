"""The decoded data set every source produces: uint8 grayscale arrays per split."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")
UNKNOWN_LABEL = -1  # an image nobody has labeled yet (human-oracle mode)


class DataError(ValueError):
    """A data source that cannot be used; the message says what is wrong and what to do."""


@dataclass
class Split:
    images: np.ndarray  # (n, H, W) uint8, grayscale, already at the run's resolution
    labels: np.ndarray  # (n,) int64: 0 NORMAL, 1 PNEUMONIA, -1 unknown
    ids: np.ndarray  # (n,) str: stable sample ids, unique within the data set
    # (n,) str: file path, or "npz:<split>:<index>", or "synthetic:<split>:<index>" (the teaching
    # preset adds ":<sub-population>:<clear|borderline>")
    sources: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Dataset:
    name: str  # a person-readable name of the source
    fingerprint: str  # hash of the source content + resolution: the cache key
    resolution: int
    splits: dict[str, Split]  # keys: SPLITS
    notes: list[str] = field(default_factory=list)  # warnings (skipped files, carved splits)

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    @property
    def val(self) -> Split:
        return self.splits["val"]
