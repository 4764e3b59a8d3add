"""Image files -> (resolution, resolution) uint8 grayscale, for folders and label tables alike:
Pillow for ordinary images (16-bit ones windowed on robust percentiles), pydicom for DICOM.
Files that cannot be used are dropped and counted by cause, never silently."""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from alcore.data import cache
from alcore.data.base import SPLITS, DataError, Dropped, Split
from alcore.data.dicom import NoPixels, looks_like_dicom, read_dicom
from alcore.data.pixels import high_bit_to_uint8

PILLOW_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".gif", ".webp",
                             ".pgm", ".ppm", ".pnm", ".pbm", ".tga", ".jp2", ".j2k"})
HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
SHOWN = 10  # file names quoted in a note
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One image to decode: its id in the data set, its file, label and patient (from names)."""

    id: str
    path: Path
    label: int
    patient: str


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray
    patient: str = ""  # DICOM PatientID
    frames: int = 1


@dataclass
class Decodings:
    """What `decode_entries` made of the files: the splits, and the files it could not use."""

    splits: dict[str, Split]
    dropped: list[Dropped]
    notes: list[str]


def decode_image(path: Path, resolution: int) -> np.ndarray:
    """One Pillow-readable image as (resolution, resolution) uint8 grayscale; raises when undecodable."""
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("L", (resolution, resolution))  # decode at 1/2..1/8 scale: big originals load fast
        if im.mode in HIGH_BIT_MODES:
            return high_bit_to_uint8(np.asarray(im), resolution)
        if im.mode != "L":
            im = im.convert("L")
        if im.size != (resolution, resolution):
            im = im.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(im, np.uint8)


def decode_file(path: Path, resolution: int) -> Decoded:
    """A DICOM file (by suffix, or the DICM magic when the suffix is no image's) or an ordinary image."""
    if path.suffix.lower() not in PILLOW_SUFFIXES and looks_like_dicom(path):
        dicom = read_dicom(path, resolution)
        return Decoded(dicom.image, dicom.patient, dicom.frames)
    return Decoded(decode_image(path, resolution))


def names(items: list[str], shown: int = SHOWN) -> str:
    """'a, b, c and 4 more'."""
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def decode_entries(files: dict[str, list[Entry]], resolution: int, progress: cache.Progress | None,
                   dicom_patients: bool = True) -> Decodings:
    """Decode every entry (4 threads: Pillow and the DICOM codecs release the GIL). Unusable files
    are dropped by cause; `dicom_patients`: a DICOM's PatientID replaces the entry's patient."""
    total, done = sum(len(f) for f in files.values()), 0
    failed: dict[str, list[str]] = defaultdict(list)  # cause -> ids
    errors: dict[str, str] = {}  # id -> the decoder's message
    multi_frame: list[str] = []

    def work(entry: Entry) -> Decoded | None:
        try:
            return decode_file(entry.path, resolution)
        except NoPixels:
            failed["DICOM files without pixel data (a report or a structured report): skipped"].append(entry.id)
        except Exception as exc:  # noqa: BLE001 - any undecodable file is dropped and counted, never fatal
            log.warning("skipping %s: %s", entry.path, exc)
            cause = ("files look like DICOM but pydicom could not decode them" if looks_like_dicom(entry.path)
                     else "files could not be decoded as images")
            failed[cause].append(entry.id)
            errors[entry.id] = str(exc)
        return None

    splits = {}
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for split in SPLITS:
            entries = files.get(split, [])
            images = np.zeros((len(entries), resolution, resolution), np.uint8)
            patients = [e.patient for e in entries]
            ok = np.zeros(len(entries), bool)
            for i, decoded in enumerate(pool.map(work, entries)):
                if decoded is not None:
                    images[i], ok[i] = decoded.image, True
                    if decoded.patient and dicom_patients:
                        patients[i] = decoded.patient
                    if decoded.frames > 1:
                        multi_frame.append(entries[i].id)
                done += 1
                if progress is not None:
                    progress(done, total)
            keep = np.flatnonzero(ok)
            splits[split] = Split(images[keep], np.array([e.label for e in entries], np.int64)[keep],
                                  np.array([e.id for e in entries], dtype=str)[keep],
                                  np.array([str(e.path) for e in entries], dtype=str)[keep],
                                  np.array(patients, dtype=str)[keep])
    dropped = []
    for cause, ids in sorted(failed.items()):
        ids = sorted(ids)  # the threads finish in any order; the message must not
        detail = f"first error: {ids[0]}: {errors[ids[0]]}" if ids[0] in errors else ""
        dropped.append(Dropped(cause, len(ids), tuple(ids[:SHOWN]), detail))
    if total and sum(d.count for d in dropped) == total:
        raise DataError(f"none of the {total} image files could be used: " + "; ".join(d.describe() for d in dropped))
    notes = [f"{len(multi_frame)} multi-frame DICOM files: the first frame of each is used ({names(multi_frame)})"] \
        if multi_frame else []
    return Decodings(splits, dropped, notes)
