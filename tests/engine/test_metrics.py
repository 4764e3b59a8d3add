"""Metrics: the same numbers as scikit-learn, the threshold that maximises balanced accuracy, and
bootstrap intervals on cases whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from alcore.metrics import (METRIC_NAMES, PRIOR_WEIGHT, bootstrap_intervals, choose_threshold,
                            classification_metrics, operating_threshold, prior_threshold, round_metrics)


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
    assert set(record.ci) == set(METRIC_NAMES)
    for name, (low, high) in record.ci.items():
        assert low <= getattr(record.at_threshold, name) <= high, name