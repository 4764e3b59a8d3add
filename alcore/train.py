"""Fit, predict and extract features on in-memory uint8 tensors (no DataLoader, no decoding)."""
from __future__ import annotations

import contextlib
import copy
import functools
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from scipy.special import expit, logsumexp, softmax
from sklearn.model_selection import StratifiedGroupKFold
from torch import nn

from alcore.cores import workers, workers_for
from alcore.runs import two_class_probs
from alcore.inference import GPU_BATCH, cpu_inference_batch, inference_network
from alcore.metrics import operating_threshold
from alcore.models import Classifier, dropout_generator, head_classes

HEAD_BATCH = 256  # rows per head step in the frozen regime: bounded cost however many labels
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the logistic head's inverse L2 strengths
CV_FOLDS = 5  # folds of the labeled set that choose C and the threshold
MICRO_BATCH = 8  # images per piece of a CPU training step: fixed, so the step's numbers do not depend on the cores
VALIDATION_BATCH = 64  # images per validation-loss batch
EARLY_STOPPING_PATIENCE = 3  # validation checks without a lower loss before fine-tuning stops
NEWTON_MAX_STEPS = 50
NEWTON_TOL = 1e-6  # largest gradient entry at convergence


class Cancelled(Exception):
    """The user asked the run to stop; raised between batches."""


class LossNotFinite(ArithmeticError):
    """The training loss became NaN or infinite (a learning rate too high, usually)."""


def _step(loss: torch.Tensor, optimiser: torch.optim.Optimizer) -> None:
    """One optimiser step on `loss`, refused when it is not finite (it would make every weight NaN)."""
    if not torch.isfinite(loss):
        raise LossNotFinite()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def _check_finite(model: nn.Module) -> None:
    """After training: a last step with a huge gradient can leave weights infinite, the next loss NaN."""
    if not all(torch.isfinite(t).all() for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()):
        raise LossNotFinite()


@dataclass
class TrainSettings:
    epochs: int
    head_steps: int
    batch_size: int
    lr: float
    weight_decay: float
    class_weighted: bool
    device: torch.device
    cancel: threading.Event | None = None
    on_batch: Callable[[int, int], None] | None = None  # (batches done, batches total)
    steps: int = 0  # finetune: optimiser steps per round (0: `epochs` passes over the labeled set)
    augment: bool = False  # finetune: light chest-X-ray augmentation of each training batch
    hflip: bool = False  # ... plus random horizontal flips (off: the heart is on the left)
    val_share: float = 0.0  # finetune: share of the labeled set held out for early stopping (0: none)
    patience: int = EARLY_STOPPING_PATIENCE  # finetune with a validation slice: checks without gain
    threshold_rule: str = "cv"  # how the operating point is chosen (metrics.operating_threshold)
    cores: int = 1  # CPU: the workers computing pieces of steps and inference passes (the numbers do not depend on it)


@dataclass
class ComputeClock:
    """Seconds the run's thread spends on model forward/backward passes, for the benchmarks' compute
    share. Off unless a benchmark calls `start()`: on a GPU each measurement synchronises with the
    device, which would stop the CPU from queueing the next batch while the GPU computes."""

    enabled: bool = False
    seconds: float = 0.0
    calls: int = 0

    def start(self) -> None:
        """Measure from now on, from zero."""
        self.enabled, self.seconds, self.calls = True, 0.0, 0

    @contextlib.contextmanager
    def measure(self, device: torch.device):
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        yield
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.seconds += time.perf_counter() - start
        self.calls += 1


