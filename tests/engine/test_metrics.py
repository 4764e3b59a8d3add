"""Metrics: the same numbers as scikit-learn, the threshold that maximises balanced accuracy, and
bootstrap intervals on cases whose answer is known."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import (balanced_accuracy_score, cohen_kappa_score, confusion_matrix, f1_score, precision_score,
                             recall_score, roc_auc_score)

from alcore.metrics import (CLASS_METRICS, METRIC_NAMES, PRIOR_WEIGHT, bootstrap_intervals, choose_threshold,
                            class_key, classification_metrics, operating_threshold, prior_threshold, round_metrics)


def _scored(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 2)  # with ties


def test_metrics_match_scikit_learn():
    labels, probs = _scored()
    for threshold in (0.3, 0.5, 0.62):
        got = classification_metrics(labels, probs, threshold)
        predicted = probs >= threshold
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
        assert got["precision"] == pytest.approx(precision_score(labels, predicted))
        assert got["recall"] == got["sensitivity"] == pytest.approx(recall_score(labels, predicted))
        assert got["specificity"] == pytest.approx(recall_score(1 - labels, ~predicted))
        assert got["f1"] == pytest.approx(f1_score(labels, predicted))
        assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, probs))
        (tn, fp), (fn, tp) = got["confusion_matrix"]
        assert got["accuracy"] == pytest.approx((tn + tp) / len(labels))


def test_threshold_maximises_balanced_accuracy():
    # separable: every threshold in (0.2, 0.7) is perfect; the middle candidate is taken
    assert choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.9])) == pytest.approx(0.45)
    labels, probs = _scored()
    best = choose_threshold(labels, probs)
    every = max(balanced_accuracy_score(labels, probs >= t) for t in np.r_[np.unique(probs), 1.01])
    assert balanced_accuracy_score(labels, probs >= best) == pytest.approx(every)
    assert choose_threshold(np.ones(5, int), np.linspace(0, 1, 5)) == 0.5  # one class: nothing to choose


def test_the_prior_threshold_is_the_labeled_share():
    labels = np.array([1, 1, 1, 0])
    assert prior_threshold(labels) == pytest.approx(3.5 / 5)  # half an image of smoothing each way
    assert prior_threshold(labels, class_weighted=True) == 0.5  # a balanced fit: its own prior is 0.5
    assert prior_threshold(np.ones(3, int)) == pytest.approx(3.5 / 4)  # one class: still inside (0, 1)
    # "prior" searches nothing; "cv" without out-of-fold probabilities (too few to fold) falls back to it
    assert operating_threshold("prior", labels, np.array([0.1, 0.9, 0.8, 0.7])) == pytest.approx(0.7)
    assert operating_threshold("cv", labels, None) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="unknown threshold rule 'youden'"):
        operating_threshold("youden", labels, np.zeros(4))


def test_the_cv_threshold_is_shrunk_towards_the_prior_when_a_class_is_rare():
    """Two NORMAL images that the out-of-fold model happens to score 0.97 and 0.99: the search alone
    would put the threshold at 0.99 and call nearly everything NORMAL (the synthetic demo's
    collapse at 60 labels); with two images of that class the prior keeps 20 / 22 of the weight."""
    labels = np.r_[np.zeros(2, int), np.ones(28, int)]
    probs = np.r_[0.97, 0.99, np.linspace(0.5, 0.98, 28)]
    searched, prior = choose_threshold(labels, probs), prior_threshold(labels)
    assert searched > 0.98
    expected = (2 * searched + PRIOR_WEIGHT * prior) / (2 + PRIOR_WEIGHT)
    assert operating_threshold("cv", labels, probs) == pytest.approx(expected)
    assert abs(operating_threshold("cv", labels, probs) - prior) < 0.01
    # with hundreds of each class the search decides
    many = np.r_[np.zeros(500, int), np.ones(500, int)]
    scores = np.r_[np.linspace(0, 0.6, 500), np.linspace(0.4, 1, 500)]
    assert operating_threshold("cv", many, scores) == pytest.approx(choose_threshold(many, scores), abs=0.001)


def test_bootstrap_interval_of_accuracy_is_the_binomial_one():
    """400 images, 300 right: the accuracy's 95 % interval is 0.75 +- 1.96 sqrt(0.75 x 0.25 / 400)."""
    labels = np.ones(400, int)
    probs = np.r_[np.full(300, 0.9), np.full(100, 0.1)]
    low, high = bootstrap_intervals(labels, probs, 0.5, seed=0)["accuracy"]
    half = 1.96 * math.sqrt(0.75 * 0.25 / 400)
    assert low == pytest.approx(0.75 - half, abs=0.01) and high == pytest.approx(0.75 + half, abs=0.01)


