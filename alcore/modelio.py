"""A run's models: kept each round in its folder, rebuilt as one network, exported as a model folder.

Kept (`keep_models`): the frozen regime stores the feature standardisation once (`models/frozen.pt`)
and each round's head (a few KB); finetune stores the whole network of a round. "auto" keeps every
round's head (frozen) or the last round's network (finetune); "all", "last" and "none" say so.

A model is one network: uint8 grayscale images (batch, resolution, resolution), decoded as the data
layer decodes them, -> class probabilities (batch, C) in the order of the run's classes (with two,
the positive class last; with C > 2 the prediction is the most probable class). Exported with
`torch.export` (`model.pt2`, loadable with torch alone), an ONNX file when `onnx` is importable,
`model.json` (what it needs and what it scored) and `MODEL_CARD.md`.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import alcore
from alcore.config import ExperimentConfig
from alcore.inference import inference_network
from alcore.models import Classifier, build_classifier
from alcore.records import RoundRecord
from alcore.runs import RunStore
from alcore.train import class_probs

MODEL_FORMAT = "alcore-model"
FORMAT_VERSION = 1  # bumped when model.json or the network's inputs / outputs change meaning (C > 2 only adds)
MODELS_DIR = "models"
FROZEN_FILE = "frozen.pt"
NETWORK_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
INTENDED_USE = ("Research only. Not a medical device: not for diagnosis, triage or any clinical decision.")
CARD_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc")
MULTICLASS_CARD_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "kappa", "top_label_ece")
CARD_CLASS_METRICS = {"sensitivity": "class_sensitivity", "precision": "class_precision", "roc_auc": "class_roc_auc"}
MAX_BATCH = 4096  # the exported network takes 1..MAX_BATCH images at once


class ModelError(ValueError):
    """A model that cannot be kept, found, exported or loaded; the message says what to do."""


# --- keeping -----------------------------------------------------------------------------------
def keeps_every_round(policy: str, regime: str) -> bool:
    return policy == "all" or (policy == "auto" and regime == "frozen")


def keep_round_model(store: RunStore, run_id: str, cfg: ExperimentConfig, learner, round_index: int) -> None:
    """Store the model the learner holds after round `round_index` (the policy permitting), through the
    results store (so a Ray worker's models reach the driver); the previous round's file goes unless
    every round is kept."""
    if cfg.keep_models == "none":
        return
    if cfg.regime == "frozen":
        if not (store.run_dir(run_id) / MODELS_DIR / FROZEN_FILE).is_file():
            store.write_file(run_id, f"{MODELS_DIR}/{FROZEN_FILE}", _serialised(_standardisation(learner)))
        state = _head_state(learner)
    else:
        state = {f"network.{k}": v.detach().cpu() for k, v in learner.model.state_dict().items()}
    store.write_file(run_id, f"{MODELS_DIR}/{round_file(round_index)}", _serialised(state))
    if not keeps_every_round(cfg.keep_models, cfg.regime):
        for older in kept_rounds(store.run_dir(run_id)):
            if older != round_index:
                store.write_file(run_id, f"{MODELS_DIR}/{round_file(older)}", None)


def round_file(round_index: int) -> str:
    return f"round_{round_index:03d}.pt"


def round_model_path(run_dir: Path, round_index: int) -> Path:
    return run_dir / MODELS_DIR / round_file(round_index)


def kept_rounds(run_dir: Path) -> list[int]:
    """The rounds whose model a run kept, in order."""
    return sorted(int(p.stem.removeprefix("round_")) for p in (run_dir / MODELS_DIR).glob("round_*.pt"))


def _serialised(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _standardisation(learner) -> dict:
    state = {"mean": learner.mean.detach().clone(), "std": learner.std.detach().clone()}
    if learner.head_kind == "logistic":
        state["directions"] = torch.from_numpy(np.asarray(learner.directions)).clone()
    return state


def _head_state(learner) -> dict:
    if learner.head_kind == "logistic":
        return {"weight": torch.from_numpy(np.asarray(learner.logistic.weight, dtype=np.float64)).clone(),
                "bias": torch.from_numpy(np.asarray(learner.logistic.bias, dtype=np.float64)).clone()}
    return {f"head.{k}": v.detach().cpu().clone() for k, v in learner.head.state_dict().items()}


# --- one network ------------------------------------------------------------------------------
class LogisticHead(nn.Module):
    """Standardised features -> principal directions -> (batch, C) probabilities, in float64 as the run
    computed them: [1 - p, p] with p = sigmoid(z . weight + bias) for two classes (weight (d,)),
    softmax(z @ weight + bias) for C > 2 (weight (d, C))."""

    def __init__(self, mean, std, directions, weight, bias):
        super().__init__()
        for name, value in (("mean", mean), ("std", std), ("directions", directions), ("weight", weight),
                            ("bias", bias)):
            self.register_buffer(name, value)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        projected = ((features - self.mean) / self.std) @ self.directions
        logits = projected.double() @ self.weight + self.bias
        if self.weight.dim() == 2:
            return torch.softmax(logits, 1).float()
        positive = torch.sigmoid(logits).float()
        return torch.stack([1.0 - positive, positive], 1)


class LinearHead(nn.Module):
    """(Optionally standardised) features -> the run's dropout + linear head (dropout off) -> (batch, C)
    probabilities (alcore.train.class_probs)."""

    def __init__(self, head: nn.Module, mean: torch.Tensor | None = None, std: torch.Tensor | None = None):
        super().__init__()
        self.head = head.eval()
        self.standardise = mean is not None
        self.register_buffer("mean", mean if mean is not None else torch.zeros(1))
        self.register_buffer("std", std if std is not None else torch.ones(1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.standardise:
            features = (features - self.mean) / self.std
        return class_probs(self.head(features))


class ExportedClassifier(nn.Module):
    """uint8 grayscale (batch, H, W) -> class probabilities (batch, C), as the run's. The features
    come from the same inference network the run computed them with (alcore.inference: BatchNorms
    folded, grayscale stem), so the run's probabilities are reproduced to float rounding."""

    def __init__(self, network: Classifier, head: nn.Module, resolution: int, second_resolution: int = 0):
        super().__init__()
        example = torch.randint(0, 256, (2, resolution, resolution), dtype=torch.uint8,
                                generator=torch.Generator().manual_seed(0))
        self.preprocess = network.preprocess  # its mean and std describe the model (model.json)
        self.feature_network = inference_network(network.preprocess, network.backbone, example).to(
            memory_format=torch.channels_last)  # as the run computed them (alcore.train.FeatureExtractor)
        self.head, self.second_resolution = head, second_resolution
        with torch.no_grad():  # the grayscale stem caches its padding offsets per size: before any export
            self.features(example)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        features = self.feature_network(images)
        if self.second_resolution:  # the second scale, resized as alcore.train.ResizedImages does
            resized = nn.functional.interpolate(images.float().unsqueeze(1), size=(self.second_resolution,) * 2,
                                                mode="bilinear", align_corners=False).squeeze(1)
            features = torch.cat([features, self.feature_network(resized)], 1)
        return features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


@dataclass(frozen=True)
class RunModel:
    """A run's model of one round, as one network, with what describes it."""

    network: ExportedClassifier
    card: dict  # model.json


def run_model(store: RunStore, run_id: str, at_labels: int | None = None) -> RunModel:
    """The kept model of a run at `at_labels` labels (default: the last kept round) as one eval-mode
    network. ModelError when the run, the round or its kept model is missing, or when the backbone
    cannot be rebuilt as the run had it."""
    if not store.exists(run_id):
        raise ModelError(f"no run '{run_id}' in {store.root}/ (see `python -m alcore list`)")
    run_dir = store.run_dir(run_id)
    cfg = store.load_config(run_id)
    record = _round_record(store, run_id, at_labels)
    classes = store.classes(run_id)
    network, weights_used = _network(cfg, round_model_path(run_dir, record.round), run_dir, len(classes))
    resolved = store.load_resolved(run_id)
    if resolved.get("weights_used", weights_used) != weights_used:
        raise ModelError(f"the run's backbone started from {resolved['weights_used']} weights, but here only "
                         f"{weights_used} weights are available: make the same weights available "
                         "(README, pretrained weights) and export again")
    return RunModel(network.eval(), model_card(run_id, cfg, resolved, record, network.preprocess, classes))


def _round_record(store: RunStore, run_id: str, at_labels: int | None) -> RoundRecord:
    rounds = {r.round: r for r in store.load_rounds(run_id)}
    kept = [r for r in kept_rounds(store.run_dir(run_id)) if r in rounds]
    if not kept:
        raise ModelError(f"run '{run_id}' kept no model (it predates kept models, had keep_models=none, or "
                         "has no finished round): run it again to get one")
    if at_labels is None:
        return rounds[kept[-1]]
    hits = [rounds[r] for r in kept if rounds[r].n_labeled == at_labels]
    if not hits:
        available = ", ".join(str(rounds[r].n_labeled) for r in kept)
        raise ModelError(f"run '{run_id}' kept no model at {at_labels} labels; kept: {available} labels")
    return hits[0]


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"the kept model {path} is missing") from None
    except Exception as exc:  # a truncated or foreign file: whatever torch says about it
        raise ModelError(f"the kept model {path} cannot be read ({type(exc).__name__}: {exc}); "
                         "it is damaged: run the experiment again") from None


