"""Image-folder sources: the Kaggle layout, any tree of two or more class folders, or unlabeled images.

Accepted layouts (class folder names matched case-insensitively):
  root/{train,val,test}/<class folders>/...   (the Kaggle `chest_xray` folder, or its parent)
  root/<class folders>/...                    (no splits: val and test are carved with the seed)
  root/*                                      (unlabeled, only with allow_unlabeled=True)
Images may sit deeper (CLASS/patient/study/image); symlinked folders are followed (no loops).
JPEG, PNG, TIFF... and DICOM (by suffix or the DICM magic, so files without an extension too).
Classes: the user's `--classes` rules (folder names or globs on the path below the split folder),
else the class folders: two of which exactly one reads as normal, or three or more (classes.resolve).
With allow_unlabeled=True, images outside the class folders join the train pool unlabeled. The
decoded folder ("pool") is cached without the seed; carving missing splits is cheap and happens on
every load.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from alcore.data import cache
from alcore.data.base import SPLITS, UNKNOWN_LABEL, DataError, Dataset, Dropped, Split
from alcore.data.classes import ClassRule, match_path, matches_text, resolve
from alcore.data.decode import PILLOW_SUFFIXES, SHOWN, Entry, decode_entries, names
from alcore.data.dicom import DICOM_SUFFIXES, looks_like_dicom

IMAGE_SUFFIXES = PILLOW_SUFFIXES | DICOM_SUFFIXES
SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
CARVE_SHARES = {"test": 0.2, "val": 0.1}  # of each class, when the folder lacks the split
PATIENT_SOURCES = ("auto", "folder")
LAYOUT_HELP = ("expected root/{train,val,test}/<class>/<images> (the Kaggle chest_xray layout) or "
               "root/NORMAL/<images> + root/PNEUMONIA/<images>")
SEED_SUFFIX = re.compile(r"(?P<pool>.+)-seed(?P<seed>\d+)")
# Kermany et al. file names say who: personN_bacteria_M / personN_virus_M (PNEUMONIA),
# IM-XXXX-YYYY[-ZZZZ] / NORMAL2-IM-XXXX-YYYY (NORMAL, XXXX the patient)
KERMANY_PATIENT = re.compile(r"(?P<person>person\d+)_(?:bacteria|virus)_\d+|(?P<normal>(?:NORMAL2-)?IM-\d+)(?:-\d+)+",
                             re.IGNORECASE)


@dataclass
class _Listing:
    """What a folder holds, before any decoding."""

    root: Path
    files: dict[str, list[Entry]]  # split -> entries
    classes: tuple[str, ...]
    matches: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


def load_folder(path: Path, resolution: int, seed: int = 0, allow_unlabeled: bool = False,
                progress: cache.Progress | None = None, classes: tuple[ClassRule, ...] = (),
                patient_from: str = "auto") -> Dataset:
    """Decode (once) and return an image folder; missing val/test splits are carved with `seed`.
    `classes`: the user's class rules (else guessed); `patient_from`: "auto" (DICOM PatientID,
    Kermany file names) or "folder" (the first folder below the class folder)."""
    listing = _scan(_find_root(path), allow_unlabeled, classes, patient_from)
    stats = [(split, e.id, e.label, e.patient, *_stat(e.path)) for split, entries in listing.files.items()
             for e in entries]
    key = cache.fingerprint("folder", str(listing.root), resolution, listing.classes, listing.matches, stats)
    pool = cache.cached(key, lambda: _decode(listing, resolution, key, progress, patient_from), progress)
    return carve(pool, seed)


def patient_id(sample_id: str) -> str:
    """The patient an image shows, where its Kermany-style file name says (`person12_virus_3.jpeg`
    -> `person12`, `IM-0115-0001.jpeg` -> `IM-0115`, `NORMAL2-IM-0007-0001.jpeg` -> `NORMAL2-IM-0007`);
    any other name is a patient of its own (the id itself)."""
    match = KERMANY_PATIENT.fullmatch(Path(sample_id).stem)
    if match is None:
        return sample_id
    return match.group("person") or match.group("normal")


def carve(pool: Dataset, seed: int) -> Dataset:
    """Fill empty val/test splits from train (or from everything), stratified by label and grouped
    by patient (`Split.patients`): all labeled images of a patient land in the same split.

    Unlabeled images only ever stay in train. Returns `pool` itself when nothing is missing or
    no image is labeled.
    """
    if len(pool.train):
        missing = [s for s in ("test", "val") if len(pool.splits[s]) == 0]
        source, origin = pool.train, "train"
    else:  # no train folder: everything is re-split, so no image lands in two splits
        missing, source, origin = ["test", "val"], _concat(list(pool.splits.values())), "all images"
    unlabeled = source.labels == UNKNOWN_LABEL
    if not missing or unlabeled.all():
        return pool
    rng = np.random.default_rng(seed)
    taken: dict[str, list[np.ndarray]] = {s: [] for s in missing}
    keep = [np.flatnonzero(unlabeled)]
    for label, groups in _patients_by_class(source, unlabeled).items():
        groups = [groups[i] for i in rng.permutation(len(groups))]
        class_size = sum(len(g) for g in groups)
        for split in missing:
            sizes = np.cumsum([len(g) for g in groups])
            n = min(math.ceil(CARVE_SHARES[split] * class_size), int(sizes[-1]) - 1)
            # the fewest whole patients holding n images; at least one patient stays in train
            k = min(int(np.searchsorted(sizes, n)) + 1, len(groups) - 1) if n > 0 else 0
            taken[split].append(np.concatenate(groups[:k]) if k else np.empty(0, np.int64))
            groups = groups[k:]
        keep.append(np.concatenate(groups))
    splits = dict(pool.splits)
    splits["train"] = _take(source, np.sort(np.concatenate(keep)))
    for split in missing:
        splits[split] = _take(source, np.sort(np.concatenate(taken[split])))
    shares = " and ".join(f"{s} ({CARVE_SHARES[s]:.0%})" for s in missing)
    lacking = "train" if origin == "all images" else "/".join(missing)
    note = (f"the {pool.kind or 'data'} has no {lacking} split: carved {shares} from {origin}, stratified, "
            f"grouped by patient, seed {seed}")
    return replace(pool, fingerprint=f"{pool.fingerprint}-seed{seed}", splits=splits, notes=[*pool.notes, note],
                   carved=tuple(missing))


def _patients_by_class(source: Split, unlabeled: np.ndarray) -> dict[int, list[np.ndarray]]:
    """Labeled rows grouped by patient, in order of first appearance, under the class of each
    patient's first labeled image."""
    rows_of: dict[str, list[int]] = {}
    for row in np.flatnonzero(~unlabeled):
        rows_of.setdefault(str(source.patients[row]), []).append(row)
    by_class: dict[int, list[np.ndarray]] = {}
    for rows in rows_of.values():
        by_class.setdefault(int(source.labels[rows[0]]), []).append(np.array(rows, dtype=np.int64))
    return dict(sorted(by_class.items()))


