"""Classification metrics with PNEUMONIA (label 1) as the positive class, the decision threshold,
and bootstrap intervals over test images."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

METRIC_NAMES = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "recall", "f1",
                "roc_auc")
METRIC_LABELS = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy",
                 "sensitivity": "Sensitivity", "specificity": "Specificity",
                 "precision": "Precision", "recall": "Recall (sensitivity)", "f1": "F1",
                 "roc_auc": "ROC-AUC"}
THRESHOLD_METRICS = METRIC_NAMES[:-1]  # the ones that depend on the threshold (not ROC-AUC)
REFERENCE_THRESHOLD = 0.5  # the reference report's fixed threshold, reported alongside for comparison
AT_REFERENCE = "_at_0_5"  # key suffix of the metrics at REFERENCE_THRESHOLD
THRESHOLD_RULES = ("cv", "prior")  # how a round picks its operating point from the labeled rows
PRIOR_WEIGHT = 20  # "cv" rule: the prior threshold counts as this many images of the rarer class
BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95


def number(value: Any) -> float:
    """A stored metric: null (NaN when written) or absent reads as NaN."""
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Metrics:
    """Test-set metrics at one decision threshold; NaN where undefined (a single class)."""

    accuracy: float
    balanced_accuracy: float
    sensitivity: float
    specificity: float
    precision: float
    recall: float
    f1: float
    roc_auc: float  # threshold-free: the same at every threshold of a round
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true NORMAL, PNEUMONIA; columns: predicted

    @classmethod
    def from_dict(cls, values: dict[str, Any], suffix: str = "", roc_auc: float | None = None) -> Metrics:
        """From a flat dict whose metric keys end in `suffix` (the 0.5 reference's lack roc_auc: pass it)."""
        auc = number(values.get("roc_auc")) if roc_auc is None else roc_auc
        confusion = values.get("confusion_matrix" + suffix) or ((0, 0), (0, 0))
        return cls(**{name: number(values.get(name + suffix)) for name in THRESHOLD_METRICS}, roc_auc=auc,
                   confusion_matrix=tuple(tuple(int(n) for n in row) for row in confusion))

    def to_dict(self, suffix: str = "", names: tuple[str, ...] = METRIC_NAMES) -> dict[str, Any]:
        return {**{name + suffix: getattr(self, name) for name in names},
                "confusion_matrix" + suffix: [list(row) for row in self.confusion_matrix]}


@dataclass(frozen=True)
class RoundMetrics:
    """A round's test metrics: at the threshold chosen on the labeled set (with 95 % intervals), and at 0.5."""

    threshold: float
    at_threshold: Metrics
    at_0_5: Metrics
    ci: dict[str, tuple[float, float]]


def choose_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The threshold maximising balanced accuracy (Youden's J) of `probs` against `labels`.

    Candidates are midpoints between consecutive distinct probabilities; among equally good ones
    the middle of the best run is taken. 0.5 when the labels hold a single class.
    """
    labels, probs = np.asarray(labels).astype(int), np.asarray(probs, dtype=np.float64)
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return REFERENCE_THRESHOLD
    values = np.unique(probs)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    order = np.searchsorted(values, probs)  # index of each prob among the distinct values
    pos_at = np.bincount(order[labels == 1], minlength=len(values))
    neg_at = np.bincount(order[labels == 0], minlength=len(values))
    # threshold candidates[k] predicts positive for values[k:]
    sensitivity = np.concatenate([[n_pos], n_pos - np.cumsum(pos_at)]) / n_pos
    specificity = np.concatenate([[0], np.cumsum(neg_at)]) / n_neg
    balanced = sensitivity + specificity
    best = np.flatnonzero(balanced >= balanced.max() - 1e-12)
    return float(np.clip(candidates[best[len(best) // 2]], 0.0, 1.0))


def prior_threshold(labels: np.ndarray, class_weighted: bool = False) -> float:
    """The labeled rows' PNEUMONIA share (smoothed by half an image each way): for calibrated
    probabilities, p >= prior exactly when the likelihood ratio is >= 1, the point of maximal
    expected balanced accuracy. A class-weighted fit already sees balanced classes: 0.5."""
    labels = np.asarray(labels).astype(int)
    if class_weighted:
        return REFERENCE_THRESHOLD
    return float((labels.sum() + 0.5) / (len(labels) + 1))


def operating_threshold(rule: str, labels: np.ndarray, out_of_fold: np.ndarray | None,
                        class_weighted: bool = False) -> float:
    """A round's decision threshold from its labeled rows alone.

    "prior": prior_threshold (nothing searched, so no selection noise). "cv": choose_threshold on
    out-of-fold probabilities, shrunk towards the prior threshold with weight PRIOR_WEIGHT / (m +
    PRIOR_WEIGHT), m the rarer class's count: a search over a handful of images of one class
    chases noise. Without out-of-fold probabilities (too few of a class to cross-validate): the prior.
    """
    prior = prior_threshold(labels, class_weighted)
    if rule == "prior" or out_of_fold is None:
        return prior
    if rule != "cv":
        raise ValueError(f"unknown threshold rule '{rule}'; choose one of: {', '.join(THRESHOLD_RULES)}")
    rarer = int(np.bincount(np.asarray(labels).astype(int), minlength=2).min())
    searched = choose_threshold(labels, out_of_fold)
    return float((rarer * searched + PRIOR_WEIGHT * prior) / (rarer + PRIOR_WEIGHT))


def _rates(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Threshold metrics from confusion counts (arrays broadcast; 0 where a denominator is 0)."""
    def ratio(a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)

    sensitivity, specificity = ratio(tp, tp + fn), ratio(tn, tn + fp)
    both = (np.asarray(tp + fn) > 0) & (np.asarray(tn + fp) > 0)
    return {"accuracy": ratio(tp + tn, tp + fp + fn + tn),
            "balanced_accuracy": np.where(both, (sensitivity + specificity) / 2, np.nan),
            "sensitivity": sensitivity, "specificity": specificity,
            "precision": ratio(tp, tp + fp), "recall": sensitivity, "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def _weighted_auc(weights_pos: np.ndarray, weights_neg: np.ndarray) -> np.ndarray:
    """ROC-AUC per row of weights over distinct scores in ascending order ((B, U) positives and
    negatives at each score; ties count one half). NaN where a class has no weight."""
    negatives_below = np.cumsum(weights_neg, axis=-1) - weights_neg
    wins = (weights_pos * (negatives_below + 0.5 * weights_neg)).sum(axis=-1)
    pairs = weights_pos.sum(axis=-1) * weights_neg.sum(axis=-1)
    return np.divide(wins, pairs, out=np.full(np.shape(pairs), np.nan), where=pairs > 0)


def _counts_per_score(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, order = np.unique(probs, return_inverse=True)
    weights = np.atleast_2d(weights)
    pos = np.zeros((len(weights), len(values)))
    neg = np.zeros((len(weights), len(values)))
    for target, is_class in ((pos, labels == 1), (neg, labels == 0)):
        np.add.at(target.T, order[is_class], weights[:, is_class].T)
    return pos, neg


def _metric_table(labels: np.ndarray, probs: np.ndarray, threshold: float, weights: np.ndarray) -> dict:
    """Every metric for each row of `weights` (how often each image is counted: 1s, or a bootstrap draw)."""
    predicted = probs >= threshold
    positive = labels == 1
    tp, fp = weights @ (predicted & positive), weights @ (predicted & ~positive)
    fn, tn = weights @ (~predicted & positive), weights @ (~predicted & ~positive)
    return {**_rates(tp, fp, fn, tn), "roc_auc": _weighted_auc(*_counts_per_score(labels, probs, weights))}


def classification_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = REFERENCE_THRESHOLD) -> dict:
    """Every per-round metric at `threshold`; balanced accuracy and ROC-AUC are NaN when the labels
    hold a single class. Test images without a label (-1) count for nothing."""
    labels, probs = _known(labels, probs)
    if len(labels) == 0:
        return {**{name: math.nan for name in METRIC_NAMES}, "confusion_matrix": [[0, 0], [0, 0]]}
    table = _metric_table(labels, probs, threshold, np.ones((1, len(labels))))
    predicted = probs >= threshold
    confusion = [[int((~predicted & (labels == 0)).sum()), int((predicted & (labels == 0)).sum())],
                 [int((~predicted & (labels == 1)).sum()), int((predicted & (labels == 1)).sum())]]
    return {**{name: float(table[name][0]) for name in METRIC_NAMES}, "confusion_matrix": confusion}


def bootstrap_intervals(labels: np.ndarray, probs: np.ndarray, threshold: float, seed: int,
                        samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE) -> dict[str, list[float]]:
    """Percentile bootstrap interval of every metric, resampling test images with replacement.

    {metric: [low, high]}; a metric undefined in some resamples (one class drawn) uses the others.
    """
    labels, probs = _known(labels, probs)
    if len(labels) == 0:
        return {name: [math.nan, math.nan] for name in METRIC_NAMES}
    rng = np.random.default_rng([seed, 20_241])
    draws = rng.integers(len(labels), size=(samples, len(labels)))
    weights = np.zeros((samples, len(labels)))
    np.add.at(weights, (np.arange(samples)[:, None], draws), 1.0)
    table = _metric_table(labels, probs, threshold, weights)
    tail = (1 - confidence) / 2 * 100
    out = {}
    for name in METRIC_NAMES:
        values = table[name][~np.isnan(table[name])]
        out[name] = ([float(v) for v in np.percentile(values, [tail, 100 - tail])] if len(values)
                     else [math.nan, math.nan])
    return out


def round_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float, seed: int) -> RoundMetrics:
    """A round's test metrics: at the `threshold` chosen on the labeled set (with its intervals), and at 0.5."""
    at_threshold = Metrics.from_dict(classification_metrics(labels, probs, threshold))
    at_reference = Metrics.from_dict(classification_metrics(labels, probs, REFERENCE_THRESHOLD))
    intervals = bootstrap_intervals(labels, probs, threshold, seed)
    return RoundMetrics(float(threshold), at_threshold, at_reference,
                        {name: (low, high) for name, (low, high) in intervals.items()})


def _known(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(int)
    known = labels >= 0  # an unlabeled test image (human mode on unlabeled data) counts for nothing
    return labels[known], np.asarray(probs, dtype=np.float64)[known]


def area_under_curve(n_labeled: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a learning curve (trapezoids / x-range): a mean metric, 0..1."""
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[0]) if len(y) else math.nan
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))