def _network(cfg: ExperimentConfig, path: Path, run_dir: Path, n_classes: int) -> tuple[ExportedClassifier, str]:
    classifier, weights = build_classifier(cfg.model, cfg.weights, cfg.resolution, cfg.seed, n_classes)
    classifier.eval()
    state = _load(path)
    if cfg.regime == "finetune":
        classifier.load_state_dict({k.removeprefix("network."): v for k, v in state.items()})
        return ExportedClassifier(classifier, LinearHead(classifier.head), cfg.resolution), weights.used
    frozen = _load(run_dir / MODELS_DIR / FROZEN_FILE)
    if cfg.head == "logistic":
        head = LogisticHead(frozen["mean"], frozen["std"], frozen["directions"], state["weight"], state["bias"])
    else:
        classifier.head.load_state_dict({k.removeprefix("head."): v for k, v in state.items()})
        head = LinearHead(classifier.head, frozen["mean"], frozen["std"])
    return ExportedClassifier(classifier, head, cfg.resolution, cfg.second_resolution), weights.used


# --- the model card ----------------------------------------------------------------------------
def _per_class(record: RoundRecord, classes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """{class: {sensitivity, precision, roc_auc (one-vs-rest)}}; empty for a round recorded before them."""
    values = {name: getattr(record.metrics, field) for name, field in CARD_CLASS_METRICS.items()}
    if any(len(v) != len(classes) for v in values.values()):
        return {}
    return {c: {name: _finite(v[i]) for name, v in values.items()} for i, c in enumerate(classes)}


def _finite(value: float) -> float | None:
    """A metric as model.json holds it: None where it is undefined (NaN: e.g. a class without test images)."""
    return float(value) if math.isfinite(value) else None


def model_card(run_id: str, cfg: ExperimentConfig, resolved: dict, record: RoundRecord, preprocess: nn.Module,
               classes: tuple[str, ...]) -> dict:
    """model.json: what the network needs, what it outputs, where it came from and what it scored. Two
    classes: the positive one and its threshold; C > 2: no positive class, threshold None (argmax)."""
    summary = resolved.get("data_summary", {})
    binary = len(classes) == 2
    mean = [round(v, 6) for v in (preprocess.mean.flatten() / 255.0).tolist()]
    std = [round(v, 6) for v in (1.0 / (preprocess.inv_std.flatten() * 255.0)).tolist()]
    metrics = {k: _finite(record.metric(k)) for k in (CARD_METRICS if binary else MULTICLASS_CARD_METRICS)}
    return {
        "format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "alcore_version": alcore.__version__,
        "torch_version": torch.__version__, "run_id": run_id, "round": record.round,
        "labels_used": record.n_labeled, "labels_per_class": record.n_labeled_per_class,
        "classes": list(classes), "positive_class": classes[-1] if binary else None,
        "threshold": record.threshold if binary else None, "decision": "threshold" if binary else "argmax",
        "threshold_rule": cfg.threshold_rule,
        "input": {"dtype": "uint8", "shape": ["batch", cfg.resolution, cfg.resolution], "grayscale": True,
                  "decoding": "DICOM: Modality and VOI LUT, MONOCHROME1 inverted; 16-bit images windowed on "
                              "robust percentiles; resized to resolution x resolution (Lanczos)"},
        "preprocessing": {"resolution": cfg.resolution, "second_resolution": cfg.second_resolution,
                          "channels": "grayscale repeated into 3", "scale": "x / 255", "mean": mean, "std": std},
        "output": "probabilities (batch, classes) in the order of `classes`"
                  + ("; the positive class is last" if binary else "; the prediction is the most probable class"),
        "model": cfg.model, "regime": cfg.regime, "head": cfg.head if cfg.regime == "frozen" else "linear",
        "weights": resolved.get("weights_used", ""), "strategy": cfg.sampler, "seed": cfg.seed,
        "data": {"source": cfg.data, "fingerprint": resolved.get("data_fingerprint", ""),
                 "kind": summary.get("kind", ""), "split_sizes": resolved.get("split_sizes", {})},
        "test_metrics": metrics, "test_intervals_95": {k: [_finite(bound) for bound in v] for k, v in record.ci.items()},
        "test_metrics_per_class": _per_class(record, classes),
        "intended_use": INTENDED_USE,
    }

