"""Classification metrics over C >= 2 classes, the decision threshold, and bootstrap intervals over
test images.

Probabilities are (n, C), column j = p(class j); a 1-D array is read as the positive column of two
classes (old callers and old runs). With two classes the last (label 1, e.g. PNEUMONIA) is the
positive class and a threshold on its probability predicts (the operating point); with more the most
probable class is predicted (argmax, no threshold). Every C gets accuracy, balanced accuracy (macro
recall), macro-F1, ROC-AUC (the macro one-vs-rest mean; with two classes the positive class's AUC,
the same number), Cohen's kappa with the truth, top-label ECE, per-class sensitivity / precision /
one-vs-rest AUC and the C x C confusion; the positive class's sensitivity, specificity, precision,
recall and F1 are two-class only (NaN otherwise).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

POSITIVE_CLASS_METRICS = ("sensitivity", "specificity", "precision", "recall", "f1")  # two classes only
METRIC_NAMES = ("accuracy", "balanced_accuracy", *POSITIVE_CLASS_METRICS, "roc_auc", "macro_f1", "kappa",
                "top_label_ece")
CLASS_METRICS = ("class_sensitivity", "class_precision", "class_roc_auc")  # one value per class, label order
METRIC_LABELS = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy",
                 "sensitivity": "Sensitivity", "specificity": "Specificity",
                 "precision": "Precision", "recall": "Recall (sensitivity)", "f1": "F1",
                 "roc_auc": "ROC-AUC", "macro_f1": "Macro-F1", "kappa": "Cohen's κ",
                 "top_label_ece": "Top-label ECE"}
THRESHOLD_FREE = ("roc_auc", "top_label_ece", "class_roc_auc")  # the same at every threshold of a round
THRESHOLD_METRICS = tuple(n for n in (*METRIC_NAMES, *CLASS_METRICS) if n not in THRESHOLD_FREE)
SINCE_CLASSES = frozenset({"macro_f1", "kappa", "top_label_ece", *CLASS_METRICS})  # older rounds lack them
REFERENCE_THRESHOLD = 0.5  # the reference report's fixed threshold, reported alongside for comparison
AT_REFERENCE = "_at_0_5"  # key suffix of the metrics at REFERENCE_THRESHOLD
THRESHOLD_RULES = ("cv", "prior")  # how a round picks its operating point from the labeled rows
PRIOR_WEIGHT = 20  # "cv" rule: the prior threshold counts as this many images of the rarer class
BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95
CALIBRATION_BINS = 10  # uniform bins of a probability: ECE and the reliability diagram


def number(value: Any) -> float:
    """A stored metric: null (NaN when written) or absent reads as NaN."""
    return math.nan if value is None else float(value)


def class_key(name: str, index: int) -> str:
    """The interval key of a per-class metric (CLASS_METRICS) for the class of label `index`."""
    return f"{name}_{index}"


@dataclass(frozen=True)
class Metrics:
    """Test-set metrics at one decision threshold (two classes) or by argmax; NaN where undefined
    (a class without images); rounds recorded before per-class metrics read NaN / () for them."""

    accuracy: float
    balanced_accuracy: float  # macro recall
    sensitivity: float  # this and the next four: the positive class's, two classes only
    specificity: float
    precision: float
    recall: float
    f1: float
    roc_auc: float  # macro one-vs-rest; threshold-free
    confusion_matrix: tuple[tuple[int, ...], ...]  # C x C; rows: true class, columns: predicted, label order
    macro_f1: float = math.nan
    kappa: float = math.nan  # Cohen's kappa of the predicted classes with the truth
    top_label_ece: float = math.nan  # of the most probable class's probability; threshold-free
    class_sensitivity: tuple[float, ...] = ()  # recall of each class
    class_precision: tuple[float, ...] = ()
    class_roc_auc: tuple[float, ...] = ()  # one-vs-rest

    @classmethod
    def from_dict(cls, values: dict[str, Any], suffix: str = "") -> Metrics:
        """From a flat dict whose threshold metrics' keys end in `suffix` (THRESHOLD_FREE ones never do)."""
        def key(name: str) -> str:
            return name if name in THRESHOLD_FREE else name + suffix

        confusion = values.get("confusion_matrix" + suffix) or ((0, 0), (0, 0))
        return cls(**{name: number(values.get(key(name))) for name in METRIC_NAMES},
                   **{name: tuple(number(v) for v in values.get(key(name)) or ()) for name in CLASS_METRICS},
                   confusion_matrix=tuple(tuple(int(n) for n in row) for row in confusion))

    def to_dict(self, suffix: str = "", names: tuple[str, ...] = (*METRIC_NAMES, *CLASS_METRICS)) -> dict[str, Any]:
        """The flat dict of `names` with `suffix`; a round recorded before per-class metrics writes
        back without them (the line it was read from)."""
        recorded = [name for name in names if self.class_sensitivity or name not in SINCE_CLASSES]
        return {**{name + suffix: _plain(getattr(self, name)) for name in recorded},
                "confusion_matrix" + suffix: [list(row) for row in self.confusion_matrix]}


