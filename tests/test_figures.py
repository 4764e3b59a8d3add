"""The dashboard's figure builders, as plain functions on hand-made data."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from alcore.records import RoundRecord
from alcore.viewmodels import figures


def record(round_index: int, n_labeled: int, accuracy: float, roc_auc: float | None = 0.8, **fields) -> RoundRecord:
    return RoundRecord.from_dict({"round": round_index, "n_labeled": n_labeled, "accuracy": accuracy,
                                  "balanced_accuracy": accuracy, "f1": accuracy, "roc_auc": roc_auc, **fields})


TWO = ("NORMAL", "PNEUMONIA")
THREE = ("NORMAL", "BACTERIAL", "VIRAL")


def pool(n: int = 8, classes: tuple[str, ...] = TWO) -> pd.DataFrame:
    names = [classes[k % len(classes)] for k in range(n)]
    frame = pd.DataFrame({
        "id": [f"s{i}" for i in range(n)], "x": np.arange(n, dtype=float), "y": np.zeros(n),
        "cluster": np.arange(n) % 2, "label": names, "predicted": names[::-1],
        "confidence": np.linspace(1 / len(classes), 1, n), "score": [math.nan, math.nan, *np.linspace(0.1, 0.9, n - 2)],
        "status": ["labeled", "labeled", "queried", "queried", *["unlabeled"] * (n - 4)],
    })
    return frame.assign(prob=np.linspace(0, 1, n)) if len(classes) == 2 else frame


def test_learning_curves_have_a_line_per_metric_and_titled_axes():
    fig = figures.learning_curves_figure([record(0, 20, 0.6, None), record(1, 30, 0.7)], figures.live_metrics(2))
    assert [t.name for t in fig.data] == ["Accuracy", "F1", "ROC-AUC", "Balanced accuracy"]
    assert figures.live_metrics(3)[1] == "macro_f1"
    assert list(fig.data[0].x) == [20, 30]
    assert math.isnan(fig.data[2].y[0])  # a missing AUC is a gap, not a crash
    assert fig.layout.xaxis.title.text == "Labeled images (count)"
    assert "0–1" in fig.layout.yaxis.title.text


def test_confusion_matrix_shows_counts_and_row_shares():
    fig = figures.confusion_matrix_figure([[8, 2], [1, 9]], "round 3", TWO)
    heatmap = fig.data[0]
    assert heatmap.text[0][0] == "8<br>(80%)" and heatmap.text[1][1] == "9<br>(90%)"
    assert list(heatmap.x) == list(heatmap.y) == list(TWO)
    assert fig.layout.xaxis.title.text == "Predicted class" and fig.layout.yaxis.title.text == "True class"


def test_a_three_class_confusion_matrix_is_three_by_three_in_label_order():
    heatmap = figures.confusion_matrix_figure([[5, 0, 0], [1, 3, 1], [0, 2, 2]], "round 1", THREE).data[0]
    assert list(heatmap.x) == list(THREE) and len(heatmap.text) == 3 and heatmap.text[2][1] == "2<br>(50%)"


def test_classes_keep_green_and_red_for_two_and_get_a_colour_each_beyond():
    assert figures.class_colors(TWO)["NORMAL"] == "#2e7d32" and figures.class_colors(TWO)["PNEUMONIA"] == "#c62828"
    three = figures.class_colors(THREE)
    assert len({three[c] for c in THREE}) == 3 and three["hidden"] == three["unknown"] == figures.NO_CLASS_COLOR
    assert "prob" in figures.color_options(TWO) and "confidence" not in figures.color_options(TWO)
    assert figures.color_options(TWO)["prob"] == "Predicted p(PNEUMONIA)"
    assert "confidence" in figures.color_options(THREE) and "prob" not in figures.color_options(THREE)


@pytest.mark.parametrize("classes, color_by", [(classes, color_by) for classes in (TWO, THREE)
                                               for color_by in figures.color_options(classes)])
def test_embedding_draws_every_point_once_with_queried_on_top(classes, color_by):
    frame = pool(classes=classes)
    fig = figures.embedding_figure(frame, frame[["x", "y"]].to_numpy(), color_by, "PCA", classes)
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    rows = sorted(int(r) for t in fig.data for r in t.customdata)
    assert rows == list(range(len(frame)))
    top = fig.data[-1]
    assert sorted(top.customdata) == [2, 3] and top.marker.symbol == "diamond"
    assert fig.layout.xaxis.title.text == "PCA 1 (a.u.)"


def test_embedding_scales_to_many_points():
    n = 6000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "cluster": rng.integers(0, 8, n),
                          "label": rng.choice(TWO, n), "predicted": rng.choice(TWO, n), "prob": rng.random(n),
                          "confidence": rng.random(n), "score": rng.random(n),
                          "status": rng.choice(["labeled", "unlabeled", "queried"], n)})
    fig = figures.embedding_figure(frame, rng.normal(size=(n, 2)), "cluster", "UMAP", TWO)
    assert sum(len(t.x) for t in fig.data) == n


def test_selected_rows_maps_trace_points_back_to_frame_rows():
    frame = pool()
    fig = figures.embedding_figure(frame, frame[["x", "y"]].to_numpy(), "status", "PCA", TWO)
    top = len(fig.data) - 1  # the queried trace holds rows 2 and 3
    assert figures.selected_rows(fig, [{"curve_number": top, "point_index": 1},
                                       {"curve_number": top, "point_index": 0}]) == [2, 3]


def test_compare_draws_a_band_only_for_averaged_seeds_and_the_baseline():
    curves = pd.DataFrame({"strategy": ["entropy"] * 2 + ["random"] * 2, "n_labeled": [10, 20, 10, 20],
                           "mean": [0.6, 0.7, 0.5, 0.6], "std": [0.02, 0.03, 0.0, 0.0], "count": [3, 3, 1, 1]})
    fig = figures.compare_figure(curves, "accuracy", baseline=0.9)
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 1 and bands[0].legendgroup == "entropy"
    assert [t.name for t in fig.data if t.fill != "toself"] == ["entropy (mean ± std of 3 seeds)", "random"]
    assert fig.layout.shapes[0].y0 == 0.9  # the baseline's horizontal line
    assert fig.layout.yaxis.title.text == "Accuracy (0–1)"


def test_compare_without_baseline_has_no_reference_line():
    curves = pd.DataFrame({"strategy": ["a"], "n_labeled": [10], "mean": [0.5], "std": [0.0], "count": [1]})
    assert not figures.compare_figure(curves, "roc_auc").layout.shapes


def test_stability_figure_plots_kappa_against_labels_with_the_threshold():
    rounds = [record(0, 10, 0.5, stop_kappa=None), record(1, 20, 0.5, stop_kappa=0.8),
              record(2, 30, 0.5, stop_kappa=0.995, predictions_stable=True)]
    fig = figures.stability_figure(rounds, 0.99)
    assert list(fig.data[0].x) == [20, 30] and list(fig.data[0].y) == [0.8, 0.995]
    assert fig.layout.shapes[0].y0 == 0.99


def test_a_large_selection_shows_a_representative_sample_and_says_how_it_was_drawn():
    """Issue 29, item 10: the first 48 of a selection by file order were all NORMAL."""
    n = 300
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "label": ["NORMAL"] * 200 + ["PNEUMONIA"] * 100,
                          "confidence": np.r_[np.linspace(0, 0.5, 200), np.linspace(0.4, 1, 100)],
                          "score": np.full(n, np.nan)})
    shown, caption = figures.representative_selection(frame, 48)
    assert len(shown) == 48 and shown.label.value_counts().to_dict() == {"NORMAL": 32, "PNEUMONIA": 16}
    assert list(shown.confidence) == sorted(shown.confidence)
    assert shown.confidence.min() == 0 and shown.confidence.max() == 1
    assert caption.startswith("Showing 48 of 300: each label in its share of the selection (NORMAL 32, PNEUMONIA 16)")
    scored, caption = figures.representative_selection(frame.assign(score=np.arange(n, dtype=float)), 48)
    assert list(scored.score) == list(range(299, 251, -1)) and "highest strategy score" in caption
    few, caption = figures.representative_selection(frame.head(10), 48)
    assert len(few) == 10 and caption == ""
