"""Fit, predict and extract features on in-memory uint8 tensors (no DataLoader, no decoding)."""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from alcore.inference import GPU_BATCH, cpu_inference_batch, inference_network, prepack_for_cpu
from alcore.models import BinaryClassifier, dropout_generator

HEAD_BATCH = 256  # rows per head step in the frozen regime: bounded cost however many labels


class Cancelled(Exception):
    """The user asked the run to stop; raised between batches."""


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


@dataclass
class ComputeClock:
    """Seconds spent inside model forward/backward passes (for the compute-share benchmark)."""

    seconds: float = 0.0
    calls: int = field(default=0)

    @contextlib.contextmanager
    def measure(self, device: torch.device):
        start = time.perf_counter()
        yield
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.seconds += time.perf_counter() - start
        self.calls += 1


COMPUTE = ComputeClock()


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _loss_fn(labels: torch.Tensor, class_weighted: bool) -> nn.BCEWithLogitsLoss:
    if not class_weighted:
        return nn.BCEWithLogitsLoss()
    n_pos = labels.sum().clamp(min=1)
    n_neg = (labels.numel() - labels.sum()).clamp(min=1)
    return nn.BCEWithLogitsLoss(pos_weight=(n_neg / n_pos).to(labels.device))


def fit_finetune(model: BinaryClassifier, images: torch.Tensor, labels: torch.Tensor,
                 settings: TrainSettings, generator: torch.Generator) -> None:
    """Train the whole network for `epochs` passes over (images, labels); `generator` draws the
    order and the dropout masks."""
    with dropout_generator(model, generator):
        _fit_finetune(model, images, labels, settings, generator)


def _fit_finetune(model: BinaryClassifier, images: torch.Tensor, labels: torch.Tensor,
                  settings: TrainSettings, generator: torch.Generator) -> None:
    device = settings.device
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    targets = labels.float().to(device)
    loss_fn = _loss_fn(targets, settings.class_weighted)
    n = len(labels)
    per_epoch = -(-n // settings.batch_size)
    total = per_epoch * settings.epochs
    done = 0
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=generator).to(images.device)
        for start in range(0, n, settings.batch_size):
            _check_cancel(settings.cancel)
            idx = order[start:start + settings.batch_size]
            if len(idx) < 2 and n >= 2:  # BatchNorm cannot train on a batch of one
                continue
            batch = images[idx].to(device, non_blocking=True)
            with COMPUTE.measure(device):
                with _autocast(device):
                    loss = loss_fn(model(batch).float(), targets[idx.to(device)])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            done += 1
            if settings.on_batch:
                settings.on_batch(done, total)


@contextlib.contextmanager
def single_thread():
    """Tiny ops run faster on one thread: OpenMP's fork/join costs more than the work, and on a
    busy machine a team of threads waits for descheduled members (measured 5x slower on 2 cores)."""
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
    targets = labels.float()
    loss_fn = _loss_fn(targets, settings.class_weighted)
    n = len(targets)
    with single_thread(), dropout_generator(head, generator):
        for step in range(settings.head_steps):
            if step % 20 == 0:
                _check_cancel(settings.cancel)
            rows = torch.randint(n, (HEAD_BATCH,), generator=generator) if n > HEAD_BATCH else slice(None)
            loss = loss_fn(head(features[rows]).squeeze(1), targets[rows])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if settings.on_batch and (step + 1) % 20 == 0:
                settings.on_batch(step + 1, settings.head_steps)


@torch.inference_mode()
def extract_features(model: BinaryClassifier, images: torch.Tensor, device: torch.device,
                     cancel: threading.Event | None = None, batch_size: int | None = None,
                     on_batch: Callable[[int, int], None] | None = None,
                     rows: np.ndarray | None = None) -> torch.Tensor:
    """Penultimate features (n, d) float32 on the CPU of `images` (or of images[rows], in that order):
    eval mode, through `inference_network` (BatchNorm folded, one-channel stem), batched (on a CPU,
    batches sized to the network's largest activation, weights prepacked), mixed precision on GPU."""
    model.eval()
    if rows is not None:
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(images.device)
        images = _RowView(images, index)
    out = torch.empty((len(images), model.feature_dim), dtype=torch.float32)
    if not len(images):
        return out
    example = images[:2].to(device)
    network = inference_network(model.preprocess, model.backbone, example)
    network.to(device, memory_format=torch.channels_last)
    if batch_size is None:
        batch_size = GPU_BATCH if device.type == "cuda" else cpu_inference_batch(network, example[:1])
    network = prepack_for_cpu(network, example, batch_size)
    total = -(-len(images) // batch_size)
    for i, start in enumerate(range(0, len(images), batch_size)):
        _check_cancel(cancel)
        batch = images[start:start + batch_size].to(device, non_blocking=True)
        with COMPUTE.measure(device), _autocast(device):
            out[start:start + len(batch)] = network(batch).float().cpu()
        if on_batch:
            on_batch(i + 1, total)
    return out


class _RowView:
    """images[index] gathered one slice at a time, so a subset is never copied whole."""

    def __init__(self, images: torch.Tensor, index: torch.Tensor):
        self.images, self.index = images, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, part: slice) -> torch.Tensor:
        return self.images[self.index[part]]


@torch.inference_mode()
def head_probs(head: nn.Module, features: torch.Tensor, mc_passes: int = 0,
               generator_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """p(PNEUMONIA) with dropout off, and optionally (T, n) probabilities of T MC-dropout passes,
    their masks drawn from a generator seeded by `generator_seed`."""
    head.eval()
    probs = torch.sigmoid(head(features).squeeze(1).float())
    if mc_passes <= 0:
        return probs, None
    head.train()  # dropout on: each pass samples a different sub-network
    with dropout_generator(head, torch.Generator().manual_seed(generator_seed)):
        mc = torch.stack([torch.sigmoid(head(features).squeeze(1).float()) for _ in range(mc_passes)])
    head.eval()
    return probs, mc
