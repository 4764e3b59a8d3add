"""The two training regimes behind one interface: fit on labeled rows, infer on a split.

frozen   — backbone features computed once per (data set, resolution, backbone) and cached on disk
           (with `second_resolution`, also of the images resized to it, side by side: two scales);
           each round refits only the head. The default head is an L2 logistic regression on the
           standardised features' top HEAD_COMPONENTS principal directions (PCA of the whole train
           pool, no label read), its C and decision threshold cross-validated on the labeled rows
           (multinomial over C > 2 classes);
           `head="adamw"` is the earlier dropout + linear head trained by AdamW for `head_steps`.
finetune — each round restores the same initial network and retrains all of it (cross-entropy over
           the C classes' logits for C > 2).

`Inference.features` are what the head reads (for the logistic head: the principal components),
so strategies measuring distances or gradients work in the model's own space. After `fit`,
`threshold` is the decision threshold chosen from the labeled rows alone: two classes only; with
C > 2 the prediction is the most probable class and `threshold` is None.
"""
from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from threadpoolctl import threadpool_limits

from alcore.cores import workers_for
from alcore.data import cache_dir
from alcore.data.cache import exclusive
from alcore.data.base import Dataset
from alcore.models import Classifier, WeightsInfo
from alcore.runs import atomic_write_npz
from alcore.metrics import REFERENCE_THRESHOLD, operating_threshold
from alcore.train import (FeatureExtractor, ResizedImages, TrainSettings, extract_features, fit_finetune, fit_head,
                          fit_logistic_head, head_probs, out_of_fold_threshold, single_thread,
                          stratified_folds)

log = logging.getLogger(__name__)
HEAD_COMPONENTS = 64  # principal directions the logistic head reads: Newton steps in all 1,280
# dimensions cost ~70x more (74 s against 1 s per round at 1,000 labels for 128 directions, on a
# busy 2-core machine); on a patient-grouped fifth of the train pool 64, 128 and 256 directions
# scored 0.990, 0.990 and 0.991 AUC with 1,000 labels
ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class Inference:
    probs: np.ndarray  # (n, C) float32 class probabilities, column j = p(Dataset.classes[j])
    features: np.ndarray  # (n, d) float32 penultimate features
    mc_probs: np.ndarray | None = None  # (T, n, C) of T MC-dropout (or posterior) passes


class Learner:
    """Shared state: the initial network, the data as uint8 tensors, the device."""

    def __init__(self, model: Classifier, dataset: Dataset, settings: TrainSettings,
                 progress: ProgressFn | None = None):
        self.device = settings.device
        # channels_last: 1.3-1.8x faster convolutions with oneDNN on CPU and cuDNN on GPU
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.dataset = dataset
        self.settings = settings
        self.computing = workers_for(self.device, settings.cores)  # who computes what depends on threads
        self.progress = progress or (lambda phase, done, total: None)
        self.initial_state = copy.deepcopy(self.model.state_dict())
        self.n_classes = len(dataset.classes)
        # set by fit from the labeled rows alone; None: C > 2 classes, predicted by argmax
        self.threshold: float | None = REFERENCE_THRESHOLD if self.n_classes == 2 else None
        self.fit_info: dict = {}  # what the last fit chose (C, early-stopping step...), for the round's record
        # a patient's images stay on one side of every split of the labeled set (CV folds, the
        # validation slice): neighbours of a held-out image would flatter the choices made on it
        # (Split.patients: the data layer's; for Kermany names, synthetic and npz the same groups as before)
        _, self.patients = np.unique(dataset.train.patients, return_inverse=True)

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
        """Retrain from the initial weights. With `val_share`, a stratified, patient-grouped slice of
        the labeled rows is held out: early stopping and the threshold (metrics.operating_threshold)
        are chosen on it."""
        self.model.load_state_dict(self.initial_state)
        generator = torch.Generator().manual_seed(seed)
        held_out = np.zeros(len(rows), dtype=bool)
        if self.settings.val_share > 0:
            folds = stratified_folds(labels, seed, self.patients[rows], max(2, round(1 / self.settings.val_share)))
            held_out[folds[0][1] if folds else []] = True
        train_images = self.images("train")
        index = torch.from_numpy(rows[~held_out]).to(train_images.device)
        val = None
        if held_out.any():
            val = (train_images[torch.from_numpy(rows[held_out]).to(train_images.device)],
                   torch.from_numpy(labels[held_out]))
        settings = copy.copy(self.settings)
        settings.on_batch = lambda done, total: self.progress("train", done, total)
        report = fit_finetune(self.model, train_images[index], torch.from_numpy(labels[~held_out]), settings,
                              generator, val)
        self.fit_info = {"steps": report.steps}
        # without a validation slice, 0.5: a briefly trained network is not calibrated to any prior
        self.threshold = REFERENCE_THRESHOLD if self.n_classes == 2 else None
        if val is not None:
            if self.n_classes == 2:
                val_probs = self.infer("train", rows=rows[held_out]).probs[rows[held_out], 1]
                self.threshold = operating_threshold(self.settings.threshold_rule, labels[held_out], val_probs,
                                                     self.settings.class_weighted)
            self.fit_info.update(val_images=int(held_out.sum()), best_step=report.best_step,
                                 val_loss=round(report.val_loss, 5))

    def infer(self, split: str, mc_passes: int = 0, seed: int = 0, rows: np.ndarray | None = None) -> Inference:
        images = self.images(split)
        extracted = extract_features(self.model, images, self.device, self.settings.cancel, rows=rows,
                                     on_batch=lambda d, t: self.progress(f"predict {split}", d, t),
                                     cores=self.settings.cores)
        if rows is None:
            features = extracted
        else:  # the head still sees every row, so MC-dropout masks match a whole-split pass
            features = torch.zeros((len(images), extracted.shape[1]), dtype=extracted.dtype)
            features[torch.from_numpy(np.asarray(rows, dtype=np.int64))] = extracted
        probs, mc = self.computing.call(head_probs, self.model.head, features.to(self.device), mc_passes, seed)
        return Inference(probs.cpu().numpy(), features.numpy(), None if mc is None else mc.cpu().numpy())