COMPUTE = ComputeClock()  # the process's clock: benchmarks call COMPUTE.start()


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def training_targets(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """What the loss compares the logits with: float 0/1 for the one logit of two classes, else class indices."""
    return labels.float() if n_classes == 2 else labels.long()


def _loss_fn(targets: torch.Tensor, class_weighted: bool, n_classes: int = 2) -> nn.Module:
    """Two classes: binary cross-entropy of the one logit (class-weighted: the positives weighted by
    negatives / positives). C > 2: cross-entropy over the C logits (class-weighted: each class by
    n / (C x its count), scikit-learn's "balanced"). `targets` from training_targets."""
    if n_classes > 2:
        counts = torch.bincount(targets, minlength=n_classes).clamp(min=1)
        return WeightedCrossEntropy(len(targets) / (n_classes * counts.float()) if class_weighted else None)
    if not class_weighted:
        return nn.BCEWithLogitsLoss()
    n_pos = targets.sum().clamp(min=1)
    n_neg = (targets.numel() - targets.sum()).clamp(min=1)
    return nn.BCEWithLogitsLoss(pos_weight=(n_neg / n_pos).to(targets.device))


class WeightedCrossEntropy(nn.Module):
    """The mean over rows of each row's cross-entropy times its class's weight. Not renormalised by
    the weights (as BCEWithLogitsLoss's pos_weight), so a step's pieces add up to the whole batch's."""

    def __init__(self, weight: torch.Tensor | None):
        super().__init__()
        self.weight = weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = nn.functional.cross_entropy(logits, targets, reduction="none")
        return losses.mean() if self.weight is None else (losses * self.weight.to(losses.device)[targets]).mean()


@dataclass
class FitReport:
    """What a fine-tuning round did: optimiser steps taken and, with a validation slice, the step
    whose weights were kept and their validation loss."""

    steps: int
    best_step: int | None = None
    val_loss: float | None = None


def fit_finetune(model: Classifier, images: torch.Tensor, labels: torch.Tensor,
                 settings: TrainSettings, generator: torch.Generator,
                 val: tuple[torch.Tensor, torch.Tensor] | None = None) -> FitReport:
    """Train the whole network on (images, labels): `settings.steps` optimiser steps, or `epochs`
    passes when it is 0; `generator` draws the order, the augmentation and the dropout masks. With
    `val` (images, labels) the validation loss is checked every pass (or every 1/10 of the steps),
    the weights of the lowest one are kept, and training stops after `patience` checks without
    improvement (early stopping). On a CPU each step is a `PieceStep` (the same numbers on any
    number of cores); on a GPU one pass of the whole batch."""
    device = settings.device
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    targets = training_targets(labels, model.n_classes).to(device)
    loss_fn = _loss_fn(targets, settings.class_weighted, model.n_classes)
    step = (PieceStep(model, loss_fn, optimiser, settings.cores) if device.type == "cpu"
            else WholeBatchStep(model, loss_fn, optimiser))
    n = len(labels)
    per_epoch = n // settings.batch_size + (n % settings.batch_size >= 2 or n < 2)  # batches _batches yields
    total = settings.steps or per_epoch * settings.epochs
    check_every = per_epoch if not settings.steps else max(1, total // 10)
    best = (math.inf, None, None)  # (validation loss, step, weights)
    checks_without_gain = done = 0
    for idx in _batches(n, settings.batch_size, generator, images.device):
        if done == total:
            break
        _check_cancel(settings.cancel)
        batch = images[idx].to(device, non_blocking=True)
        augmentation = draw_augmentation(len(batch), generator, settings.hflip) if settings.augment else None
        with COMPUTE.measure(device):
            step(batch, targets[idx.to(device)], augmentation, generator)
        done += 1
        if settings.on_batch:
            settings.on_batch(done, total)
        if val is not None and (done % check_every == 0 or done == total):
            val_loss = _validation_loss(model, *val, loss_fn, settings)
            if val_loss < best[0]:
                best, checks_without_gain = (val_loss, done, copy.deepcopy(model.state_dict())), 0
            else:
                checks_without_gain += 1
                if checks_without_gain >= settings.patience:
                    break
    _check_finite(model)
    if best[2] is None:
        return FitReport(done)
    model.load_state_dict(best[2])
    return FitReport(done, best[1], best[0])


class WholeBatchStep:
    """A GPU training step: the whole batch in one pass, in mixed precision."""

    def __init__(self, model: Classifier, loss_fn: nn.Module, optimiser: torch.optim.Optimizer):
        self.model, self.loss_fn, self.optimiser = model, loss_fn, optimiser

    def __call__(self, batch: torch.Tensor, targets: torch.Tensor, augmentation: torch.Tensor | None,
                 generator: torch.Generator) -> None:
        if augmentation is not None:
            batch = apply_augmentation(batch, augmentation)
        with dropout_generator(self.model, generator), _autocast(batch.device):
            loss = self.loss_fn(self.model(batch).float(), targets)
        _step(loss, self.optimiser)


class PieceStep:
    """A CPU training step whose numbers do not depend on the cores (alcore.cores): the batch cut into
    ceil(n / MICRO_BATCH) near-equal pieces, each piece's gradient computed with one intra-op thread on
    a worker's copy of the network, the gradients summed in piece order. Each piece's BatchNorm
    normalises by that piece's statistics (ghost batch norm, Hoffer et al. 2017) and the running
    statistics move by the pieces' mean; each piece draws its dropout masks from its own generator,
    seeded from the run's in piece order."""

    def __init__(self, model: Classifier, loss_fn: nn.Module, optimiser: torch.optim.Optimizer, cores: int):
        self.model, self.loss_fn, self.optimiser = model, loss_fn, optimiser
        self.params = list(model.parameters())
        self.workers = workers(cores)
        self.replicas: queue.SimpleQueue[_Replica] = queue.SimpleQueue()
        for _ in range(self.workers.count):
            self.replicas.put(_Replica(model))
        self.version = 0  # steps taken: a replica behind it copies the weights first

    def __call__(self, batch: torch.Tensor, targets: torch.Tensor, augmentation: torch.Tensor | None,
                 generator: torch.Generator) -> None:
        pieces = np.array_split(np.arange(len(batch)), -(-len(batch) // MICRO_BATCH))
        seeds = torch.randint(2**62, (len(pieces),), generator=generator).tolist()
        jobs = [(batch[rows], targets[rows], None if augmentation is None else augmentation[rows], seed,
                 len(rows) / len(batch)) for rows, seed in zip(pieces, seeds)]
        results = list(self.workers.map(self._piece, jobs))
        if not math.isfinite(sum(loss for loss, _, _ in results)):
            raise LossNotFinite()
        for i, param in enumerate(self.params):
            parts = [grads[i] for _, grads, _ in results if grads[i] is not None]
            param.grad = functools.reduce(torch.add, parts) if parts else None
        with torch.no_grad():
            for i, buffer in enumerate(self.model.buffers()):
                values = [buffers[i] for _, _, buffers in results]
                buffer.copy_(functools.reduce(torch.add, values) / len(values) if buffer.is_floating_point()
                             else values[0])
        self.optimiser.step()
        self.version += 1

    def _piece(self, job: tuple) -> tuple[float, tuple[torch.Tensor | None, ...], list[torch.Tensor]]:
        """(the piece's share of the batch loss, its gradients, the BatchNorm statistics it leaves)."""
        images, targets, augmentation, seed, share = job
        replica = self.replicas.get()
        try:
            replica.catch_up(self.model, self.version)
            if augmentation is not None:
                images = apply_augmentation(images, augmentation)
            with dropout_generator(replica.model, torch.Generator().manual_seed(seed)):
                loss = self.loss_fn(replica.model(images).float(), targets) * share
            grads = torch.autograd.grad(loss, replica.params, allow_unused=True)
            return float(loss.detach()), grads, [buffer.clone() for buffer in replica.model.buffers()]
        finally:
            self.replicas.put(replica)


class _Replica:
    """A worker's copy of the network being trained."""

    def __init__(self, model: nn.Module):
        self.model = copy.deepcopy(model)
        self.params = list(self.model.parameters())
        self.version = 0  # the step whose weights it holds

    @torch.no_grad()
    def catch_up(self, model: nn.Module, version: int) -> None:
        """The weights of step `version` (copied once per step) and the running statistics (every piece)."""
        if self.version != version:
            for mine, theirs in zip(self.params, model.parameters()):
                mine.copy_(theirs)
            self.version = version
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


def _batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """Row indices of shuffled batches, pass after pass; a last batch of one is skipped (BatchNorm
    cannot train on it) unless the whole set is one row."""
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if len(idx) >= 2 or n < 2:
                yield idx


def _validation_loss(model: Classifier, images: torch.Tensor, labels: torch.Tensor,
                     loss_fn: nn.Module, settings: TrainSettings) -> float:
    """The loss on the validation slice, in batches of VALIDATION_BATCH (the run's workers on a CPU)."""
    device, computing = settings.device, workers_for(settings.device, settings.cores)

    @torch.no_grad()
    def logits(start: int) -> torch.Tensor:
        return model(images[start:start + VALIDATION_BATCH].to(device)).float()

    model.eval()
    try:
        all_logits = torch.cat(list(computing.map(logits, range(0, len(images), VALIDATION_BATCH))))
    finally:
        model.train()
    targets = training_targets(labels, model.n_classes).to(device)
    return computing.call(lambda: float(loss_fn(all_logits, targets)))


def draw_augmentation(n: int, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    """(n, 7) draws for `apply_augmentation`, one row per image: rotation within +-5 degrees, scale
    0.95-1.05, a horizontal flip (-1) only when `hflip` (it moves the heart to the wrong side), shift
    within +-4 % of the side in x and y, contrast and brightness within +-10 %."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle, scale = uniform(-5, 5) * math.pi / 180, uniform(0.95, 1.05)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if hflip else torch.ones(n)
    shift_x, shift_y = uniform(-0.08, 0.08), uniform(-0.08, 0.08)
    contrast, brightness = uniform(0.9, 1.1), uniform(0.9, 1.1)
    return torch.stack([angle, scale, flip, shift_x, shift_y, contrast, brightness], 1)


def apply_augmentation(images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """Light augmentation for chest X-rays by `draw_augmentation`'s rows: (B, H, W) uint8 -> float 0..255."""
    angle, scale, flip, shift_x, shift_y, contrast, brightness = draws.to(images.device).unbind(1)
    theta = torch.stack([
        torch.stack([flip * torch.cos(angle) / scale, -torch.sin(angle) / scale, shift_x], 1),
        torch.stack([flip * torch.sin(angle) / scale, torch.cos(angle) / scale, shift_y], 1)], 1)
    x = images.float().unsqueeze(1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False).squeeze(1)
    mean = x.mean(dim=(1, 2), keepdim=True)
    x = (x - mean) * contrast[:, None, None] + mean * brightness[:, None, None]
    return x.clamp(0, 255)


@contextlib.contextmanager
def single_thread():
    """One torch thread inside the block: tiny ops run faster so (OpenMP's fork/join costs more than
    the work, and on a busy machine a team of threads waits for descheduled members: measured 5x
    slower on 2 cores), and sums over rows then do not depend on the run's cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_head(head: nn.Module, features: torch.Tensor, labels: torch.Tensor, settings: TrainSettings,
             generator: torch.Generator) -> None:
    """Train only the head on fixed (standardised) features: AdamW, `head_steps` steps, each on
    all rows or on a random HEAD_BATCH of them; `generator` draws the rows and the dropout masks."""
    head.train()
    optimiser = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    n_classes = head_classes(head)
    targets = training_targets(labels, n_classes)
    loss_fn = _loss_fn(targets, settings.class_weighted, n_classes)
    n = len(targets)
    with single_thread(), dropout_generator(head, generator):
        for step in range(settings.head_steps):
            if step % 20 == 0:
                _check_cancel(settings.cancel)
            rows = torch.randint(n, (HEAD_BATCH,), generator=generator) if n > HEAD_BATCH else slice(None)
            _step(loss_fn(head(features[rows]).squeeze(1), targets[rows]), optimiser)
            if settings.on_batch and (step + 1) % 20 == 0:
                settings.on_batch(step + 1, settings.head_steps)
    _check_finite(head)


@dataclass
class LogisticHead:
    """An L2 logistic regression on standardised features, fitted to convergence (Newton's method):
    deterministic, and calibrated by its log loss. Two classes: p(positive) = sigmoid(x @ weight +
    bias), weight (d,). C > 2: multinomial, softmax(x @ weight + bias), weight (d, C), bias (C,).

    `c` (inverse L2 strength) and, for two classes, `threshold` (maximal balanced accuracy) were
    chosen on out-of-fold probabilities of the labeled rows: nothing else is read. C > 2 predicts by
    argmax: `threshold` is None. `posterior_factor` is the factor of the inverse Hessian at the
    optimum (Laplace approximation), from which `sample_probs` draws the model's uncertainty for BALD.
    """

    weight: np.ndarray  # (d,) two classes; (d, C) multinomial
    bias: float | np.ndarray  # a number; (C,) multinomial
    c: float
    threshold: float | None
    posterior_factor: np.ndarray  # (P, P), P the parameters ([w, b] flattened): L with covariance L @ L.T

    def probs(self, x: np.ndarray) -> np.ndarray:
        """(n, C) float32 class probabilities."""
        return self._probs(np.asarray(x, dtype=np.float64) @ self.weight + self.bias)

    def sample_probs(self, x: np.ndarray, passes: int, rng: np.random.Generator) -> np.ndarray:
        """(passes, n, C) float32 class probabilities under weights drawn from the Laplace posterior."""
        draws = rng.standard_normal((len(self.posterior_factor), passes))
        x = np.asarray(x, dtype=np.float64)
        if self.weight.ndim == 1:
            weights = np.r_[self.weight, self.bias][:, None] + self.posterior_factor @ draws
            return self._probs((x @ weights[:-1] + weights[-1]).T)
        theta = np.r_[self.weight, self.bias[None]]  # (d + 1, C), flattened as the factor's rows
        weights = (theta.reshape(-1, 1) + self.posterior_factor @ draws).reshape(*theta.shape, passes)
        return self._probs(np.einsum("nd,dcp->pnc", x, weights[:-1]) + weights[-1].T[:, None])

    def _probs(self, logits: np.ndarray) -> np.ndarray:
        """(..., C) float32 of logits: (...) of the positive class, or (..., C) multinomial."""
        return two_class_probs(expit(logits)) if self.weight.ndim == 1 else softmax(logits, axis=-1).astype(np.float32)


def _newton(theta: np.ndarray, objective: Callable[[np.ndarray], float],
            derivatives: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method with step halving on a convex objective, to a gradient below NEWTON_TOL:
    (the optimum, the Hessian there). `derivatives(theta)`: (gradient, Hessian)."""
    for _ in range(NEWTON_MAX_STEPS):
        gradient, hessian = derivatives(theta)
        if np.abs(gradient).max() < NEWTON_TOL:
            break
        step = np.linalg.solve(hessian, gradient)
        before, size = objective(theta), 1.0
        while objective(theta - size * step) > before and size > 1e-4:
            size /= 2
        theta = theta - size * step
    return theta, hessian


def _penalty(shape: tuple[int, ...]) -> np.ndarray:
    """The L2 penalty of each parameter of [w, b] (rows: features then the bias): 1, and a tiny prior
    on the bias that keeps the Hessian invertible when a class is rare."""
    penalty = np.ones(shape)
    penalty[-1] = 1e-6
    return penalty


def _newton_logistic(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, c: float,
                     start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Minimise c * sum_i s_i * logloss_i + |w|^2 / 2 (bias unpenalised) by Newton's method.
    Returns ([w, b], the Hessian at the optimum)."""
    with_bias = np.c_[x, np.ones(len(x))]
    theta = np.zeros(with_bias.shape[1]) if start is None else start.copy()
    penalty = _penalty(with_bias.shape[1])

    def objective(t: np.ndarray) -> float:
        z = with_bias @ t
        return c * float(sample_weight @ (np.logaddexp(0, z) - y * z)) + 0.5 * float(penalty * t @ t)

    def derivatives(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = expit(with_bias @ t)
        gradient = c * with_bias.T @ (sample_weight * (p - y)) + penalty * t
        hessian = (with_bias * (c * sample_weight * p * (1 - p))[:, None]).T @ with_bias
        hessian[np.diag_indices_from(hessian)] += penalty
        return gradient, hessian

    return _newton(theta, objective, derivatives)


def _newton_multinomial(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, c: float, n_classes: int,
                        start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The multinomial (softmax) form of _newton_logistic over `n_classes`: ([w, b] as (d + 1, C),
    the Hessian of its flattened parameters at the optimum)."""
    with_bias = np.c_[x, np.ones(len(x))]
    shape = (with_bias.shape[1], n_classes)
    onehot = np.eye(n_classes)[y]
    penalty = _penalty(shape).ravel()
    weighted = c * sample_weight

    def objective(t: np.ndarray) -> float:
        z = with_bias @ t.reshape(shape)
        return float(weighted @ (logsumexp(z, axis=1) - (z * onehot).sum(1))) + 0.5 * float(penalty * t @ t)

    def derivatives(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = softmax(with_bias @ t.reshape(shape), axis=1)
        gradient = (with_bias.T @ (weighted[:, None] * (p - onehot))).ravel() + penalty * t
        hessian = np.empty((shape[0], n_classes, shape[0], n_classes))
        for i in range(n_classes):
            for j in range(i, n_classes):
                curvature = weighted * p[:, i] * ((i == j) - p[:, j])
                hessian[:, i, :, j] = hessian[:, j, :, i] = (with_bias * curvature[:, None]).T @ with_bias
        hessian = hessian.reshape(len(penalty), len(penalty))
        hessian[np.diag_indices_from(hessian)] += penalty
        return gradient, hessian

    theta = np.zeros(len(penalty)) if start is None else start.ravel()
    theta, hessian = _newton(theta, objective, derivatives)
    return theta.reshape(shape), hessian


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float, class_weighted: bool,
                 start: np.ndarray | None = None, n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The L2 logistic regression of strength `c` on (x, y), from `start` ([w, b]) when given:
    ([w, b], the Hessian at the optimum); `class_weighted` weighs each class by its inverse share.
    Two classes: [w, b] (d + 1,); C > 2: multinomial, (d + 1, C)."""
    counts = np.maximum(np.bincount(y, minlength=n_classes), 1)
    sample_weight = (len(y) / (n_classes * counts))[y] if class_weighted else np.ones(len(y))
    if n_classes == 2:
        return _newton_logistic(x, y, sample_weight, c, start)
    return _newton_multinomial(x, y, sample_weight, c, n_classes, start)


def _fitted_probs(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Probabilities of a fitted [w, b]: p(positive) (n,) for two classes, (n, C) multinomial."""
    z = x @ theta[:-1] + theta[-1]
    return expit(z) if theta.ndim == 1 else softmax(z, axis=1)


def fit_logistic_head(x: np.ndarray, y: np.ndarray, class_weighted: bool, seed: int,
                      groups: np.ndarray | None = None, cancel: threading.Event | None = None,
                      threshold_rule: str = "cv", n_classes: int = 2) -> LogisticHead:
    """Choose C from C_GRID by the out-of-fold log loss of stratified_folds of (x, y) (a patient's
    images never on both sides, when `groups` says who), for two classes the threshold by
    `threshold_rule` (for "cv", on those out-of-fold probabilities; metrics.operating_threshold), and
    refit on all rows. C > 2 (`n_classes`): a multinomial regression, no threshold (argmax).

    With fewer than two rows of a class there is nothing to cross-validate: the smallest C
    (strongest regularisation) and the prior threshold are used; with one class only, a constant
    prediction."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y).astype(int)
    counts = np.bincount(y, minlength=n_classes)
    if np.count_nonzero(counts) < 2:
        return _constant_head(counts, x.shape[1])
    folds = stratified_folds(y, seed, groups)
    c, best_out_of_fold = C_GRID[0], None
    if folds:
        out_of_fold = np.zeros((len(C_GRID), len(y)) + (() if n_classes == 2 else (n_classes,)))
        for fit_rows, held_out in folds:
            _check_cancel(cancel)
            theta = None  # each C starts from the previous (weaker regularisation: a short way on)
            for k, candidate in enumerate(C_GRID):
                theta, _ = fit_logistic(x[fit_rows], y[fit_rows], candidate, class_weighted, theta, n_classes)
                out_of_fold[k, held_out] = _fitted_probs(theta, x[held_out])
        best = int(np.argmin([log_loss(y, p) for p in out_of_fold]))
        c, best_out_of_fold = C_GRID[best], out_of_fold[best]
    threshold = (operating_threshold(threshold_rule, y, best_out_of_fold, class_weighted) if n_classes == 2
                 else None)
    theta, hessian = fit_logistic(x, y, c, class_weighted, n_classes=n_classes)
    # Laplace approximation. The objective c * loss + |w|^2 / 2 is c times the negative log posterior
    # of a logistic likelihood under a N(0, c) prior, so the posterior covariance is c H^-1 = c P^-T P^-1
    factor = np.sqrt(c) * np.linalg.inv(np.linalg.cholesky(hessian)).T
    bias = float(theta[-1]) if n_classes == 2 else theta[-1]
    return LogisticHead(theta[:-1], bias, c, threshold, factor)


def _constant_head(counts: np.ndarray, d: int) -> LogisticHead:
    """One class labeled only: a constant prediction of the labeled shares, smoothed (towards 0.5
    with two classes), a point posterior."""
    if len(counts) == 2:
        share = (counts[1] + 0.5) / (counts.sum() + 1)
        return LogisticHead(np.zeros(d), float(np.log(share / (1 - share))), C_GRID[0], 0.5, np.zeros((d + 1, d + 1)))
    shares = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
    size = (d + 1) * len(counts)
    return LogisticHead(np.zeros((d, len(counts))), np.log(shares), C_GRID[0], None, np.zeros((size, size)))


def stratified_folds(labels: np.ndarray, seed: int, groups: np.ndarray | None = None, folds: int = CV_FOLDS
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`folds` (fit rows, held-out rows) pairs of the labeled set, stratified by label and keeping
    each group (patient) on one side; fewer folds when a class has fewer groups, none below two (or
    with one class only)."""
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    present = np.unique(labels)
    if len(present) < 2:
        return []
    folds = min(folds, *(len(np.unique(groups[labels == c])) for c in present))
    if folds < 2:
        return []
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed % 2**32)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def out_of_fold_threshold(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray], labels: np.ndarray,
                          seed: int, groups: np.ndarray | None = None, rule: str = "cv",
                          class_weighted: bool = False) -> float:
    """metrics.operating_threshold by `rule`; for "cv", of out-of-fold probabilities: fit_predict(fit
    rows, held-out rows) -> p of the held-out rows, over stratified_folds (none: the prior)."""
    folds = stratified_folds(labels, seed, groups) if rule == "cv" else []
    out_of_fold = np.zeros(len(labels)) if folds else None
    for fit_rows, held_out in folds:
        out_of_fold[held_out] = fit_predict(fit_rows, held_out)
    return operating_threshold(rule, labels, out_of_fold, class_weighted)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean cross-entropy of probabilities for labels `y`: p(positive) (n,) for two classes, (n, C)
    for more (p clipped away from 0 and 1)."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    if p.ndim == 2:
        return float(-np.mean(np.log(p[np.arange(len(y)), y])))
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
class FeatureExtractor:
    """The model's feature path prepared once for inference on images like `example` (a few of them,
    on `device`): `inference_network` (BatchNorm folded, one-channel stem), batches sized to the
    network's largest activation on a CPU, mixed precision on GPU. Then applied to any number of
    image sets of that size, for as long as the model's weights do not change. On a CPU the batches
    are computed by the run's `cores` workers, one intra-op thread each (alcore.cores): each batch's
    features are the same whichever worker computes it."""

    def __init__(self, model: Classifier, example: torch.Tensor, device: torch.device,
                 batch_size: int | None = None, cores: int = 1):
        model.eval()
        self.feature_dim, self.device = model.feature_dim, device
        self.workers = workers_for(device, cores)
        # prepared where the batches run: its checks and the stem's offset map are convolutions too
        self.network, self.batch_size = self.workers.call(self._prepare, model, example, batch_size)

    @torch.inference_mode()
    def _prepare(self, model: Classifier, example: torch.Tensor, batch_size: int | None
                 ) -> tuple[nn.Module, int]:
        """(the inference network, images per batch), computed where the batches will be."""
        network = inference_network(model.preprocess, model.backbone, example)
        network.to(self.device, memory_format=torch.channels_last)
        if batch_size is None:
            batch_size = GPU_BATCH if self.device.type == "cuda" else cpu_inference_batch(network, example[:1])
        return network, batch_size

    def __call__(self, images: torch.Tensor, cancel: threading.Event | None = None,
                 on_batch: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Penultimate features (n, d) float32 on the CPU of `images`."""
        out = torch.empty((len(images), self.feature_dim), dtype=torch.float32)
        starts = range(0, len(images), self.batch_size)
        _check_cancel(cancel)
        with COMPUTE.measure(self.device), contextlib.closing(self.workers.map(
                lambda start: self._features(images[start:start + self.batch_size]), starts)) as batches:
            for i, (start, features) in enumerate(zip(starts, batches)):
                out[start:start + len(features)] = features
                if on_batch:
                    on_batch(i + 1, len(starts))
                _check_cancel(cancel)
        return out

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), _autocast(self.device):
            return self.network(batch.to(self.device, non_blocking=True)).float().cpu()


def extract_features(model: Classifier, images: torch.Tensor, device: torch.device,
                     cancel: threading.Event | None = None, batch_size: int | None = None,
                     on_batch: Callable[[int, int], None] | None = None,
                     rows: np.ndarray | None = None, cores: int = 1) -> torch.Tensor:
    """Penultimate features (n, d) float32 on the CPU of `images` (or of images[rows], in that order),
    through a FeatureExtractor prepared for this call."""
    if rows is not None:
        images = _RowView(images, torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(images.device))
    if not len(images):
        return torch.empty((0, model.feature_dim), dtype=torch.float32)
    return FeatureExtractor(model, images[:2].to(device), device, batch_size, cores)(images, cancel, on_batch)


class ResizedImages:
    """(n, H, W) images resized (bilinear) to size x size one slice at a time, as float 0..255: the
    input of a second feature scale, never held whole."""

    def __init__(self, images: torch.Tensor, size: int):
        self.images, self.size = images, size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, part: slice) -> torch.Tensor:
        batch = self.images[part].float().unsqueeze(1)
        return nn.functional.interpolate(batch, size=(self.size, self.size), mode="bilinear",
                                         align_corners=False).squeeze(1)


class _RowView:
    """images[index] gathered one slice at a time, so a subset is never copied whole."""

    def __init__(self, images: torch.Tensor, index: torch.Tensor):
        self.images, self.index = images, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, part: slice) -> torch.Tensor:
        return self.images[self.index[part]]


def class_probs(logits: torch.Tensor) -> torch.Tensor:
    """(..., C) float32 class probabilities from a head's logits (..., outputs): one logit (two
    classes) gives [1 - p, p] with p = sigmoid(logit); C logits give their softmax."""
    if logits.shape[-1] == 1:
        positive = torch.sigmoid(logits.squeeze(-1).float())
        return torch.stack([1 - positive, positive], -1)
    return torch.softmax(logits.float(), -1)




@torch.inference_mode()
def head_probs(head: nn.Module, features: torch.Tensor, mc_passes: int = 0,
               generator_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(n, C) class probabilities with dropout off, and optionally (T, n, C) probabilities of T
    MC-dropout passes, their masks drawn from a generator seeded by `generator_seed`."""
    head.eval()
    probs = class_probs(head(features))
    if mc_passes <= 0:
        return probs, None
    head.train()  # dropout on: each pass samples a different sub-network
    with dropout_generator(head, torch.Generator().manual_seed(generator_seed)):
        mc = torch.stack([class_probs(head(features)) for _ in range(mc_passes)])
    head.eval()
    return probs, mc
