"""Image-folder sources: the Kaggle layout, any two-class folder tree, or unlabeled images.

Accepted layouts (class folder names matched case-insensitively):
  root/{train,val,test}/{NORMAL,PNEUMONIA}/*   (the Kaggle `chest_xray` folder, or its parent)
  root/{NORMAL,PNEUMONIA}/*                    (no splits: val and test are carved with the seed)
  root/*                                       (unlabeled, only with allow_unlabeled=True)
With allow_unlabeled=True, images outside the two class folders join the train pool unlabeled.
Every image becomes 8-bit grayscale at resolution x resolution (aspect ratio not kept).
The decoded folder ("pool") is cached without the seed; carving missing splits is cheap
and happens on every load, so runs with other seeds never decode again.
"""
from __future__ import annotations

import logging
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from alcore.data import cache
from alcore.data.base import SPLITS, UNKNOWN_LABEL, DataError, Dataset, Split

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".gif",
                            ".webp", ".pgm", ".ppm", ".pnm", ".pbm", ".tga", ".jp2", ".j2k"})
SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
POSITIVE_HINTS = ("pneumonia", "abnormal", "positive")
CARVE_SHARES = {"test": 0.2, "val": 0.1}  # of each class, when the folder lacks the split
LAYOUT_HELP = ("expected root/{train,val,test}/{NORMAL,PNEUMONIA}/<images> (the Kaggle chest_xray "
               "layout) or root/NORMAL/<images> + root/PNEUMONIA/<images>")
SEED_SUFFIX = re.compile(r"(?P<pool>.+)-seed(?P<seed>\d+)")
# Kermany et al. file names say who: personN_bacteria_M / personN_virus_M (PNEUMONIA),
# IM-XXXX-YYYY[-ZZZZ] / NORMAL2-IM-XXXX-YYYY (NORMAL, XXXX the patient)
KERMANY_PATIENT = re.compile(r"(?P<person>person\d+)_(?:bacteria|virus)_\d+|(?P<normal>(?:NORMAL2-)?IM-\d+)(?:-\d+)+",
                             re.IGNORECASE)
log = logging.getLogger(__name__)


@dataclass
class _Listing:
    """What a folder holds, before any decoding."""

    root: Path
    files: dict[str, list[tuple[str, int]]]  # split -> [(relative path, label)]
    notes: list[str] = field(default_factory=list)


def load_folder(path: Path, resolution: int, seed: int = 0, allow_unlabeled: bool = False,
                progress: cache.Progress | None = None) -> Dataset:
    """Decode (once) and return an image folder; missing val/test splits are carved with `seed`."""
    listing = _scan(_find_root(path), allow_unlabeled)
    stats = [(split, rel, label, *_stat(listing.root / rel))
             for split, files in listing.files.items() for rel, label in files]
    key = cache.fingerprint("folder", str(listing.root), resolution, stats)
    pool = cache.cached(key, lambda: _decode(listing, resolution, key, progress), progress)
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
    by patient (`patient_id`): all labeled images of a patient land in the same split.

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
    note = (f"the folder has no {lacking} split: carved {shares} from {origin}, stratified, grouped by patient "
            f"where file names say who, seed {seed}")
    return replace(pool, fingerprint=f"{pool.fingerprint}-seed{seed}", splits=splits, notes=[*pool.notes, note])


def _patients_by_class(source: Split, unlabeled: np.ndarray) -> dict[int, list[np.ndarray]]:
    """Labeled rows grouped by patient, in order of first appearance, under the class of each
    patient's first labeled image."""
    rows_of: dict[str, list[int]] = {}
    for row in np.flatnonzero(~unlabeled):
        rows_of.setdefault(patient_id(source.ids[row]), []).append(row)
    by_class: dict[int, list[np.ndarray]] = {}
    for rows in rows_of.values():
        by_class.setdefault(int(source.labels[rows[0]]), []).append(np.array(rows, dtype=np.int64))
    return dict(sorted(by_class.items()))


def decode_image(path: Path, resolution: int) -> np.ndarray:
    """One image file as (resolution, resolution) uint8 grayscale; raises on undecodable files."""
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("L", (resolution, resolution))  # decode at 1/2..1/8 scale: big originals load fast
        if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            im = _stretch_to_8bit(np.asarray(im, np.float32))
        elif im.mode != "L":
            im = im.convert("L")
        if im.size != (resolution, resolution):
            im = im.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(im, np.uint8)


def _stretch_to_8bit(values: np.ndarray) -> Image.Image:
    """High-bit-depth pixels scaled so their own min..max spans 0..255."""
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


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


