"""What a radiologist reads off one round's test predictions: ROC and precision-recall curves with
the operating point, sensitivity / specificity, the confusion matrix, a reliability diagram with
Brier score and expected calibration error (ECE). Plain numbers from (labels, p(PNEUMONIA)); the
figures draw them. PNEUMONIA (label 1) is the positive class; unknown labels (-1) are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

RELIABILITY_BINS = 10


@dataclass(frozen=True)
class OperatingPoint:
    """The confusion counts at one decision threshold (p >= threshold -> PNEUMONIA)."""

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
    """Uniform bins of p(PNEUMONIA): per non-empty bin the mean prediction, the observed share of
    PNEUMONIA and the count (the bins of sklearn's calibration_curve, plus counts)."""

    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    counts: np.ndarray
    brier: float  # mean squared error of p against the 0/1 truth
    ece: float  # count-weighted mean |fraction positive - mean predicted| over the bins


@dataclass(frozen=True)
class Diagnostics:
    """One round's test-set curves and summaries."""

    n: int
    prevalence: float  # share of PNEUMONIA: the precision of a model that guesses
    roc_fpr: np.ndarray
    roc_tpr: np.ndarray
    roc_auc: float
    pr_precision: np.ndarray
    pr_recall: np.ndarray
    average_precision: float
    point: OperatingPoint
    reliability: Reliability


def operating_point(labels: np.ndarray, probs: np.ndarray, threshold: float) -> OperatingPoint:
    predicted = probs >= threshold
    positive = labels == 1
    return OperatingPoint(float(threshold), int((~predicted & ~positive).sum()), int((predicted & ~positive).sum()),
                          int((~predicted & positive).sum()), int((predicted & positive).sum()))


def reliability(labels: np.ndarray, probs: np.ndarray, n_bins: int = RELIABILITY_BINS) -> Reliability:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], probs)  # the same bin edges and sides as calibration_curve
    counts = np.bincount(bins, minlength=n_bins)
    sum_prob = np.bincount(bins, weights=probs, minlength=n_bins)
    sum_true = np.bincount(bins, weights=labels, minlength=n_bins)
    filled = counts > 0
    mean_predicted = sum_prob[filled] / counts[filled]
    fraction_positive = sum_true[filled] / counts[filled]
    ece = float(np.sum(counts[filled] * np.abs(fraction_positive - mean_predicted)) / len(probs))
    return Reliability(mean_predicted, fraction_positive, counts[filled], float(np.mean((probs - labels) ** 2)), ece)


def diagnostics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> Diagnostics:
    """Every number the round's pictures show. Needs both classes among the known labels."""
    labels = np.asarray(labels).astype(int)
    known = labels >= 0
    labels, probs = labels[known], np.asarray(probs, dtype=float)[known]
    if len(np.unique(labels)) < 2:
        raise ValueError("the test set needs images of both classes to draw ROC and precision-recall curves")
    fpr, tpr, _ = roc_curve(labels, probs)
    precision, recall, _ = precision_recall_curve(labels, probs)
    return Diagnostics(len(labels), float(labels.mean()), fpr, tpr, float(roc_auc_score(labels, probs)),
                       precision, recall, float(average_precision_score(labels, probs)),
                       operating_point(labels, probs, threshold), reliability(labels, probs))


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa between two label vectors: agreement beyond chance (1 = identical). Two
    identical vectors of a single class agree perfectly, so 1.0 (the formula's 0/0)."""
    a, b = np.asarray(a).astype(int), np.asarray(b).astype(int)
    if len(a) == 0:
        return math.nan
    observed = float(np.mean(a == b))
    classes = np.union1d(a, b)
    expected = float(sum(np.mean(a == c) * np.mean(b == c) for c in classes))
    if expected == 1.0:  # both vectors hold one and the same class
        return 1.0
    return (observed - expected) / (1.0 - expected)