class FrozenLearner(Learner):
    def __init__(self, *args, weights: WeightsInfo, model_name: str, seed: int, head: str = "logistic",
                 second_resolution: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        # with a second resolution, each image's features at both sizes side by side (two scales)
        sizes = [None] + ([second_resolution] if second_resolution else [])
        extractors: dict[int | None, FeatureExtractor] = {}  # prepared once per size, for every split
        self.features = {split: torch.cat([self._cached_features(split, weights, model_name, seed, size, extractors)
                                           for size in sizes], 1)
                         for split in self.dataset.splits}
        self.head_kind = head
        self.head = self.model.head.cpu()
        self.initial_head = copy.deepcopy(self.head.state_dict())
        self.logistic = None
        # sums over thousands of rows: on one thread, so their last bits do not depend on the cores
        with single_thread(), threadpool_limits(1, user_api="blas"):
            train = self.features["train"]
            self.mean, self.std = train.mean(0), train.std(0) + 1e-6
            if head == "logistic":
                self.directions = principal_directions(self._standardised("train").numpy(), HEAD_COMPONENTS)
            self.inputs = {split: self._head_input(split) for split in self.dataset.splits}

    def _cache_path(self, split: str, weights: WeightsInfo, model_name: str, seed: int, size: int | None) -> Path:
        """Keyed by everything that changes the features: the data, the backbone, its weights (a file's
        content, not its name), the device, the precision (bfloat16 autocast on CUDA) and the input
        size when the images are resized (`size`; None: as stored)."""
        if weights.used.startswith("file:"):
            weight_key = f"file-{file_digest(weights.used.removeprefix('file:'))}"
        else:
            weight_key = weights.used if weights.used == "imagenet" else f"{weights.used}-seed{seed}"
        precision = "bf16" if self.device.type == "cuda" else "fp32"
        resized = f"|{size}px" if size else ""
        key = hashlib.sha1(f"{self.dataset.fingerprint}|{model_name}|{weight_key}|{self.device.type}|{precision}"
                           f"{resized}".encode()).hexdigest()[:16]
        return cache_dir() / "features" / f"{key}-{split}.npz"

    def _cached_features(self, split: str, weights: WeightsInfo, model_name: str, seed: int, size: int | None,
                         extractors: dict[int | None, FeatureExtractor]) -> torch.Tensor:
        path = self._cache_path(split, weights, model_name, seed, size)
        if not path.is_file():
            with exclusive(path.with_suffix(".lock")):  # runs started together extract them once
                if not path.is_file():
                    images = self._images(split)
                    images = ResizedImages(images, size) if size else images
                    if size not in extractors:
                        extractors[size] = FeatureExtractor(self.model, images[:2].to(self.device), self.device,
                                                            cores=self.settings.cores)
                    features = extractors[size](images, self.settings.cancel,
                                                lambda d, t: self.progress(f"features {split}", d, t))
                    atomic_write_npz(path, {"features": features.numpy()})
                    log.info("cached %s features of %d images at %s", split, len(images), path)
                    return features
        with np.load(path) as data:
            return torch.from_numpy(data["features"])

    def _standardised(self, split: str) -> torch.Tensor:
        return (self.features[split] - self.mean) / self.std

    def _head_input(self, split: str) -> np.ndarray:
        standardised = self._standardised(split).numpy()
        return standardised @ self.directions if self.head_kind == "logistic" else standardised

    def fit(self, rows: np.ndarray, labels: np.ndarray, seed: int) -> None:
        x = self.inputs["train"][rows]
        if self.head_kind == "logistic":
            self.progress("train head", 0, 1)
            # tiny dense algebra: a second BLAS thread only spin-waits on a busy machine (20x slower)
            with threadpool_limits(1, user_api="blas"):
                self.logistic = fit_logistic_head(x, labels, self.settings.class_weighted, seed,
                                                  self.patients[rows], self.settings.cancel,
                                                  self.settings.threshold_rule, self.n_classes)
            self.threshold = self.logistic.threshold
            self.fit_info = {"c": self.logistic.c}
            self.progress("train head", 1, 1)
            return

        def fit_predict(fit_rows: np.ndarray, predict_rows: np.ndarray) -> np.ndarray:
            self.fit_adamw(x[fit_rows], labels[fit_rows], seed)
            return self.computing.call(head_probs, self.head, torch.from_numpy(x[predict_rows]))[0][:, 1].numpy()
        if self.n_classes == 2:
            self.threshold = out_of_fold_threshold(fit_predict, labels, seed, self.patients[rows],
                                                    self.settings.threshold_rule, self.settings.class_weighted)
        self.fit_adamw(x, labels, seed)

    def fit_adamw(self, x: np.ndarray, labels: np.ndarray, seed: int) -> None:
        """The AdamW head alone on head inputs `x` (no threshold choice)."""
        self.head.load_state_dict(self.initial_head)
        settings = copy.copy(self.settings)
        settings.on_batch = lambda done, total: self.progress("train head", done, total)
        fit_head(self.head, torch.from_numpy(x), torch.from_numpy(labels), settings, torch.Generator().manual_seed(seed))

    def infer(self, split: str, mc_passes: int = 0, seed: int = 0, rows: np.ndarray | None = None) -> Inference:
        x = self.inputs[split]
        if self.head_kind == "logistic":
            with threadpool_limits(1, user_api="blas"):
                probs = self.logistic.probs(x)
                mc = (self.logistic.sample_probs(x, mc_passes, np.random.default_rng([seed, 31]))
                      if mc_passes > 0 else None)
            return Inference(probs, x, mc)
        probs, mc = self.computing.call(head_probs, self.head, torch.from_numpy(x), mc_passes, seed)
        return Inference(probs.numpy(), x, None if mc is None else mc.numpy())


def principal_directions(x: np.ndarray, k: int) -> np.ndarray:
    """(d, k) the top-k principal directions of centred x (eigenvectors of its covariance; cheaper
    than an SVD of x), each signed so its largest entry is positive (deterministic)."""
    centred = x - x.mean(0)
    with threadpool_limits(1, user_api="blas"):
        _, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, ::-1][:, :min(k, *x.shape)]
    signs = np.sign(top[np.abs(top).argmax(0), np.arange(top.shape[1])])
    return (top * signs).astype(np.float32)


def file_digest(path: str) -> str:
    """SHA-256 of a file's content, computed once per (path, size, modification time)."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def make_learner(regime: str, model: Classifier, dataset: Dataset, settings: TrainSettings,
                 weights: WeightsInfo, model_name: str, seed: int,
                 progress: ProgressFn | None = None, head: str = "logistic", second_resolution: int = 0) -> Learner:
    if regime == "finetune":
        return FinetuneLearner(model, dataset, settings, progress)
    return FrozenLearner(model, dataset, settings, progress, weights=weights, model_name=model_name, seed=seed,
                         head=head, second_resolution=second_resolution)

