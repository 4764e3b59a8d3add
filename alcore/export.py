"""A person's labels out of the tool: labels.csv rows -> a Kaggle-style tree <dest>/<class>/<file>, a folder
per class of the run (NORMAL/ and PNEUMONIA/ for the two-class default).

Original image files are copied (or symlinked); images that exist only as arrays (synthetic, .npz)
are written as PNG. The tree is built in a hidden sibling folder and renamed into place, so a
failed export leaves nothing half-written behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

MODES = ("copy", "symlink")


class ExportError(ValueError):
    """An export that cannot be written; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Exported:
    dest: Path
    counts: dict[str, int]  # class -> images written
    from_files: int  # copied or linked originals; the others are PNGs of the decoded arrays


def final_labels(rows: Iterable[dict], classes: Sequence[str]) -> dict[str, tuple[str, str]]:
    """sample id -> (class, file): each image's latest answer among `classes`; skips are left out."""
    return {row["sample_id"]: (row["label"], row["file"]) for row in rows if row["label"] in classes}


def export_tree(rows: Iterable[dict], dest: str | Path, image_of: Callable[[str], np.ndarray],
                classes: Sequence[str], mode: str = "copy") -> Exported:
    """Write every labeled image under dest/<class>/, a folder per name in `classes` (the run's).
    `image_of(sample_id)` gives the (H, W) uint8 array of an image whose file is not on disk; `mode`
    says how original files get there."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    labels = final_labels(rows, classes)
    if not labels:
        raise ExportError(f"no image has a class label ({' / '.join(classes)}) yet: there is nothing to export")
    dest = _destination(dest)
    try:
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    except OSError as exc:
        raise ExportError(f"cannot write in {dest.parent}: {exc.strerror}; choose a folder you can write to") from None
    try:
        counts, from_files = dict.fromkeys(classes, 0), 0
        for name in classes:
            (staging / name).mkdir()
        for sample_id, (label, file) in labels.items():
            source = Path(file)
            original = source.is_file()
            safe_id = sample_id.replace("/", "_").replace("\\", "_")
            target = staging / label / (source.name if original else f"{safe_id}.png")
            if target.exists() or target.is_symlink():  # one file name in two source folders
                target = target.with_name(safe_id if original else f"{safe_id}.png")
            if not original:
                Image.fromarray(np.asarray(image_of(sample_id), dtype=np.uint8)).save(target)
            elif mode == "symlink":
                target.symlink_to(source.resolve())
            else:
                shutil.copy2(source, target)
            counts[label] += 1
            from_files += original
        os.replace(staging, dest)  # onto a missing or empty folder: the whole tree appears at once
    except OSError as exc:
        raise ExportError(f"the export to {dest} failed: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # a failed export's leftovers (gone after the rename)
    return Exported(dest, counts, from_files)


def _destination(dest: str | Path) -> Path:
    """The destination as an absolute path, refused when it holds anything or cannot be written."""
    if not str(dest).strip():
        raise ExportError("give a destination folder for the export")
    path = Path(str(dest).strip()).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path} is a file; give a new or empty folder")
    if path.is_dir() and any(path.iterdir()):
        raise ExportError(f"{path} already exists and is not empty; give a new or empty folder "
                          "(an export never overwrites files)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {path.parent}: {exc.strerror}; choose a folder you can write to") from None
    if not os.access(path.parent, os.W_OK):
        raise ExportError(f"cannot write in {path.parent}: permission denied; choose a folder you can write to")
    return path
