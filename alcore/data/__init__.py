"""Data sources -> decoded uint8 cache -> Dataset: the one entry point is `load_dataset`."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING


from alcore.data import cache
from alcore.data.base import SPLITS, UNKNOWN_LABEL, DataError, Dataset, Split
from alcore.data.cache import Progress, cache_dir
from alcore.data.folder import SEED_SUFFIX, carve, load_folder
from alcore.data.medmnist import load_npz
from alcore.data.synthetic import load_synthetic

if TYPE_CHECKING:
    from alcore.config import ExperimentConfig

__all__ = ["SPLITS", "UNKNOWN_LABEL", "DataError", "Dataset", "Split", "cache_dir", "load_dataset",
           "load_run_data", "open_cached"]

SOURCE_HELP = "give 'synthetic', a folder of images, or a MedMNIST .npz file"


def load_run_data(cfg: ExperimentConfig, progress: Progress | None = None) -> Dataset:
    """The data set a run's config names: load_dataset with the config's data settings."""
    return load_dataset(cfg.data, cfg.resolution, seed=cfg.seed, synthetic_size=cfg.synthetic_size,
                        pneumonia_share=cfg.synthetic_pneumonia_share, progress=progress,
                        allow_unlabeled=cfg.oracle == "human", synthetic_preset=cfg.synthetic_preset)


def load_dataset(data: str, resolution: int, seed: int = 0, synthetic_size: int = 2000,
                 pneumonia_share: float = 0.75, progress: Progress | None = None,
                 allow_unlabeled: bool = False, synthetic_preset: str = "standard") -> Dataset:
    """The data set named by `data`, decoded once and then read from the disk cache.

    `seed` only matters for folders lacking val/test splits (they are carved with it);
    the synthetic set is the same for every seed. `progress(done, total)` reports decoding.
    `allow_unlabeled` accepts a folder without class folders (labels UNKNOWN_LABEL).
    `synthetic_preset` picks the synthetic generator: "standard" or "teaching".
    """
    if data == "synthetic":
        return load_synthetic(synthetic_size, pneumonia_share, resolution, progress, synthetic_preset)
    path = Path(data).expanduser()
    if path.suffix.lower() == ".npz":
        return load_npz(path, resolution, progress)
    if path.is_dir():
        return load_folder(path, resolution, seed, allow_unlabeled, progress)
    if path.exists():
        raise DataError(f"{data} is a file but not an .npz; {SOURCE_HELP}")
    raise DataError(f"data not found: {data}; {SOURCE_HELP}")


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
