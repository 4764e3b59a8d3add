"""What a radiologist reads off one round's test predictions: one-vs-rest ROC and precision-recall
curves per class (two classes: the positive class's, with the operating point), the C x C confusion,
a reliability diagram with Brier score and expected calibration error (ECE), and the round's metrics.
Plain numbers from (labels, (n, C) probabilities); the figures draw them. With two classes the last is
positive and a threshold predicts; with more, the most probable class (argmax). Unknown labels (-1)
are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve, roc_auc_score, roc_curve

from alcore import CLASS_NAMES
from alcore.metrics import (Metrics, calibration_error, calibration_sums, class_probabilities, classification_metrics,
                            kappa_from_confusion, predicted_classes)


@dataclass(frozen=True)
class OperatingPoint:
    """Two classes: the confusion counts at one decision threshold (p >= threshold -> positive)."""

    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def sensitivity(self) -> float:  # recall, true-positive rate
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def specificity(self) -> float:  # true-negative rate
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else math.nan

    @property
    def precision(self) -> float:  # positive predictive value; 1 by convention when nothing is called positive
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def false_positive_rate(self) -> float:
        return 1.0 - self.specificity

    @property
    def confusion_matrix(self) -> list[list[int]]:
        return [[self.tn, self.fp], [self.fn, self.tp]]


@dataclass(frozen=True)
class Reliability:
    """Uniform bins of a probability: per non-empty bin the mean probability, the observed share of
    the event and the count (the bins of sklearn's calibration_curve, plus counts). Two classes: of
    p(positive) against the positive class; more: top-label, the predicted class's probability
    against its being right."""

    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    counts: np.ndarray
    ece: float  # count-weighted mean |fraction positive - mean predicted| over the bins
    top_label: bool = False


@dataclass(frozen=True)
class ClassCurves:
    """One class against the rest: ROC and precision-recall of its probability."""

    index: int  # the class's label
    name: str
    prevalence: float  # its share of the test images: the precision of a model that guesses
    roc_fpr: np.ndarray
    roc_tpr: np.ndarray
    roc_auc: float
    pr_precision: np.ndarray
    pr_recall: np.ndarray
    average_precision: float


@dataclass(frozen=True)
class Diagnostics:
    """One round's test-set curves and summaries."""

    n: int
    classes: tuple[str, ...]
    curves: tuple[ClassCurves, ...]  # two classes: the positive one's; more: each class with test images
    point: OperatingPoint | None  # two classes: at the threshold; None: argmax
    confusion_matrix: tuple[tuple[int, ...], ...]  # C x C, rows true, columns predicted
    reliability: Reliability
    brier: float  # mean over images of the squared error summed over classes (two: of p(positive) alone)
    metrics: Metrics  # the round's metrics from these arrays (metrics.classification_metrics, no intervals)

    @property
    def argmax(self) -> bool:
        return self.point is None


def operating_point(labels: np.ndarray, probs: np.ndarray, threshold: float) -> OperatingPoint:
    predicted = probs >= threshold
    positive = labels == 1
    return OperatingPoint(float(threshold), int((~predicted & ~positive).sum()), int((predicted & ~positive).sum()),
                          int((~predicted & positive).sum()), int((predicted & positive).sum()))


def reliability(outcomes: np.ndarray, probs: np.ndarray, top_label: bool = False) -> Reliability:
    """Reliability of `probs` (n,) as the chance of the 0/1 `outcomes`."""
    outcomes, probs = np.asarray(outcomes, dtype=float), np.asarray(probs, dtype=float)
    counts, prob_sums, outcome_sums = (row[0] for row in calibration_sums(outcomes, probs, np.ones((1, len(probs)))))
    filled = counts > 0
    return Reliability(prob_sums[filled] / counts[filled], outcome_sums[filled] / counts[filled],
                       counts[filled].astype(int), float(calibration_error(counts, prob_sums, outcome_sums)),
                       top_label)


def class_curves(labels: np.ndarray, scores: np.ndarray, index: int, name: str) -> ClassCurves:
    """Class `index` against the rest, scored by its probability."""
    positive = labels == index
    fpr, tpr, _ = roc_curve(positive, scores)
    precision, recall, _ = precision_recall_curve(positive, scores)
    return ClassCurves(index, name, float(positive.mean()), fpr, tpr, float(roc_auc_score(positive, scores)),
                       precision, recall, float(average_precision_score(positive, scores)))


def diagnostics(labels: np.ndarray, probs: np.ndarray, threshold: float | None = 0.5,
                classes: Sequence[str] = CLASS_NAMES) -> Diagnostics:
    """Every number the round's pictures show, from (n, C) probabilities (a 1-D array: the positive
    column of two). Needs two classes among the known labels."""
    labels, probs = np.asarray(labels).astype(int), class_probabilities(probs)
    known = labels >= 0
    labels, probs, classes = labels[known], probs[known], tuple(classes)
    if len(classes) != probs.shape[1]:
        raise ValueError(f"{probs.shape[1]} probability columns but {len(classes)} class names")
    if len(np.unique(labels)) < 2:
        raise ValueError("the test set needs images of two classes or more to draw ROC and precision-recall curves")
    two = len(classes) == 2
    shown = [1] if two else [c for c in range(len(classes)) if (labels == c).any()]
    predicted = predicted_classes(probs, threshold)
    confusion = confusion_matrix(labels, predicted, labels=range(len(classes)))
    if two:
        calibration = reliability(labels, probs[:, 1])
        brier = float(np.mean((probs[:, 1] - labels) ** 2))
    else:
        calibration = reliability(predicted == labels, probs.max(axis=1), top_label=True)
        brier = float(np.mean(((probs - np.eye(len(classes))[labels]) ** 2).sum(axis=1)))
    return Diagnostics(len(labels), classes, tuple(class_curves(labels, probs[:, c], c, classes[c]) for c in shown),
                       operating_point(labels, probs[:, 1], threshold) if two else None,
                       tuple(map(tuple, confusion.tolist())), calibration, brier,
                       Metrics.from_dict(classification_metrics(labels, probs, threshold)))


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa between two label vectors (class indices): agreement beyond chance (1 =
    identical). Two identical vectors of a single class agree perfectly, so 1.0 (the formula's 0/0)."""
    a, b = np.asarray(a).astype(int), np.asarray(b).astype(int)
    if len(a) == 0:
        return math.nan
    if np.array_equal(a, b) and (a == a[0]).all():
        return 1.0
    n_classes = int(max(a.max(), b.max())) + 1
    confusion = np.bincount(a * n_classes + b, minlength=n_classes ** 2).reshape(1, n_classes, n_classes)
    return float(kappa_from_confusion(confusion)[0])