def test_bootstrap_interval_of_auc_matches_its_normal_approximation():
    """Two Gaussian classes 1.19 sd apart: AUC = Phi(1.19 / sqrt 2) ~ 0.80; the interval's half width
    matches Hanley & McNeil's standard error (1982) within 20 %."""
    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(500, int), np.ones(500, int)]
    scores = np.r_[rng.normal(0, 1, 500), rng.normal(1.19, 1, 500)]
    auc = roc_auc_score(labels, scores)
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + 499 * (q1 - auc ** 2) + 499 * (q2 - auc ** 2)) / (500 * 500))
    low, high = bootstrap_intervals(labels, 1 / (1 + np.exp(-scores)), 0.5, seed=3)["roc_auc"]
    assert norm.cdf(1.19 / math.sqrt(2)) == pytest.approx(auc, abs=0.03)
    assert low < auc < high
    assert (high - low) / 2 == pytest.approx(1.96 * se, rel=0.2)


def test_bootstrap_of_a_perfect_classifier_is_a_point_and_seeded():
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    probs = np.r_[np.full(50, 0.2), np.full(50, 0.8)]
    intervals = bootstrap_intervals(labels, probs, 0.5, seed=0)
    assert intervals["roc_auc"] == [1.0, 1.0] and intervals["balanced_accuracy"] == [1.0, 1.0]
    labels, probs = _scored()
    assert bootstrap_intervals(labels, probs, 0.5, seed=4) == bootstrap_intervals(labels, probs, 0.5, seed=4)


def test_round_metrics_reports_the_threshold_the_reference_point_and_intervals():
    labels, probs = _scored()
    record = round_metrics(np.r_[labels, -1], np.r_[probs, 0.3], threshold=0.62, seed=0)  # -1: no label
    assert record.threshold == 0.62
    assert record.at_threshold.accuracy == classification_metrics(labels, probs, 0.62)["accuracy"]
    assert record.at_0_5.accuracy == classification_metrics(labels, probs, 0.5)["accuracy"]
    assert record.at_threshold.roc_auc == pytest.approx(roc_auc_score(labels, probs))
    assert set(record.ci) == {*METRIC_NAMES, *(class_key(name, c) for name in CLASS_METRICS for c in (0, 1))}
    for name in METRIC_NAMES:
        low, high = record.ci[name]
        assert low <= getattr(record.at_threshold, name) <= high, name
    # the same numbers from the (n, 2) matrix the engine passes
    matrix = round_metrics(labels, np.stack([1 - probs, probs], axis=1), threshold=0.62, seed=0)
    assert matrix.at_threshold == round_metrics(labels, probs, threshold=0.62, seed=0).at_threshold