@dataclass(frozen=True)
class RoundMetrics:
    """A round's test metrics: at the threshold chosen on the labeled set (two classes; None: argmax)
    with 95 % intervals, and at 0.5 (two classes only)."""

    threshold: float | None
    at_threshold: Metrics
    at_0_5: Metrics | None
    ci: dict[str, tuple[float, float]]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


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
    """The labeled rows' positive-class share (smoothed by half an image each way): for calibrated
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


def class_probabilities(probs: np.ndarray) -> np.ndarray:
    """(n, C) float64 class probabilities; a 1-D array is the positive column of two classes."""
    probs = np.asarray(probs, dtype=np.float64)
    return np.stack([1 - probs, probs], axis=1) if probs.ndim == 1 else probs


def predicted_classes(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Two classes: the positive one where its probability >= `threshold`; more: the most probable."""
    probs = class_probabilities(probs)
    if probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(int)
    return probs.argmax(axis=1)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 0 where b is 0 (scikit-learn's zero_division=0)."""
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _confusion_rates(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Threshold metrics of (B, C, C) confusion counts (rows true, columns predicted), each (B,) or (B, C)."""
    n_classes = confusion.shape[-1]
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    actual, called, total = confusion.sum(axis=2), confusion.sum(axis=1), confusion.sum(axis=(1, 2))
    recall, precision, f1 = _ratio(hits, actual), _ratio(hits, called), _ratio(2 * hits, actual + called)
    accuracy = _ratio(hits.sum(axis=1), total)
    seen = actual + called > 0  # macro-F1 over the classes in the truth or the predictions, as scikit-learn
    out = {"accuracy": accuracy,
           "balanced_accuracy": np.where((actual > 0).all(axis=1), recall.mean(axis=1), np.nan),
           "macro_f1": np.divide((f1 * seen).sum(axis=1), seen.sum(axis=1),
                                 out=np.full(len(total), np.nan), where=seen.any(axis=1)),
           "kappa": kappa_from_confusion(confusion),
           "class_sensitivity": recall, "class_precision": precision}
    positive = {"sensitivity": recall[:, 1], "specificity": recall[:, 0], "precision": precision[:, 1],
                "recall": recall[:, 1], "f1": f1[:, 1]} if n_classes == 2 else {}
    return {**out, **{name: positive.get(name, np.full(len(total), np.nan)) for name in POSITIVE_CLASS_METRICS}}


def kappa_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Cohen's kappa (agreement beyond chance) of (B, C, C) confusion counts; NaN where chance
    agreement is certain (both raters say one and the same class) or there is nothing."""
    total = confusion.sum(axis=(1, 2))
    observed = _ratio(np.diagonal(confusion, axis1=1, axis2=2).sum(axis=1), total)
    chance = _ratio((confusion.sum(axis=2) * confusion.sum(axis=1)).sum(axis=1), total ** 2)
    return np.divide(observed - chance, 1 - chance, out=np.full(len(total), np.nan), where=(total > 0) & (chance < 1))


def _confusions(labels: np.ndarray, predicted: np.ndarray, n_classes: int, weights: np.ndarray) -> np.ndarray:
    """(B, C, C) confusion counts for each row of `weights`."""
    cells = np.zeros((len(labels), n_classes * n_classes))
    cells[np.arange(len(labels)), labels * n_classes + predicted] = 1.0
    return (weights @ cells).reshape(len(weights), n_classes, n_classes)


def _weighted_auc(weights_pos: np.ndarray, weights_neg: np.ndarray) -> np.ndarray:
    """ROC-AUC per row of weights over distinct scores in ascending order ((B, U) positives and
    negatives at each score; ties count one half). NaN where a class has no weight."""
    negatives_below = np.cumsum(weights_neg, axis=-1) - weights_neg
    wins = (weights_pos * (negatives_below + 0.5 * weights_neg)).sum(axis=-1)
    pairs = weights_pos.sum(axis=-1) * weights_neg.sum(axis=-1)
    return np.divide(wins, pairs, out=np.full(np.shape(pairs), np.nan), where=pairs > 0)


def _counts_per_score(positive: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, order = np.unique(scores, return_inverse=True)
    pos = np.zeros((len(weights), len(values)))
    neg = np.zeros((len(weights), len(values)))
    for target, is_class in ((pos, positive), (neg, ~positive)):
        np.add.at(target.T, order[is_class], weights[:, is_class].T)
    return pos, neg


def _class_aucs(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, C) one-vs-rest ROC-AUC of each class's probability. With two classes both are the
    positive column's AUC (the curves mirror each other; 1 - p would only add rounding)."""
    if probs.shape[1] == 2:
        auc = _weighted_auc(*_counts_per_score(labels == 1, probs[:, 1], weights))
        return np.stack([auc, auc], axis=1)
    return np.stack([_weighted_auc(*_counts_per_score(labels == c, probs[:, c], weights))
                     for c in range(probs.shape[1])], axis=1)


def calibration_sums(outcomes: np.ndarray, scores: np.ndarray,
                     weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of `weights` and per uniform bin of `scores` (the bins of scikit-learn's
    calibration_curve): the weight of the images in the bin, their summed score and summed 0/1
    outcome, each (B, CALIBRATION_BINS)."""
    bins = np.searchsorted(np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)[1:-1], scores)
    members = np.zeros((len(scores), CALIBRATION_BINS))
    members[np.arange(len(scores)), bins] = 1.0
    return weights @ members, weights @ (members * scores[:, None]), weights @ (members * outcomes[:, None])


def calibration_error(counts: np.ndarray, score_sums: np.ndarray, outcome_sums: np.ndarray) -> np.ndarray:
    """Expected calibration error (Guo et al., ICML 2017): the count-weighted mean over bins of
    |observed share - mean score|, from calibration_sums; NaN without images."""
    total = counts.sum(axis=-1)
    return np.divide(np.abs(outcome_sums - score_sums).sum(axis=-1), total, out=np.full(np.shape(total), np.nan),
                     where=total > 0)


def _metric_table(labels: np.ndarray, probs: np.ndarray, threshold: float | None, weights: np.ndarray) -> dict:
    """Every metric for each row of `weights` (how often each image is counted: 1s, or a bootstrap draw)."""
    n_classes = probs.shape[1]
    confusion = _confusions(labels, predicted_classes(probs, threshold), n_classes, weights)
    class_auc = _class_aucs(labels, probs, weights)
    top = probs.argmax(axis=1)
    ece = calibration_error(*calibration_sums((top == labels).astype(float), probs.max(axis=1), weights))
    return {**_confusion_rates(confusion), "roc_auc": class_auc.mean(axis=1), "class_roc_auc": class_auc,
            "top_label_ece": ece, "confusion_matrix": confusion}


def classification_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float | None = REFERENCE_THRESHOLD) -> dict:
    """Every per-round metric at `threshold` (two classes; ignored for more: argmax), as a flat dict
    (Metrics.from_dict reads it). Undefined ones are NaN: balanced accuracy and ROC-AUC when a class
    has no image. Test images without a label (-1) count for nothing."""
    labels, probs = _known(labels, probs)
    n_classes = probs.shape[1]
    if len(labels) == 0:
        return {**{name: math.nan for name in METRIC_NAMES}, **{name: [math.nan] * n_classes for name in CLASS_METRICS},
                "confusion_matrix": np.zeros((n_classes, n_classes), int).tolist()}
    table = _metric_table(labels, probs, threshold, np.ones((1, len(labels))))
    return {**{name: float(table[name][0]) for name in METRIC_NAMES},
            **{name: [float(v) for v in table[name][0]] for name in CLASS_METRICS},
            "confusion_matrix": table["confusion_matrix"][0].astype(int).tolist()}


def _percentiles(values: np.ndarray, confidence: float) -> list[float]:
    """The central `confidence` interval of the defined values (NaN, NaN when none is)."""
    values = values[~np.isnan(values)]
    tail = (1 - confidence) / 2 * 100
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])] if len(values) else [math.nan, math.nan]


def bootstrap_intervals(labels: np.ndarray, probs: np.ndarray, threshold: float | None, seed: int,
                        samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE) -> dict[str, list[float]]:
    """Percentile bootstrap interval of every metric, resampling test images with replacement:
    {metric: [low, high]} for METRIC_NAMES and class_key(name, c) for CLASS_METRICS. A metric
    undefined in some resamples (a class not drawn) uses the others."""
    labels, probs = _known(labels, probs)
    rng = np.random.default_rng([seed, 20_241])
    draws = rng.integers(len(labels), size=(samples, len(labels)))
    weights = np.zeros((samples, len(labels)))
    np.add.at(weights, (np.arange(samples)[:, None], draws), 1.0)
    table = _metric_table(labels, probs, threshold, weights)
    columns = {**{name: table[name] for name in METRIC_NAMES},
               **{class_key(name, c): table[name][:, c] for name in CLASS_METRICS for c in range(probs.shape[1])}}
    if len(labels) == 0:
        return {key: [math.nan, math.nan] for key in columns}
    return {key: _percentiles(values, confidence) for key, values in columns.items()}


def round_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float | None, seed: int) -> RoundMetrics:
    """A round's test metrics from (n, C) probabilities (module docstring): at the `threshold` chosen
    on the labeled set with its intervals, and at 0.5; with more than two classes by argmax only."""
    probs = class_probabilities(probs)
    two = probs.shape[1] == 2
    at_threshold = Metrics.from_dict(classification_metrics(labels, probs, threshold))
    at_reference = Metrics.from_dict(classification_metrics(labels, probs, REFERENCE_THRESHOLD)) if two else None
    intervals = bootstrap_intervals(labels, probs, threshold, seed)
    return RoundMetrics(float(threshold) if two else None, at_threshold, at_reference,
                        {name: (low, high) for name, (low, high) in intervals.items()})


def _known(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labeled rows; a label past the probability columns is refused (a caller's mismatch)."""
    labels, probs = np.asarray(labels).astype(int), class_probabilities(probs)
    if len(labels) and labels.max() >= probs.shape[1]:
        raise ValueError(f"labels go up to class {labels.max()} but the probabilities have {probs.shape[1]} "
                         "columns: pass one column per class, (n, C)")
    known = labels >= 0  # an unlabeled test image (human mode on unlabeled data) counts for nothing
    return labels[known], probs[known]


def area_under_curve(n_labeled: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a learning curve (trapezoids / x-range): a mean metric, 0..1."""
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[0]) if len(y) else math.nan
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))