def _files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) anywhere under `folder`, hidden ones left out, sorted."""
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for name in sorted(filenames):
            if not _hidden(name):
                (images if Path(name).suffix.lower() in IMAGE_SUFFIXES else others).append(Path(dirpath, name))
    return images, others


def _scan(root: Path, allow_unlabeled: bool) -> _Listing:
    groups = _split_dirs(root) or {"": root}
    by_class: dict[str, dict[str, list[Path]]] = {}  # lower-case class name -> split -> images
    spelled: dict[str, str] = {}
    loose, others = [], []
    for split, folder in groups.items():
        images, other = _files(folder)
        others += other
        for p in images:
            parts = p.relative_to(folder).parts
            if len(parts) == 1:
                loose.append(p)
                continue
            by_class.setdefault(parts[0].lower(), {}).setdefault(split, []).append(p)
            spelled.setdefault(parts[0].lower(), parts[0])
    notes = []
    if others:
        notes.append(f"ignored {len(others)} files that are not images by their extension: "
                     f"{_names(others, root)}")
    if len(by_class) == 2:
        negative, positive = _order_classes([spelled[c] for c in sorted(by_class)], notes)
        files = {s: [] for s in SPLITS}
        for label, name in enumerate((negative, positive)):
            for split, paths in by_class[name.lower()].items():
                files[split or "train"] += [(p.relative_to(root).as_posix(), label) for p in paths]
        if loose and allow_unlabeled:  # a person labels them; the class folders keep their labels
            notes.append(f"{len(loose)} images outside the class folders join the train pool unlabeled")
            files["train"] += [(p.relative_to(root).as_posix(), UNKNOWN_LABEL) for p in loose]
        elif loose:
            notes.append(f"ignored {len(loose)} images outside the class folders: {_names(loose, root)}")
        files = {s: sorted(f) for s, f in files.items()}
        return _Listing(root, files, notes)
    everything = sorted(loose + [p for splits in by_class.values() for ps in splits.values() for p in ps])
    if allow_unlabeled and everything:
        notes.append(f"unlabeled folder: all {len(everything)} images form the train pool, no val/test")
        files = {s: [] for s in SPLITS}
        files["train"] = [(p.relative_to(root).as_posix(), UNKNOWN_LABEL) for p in everything]
        return _Listing(root, files, notes)
    raise _layout_error(root, [spelled[c] for c in sorted(by_class)], bool(everything))


def _layout_error(root: Path, classes: list[str], has_images: bool) -> DataError:
    if not has_images:
        return DataError(f"no images found in {root}; {LAYOUT_HELP}")
    if len(classes) > 2:
        return DataError(f"{root} has {len(classes)} class folders ({', '.join(classes)}); "
                         f"exactly two are needed; {LAYOUT_HELP}")
    if len(classes) == 1:
        return DataError(f"{root} has only one class folder ({classes[0]}); two are needed; {LAYOUT_HELP}")
    return DataError(f"{root} has images but no class folders; {LAYOUT_HELP} "
                     "(or allow unlabeled images for human labeling)")


def _order_classes(names: list[str], notes: list[str]) -> tuple[str, str]:
    """(negative, positive): a name hinting at disease is positive, else the later one sorted."""
    hinted = [n for n in names if any(h in n.lower() for h in POSITIVE_HINTS)]
    positive = hinted[0] if len(hinted) == 1 else names[1]
    negative = names[0] if positive == names[1] else names[1]
    if (negative.upper(), positive.upper()) != ("NORMAL", "PNEUMONIA"):
        notes.append(f"class folders '{negative}' and '{positive}': "
                     f"'{positive}' is the positive class (label 1)")
    return negative, positive


def _names(paths: list[Path], root: Path, shown: int = 10) -> str:
    names = [p.relative_to(root).as_posix() for p in paths[:shown]]
    return ", ".join(names) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _decode(listing: _Listing, resolution: int, key: str, progress: cache.Progress | None) -> Dataset:
    total, done, bad, splits = sum(len(f) for f in listing.files.values()), 0, [], {}

    def work(rel: str) -> np.ndarray | None:
        try:
            return decode_image(listing.root / rel, resolution)
        except Exception as exc:  # noqa: BLE001 - any undecodable file is skipped, never fatal
            log.warning("skipping %s: %s", listing.root / rel, exc)
            return None

    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:  # PIL decodes without the GIL
        for split in SPLITS:
            files = listing.files[split]
            images = np.zeros((len(files), resolution, resolution), np.uint8)
            ok = np.zeros(len(files), bool)
            for i, image in enumerate(pool.map(work, [rel for rel, _ in files])):
                if image is not None:
                    images[i], ok[i] = image, True
                done += 1
                if progress is not None:
                    progress(done, total)
            bad += [listing.root / rel for (rel, _), good in zip(files, ok) if not good]
            rels, labels = [rel for rel, _ in files], [label for _, label in files]
            split_data = Split(images, np.array(labels, np.int64), np.array(rels, dtype=str),
                               np.array([str(listing.root / rel) for rel in rels], dtype=str))
            splits[split] = split_data if ok.all() else _take(split_data, np.flatnonzero(ok))
    if len(bad) == total:
        raise DataError(f"none of the {total} image files in {listing.root} could be decoded")
    notes = list(listing.notes)
    if bad:
        notes.append(f"skipped {len(bad)} files that could not be decoded: {_names(bad, listing.root)}")
    return Dataset(name=listing.root.name, fingerprint=key, resolution=resolution, splits=splits, notes=notes)


def _take(split: Split, idx: np.ndarray) -> Split:
    return Split(split.images[idx], split.labels[idx], split.ids[idx], split.sources[idx])


def _concat(splits: list[Split]) -> Split:
    fields = ("images", "labels", "ids", "sources")
    return Split(*(np.concatenate([getattr(s, f) for s in splits]) for f in fields))