def _find_root(path: Path) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder of images; {LAYOUT_HELP}")
    root = root.resolve()
    while not _split_dirs(root):  # the Kaggle archive's parent folder, or chest_xray/chest_xray
        inner = [d for d in _subdirs(root) if d.name.lower() == "chest_xray"]
        if not inner:
            break
        root = inner[0]
    return root


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not _hidden(d.name))


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _split_dirs(root: Path) -> dict[str, Path]:
    return {SPLIT_ALIASES[d.name.lower()]: d for d in _subdirs(root) if d.name.lower() in SPLIT_ALIASES}


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or looks_like_dicom(path)


def walk(folder: Path):
    """os.walk below `folder`, symlinked folders followed, each real folder once (no loops); hidden
    folders left out. Yields (folder path, sorted file names)."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        yield Path(dirpath), sorted(filenames)


def _files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) anywhere under `folder`, hidden ones left out, sorted."""
    images, others = [], []
    for dirpath, filenames in walk(folder):
        for name in filenames:
            if not _hidden(name):
                path = dirpath / name
                (images if _is_image(path) else others).append(path)
    return images, others


def _scan(root: Path, allow_unlabeled: bool, given: tuple[ClassRule, ...], patient_from: str) -> _Listing:
    """Every image with its split, class (by the rules) and patient; what matched no class is counted."""
    found: dict[str, str] = {}  # lower-case first folder below the split folder -> as spelled
    images, others = [], []  # images: (split, path, path below the split folder)
    for split, folder in (_split_dirs(root) or {"": root}).items():
        paths, other = _files(folder)
        others += other
        for path in paths:
            below = path.relative_to(folder).as_posix()
            images.append((split or "train", path, below))
            if "/" in below:
                found.setdefault(below.split("/")[0].lower(), below.split("/")[0])
    notes = [f"ignored {len(others)} files that are neither images nor DICOM: "
             f"{names([p.relative_to(root).as_posix() for p in others])}"] if others else []
    if not images:
        raise DataError(f"no images found in {root}; {LAYOUT_HELP}")
    folders = sorted(found.values())
    if allow_unlabeled and not given and len(folders) < 2:
        notes.append(f"unlabeled folder: all {len(images)} images form the train pool; no val/test split "
                     "(no test metrics)")
        entries = [Entry(p.relative_to(root).as_posix(), p, UNKNOWN_LABEL, p.relative_to(root).as_posix())
                   for _, p, _ in sorted(images, key=lambda item: item[1])]
        return _Listing(root, {"train": entries, "val": [], "test": []}, (), (), notes)
    rules, guessed = resolve(given, folders, f"the class folders in {root} are", guess_many=True)
    files: dict[str, list[Entry]] = {s: [] for s in SPLITS}
    unmatched, ambiguous, loose = [], [], []
    for split, path, below in images:
        rel, hits = path.relative_to(root).as_posix(), match_path(below, rules)
        if len(hits) == 1:
            files[split].append(Entry(rel, path, hits[0], _patient(below, rel, patient_from)))
        else:
            (ambiguous if hits else unmatched if "/" in below else loose).append((split, path, rel))
    dropped = [Dropped(reason, len(items), tuple(rel for _, _, rel in items[:SHOWN])) for reason, items in (
        ("images in folders that match no class", unmatched), ("images that match two classes", ambiguous))
        if items]
    if loose and allow_unlabeled:  # a person labels them; the class folders keep their labels
        notes.append(f"{len(loose)} images outside the class folders join the train pool unlabeled")
        files["train"] += [Entry(rel, path, UNKNOWN_LABEL, rel) for _, path, rel in loose]
    elif loose:
        dropped.append(Dropped("images outside the class folders", len(loose),
                               tuple(rel for _, _, rel in loose[:SHOWN])))
    if guessed:
        notes += _guess_note(rules)
    files = {s: sorted(f, key=lambda e: e.id) for s, f in files.items()}
    return _Listing(root, files, tuple(r.name for r in rules), matches_text(rules), notes, dropped)


