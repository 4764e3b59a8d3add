"""Data sources -> decoded uint8 cache -> Dataset: the one entry point is `load_dataset`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from alcore.data import cache
from alcore.data.base import SPLITS, UNKNOWN_LABEL, DataError, Dataset, Dropped, Split
from alcore.data.cache import Progress, cache_dir
from alcore.data.classes import check_count, parse_classes
from alcore.data.folder import PATIENT_SOURCES, SEED_SUFFIX, carve, load_folder
from alcore.data.medmnist import load_npz
from alcore.data.summary import DataSummary, class_thumbnails, split_warnings, summarize
from alcore.data.synthetic import load_synthetic
from alcore.data.table import UNCERTAIN_POLICIES, is_table, load_table, parse_columns

if TYPE_CHECKING:
    from alcore.config import ExperimentConfig

__all__ = ["PATIENT_SOURCES", "SPLITS", "UNCERTAIN_POLICIES", "UNKNOWN_LABEL", "DataError", "DataSummary", "Dataset",
           "Dropped", "Split", "cache_dir", "class_thumbnails", "load_dataset", "load_run_data", "open_cached",
           "parse_classes", "parse_columns", "run_data_summary", "summarize"]

SOURCE_HELP = "give 'synthetic', a folder of images (or DICOM), a label table (.csv / .tsv), or a MedMNIST .npz file"
HUMAN_NOTE = ("human oracle: the pool's labels are not used (a person labels the images asked for); val and test "
              "keep their labels for the metrics")


def load_run_data(cfg: ExperimentConfig, progress: Progress | None = None) -> Dataset:
    """The data set a run's config names: load_dataset with the config's data settings."""
    dataset = load_dataset(cfg.data, cfg.resolution, seed=cfg.seed, synthetic_size=cfg.synthetic_size,
                           pneumonia_share=cfg.synthetic_pneumonia_share, progress=progress,
                           allow_unlabeled=cfg.oracle == "human", synthetic_preset=cfg.synthetic_preset,
                           synthetic_classes=cfg.synthetic_classes,
                           classes=cfg.classes, columns=cfg.columns, uncertain=cfg.uncertain,
                           patient_from=cfg.patient_from)
    if cfg.oracle == "human" and (dataset.train.labels != UNKNOWN_LABEL).any():
        dataset.notes.append(HUMAN_NOTE)
    return dataset


def run_data_summary(cfg: ExperimentConfig, progress: Progress | None = None) -> tuple[Dataset, DataSummary]:
    """The run's data set and its summary (what the CLI prints before the first round)."""
    dataset = load_run_data(cfg, progress)
    return dataset, summarize(dataset, cfg.data)


def load_dataset(data: str, resolution: int, seed: int = 0, synthetic_size: int = 2000,
                 pneumonia_share: float = 0.75, progress: Progress | None = None,
                 allow_unlabeled: bool = False, synthetic_preset: str = "standard", classes: str = "",
                 columns: str = "", uncertain: str = "drop", patient_from: str = "auto",
                 synthetic_classes: int = 2) -> Dataset:
    """The data set named by `data`, decoded once and then read from the disk cache.

    `seed` only matters for sources lacking val/test splits (they are carved with it);
    the synthetic set is the same for every seed. `progress(done, total)` reports decoding.
    `allow_unlabeled` accepts a folder without class folders (labels UNKNOWN_LABEL).
    `synthetic_preset` picks the synthetic generator: "standard" or "teaching"; `synthetic_classes`
    its number of classes (2..8, standard preset; `pneumonia_share` is then all non-normal classes').
    `classes`, `columns`, `uncertain`, `patient_from`: the --classes / --columns / --uncertain /
    --patient-from settings (README, data). The notes end with the split warnings.
    """
    if data == "synthetic":
        dataset = load_synthetic(synthetic_size, pneumonia_share, resolution, progress, synthetic_preset,
                                 synthetic_classes)
    else:
        dataset = _load(str(data), resolution, seed, progress, allow_unlabeled, classes, columns, uncertain,
                        patient_from)
    dataset.notes = [*dataset.notes, *split_warnings(dataset)]
    return dataset


def _load(data: str, resolution: int, seed: int, progress: Progress | None, allow_unlabeled: bool, classes: str,
          columns: str, uncertain: str, patient_from: str) -> Dataset:
    if uncertain not in UNCERTAIN_POLICIES:
        raise DataError(f"--uncertain {uncertain}: choose one of {', '.join(UNCERTAIN_POLICIES)}")
    if patient_from not in PATIENT_SOURCES:
        raise DataError(f"--patient-from {patient_from}: choose one of {', '.join(PATIENT_SOURCES)}")
    path = Path(data).expanduser()
    rules = parse_classes(classes)
    if columns and not is_table(path):
        raise DataError(f"--columns is for a label table (.csv / .tsv); {data} is not one: drop --columns")
    if path.suffix.lower() == ".npz":
        return _named(load_npz(path, resolution, progress), rules)
    if is_table(path):
        if patient_from != "auto":
            raise DataError("--patient-from folder is for image folders; a label table's patients come from its "
                            "patient column (--columns patient=COLUMN) or the DICOM PatientID")
        return load_table(path, resolution, seed, progress, rules, parse_columns(columns), uncertain)
    if path.is_dir():
        return load_folder(path, resolution, seed, allow_unlabeled, progress, rules, patient_from)
    if path.exists():
        raise DataError(f"{data} is a file but not a label table or an .npz; {SOURCE_HELP}")
    raise DataError(f"data not found: {data}; {SOURCE_HELP}")


def _named(dataset: Dataset, rules: tuple) -> Dataset:
    """An .npz's labels 0 .. C-1 under the user's class names (names only: the labels are fixed)."""
    if not rules:
        return dataset
    values = [str(k) for k in range(len(dataset.classes))]
    example = ",".join(dataset.classes) if len(values) == 2 else ",".join(f"NAME{k}" for k in values)
    if any(rule.matches for rule in rules) or len(rules) != len(values):
        raise DataError(f"the .npz holds the labels {', '.join(values)}: give --classes {len(values)} names only, "
                        f"in that order, e.g. --classes \"{example}\"")
    check_count(rules, values, "the .npz labels are")
    return replace(dataset, classes=tuple(rule.name for rule in rules))


def open_cached(fingerprint: str) -> Dataset | None:
    """A data set already in the cache, images memory-mapped (nothing decoded); None if absent.

    For a carved folder (fingerprint '<pool>-seed<n>') the splits are re-carved, which
    copies the images.
    """
    carved = SEED_SUFFIX.fullmatch(fingerprint)
    if carved is None:
        return cache.load(fingerprint, mmap=True)
    pool = cache.load(carved["pool"], mmap=True)
    return None if pool is None else carve(pool, int(carved["seed"]))
