"""What the data layer made of a source, in one record: printed by the CLI before the first round
(and alone by `python -m alcore data`), stored in a run's config.json, shown by Setup's Check data."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from alcore.data.base import SPLITS, UNKNOWN_LABEL, Dataset, Dropped

SMALL_TEST_IMAGES, SMALL_TEST_CLASS = 50, 10  # below these a test split's intervals are wide
SHOWN = 5


@dataclass(frozen=True)
class SplitCounts:
    images: int
    per_class: tuple[int, ...]  # images per class, in class order
    unlabeled: int
    patients: int | None  # None: the source says nothing about patients (synthetic, npz)


@dataclass(frozen=True)
class DataSummary:
    source: str  # the data setting as given
    kind: str  # synthetic / folder / table / npz
    name: str
    classes: tuple[str, ...]  # label index -> name
    matches: tuple[str, ...]  # per class, what it was matched on (empty: the source's own labels)
    positive: str | None  # the positive class of a two-class task
    splits: dict[str, SplitCounts]
    carved: tuple[str, ...]  # splits made from train by the tool (patients kept together)
    dropped: tuple[Dropped, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DataSummary":
        return cls(**{**values, "classes": tuple(values["classes"]), "matches": tuple(values["matches"]),
                      "carved": tuple(values["carved"]),
                      "dropped": tuple(Dropped(**{**d, "examples": tuple(d["examples"])}) for d in values["dropped"]),
                      "notes": tuple(values["notes"]),
                      "splits": {k: SplitCounts(**{**v, "per_class": tuple(v["per_class"])})
                                 for k, v in values["splits"].items()}})

    def text(self) -> str:
        """The summary as a few lines of plain text (CLI, log)."""
        lines = [f"data: {self.source} ({self.kind}: {self.name})",
                 "classes: " + ", ".join(f"{i} {name}" + (" (positive)" if name == self.positive else "")
                                         + (f" <- {self.matches[i]}" if self.matches
                                            and self.matches[i].lower() != name.lower() else "")
                                         for i, name in enumerate(self.classes))]
        header = f"  {'split':6} {'images':>7} " + " ".join(f"{c[:12]:>12}" for c in self.classes) \
            + f" {'unlabeled':>9} {'patients':>8}"
        lines.append(header)
        for name, counts in self.splits.items():
            carved = "  (carved)" if name in self.carved else ""
            lines.append(f"  {name:6} {counts.images:>7} " + " ".join(f"{n:>12}" for n in counts.per_class)
                         + f" {counts.unlabeled:>9} {'n/a' if counts.patients is None else counts.patients:>8}{carved}")
        lines += [f"dropped: {d.describe()}" for d in self.dropped]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def summarize(dataset: Dataset, source: str) -> DataSummary:
    """The summary of a loaded data set (`source`: the data setting it was loaded from)."""
    splits = {}
    for name in SPLITS:
        split = dataset.splits[name]
        known = bool(np.any(split.patients != split.ids))
        splits[name] = SplitCounts(
            len(split), tuple(int((split.labels == i).sum()) for i in range(len(dataset.classes))),
            int((split.labels == UNKNOWN_LABEL).sum()), len(set(split.patients.tolist())) if known else None)
    return DataSummary(str(source), dataset.kind, dataset.name, tuple(dataset.classes), tuple(dataset.matches),
                       dataset.classes[-1] if len(dataset.classes) == 2 else None, splits, tuple(dataset.carved),
                       tuple(dataset.dropped), tuple(dataset.notes))


def split_warnings(dataset: Dataset) -> list[str]:
    """Patients shared by splits the user gave (carved ones never share), a class without an image,
    and a small test split."""
    warnings = _empty_classes(dataset)
    given = [s for s in SPLITS if s not in dataset.carved and len(dataset.splits[s])]
    for i, first in enumerate(given):
        for second in given[i + 1:]:
            shared = sorted(_known_patients(dataset, first) & _known_patients(dataset, second))
            if shared:
                more = f" and {len(shared) - SHOWN} more" if len(shared) > SHOWN else ""
                warnings.append(f"{len(shared)} patients are in both {first} and {second} by their identifiers (e.g. "
                                f"{', '.join(shared[:SHOWN])}{more}): if they are the same people, their images "
                                "leak between the splits")
    test = dataset.test
    labeled = test.labels[test.labels != UNKNOWN_LABEL]
    per_class = np.bincount(labeled, minlength=len(dataset.classes)) if labeled.size else np.zeros(0, int)
    if labeled.size and (labeled.size < SMALL_TEST_IMAGES or per_class.min() < SMALL_TEST_CLASS):
        counts = ", ".join(f"{n} {c}" for n, c in zip(per_class, dataset.classes))
        warnings.append(f"the test split is small ({counts}; under {SMALL_TEST_IMAGES} images or "
                        f"{SMALL_TEST_CLASS} of a class): its metrics' intervals will be wide")
    if len(dataset.train) and not labeled.size:
        warnings.append("no labeled test split: the runs report no test metrics")
    return warnings


def _empty_classes(dataset: Dataset) -> list[str]:
    """A class no image is labeled with (a --classes rule that matches nothing, a typo in a glob)."""
    labeled = np.concatenate([split.labels for split in dataset.splits.values()])
    if not (labeled != UNKNOWN_LABEL).any():
        return []  # nothing labeled yet (a human oracle's folder): the classes are the answers offered
    counts = np.bincount(labeled[labeled != UNKNOWN_LABEL], minlength=len(dataset.classes))
    return [f"no image is labeled {name}" + (f" (it matches {dataset.matches[k]})" if dataset.matches else "")
            + ": check --classes" for k, name in enumerate(dataset.classes) if counts[k] == 0]


def class_thumbnails(dataset: Dataset) -> list[tuple[str, np.ndarray]]:
    """One decoded image per class (the first of train, else of any split), as the model sees it:
    windowed, 8-bit, at the run's resolution (Setup's Check data shows them)."""
    thumbnails = []
    for label, name in enumerate(dataset.classes):
        for split in (dataset.splits[s] for s in SPLITS):
            rows = np.flatnonzero(split.labels == label)
            if rows.size:
                thumbnails.append((name, np.asarray(split.images[rows[0]])))
                break
    return thumbnails


def _known_patients(dataset: Dataset, split: str) -> set[str]:
    """Patients named by the source (an image that is its own patient names nobody)."""
    data = dataset.splits[split]
    return {str(p) for p, i in zip(data.patients, data.ids) if p != i}
