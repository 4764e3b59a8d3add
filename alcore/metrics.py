"""Classification metrics with PNEUMONIA (label 1) as the positive class."""
from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_score, recall_score, roc_auc_score)

METRIC_NAMES = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")
METRIC_LABELS = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy",
                 "precision": "Precision", "recall": "Recall (sensitivity)", "f1": "F1",
                 "roc_auc": "ROC-AUC"}


def classification_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict:
    """Every per-round metric; ROC-AUC is NaN when the labels hold a single class."""
    labels = np.asarray(labels).astype(int)
    known = labels >= 0  # an unlabeled test image (human mode on unlabeled data) counts for nothing
    labels, probs = labels[known], np.asarray(probs)[known]
    if len(labels) == 0:
        return {**{name: math.nan for name in METRIC_NAMES}, "confusion_matrix": [[0, 0], [0, 0]]}
    predicted = (probs >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)) if both_classes else math.nan,
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probs)) if both_classes else math.nan,
        "confusion_matrix": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }


def area_under_curve(n_labeled: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a learning curve (trapezoids / x-range): a mean metric, 0..1."""
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[0]) if len(y) else math.nan
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))
