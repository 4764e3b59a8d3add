"""Distances under a memory budget: the chunked code picks exactly what one block picks, and holds
no distance matrix larger than the budget (issue 28: coreset, typiclust and BADGE at 100k)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from alcore.strategies import Pool, _geometry, registry
from tests.strategies.conftest import two_class

GEOMETRIC = ["coreset", "typiclust", "badge", "pca_kmeans", "uncertain_kmeans"]
ONE_BLOCK = 2**40  # bytes: every distance matrix in one piece, as unchunked code would hold it
ONE_ROW = 1  # bytes: the smallest budget, one row per block


def _pool(n: int, m: int, whole_numbers: bool, seed: int = 0) -> Pool:
    """Clustered features. With whole_numbers, features are integers and probabilities 0.25 or 0.75,
    so every distance (BADGE's gradient embeddings included) is exact in float32."""
    data = np.random.default_rng(seed)
    centres = data.integers(-6, 7, size=(5, 6))
    features = centres[data.integers(5, size=n + m)] + data.normal(0, 1.5, (n + m, 6))
    features = (np.round(features) if whole_numbers else features).astype(np.float32)
    probs = data.choice([0.25, 0.75], n) if whole_numbers else data.random(n)
    return Pool(two_class(probs), features[:n], features[n:], np.random.default_rng(seed + 1))


def _query(monkeypatch, budget_bytes: int, name: str, pool: Pool, budget: int, **options):
    monkeypatch.setattr(_geometry, "DISTANCE_BLOCK_BYTES", budget_bytes)
    if "subsample" in {o.name for o in registry.get(name).options}:
        options = {"subsample": 0, **options}  # the whole pool: the budget alone bounds the memory
    return registry.query(name, pool, budget, options)


def _assert_same(chunked, unchunked, exact: bool) -> None:
    np.testing.assert_array_equal(chunked.indices, unchunked.indices)
    if exact:
        np.testing.assert_array_equal(chunked.scores, unchunked.scores)
    else:  # a block's shape changes the order of BLAS's float32 sums: last-bit differences
        np.testing.assert_allclose(chunked.scores, unchunked.scores, rtol=1e-4, atol=1e-4)
    if unchunked.clusters is not None:
        np.testing.assert_array_equal(chunked.clusters, unchunked.clusters)


@pytest.mark.parametrize("name", ["coreset", "typiclust", "badge"])
def test_exact_distances_pick_the_same_ties_included(monkeypatch, name):
    """Whole-number data: every distance is exact whatever the blocks, so even tied rows are
    picked alike (the lower index)."""
    options = {"max_clusters": 3} if name == "typiclust" else {}  # big clusters: many blocks per cluster
    unchunked = _query(monkeypatch, ONE_BLOCK, name, _pool(400, 60, whole_numbers=True), 25, **options)
    chunked = _query(monkeypatch, ONE_ROW, name, _pool(400, 60, whole_numbers=True), 25, **options)
    _assert_same(chunked, unchunked, exact=True)


@pytest.mark.parametrize("name", GEOMETRIC)
def test_one_row_blocks_pick_what_one_block_picks(monkeypatch, name):
    """Continuous data. Rows at exactly equal distances (a two-image cluster's centroid is halfway
    between them) are a tie any block shape may break either way, so the clusters here are large."""
    options = {"max_clusters": 3} if name == "typiclust" else {"factor": 20} if name == "uncertain_kmeans" else {}
    unchunked = _query(monkeypatch, ONE_BLOCK, name, _pool(400, 60, whole_numbers=False), 5, **options)
    chunked = _query(monkeypatch, ONE_ROW, name, _pool(400, 60, whole_numbers=False), 5, **options)
    _assert_same(chunked, unchunked, exact=False)


def test_blocks_respect_the_budget(monkeypatch):
    monkeypatch.setattr(_geometry, "DISTANCE_BLOCK_BYTES", 1000)
    x, y = np.zeros((100, 3), np.float32), np.zeros((30, 3), np.float32)
    blocks = [d2 for _, d2 in _geometry.sq_distance_blocks(x, y)]
    assert all(d2.nbytes <= 1000 for d2 in blocks) and sum(len(d2) for d2 in blocks) == 100  # 8 rows each
    assert len(blocks) == 13


def test_coreset_matches_a_textbook_k_center_greedy(monkeypatch):
    """The full distance matrix in float64, as Sener & Savarese write it, on exact data."""
    pool = _pool(300, 40, whole_numbers=True)
    x, labeled = pool.features.astype(np.float64), pool.labeled_features.astype(np.float64)
    nearest = ((x[:, None] - labeled[None]) ** 2).sum(axis=2).min(axis=1)
    expected = []
    for _ in range(20):
        pick = int(np.argmax(np.where(np.isin(np.arange(len(x)), expected), -1, nearest)))
        expected.append(pick)
        nearest = np.minimum(nearest, ((x - x[pick]) ** 2).sum(axis=1))
    assert _query(monkeypatch, ONE_ROW, "coreset", pool, 20).indices.tolist() == expected


def test_knn_distance_matches_the_full_matrix(monkeypatch):
    monkeypatch.setattr(_geometry, "DISTANCE_BLOCK_BYTES", 64)
    x = _pool(120, 0, whole_numbers=True).features
    full = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(axis=2))
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(_geometry.knn_mean_distance(x, 5), np.sort(full, axis=1)[:, :5].mean(axis=1),
                               rtol=1e-6)


@pytest.mark.parametrize("name, options", [("coreset", {}), ("typiclust", {"max_clusters": 1}), ("badge", {})])
def test_peak_memory_stays_far_below_a_pool_by_labeled_matrix(monkeypatch, name, options):
    """4,000 x 2,000 distances would take 32 MB (4,000 x 4,000 within typiclust's one cluster: 64 MB);
    with a 256 KiB budget the whole query allocates a few MB at most (numpy's own allocations,
    counted by tracemalloc)."""
    pool = _pool(4_000, 2_000, whole_numbers=False)
    tracemalloc.start()
    try:
        _query(monkeypatch, 256 * 2**10, name, pool, 30, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"{name} allocated {peak / 2**20:.1f} MiB at peak"
