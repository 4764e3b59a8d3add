"""The curve numbers against scikit-learn on known cases, and Cohen's kappa."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (brier_score_loss, cohen_kappa_score, confusion_matrix, f1_score, precision_recall_curve,
                             roc_curve)

from alcore.diagnostics import cohen_kappa, diagnostics, operating_point, reliability

LABELS = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 1])
PROBS = np.array([0.1, 0.4, 0.35, 0.8, 0.05, 0.65, 0.95, 0.55, 0.2, 0.7])


def test_roc_and_pr_match_sklearn():
    found = diagnostics(LABELS, PROBS)
    assert len(found.curves) == 1 and found.curves[0].name == "PNEUMONIA"  # two classes: the positive one's
    d = found.curves[0]
    fpr, tpr, _ = roc_curve(LABELS, PROBS)
    precision, recall, _ = precision_recall_curve(LABELS, PROBS)
    np.testing.assert_allclose(d.roc_fpr, fpr)
    np.testing.assert_allclose(d.roc_tpr, tpr)
    np.testing.assert_allclose(d.pr_precision, precision)
    np.testing.assert_allclose(d.pr_recall, recall)
    assert d.prevalence == 0.6 and found.n == 10


def test_operating_point_counts_by_hand():
    # threshold 0.5: predicted positive 0.8 0.65 0.95 0.55 0.7 -> tp 4 (0.8 0.65 0.95 0.7), fp 1 (0.55)
    point = operating_point(LABELS, PROBS, 0.5)
    assert point.confusion_matrix == [[3, 1], [2, 4]]
    assert point.sensitivity == pytest.approx(4 / 6) and point.specificity == pytest.approx(3 / 4)
    assert point.precision == pytest.approx(4 / 5) and point.false_positive_rate == pytest.approx(1 / 4)
    assert operating_point(LABELS, PROBS, 0.99).precision == 1.0  # nothing called positive


def test_reliability_bins_match_calibration_curve_and_brier():
    rng = np.random.default_rng(0)
    probs = rng.random(500)
    probs[:5] = [0.0, 0.1, 0.2, 0.5, 1.0]  # values on the bin edges land where sklearn puts them
    labels = (rng.random(500) < probs ** 1.5).astype(int)
    r = reliability(labels, probs)
    fraction, mean = calibration_curve(labels, probs, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(r.fraction_positive, fraction)
    np.testing.assert_allclose(r.mean_predicted, mean)
    assert r.counts.sum() == 500
    assert diagnostics(labels, probs).brier == pytest.approx(brier_score_loss(labels, probs))
    assert r.ece == pytest.approx(np.sum(r.counts * np.abs(fraction - mean)) / 500)


def test_ece_of_a_known_case():
    # bin [0.2, 0.3): p = 0.25 x 4, one positive -> |0.25 - 0.25| = 0; bin [0.8, 0.9): p = 0.85 x 4, all
    # positive -> |1 - 0.85| = 0.15; ECE = (4 x 0 + 4 x 0.15) / 8
    r = reliability(np.array([1, 0, 0, 0, 1, 1, 1, 1]), np.array([0.25] * 4 + [0.85] * 4))
    assert r.ece == pytest.approx(0.075)
    assert list(r.counts) == [4, 4]


def test_unknown_labels_are_ignored_and_one_class_is_refused():
    d = diagnostics(np.append(LABELS, [-1, -1]), np.append(PROBS, [0.9, 0.1]))
    assert d.n == 10
    with pytest.raises(ValueError, match="two classes or more"):
        diagnostics(np.ones(5), np.linspace(0, 1, 5))


@pytest.mark.parametrize("a, b", [([0, 1, 1, 0, 1, 1], [0, 1, 0, 0, 1, 1]), ([1, 1, 0, 0], [0, 0, 1, 1]),
                                  ([0, 1, 1, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1, 1])])
def test_kappa_matches_sklearn(a, b):
    assert cohen_kappa(np.array(a), np.array(b)) == pytest.approx(cohen_kappa_score(a, b))


def test_kappa_of_identical_single_class_predictions_is_one():
    assert cohen_kappa(np.ones(5), np.ones(5)) == 1.0
    assert math.isnan(cohen_kappa(np.array([]), np.array([])))


THREE = ("NORMAL", "BACTERIAL", "VIRAL")
LABELS_3 = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 1, 0, 2])
PROBS_3 = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.3, 0.5, 0.2], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2],
                    [0.3, 0.3, 0.4], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2],
                    [0.6, 0.1, 0.3], [0.2, 0.2, 0.6]])


def test_three_classes_give_one_vs_rest_curves_per_class_and_the_confusion_by_argmax():
    d = diagnostics(LABELS_3, PROBS_3, threshold=None, classes=THREE)
    assert d.argmax and d.point is None and [c.name for c in d.curves] == list(THREE)
    for curve in d.curves:
        fpr, tpr, _ = roc_curve(LABELS_3 == curve.index, PROBS_3[:, curve.index])
        np.testing.assert_allclose(curve.roc_fpr, fpr)
        np.testing.assert_allclose(curve.roc_tpr, tpr)
        assert curve.prevalence == pytest.approx(np.mean(LABELS_3 == curve.index))
    assert d.confusion_matrix == tuple(map(tuple, confusion_matrix(LABELS_3, PROBS_3.argmax(1)).tolist()))
    assert d.brier == pytest.approx(brier_score_loss(LABELS_3, PROBS_3))  # scikit-learn's multiclass Brier
    assert d.metrics.macro_f1 == pytest.approx(f1_score(LABELS_3, PROBS_3.argmax(1), average="macro"))


def test_three_class_reliability_is_top_label():
    d = diagnostics(LABELS_3, PROBS_3, None, THREE)
    right = (PROBS_3.argmax(1) == LABELS_3).astype(int)
    fraction, mean = calibration_curve(right, PROBS_3.max(1), n_bins=10)
    assert d.reliability.top_label
    np.testing.assert_allclose(d.reliability.fraction_positive, fraction)
    np.testing.assert_allclose(d.reliability.mean_predicted, mean)
    assert d.reliability.ece == pytest.approx(d.metrics.top_label_ece)


def test_a_class_without_test_images_has_no_curve_and_names_must_match_columns():
    d = diagnostics(LABELS_3[LABELS_3 < 2], PROBS_3[LABELS_3 < 2], None, THREE)
    assert [c.name for c in d.curves] == ["NORMAL", "BACTERIAL"] and len(d.confusion_matrix) == 3
    with pytest.raises(ValueError, match="3 probability columns but 2 class names"):
        diagnostics(LABELS_3, PROBS_3, None, ("A", "B"))


def test_kappa_over_three_classes_matches_sklearn():
    a, b = [0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 1, 1, 0, 2]
    assert cohen_kappa(np.array(a), np.array(b)) == pytest.approx(cohen_kappa_score(a, b))
