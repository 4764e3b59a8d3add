"""Decode-once cache: each source's decoded arrays on disk as .npy, keyed by a fingerprint.

Layout: cache_dir()/<fingerprint>/{meta.json, <split>_{images,labels,ids,sources,patients}.npy}.
A directory is complete once meta.json exists in it: it is written into a temp directory
that is renamed into place, so a crash never leaves a half-written entry behind.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from alcore.data.base import SPLITS, Dataset, Dropped, Split

FORMAT_VERSION = 2  # bump when decoding changes, so old entries are never reused
FIELDS = ("images", "labels", "ids", "sources", "patients")
REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def cache_dir() -> Path:
    """The cache root: $ALCORE_CACHE, else <repo>/.cache/alcore in a source checkout, else
    ~/.cache/alcore (an installed package)."""
    env = os.environ.get("ALCORE_CACHE")
    if env:
        return Path(env).expanduser()
    return (REPO if (REPO / "pyproject.toml").is_file() else Path.home()) / ".cache" / "alcore"


def fingerprint(kind: str, *parts: object) -> str:
    """A readable, stable cache key: '<kind>-<hash of the parts and the format version>'."""
    blob = json.dumps([FORMAT_VERSION, kind, *parts], default=str, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def load(key: str, mmap: bool = False) -> Dataset | None:
    """The cached data set, or None when absent or unreadable.

    `mmap=True` memory-maps the images (for a dashboard fetching a few thumbnails);
    otherwise every array is a plain in-memory copy.
    """
    entry = cache_dir() / key
    try:
        meta = json.loads((entry / "meta.json").read_text())
        splits = {
            name: Split(*(np.load(entry / f"{name}_{f}.npy", allow_pickle=False,
                                  mmap_mode="r" if mmap and f == "images" else None)
                          for f in FIELDS))
            for name in SPLITS
        }
        return Dataset(name=meta["name"], fingerprint=key, resolution=meta["resolution"], splits=splits,
                       notes=meta["notes"], classes=tuple(meta["classes"]), kind=meta["kind"], matches=tuple(meta["matches"]),
                       dropped=[Dropped(**d) for d in meta["dropped"]])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if entry.exists():
            log.warning("ignoring unreadable cache entry %s: %s", entry, exc)
        return None


def save(dataset: Dataset) -> None:
    """Write the data set atomically; a failure (disk full, read-only) only logs a warning."""
    root = cache_dir()
    target, tmp = root / dataset.fingerprint, None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dataset.fingerprint}-", dir=root))
        tmp.chmod(0o755)  # mkdtemp makes it private; the entry is an ordinary shared folder
        for name, split in dataset.splits.items():
            for f in FIELDS:
                value = getattr(split, f)
                np.save(tmp / f"{name}_{f}.npy", value.astype(str) if value.dtype == object else value,
                        allow_pickle=False)
        meta = {"name": dataset.name, "resolution": dataset.resolution, "notes": dataset.notes,
                "classes": list(dataset.classes), "kind": dataset.kind, "matches": list(dataset.matches),
                "dropped": [dataclasses.asdict(d) for d in dataset.dropped],
                "sizes": {name: len(s) for name, s in dataset.splits.items()},
                "format": FORMAT_VERSION}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if target.exists():  # an unreadable leftover: load() just failed on it
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError as exc:
        log.warning("could not write the data cache %s: %s", target, exc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def exclusive(lock_path: Path):
    """One process at a time in the block, across processes (an flock on `lock_path`): runs that start
    together on the same data decode it, or extract its features, once; the others wait, then read."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cached(key: str, build: Callable[[], Dataset], progress: Progress | None = None) -> Dataset:
    """Load `key` from the cache, or build it, store it and return it (one builder at a time)."""
    hit = load(key)
    if hit is None:
        with exclusive(cache_dir() / f".{key}.lock"):
            hit = load(key)  # built by another process while this one waited
            if hit is None:
                dataset = build()
                save(dataset)
                return dataset
    if progress is not None:
        total = sum(len(s) for s in hit.splits.values())
        progress(total, total)
    return hit
