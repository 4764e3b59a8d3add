"""A round's diagnostic figures (alcore.plots): their numbers against scikit-learn's."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from alcore import plots

LABELS = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1])
PROBS = np.array([0.1, 0.4, 0.35, 0.8, 0.05, 0.65, 0.95, 0.55, 0.2, 0.7, 0.45, 0.9])


def series(ci: dict | None = None, threshold: float = 0.5) -> list[plots.CurveSeries]:
    from alcore.diagnostics import diagnostics
    return [plots.CurveSeries("entropy", diagnostics(LABELS, PROBS, threshold), ci or {})]


def named(fig: go.Figure, prefix: str) -> go.Scatter:
    return next(t for t in fig.data if (t.name or "").startswith(prefix))


def drawn_curve(fig: go.Figure, x: np.ndarray, y: np.ndarray) -> go.Scatter:
    """The run's curve, checked point by point against scikit-learn's (x, y)."""
    curve = named(fig, "entropy")
    np.testing.assert_allclose(curve.x, x)
    np.testing.assert_allclose(curve.y, y)
    return curve


def point_of(fig: go.Figure) -> go.Scatter:
    return next(t for t in fig.data if t.showlegend is False)


def test_roc_figure_draws_sklearns_roc_curve_and_the_operating_point():
    from sklearn.metrics import roc_auc_score, roc_curve
    fig = plots.roc_figure(series(threshold=0.5), "ROC")
    fpr, tpr, _ = roc_curve(LABELS, PROBS)
    curve = drawn_curve(fig, fpr, tpr)
    assert f"AUC {roc_auc_score(LABELS, PROBS):.3f}" in curve.name
    # at 0.5: predicted positive 0.8 0.65 0.95 0.55 0.7 0.9 -> tp 5 of 7, fp 1 of 5
    point = point_of(fig)
    assert point.x[0] == pytest.approx(1 / 5) and point.y[0] == pytest.approx(5 / 7)
    assert point.error_y.visible is False  # no intervals in this round
    assert named(fig, "chance").line.dash == "dash"


def test_pr_figure_draws_sklearns_precision_recall_curve_and_the_guessing_line():
    from sklearn.metrics import average_precision_score, precision_recall_curve
    fig = plots.pr_figure(series(threshold=0.6), "PR")
    precision, recall, _ = precision_recall_curve(LABELS, PROBS)
    curve = drawn_curve(fig, recall, precision)
    assert curve.line.shape == "hv" and f"AP {average_precision_score(LABELS, PROBS):.3f}" in curve.name
    point = point_of(fig)  # at 0.6: 0.8 0.65 0.95 0.7 0.9 -> all 5 PNEUMONIA
    assert point.x[0] == pytest.approx(5 / 7) and point.y[0] == pytest.approx(1.0)
    assert list(named(fig, "guessing").y) == [7 / 12, 7 / 12]


def test_reliability_figure_draws_sklearns_calibration_curve_with_brier_and_ece():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss
    fig = plots.reliability_figure(series(), "Reliability")
    fraction, mean = calibration_curve(LABELS, PROBS, n_bins=10)
    curve = drawn_curve(fig, mean, fraction)
    assert sum(curve.customdata) == len(LABELS)  # image counts per bin, in the hover
    assert f"Brier {brier_score_loss(LABELS, PROBS):.3f}" in curve.name and "ECE" in curve.name


def test_intervals_become_whiskers_on_the_operating_point_and_ranges_in_the_legend():
    ci = {"sensitivity": [0.5, 0.9], "specificity": [0.6, 0.95], "roc_auc": [0.7, 0.95], "precision": [0.6, 1.0]}
    roc = plots.roc_figure(series(ci), "ROC")
    point = point_of(roc)  # fpr 0.2, sensitivity 5/7
    assert point.error_y.array[0] == pytest.approx(0.9 - 5 / 7) and point.error_y.arrayminus[0] == pytest.approx(5 / 7 - 0.5)
    assert point.error_x.array[0] == pytest.approx(0.4 - 0.2) and point.error_x.arrayminus[0] == pytest.approx(0.2 - 0.05)
    assert "[0.700, 0.950]" in named(roc, "entropy").name
    pr = point_of(plots.pr_figure(series(ci), "PR"))
    assert pr.error_x.array[0] == pytest.approx(0.9 - 5 / 7)


def test_overlays_draw_one_curve_per_run_in_its_own_colour():
    from alcore.diagnostics import diagnostics
    two = [plots.CurveSeries("a", diagnostics(LABELS, PROBS)), plots.CurveSeries("b", diagnostics(LABELS, PROBS[::-1]))]
    for build in (plots.roc_figure, plots.pr_figure, plots.reliability_figure):
        fig = build(two, "overlay")
        curves = [t for t in fig.data if (t.name or "")[:1] in ("a", "b")]
        assert len(curves) == 2 and curves[0].line.color != curves[1].line.color


THREE = ("NORMAL", "BACTERIAL", "VIRAL")
LABELS_3 = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 1, 0, 2])
PROBS_3 = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.3, 0.5, 0.2], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2],
                    [0.3, 0.3, 0.4], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2],
                    [0.6, 0.1, 0.3], [0.2, 0.2, 0.6]])


def three_class_series(name: str = "entropy", probs: np.ndarray = PROBS_3, **kwargs) -> plots.CurveSeries:
    from alcore.diagnostics import diagnostics
    return plots.CurveSeries(name, diagnostics(LABELS_3, probs, None, THREE), **kwargs)


def test_three_classes_draw_one_vs_rest_curves_per_class_without_an_operating_point():
    from sklearn.metrics import roc_auc_score, roc_curve
    ci = {"class_roc_auc_2": (0.61, 0.99)}
    fig = plots.roc_figure([three_class_series(ci=ci)], "ROC")
    curves = [t for t in fig.data if (t.name or "").startswith("entropy")]
    assert [c.name.split(" · ")[1] for c in curves] == list(THREE)
    assert len({c.line.color for c in curves}) == 3  # one run: a colour per class
    fpr, tpr, _ = roc_curve(LABELS_3 == 2, PROBS_3[:, 2])
    np.testing.assert_allclose(curves[2].x, fpr)
    assert f"AUC {roc_auc_score(LABELS_3 == 2, PROBS_3[:, 2]):.3f} [0.610, 0.990]" in curves[2].name
    assert not any(t.showlegend is False for t in fig.data)  # argmax: no threshold, no dot
    pr = plots.pr_figure([three_class_series()], "PR")
    assert len([t for t in pr.data if t.name.startswith("guessing")]) == 3


def test_compare_overlays_one_class_across_runs_and_top_label_reliability():
    two = [three_class_series("a", only=2), three_class_series("b", PROBS_3[::-1], only=2)]
    fig = plots.roc_figure(two, "ROC")
    curves = [t for t in fig.data if (t.name or "")[:1] in ("a", "b")]
    assert [c.name.split(" · ")[1] for c in curves] == ["VIRAL", "VIRAL"] and curves[0].line.color != curves[1].line.color
    reliability = plots.reliability_figure(two, "Reliability")
    assert reliability.layout.xaxis.title.text == "Mean probability of the predicted class in the bin"
    binary = plots.reliability_figure(series(), "Reliability")
    assert binary.layout.yaxis.title.text == "Observed share of PNEUMONIA"
