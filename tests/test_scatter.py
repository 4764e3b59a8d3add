"""The thinned Embeddings scatter (alcore.viewmodels.scatter): a 100,000-image pool draws a bounded
number of points, every labeled and queried one among them, and a selection maps to the right images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from alcore.viewmodels import scatter


def pool_frame(n: int, labeled: int, queried: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A round frame like round_view.round_frame's, with its (n, 2) layout."""
    rng = np.random.default_rng(seed)
    status = np.array(["unlabeled"] * n, dtype=object)
    picked = rng.choice(n, size=labeled + queried, replace=False)
    status[picked[:labeled]], status[picked[labeled:]] = "labeled", "queried"
    label = np.where(rng.random(n) < 0.27, "PNEUMONIA", "NORMAL")
    xy = rng.normal(0, 1, (n, 2)).astype(np.float32) + np.where(label == "PNEUMONIA", 3, 0)[:, None]
    frame = pd.DataFrame({"id": [f"img-{i:06d}" for i in range(n)], "x": xy[:, 0], "y": xy[:, 1],
                          "cluster": rng.integers(0, 8, n), "label": label, "predicted": label,
                          "prob": rng.random(n), "confidence": rng.random(n),
                          "score": rng.random(n), "status": status})
    return frame, xy


def points_in_box(fig: go.Figure, low: float, high: float) -> list[dict]:
    """The selection event plotly sends for a box over [low, high] x [low, high]."""
    return [{"curve_number": c, "point_index": int(i)} for c, trace in enumerate(fig.data)
            for i in np.flatnonzero((np.asarray(trace.x) >= low) & (np.asarray(trace.x) <= high)
                                    & (np.asarray(trace.y) >= low) & (np.asarray(trace.y) <= high))]


def test_a_large_pool_draws_a_thinned_scatter_whose_selection_maps_to_the_right_images():
    frame, xy = pool_frame(100_000, labeled=5_100, queried=1_000)
    drawn = scatter.thin(frame, xy, max_drawn=20_000, seed=1)
    fig = scatter.thinned_figure(drawn, "label", "PCA", ("NORMAL", "PNEUMONIA"))
    assert sum(len(t.x) for t in fig.data) == 20_000 and all(isinstance(t, go.Scattergl) for t in fig.data)
    assert "20,000 of 100,000 images drawn" in fig.layout.title.text
    must = np.flatnonzero(frame.status.isin(["labeled", "queried"]))
    assert np.isin(must, drawn.pool_rows).all()  # every labeled and queried image is on the figure

    points = points_in_box(fig, 0.5, 1.5)
    rows = scatter.selected_pool_rows(drawn, fig, points)
    inside = np.flatnonzero(((xy >= 0.5) & (xy <= 1.5)).all(axis=1))
    assert len(points) > 100 and sorted(frame.id[rows]) == sorted(frame.id[np.intersect1d(inside, drawn.pool_rows)])
    for point in points[:50]:  # each selected point is the image drawn there
        trace = fig.data[point["curve_number"]]
        row = scatter.selected_pool_rows(drawn, fig, [point])[0]
        assert (trace.x[point["point_index"]], trace.y[point["point_index"]]) == tuple(xy[row])
        assert trace.text[point["point_index"]].startswith(frame.id[row])


def test_each_label_and_cluster_keeps_its_share():
    frame, xy = pool_frame(50_000, labeled=100, queried=50)
    drawn = scatter.thin(frame, xy, max_drawn=5_000, seed=0)
    unlabeled = frame.status == "unlabeled"
    pool_share = frame[unlabeled].groupby(["label", "cluster"]).size() / unlabeled.sum()
    drawn_unlabeled = drawn.frame[drawn.frame.status == "unlabeled"]
    drawn_share = drawn_unlabeled.groupby(["label", "cluster"]).size() / len(drawn_unlabeled)
    np.testing.assert_allclose(drawn_share.sort_index(), pool_share.sort_index(), atol=1e-3)


def test_quotas_give_a_rare_group_a_point_and_fill_the_room_exactly():
    quotas = scatter._quotas(np.array([90_000, 9_999, 1]), 1_000)
    assert quotas.sum() == 1_000 and quotas[2] == 1 and abs(quotas[0] - 900) <= 1 and abs(quotas[1] - 99) <= 1


def test_the_same_seed_draws_the_same_points_and_a_small_pool_is_drawn_whole():
    frame, xy = pool_frame(30_000, labeled=100, queried=10)
    a, b, c = (scatter.thin(frame, xy, max_drawn=3_000, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.pool_rows, b.pool_rows)
    assert not np.array_equal(a.pool_rows, c.pool_rows)
    small = scatter.thin(*pool_frame(2_000, labeled=100, queried=10))
    assert not small.thinned and small.pool_rows.tolist() == list(range(2_000))
    assert "drawn" not in scatter.thinned_figure(small, "status", "UMAP", ("NORMAL", "PNEUMONIA")).layout.title.text


def test_more_labeled_images_than_the_cap_are_all_drawn():
    keep = np.zeros(1_000, dtype=bool)
    keep[:300] = True
    rows = scatter.drawn_rows(keep, np.zeros(1_000), max_drawn=200, seed=0)
    assert rows.tolist() == list(range(300))
