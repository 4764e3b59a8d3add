"""MedMNIST-style .npz files (PneumoniaMNIST at 28, 64, 128 or 224 px).

Keys: {train,val,test}_images (n, h, w) [or (n, h, w, c)] and {train,val,test}_labels
(n,) or (n, 1): class indices 0 .. C-1, C >= 2 the largest label + 1 (PneumoniaMNIST: 0 = normal,
1 = pneumonia; named NORMAL / PNEUMONIA, more classes 'label 0', 'label 1', ... unless --classes
names them). A missing official file is fetched with the `medmnist` package when the network allows.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from PIL import Image

from alcore import CLASS_NAMES
from alcore.data import cache
from alcore.data.base import SPLITS, DataError, Dataset, Split
from alcore.data.pixels import robust_range, scale_unit, unit_to_uint8

KEYS = tuple(f"{split}_{part}" for split in SPLITS for part in ("images", "labels"))
OFFICIAL_NAME = re.compile(r"pneumoniamnist(?:_(64|128|224))?\.npz")
URL = "https://zenodo.org/records/10519652/files/{name}"
log = logging.getLogger(__name__)


def load_npz(path: Path, resolution: int, progress: cache.Progress | None = None) -> Dataset:
    """Read (once) a MedMNIST-style file, resized to resolution x resolution."""
    path = Path(path).expanduser()
    if not path.exists():
        _download(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file; give a MedMNIST .npz file such as pneumoniamnist.npz")
    path = path.resolve()
    st = path.stat()
    key = cache.fingerprint("npz", str(path), st.st_size, st.st_mtime_ns, resolution)
    return cache.cached(key, lambda: _read(path, resolution, key, progress), progress)


def _read(path: Path, resolution: int, key: str, progress: cache.Progress | None) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = list(npz.files)
            arrays = {k: npz[k] for k in KEYS if k in found}
    except Exception as exc:  # noqa: BLE001 - not a zip, truncated, pickled content, a bare .npy
        raise DataError(f"could not read {path} as an .npz file ({exc})") from None
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path.name} lacks the keys {', '.join(missing)}; a MedMNIST file has "
                        f"{', '.join(KEYS)} (it holds: {', '.join(found) or 'nothing'})")
    labels = {split: _labels(arrays[f"{split}_labels"], split) for split in SPLITS}
    n_classes = max(2, 1 + max(int(split_labels.max(initial=0)) for split_labels in labels.values()))
    total, done, splits = sum(len(split_labels) for split_labels in labels.values()), 0, {}
    high_bit = any(_is_high_bit(arrays[f"{s}_images"]) for s in SPLITS)
    notes = [f"{path.name} holds {arrays['train_images'].dtype} pixels beyond 0..255: each image is windowed on "
             "its robust percentiles (0.5 to 99.5 %), not clipped"] if high_bit else []
    for split in SPLITS:
        images, n = _images(arrays[f"{split}_images"], split, high_bit), len(labels[split])
        if len(images) != n:
            raise DataError(f"{path.name}: {split} has {len(images)} images but {n} labels")
        ids = np.array([f"{split}-{i:05d}" for i in range(n)])
        splits[split] = Split(_resize(images, resolution), labels[split], ids,
                              np.array([f"npz:{split}:{i}" for i in range(n)]))
        done += n
        if progress is not None:
            progress(done, total)
    return Dataset(name=path.name, fingerprint=key, resolution=resolution, splits=splits, kind="npz", notes=notes,
                   classes=default_names(n_classes))


def default_names(n_classes: int) -> tuple[str, ...]:
    """An .npz's class names until --classes names them: NORMAL, PNEUMONIA for two (PneumoniaMNIST)."""
    return CLASS_NAMES if n_classes == 2 else tuple(f"label {k}" for k in range(n_classes))


def _is_high_bit(images: np.ndarray) -> bool:
    """uint16 / int / float pixels above 255: 12- to 16-bit data that clipping would saturate."""
    return images.dtype != np.uint8 and images.size > 0 and float(images.max()) > 255


def _images(images: np.ndarray, split: str, high_bit: bool) -> np.ndarray:
    """(n, h, w) uint8 grayscale from uint8/uint16/float, gray or colour arrays."""
    if images.ndim == 4:
        images = images.mean(axis=3) if images.shape[3] in (3, 4) else images[..., 0]
    if images.ndim != 3:
        raise DataError(f"{split}_images must have shape (n, h, w), got {images.shape}")
    if high_bit:
        return np.stack([unit_to_uint8(scale_unit(image, *robust_range(image))) for image in images]) \
            if len(images) else np.zeros(images.shape, np.uint8)
    if images.dtype != np.uint8:
        scale = 255.0 if images.size and images.max() <= 1.0 else 1.0
        images = np.clip(np.round(images.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    return images


def _labels(labels: np.ndarray, split: str) -> np.ndarray:
    """One class index (0, 1, 2, ...) per image; (n, 1) columns flattened."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    whole = labels.ndim == 1 and labels.dtype.kind in "iufb" and np.all(np.mod(labels, 1) == 0) and np.all(labels >= 0)
    if not whole:
        raise DataError(f"{split}_labels must be one class index per image: 0, 1, 2, ... (PneumoniaMNIST: 0 normal, "
                        "1 pneumonia; a multi-label (n, k) array is not supported)")
    return labels.astype(np.int64)


def _resize(images: np.ndarray, resolution: int) -> np.ndarray:
    if images.shape[1:] == (resolution, resolution):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), resolution, resolution), np.uint8)
    for i, image in enumerate(images):
        out[i] = Image.fromarray(image).resize((resolution, resolution), Image.Resampling.LANCZOS)
    return out


def _download(path: Path) -> None:
    """Fetch an official PneumoniaMNIST file into path's folder, or explain how to get it."""
    match = OFFICIAL_NAME.fullmatch(path.name)
    if match is None:
        raise DataError(f"npz file not found: {path}")
    how = (f"download {URL.format(name=path.name)} and save it as {path} "
           f"(or point the data setting at an existing .npz file)")
    try:
        import medmnist

        path.parent.mkdir(parents=True, exist_ok=True)
        medmnist.PneumoniaMNIST(split="test", download=True, root=str(path.parent),
                                size=int(match.group(1) or 28))
    except Exception as exc:  # noqa: BLE001 - offline, proxy, disk: all end in the same advice
        log.warning("MedMNIST download of %s failed: %s", path.name, exc)
        raise DataError(f"{path} does not exist and could not be downloaded; {how}") from None
    if not path.exists():
        raise DataError(f"{path} is still missing after the download; {how}")
