"""The Embeddings layout per round (alcore.layout): today's PCA + K-Means on a small pool, models fitted
on a fixed sample of a large one, UMAP fitted once and reused, the same seed the same layout."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from alcore.layout import PoolLayout, UmapMap, umap_positions


def _blobs(n: int, d: int = 40, blobs: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(features, blob id): far-apart blobs, so any sensible clustering finds them."""
    rng = np.random.default_rng(seed)
    blob = rng.integers(blobs, size=n)
    centres = rng.normal(0, 10, (blobs, d))
    return (centres[blob] + rng.normal(0, 1, (n, d))).astype(np.float32), blob


def test_a_small_pool_is_laid_out_as_before():
    """Below the sample size every row is fitted on: PCA and K-Means of the whole pool, as the loop did."""
    features, _ = _blobs(300)
    layout = PoolLayout(seed=5)(features)
    before = PCA(n_components=32, random_state=5).fit_transform(features)
    assert layout.embedding.shape == (300, 2) and layout.embedding.dtype == np.float16  # a drawn position
    assert layout.features_pca.shape == (300, 32) and layout.features_pca.dtype == np.float16
    np.testing.assert_allclose(np.abs(layout.embedding), np.abs(before[:, :2]), rtol=2e-3, atol=1e-2)  # up to sign
    clusters_before = KMeans(n_clusters=8, n_init=1, random_state=5).fit_predict(before[:, :10])
    assert layout.cluster.dtype == np.int32 and set(layout.cluster.tolist()) == set(range(8))
    assert adjusted_rand_score(clusters_before, layout.cluster) > 0.95
    assert layout.umap is None and set(layout.arrays()) == {"embedding", "features_pca", "cluster"}


def test_a_large_pool_is_fitted_on_a_fixed_sample_and_every_row_placed():
    features, blob = _blobs(3_000, blobs=8)
    pool_layout = PoolLayout(seed=1, sample_rows=400)
    first = pool_layout(features)
    sample = pool_layout.sample
    assert len(sample) == 400 and len(np.unique(sample)) == 400
    expected = PCA(n_components=32, random_state=1).fit(features[sample]).transform(features)[:, :2]
    np.testing.assert_allclose(np.abs(first.embedding), np.abs(expected), rtol=2e-3, atol=1e-2)
    assert adjusted_rand_score(blob, first.cluster) == 1.0  # eight blobs, eight clusters, every row right
    pool_layout(features + 0.01)
    np.testing.assert_array_equal(pool_layout.sample, sample)  # the same rows every round



def test_the_same_seed_gives_the_same_layout_and_another_seed_another_sample():
    features, _ = _blobs(2_000)
    a, b = (PoolLayout(seed=3, sample_rows=300)(features) for _ in range(2))
    for name, array in a.arrays().items():
        np.testing.assert_array_equal(array, b.arrays()[name], err_msg=name)
    one, other = PoolLayout(seed=3, sample_rows=300), PoolLayout(seed=4, sample_rows=300)
    one(features), other(features)
    assert not np.array_equal(one.sample, other.sample)


def test_a_pool_of_another_size_is_refused_with_a_message():
    layout = PoolLayout(seed=0)
    layout(_blobs(50)[0])
    with pytest.raises(ValueError, match="made for a pool of 50 images, not 60: use a new PoolLayout"):
        layout(_blobs(60)[0])


def test_umap_map_places_points_by_their_nearest_reference_points():
    umap_map = UmapMap(seed=0)
    umap_map.reference = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], np.float32)
    umap_map.positions = np.array([[1.0, 1.0], [5.0, 1.0], [1.0, 5.0]], np.float32)
    placed = umap_map.transform(np.array([[10.0, 0.0], [9.0, 0.5], [0.5, 9.5]], np.float32))
    np.testing.assert_array_equal(placed[0], [5.0, 1.0])  # on a reference point: exactly its position
    assert np.linalg.norm(placed[1] - [5.0, 1.0]) < np.linalg.norm(placed[1] - [1.0, 1.0])
    assert np.linalg.norm(placed[2] - [1.0, 5.0]) < np.linalg.norm(placed[2] - [5.0, 1.0])


@pytest.mark.slow  # UMAP compiles its numba code in the first call of a process
def test_umap_is_fitted_once_and_places_every_round():
    features, blob = _blobs(600, blobs=3)
    pool_layout = PoolLayout(seed=2, with_umap=True, sample_rows=200)
    first = pool_layout(features)
    reference = pool_layout.umap_map.reference
    assert first.umap.shape == (600, 2) and first.umap.dtype == np.float32 and np.isfinite(first.umap).all()
    np.testing.assert_array_equal(first.umap[pool_layout.sample], pool_layout.umap_map.positions)
    centres = np.stack([first.umap[pool_layout.sample][blob[pool_layout.sample] == b].mean(axis=0) for b in range(3)])
    nearest_centre = np.linalg.norm(first.umap[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest_centre == blob).all()  # every image lands among its own blob's sample images
    np.testing.assert_array_equal(pool_layout(features).umap, first.umap)  # frozen features: the same map
    moved = pool_layout(features + np.random.default_rng(0).normal(0, 0.05, features.shape).astype(np.float32))
    assert pool_layout.umap_map.reference is reference  # not fitted again
    assert (np.linalg.norm(moved.umap[:, None] - centres[None], axis=2).argmin(axis=1) == blob).all()

    on_demand = umap_positions(features, seed=2, sample_rows=200)  # the page's route: one round, fitted here
    centres = np.stack([on_demand[blob == b].mean(axis=0) for b in range(3)])
    assert (np.linalg.norm(on_demand[:, None] - centres[None], axis=2).argmin(axis=1) == blob).all()
    np.testing.assert_array_equal(umap_positions(features, seed=2, sample_rows=200), on_demand)