def _three_classes(n: int = 240, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Labels 0..2 and softmax probabilities that lean towards the truth, with ties."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3)) + 1.2 * np.eye(3)[labels]
    probs = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
    probs[:, 2] = 1 - probs[:, :2].sum(axis=1)  # rows sum to 1, as scikit-learn asks
    return labels, probs


def test_three_class_metrics_match_scikit_learn():
    labels, probs = _three_classes()
    got = classification_metrics(labels, probs, threshold=None)
    predicted = probs.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(np.mean(predicted == labels))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert got["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert got["kappa"] == pytest.approx(cohen_kappa_score(labels, predicted))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    np.testing.assert_allclose(got["class_sensitivity"], recall_score(labels, predicted, average=None))
    np.testing.assert_allclose(got["class_precision"], precision_score(labels, predicted, average=None))
    np.testing.assert_allclose(got["class_roc_auc"], [roc_auc_score(labels == c, probs[:, c]) for c in range(3)])
    assert got["confusion_matrix"] == confusion_matrix(labels, predicted).tolist()
    assert all(math.isnan(got[name]) for name in ("sensitivity", "specificity", "precision", "recall", "f1"))


def test_top_label_ece_of_a_known_case():
    # top-label confidences 0.6 x 4 (3 right) and 0.9 x 2 (both right): bins [0.6, 0.7) and [0.9, 1.0]:
    # ECE = (4 |0.75 - 0.6| + 2 |1 - 0.9|) / 6 = 0.8 / 6
    probs = np.array([[0.6, 0.3, 0.1]] * 4 + [[0.05, 0.9, 0.05]] * 2)
    got = classification_metrics(np.array([0, 0, 0, 2, 1, 1]), probs, None)
    assert got["top_label_ece"] == pytest.approx(0.8 / 6)


def test_binary_fields_read_the_same_from_the_positive_column_and_the_matrix():
    labels, probs = _scored()
    column, matrix = classification_metrics(labels, probs, 0.62), classification_metrics(
        labels, np.stack([1 - probs, probs], axis=1), 0.62)
    assert column == matrix
    predicted = probs >= 0.62
    assert column["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert column["kappa"] == pytest.approx(cohen_kappa_score(labels, predicted))
    assert column["class_sensitivity"] == pytest.approx([column["specificity"], column["sensitivity"]])
    assert column["class_roc_auc"] == [column["roc_auc"]] * 2


def test_three_class_round_metrics_predict_by_argmax_with_intervals_around_the_point():
    labels, probs = _three_classes()
    record = round_metrics(labels, probs, threshold=None, seed=2)
    assert record.threshold is None and record.at_0_5 is None
    assert record.at_threshold.confusion_matrix == tuple(map(tuple, confusion_matrix(labels, probs.argmax(1))))
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "kappa", "top_label_ece"):
        low, high = record.ci[name]
        assert low <= getattr(record.at_threshold, name) <= high and high - low < 0.3, name
    for name in CLASS_METRICS:
        for c, value in enumerate(getattr(record.at_threshold, name)):
            low, high = record.ci[class_key(name, c)]
            assert low <= value <= high, (name, c)
    assert math.isnan(record.ci["sensitivity"][0])  # the positive class's metrics: two classes only


def test_a_class_missing_from_the_test_set_leaves_the_macro_averages_undefined():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    got = classification_metrics(np.array([0, 1, 0]), probs, None)
    assert got["accuracy"] == 1.0 and math.isnan(got["balanced_accuracy"]) and math.isnan(got["roc_auc"])
    assert got["macro_f1"] == 1.0  # over the classes present, as scikit-learn
    empty = classification_metrics(np.array([-1]), probs[:1], None)
    assert math.isnan(empty["accuracy"]) and empty["confusion_matrix"] == [[0] * 3] * 3


def test_a_three_class_round_record_round_trips_and_old_lines_read_nan():
    from alcore.records import RoundRecord
    labels, probs = _three_classes()
    metrics = round_metrics(labels, probs, threshold=None, seed=0)
    record = RoundRecord(round=0, n_labeled=30, metrics=metrics.at_threshold, threshold=metrics.threshold,
                         metrics_at_0_5=metrics.at_0_5, ci=metrics.ci)
    line = json.loads(json.dumps(record.to_dict()))
    again = RoundRecord.from_dict(line)
    assert again.to_dict() == line and again.threshold is None and again.metrics_at_0_5 is None
    assert again.metrics.class_roc_auc == metrics.at_threshold.class_roc_auc
    assert again.interval(class_key("class_sensitivity", 2)) == metrics.ci[class_key("class_sensitivity", 2)]
    old = {"round": 0, "n_labeled": 20, "accuracy": 0.7, "roc_auc": 0.8, "confusion_matrix": [[1, 2], [3, 4]]}
    read = RoundRecord.from_dict(old)
    assert math.isnan(read.metric("macro_f1")) and read.metrics.class_sensitivity == ()
    assert "macro_f1" not in read.to_dict() and "class_roc_auc" not in read.to_dict()


def test_without_known_labels_every_metric_and_interval_is_nan():
    intervals = bootstrap_intervals(np.array([-1, -1]), np.array([[0.2, 0.5, 0.3]] * 2), None, seed=0)
    assert len(intervals) == len(METRIC_NAMES) + 3 * len(CLASS_METRICS)
    assert all(math.isnan(low) and math.isnan(high) for low, high in intervals.values())


def test_labels_past_the_probability_columns_are_refused_with_a_message():
    with pytest.raises(ValueError, match="labels go up to class 2 but the probabilities have 2 columns"):
        round_metrics(np.array([0, 1, 2]), np.array([0.2, 0.6, 0.9]), 0.5, seed=0)