def _guess_note(rules: tuple[ClassRule, ...]) -> list[str]:
    """What a guess of the classes decided, unless it is the Kaggle pair."""
    names = [rule.name for rule in rules]
    if len(names) > 2:
        return [f"{len(names)} class folders, labels in this order: {', '.join(names)} (a normal-reading one first, "
                "the others alphabetical); --classes sets the order"]
    if tuple(name.upper() for name in names) == ("NORMAL", "PNEUMONIA"):
        return []
    return [f"class folders '{names[0]}' and '{names[1]}': '{names[1]}' is the positive class (label 1); "
            "--classes sets it"]


def _patient(below: str, rel: str, patient_from: str) -> str:
    """`folder`: the first folder below the class folder (CLASS/patient/.../image); else the
    Kermany file name (a DICOM's PatientID replaces it when decoded)."""
    parts = below.split("/")
    if patient_from == "folder" and len(parts) >= 3:
        return parts[1]
    return patient_id(rel)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _decode(listing: _Listing, resolution: int, key: str, progress: cache.Progress | None,
            patient_from: str) -> Dataset:
    decoded = decode_entries(listing.files, resolution, progress, dicom_patients=patient_from == "auto")
    return Dataset(name=listing.root.name, fingerprint=key, resolution=resolution, splits=decoded.splits,
                   notes=[*listing.notes, *decoded.notes], classes=listing.classes or ("NORMAL", "PNEUMONIA"),
                   matches=listing.matches, kind="folder", dropped=[*listing.dropped, *decoded.dropped])


def _take(split: Split, idx: np.ndarray) -> Split:
    return Split(split.images[idx], split.labels[idx], split.ids[idx], split.sources[idx], split.patients[idx])


def _concat(splits: list[Split]) -> Split:
    fields = ("images", "labels", "ids", "sources", "patients")
    return Split(*(np.concatenate([getattr(s, f) for s in splits]) for f in fields))
