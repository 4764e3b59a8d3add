"""The decoded data set every source produces: uint8 grayscale arrays per split, class names,
patients, and what was dropped on the way (the data summary is built from it)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alcore import CLASS_NAMES

SPLITS = ("train", "val", "test")
UNKNOWN_LABEL = -1  # an image nobody has labeled yet (human-oracle mode)


class DataError(ValueError):
    """A data source that cannot be used; the message says what is wrong and what to do."""


@dataclass
class Split:
    images: np.ndarray  # (n, H, W) uint8, grayscale, already at the run's resolution
    labels: np.ndarray  # (n,) int64: index into Dataset.classes, -1 unknown
    ids: np.ndarray  # (n,) str: stable sample ids, unique within the data set
    # (n,) str: file path, or "npz:<split>:<index>", or "synthetic:<split>:<index>" (the teaching
    # preset adds ":<sub-population>:<clear|borderline>")
    sources: np.ndarray
    patients: np.ndarray | None = None  # (n,) str: who the image shows; None: each image its own patient

    def __post_init__(self) -> None:
        if self.patients is None:
            self.patients = self.ids

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dropped:
    """Files or table rows left out of the data set, for one reason."""

    reason: str  # e.g. "rows whose label matches no class"
    count: int
    examples: tuple[str, ...] = ()  # a few ids / file names
    detail: str = ""  # e.g. the first decoder error

    def describe(self) -> str:
        """'12 files look like DICOM but ...: a.dcm, b.dcm and 10 more (first error: ...)'."""
        more = self.count - len(self.examples)
        shown = ", ".join(self.examples) + (f" and {more} more" if more > 0 and self.examples else "")
        return (f"{self.count} {self.reason}" + (f": {shown}" if shown else "")
                + (f" ({self.detail})" if self.detail else ""))


@dataclass
class Dataset:
    name: str  # a person-readable name of the source
    fingerprint: str  # hash of the source content + resolution: the cache key
    resolution: int
    splits: dict[str, Split]  # keys: SPLITS
    notes: list[str] = field(default_factory=list)  # warnings (skipped files, carved splits)
    classes: tuple[str, ...] = CLASS_NAMES  # label index -> name; the last is positive with two classes
    kind: str = ""  # "synthetic", "folder", "table", "npz"
    dropped: list[Dropped] = field(default_factory=list)
    carved: tuple[str, ...] = ()  # the splits made from train (val, test) by `folder.carve`
    matches: tuple[str, ...] = ()  # per class, what it was matched on ("No Finding", "PNEUMONIA/*bacteria*")

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    @property
    def val(self) -> Split:
        return self.splits["val"]
