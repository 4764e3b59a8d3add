"""The two training regimes behind one interface: fit on labeled rows, infer on a split.

frozen   — backbone features computed once per (data set, resolution, backbone) and cached on disk;
           each round retrains only the head from the same initial head weights.
finetune — each round restores the same initial network and retrains all of it.
"""
from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from alcore.data import cache_dir
from alcore.data.cache import exclusive
from alcore.data.base import Dataset
from alcore.models import BinaryClassifier, WeightsInfo
from alcore.runs import atomic_write_npz
from alcore.train import TrainSettings, extract_features, fit_finetune, fit_head, head_probs

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class Inference:
    probs: np.ndarray  # (n,) p(PNEUMONIA)
    features: np.ndarray  # (n, d) float32 penultimate features
    mc_probs: np.ndarray | None = None  # (T, n)


class Learner:
    """Shared state: the initial network, the data as uint8 tensors, the device."""

    def __init__(self, model: BinaryClassifier, dataset: Dataset, settings: TrainSettings,
                 progress: ProgressFn | None = None):
        self.device = settings.device
        # channels_last: 1.3-1.8x faster convolutions with oneDNN on CPU and cuDNN on GPU
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.dataset = dataset
        self.settings = settings
        self.progress = progress or (lambda phase, done, total: None)
        self.initial_state = copy.deepcopy(self.model.state_dict())

    def _images(self, split: str) -> torch.Tensor:
        images = torch.from_numpy(np.ascontiguousarray(self.dataset.splits[split].images))
        return images.to(self.device) if self.device.type == "cuda" else images

    def fit(self, rows: np.ndarray, labels: np.ndarray, seed: int) -> None:
        raise NotImplementedError

    def infer(self, split: str, mc_passes: int = 0, seed: int = 0, rows: np.ndarray | None = None) -> Inference:
        """Probabilities and features of a split. With `rows`, only those rows must be right: the
        others may hold anything (finetune leaves their features at zero to skip their pass)."""
        raise NotImplementedError


class FinetuneLearner(Learner):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._split_images: dict[str, torch.Tensor] = {}

    def images(self, split: str) -> torch.Tensor:
        if split not in self._split_images:
            self._split_images[split] = self._images(split)
        return self._split_images[split]

    def fit(self, rows: np.ndarray, labels: np.ndarray, seed: int) -> None:
        self.model.load_state_dict(self.initial_state)
        generator = torch.Generator().manual_seed(seed)
        index = torch.from_numpy(rows).to(self.images("train").device)
        settings = copy.copy(self.settings)
        settings.on_batch = lambda done, total: self.progress("train", done, total)
        fit_finetune(self.model, self.images("train")[index], torch.from_numpy(labels), settings, generator)

    def infer(self, split: str, mc_passes: int = 0, seed: int = 0, rows: np.ndarray | None = None) -> Inference:
        images = self.images(split)
        extracted = extract_features(self.model, images, self.device, self.settings.cancel, rows=rows,
                                     on_batch=lambda d, t: self.progress(f"predict {split}", d, t))
        if rows is None:
            features = extracted
        else:  # the head still sees every row, so MC-dropout masks match a whole-split pass
            features = torch.zeros((len(images), extracted.shape[1]), dtype=extracted.dtype)
            features[torch.from_numpy(np.asarray(rows, dtype=np.int64))] = extracted
        head = self.model.head
        probs, mc = head_probs(head, features.to(self.device), mc_passes, seed)
        return Inference(probs.cpu().numpy(), features.numpy(), None if mc is None else mc.cpu().numpy())


class FrozenLearner(Learner):
    def __init__(self, *args, weights: WeightsInfo, model_name: str, seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.features = {split: self._cached_features(split, weights, model_name, seed)
                         for split in self.dataset.splits}
        train = self.features["train"]
        self.mean, self.std = train.mean(0), train.std(0) + 1e-6
        self.head = self.model.head.cpu()
        self.initial_head = copy.deepcopy(self.head.state_dict())

    def _cache_path(self, split: str, weights: WeightsInfo, model_name: str, seed: int) -> Path:
        weight_key = weights.used if weights.used == "imagenet" else f"{weights.used}-seed{seed}"
        key = hashlib.sha1(f"{self.dataset.fingerprint}|{model_name}|{weight_key}".encode()).hexdigest()[:16]
        return cache_dir() / "features" / f"{key}-{split}.npz"

    def _cached_features(self, split: str, weights: WeightsInfo, model_name: str, seed: int) -> torch.Tensor:
        path = self._cache_path(split, weights, model_name, seed)
        if not path.is_file():
            with exclusive(path.with_suffix(".lock")):  # runs started together extract them once
                if not path.is_file():
                    images = self._images(split)
                    features = extract_features(self.model, images, self.device, self.settings.cancel,
                                                on_batch=lambda d, t: self.progress(f"features {split}", d, t))
                    atomic_write_npz(path, {"features": features.numpy()})
                    log.info("cached %s features of %d images at %s", split, len(images), path)
                    return features
        with np.load(path) as data:
            return torch.from_numpy(data["features"])

    def _standardised(self, split: str) -> torch.Tensor:
        return (self.features[split] - self.mean) / self.std

    def fit(self, rows: np.ndarray, labels: np.ndarray, seed: int) -> None:
        self.head.load_state_dict(self.initial_head)
        settings = copy.copy(self.settings)
        settings.on_batch = lambda done, total: self.progress("train head", done, total)
        fit_head(self.head, self._standardised("train")[torch.from_numpy(rows)], torch.from_numpy(labels), settings,
                 torch.Generator().manual_seed(seed))

    def infer(self, split: str, mc_passes: int = 0, seed: int = 0, rows: np.ndarray | None = None) -> Inference:
        probs, mc = head_probs(self.head, self._standardised(split), mc_passes, seed)
        return Inference(probs.numpy(), self.features[split].numpy(), None if mc is None else mc.numpy())


def make_learner(regime: str, model: BinaryClassifier, dataset: Dataset, settings: TrainSettings,
                 weights: WeightsInfo, model_name: str, seed: int,
                 progress: ProgressFn | None = None) -> Learner:
    if regime == "finetune":
        return FinetuneLearner(model, dataset, settings, progress)
    return FrozenLearner(model, dataset, settings, progress, weights=weights, model_name=model_name, seed=seed)

