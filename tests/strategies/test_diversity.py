"""Diversity strategies on three far-apart blobs, where the right picks are obvious."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import registry


def _centres(features: np.ndarray, blob: np.ndarray) -> np.ndarray:
    return np.stack([features[blob == b].mean(axis=0) for b in range(3)])


def test_pca_kmeans_picks_the_image_nearest_each_blob_centre(make_pool, blobs):
    features, blob = blobs
    selection = registry.query("pca_kmeans", make_pool(features=features), 3)
    assert sorted(blob[selection.indices]) == [0, 1, 2]
    centres = _centres(features, blob)
    for b in range(3):
        rows = np.flatnonzero(blob == b)
        nearest = rows[np.argmin(np.linalg.norm(features[rows] - centres[b], axis=1))]
        assert nearest in selection.indices
    # one K-Means cluster per blob; each pick scores highest in its cluster (nearest its centroid)
    assert all(len(set(selection.clusters[blob == b])) == 1 for b in range(3))
    for row in selection.indices:
        assert selection.scores[row] == selection.scores[blob == blob[row]].max()


def test_pca_kmeans_clips_components_to_the_data(make_pool, blobs):
    features, blob = blobs
    for components in (1, 500):
        selection = registry.query("pca_kmeans", make_pool(features=features), 3, {"pca_components": components})
        assert sorted(blob[selection.indices]) == [0, 1, 2]


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_pca_kmeans_gives_each_centroid_its_own_image(make_pool):
    """Duplicated images: centroids that share a nearest image take the next nearest unused one."""
    features = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0]]), 3, axis=0)
    selection = registry.query("pca_kmeans", make_pool(features=features), 4)
    assert len(set(selection.indices.tolist())) == 4


def test_coreset_goes_farthest_from_the_labeled_blob_first(make_pool, blobs):
    features, blob = blobs
    labeled = features[blob == 0][:5]
    selection = registry.query("coreset", make_pool(features=features, labeled=labeled), 2)
    distance = np.linalg.norm(features[:, None] - labeled[None], axis=2).min(axis=1)
    assert selection.indices[0] == np.argmax(distance)
    assert sorted(blob[selection.indices]) == [1, 2]
    np.testing.assert_allclose(selection.scores, distance, rtol=1e-4, atol=1e-3)


def test_coreset_second_pick_is_farthest_from_labeled_and_first(make_pool):
    features = np.array([[0.0], [1.0], [5.0], [10.0], [9.0]])
    selection = registry.query("coreset", make_pool(features=features, labeled=[[0.0]]), 2)
    assert selection.indices.tolist() == [3, 2]  # 10, then 5: halfway between labeled 0 and picked 10


def test_coreset_without_labels_covers_every_blob(make_pool, blobs):
    features, blob = blobs
    selection = registry.query("coreset", make_pool(features=features), 3)
    assert sorted(blob[selection.indices]) == [0, 1, 2]
    assert np.isnan(selection.scores).all()


def _with_outliers(features: np.ndarray, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each blob gets two stragglers 4 units out: same cluster, but atypical."""
    centres = _centres(features, blob)
    stragglers = np.repeat(centres, 2, axis=0) + np.tile([[4.0, 0.0], [0.0, -4.0]], (3, 1))
    return np.concatenate([features, stragglers]).astype(np.float32), np.r_[blob, np.repeat(np.arange(3), 2)]


def test_typiclust_picks_dense_points_of_uncovered_clusters(make_pool, blobs):
    features, blob = _with_outliers(*blobs)
    centres = _centres(features, blob)
    selection = registry.query("typiclust", make_pool(features=features, labeled=centres[:1]), 2)
    assert sorted(blob[selection.indices]) == [1, 2]  # blob 0 is covered by the labeled image
    for row in selection.indices:
        members = np.flatnonzero(blob == blob[row])
        to_centre = np.linalg.norm(features[members] - centres[blob[row]], axis=1)
        assert np.linalg.norm(features[row] - centres[blob[row]]) <= np.quantile(to_centre, 0.25)
        assert selection.scores[row] == np.max(selection.scores[members])  # the most typical
    outliers = np.arange(90, 96)
    assert selection.scores[outliers].max() < np.median(selection.scores[:90])


def test_typiclust_returns_to_covered_clusters_once_all_are_covered(make_pool, blobs):
    features, blob = blobs
    selection = registry.query("typiclust", make_pool(features=features, labeled=features[:1]), 4)
    assert sorted(blob[selection.indices[:2]]) == [1, 2]
    assert len(set(selection.indices.tolist())) == 4


def test_typiclust_respects_max_clusters(make_pool, blobs):
    features, _ = blobs
    selection = registry.query("typiclust", make_pool(features=features), 10, {"max_clusters": 2})
    assert set(selection.clusters.tolist()) == {0, 1}


@pytest.mark.parametrize("name", ["pca_kmeans", "coreset", "typiclust"])
def test_diversity_ignores_the_model(make_pool, blobs, name):
    features, _ = blobs
    a = registry.query(name, make_pool(features=features, probs=np.full(90, 0.5)), 3).indices
    b = registry.query(name, make_pool(features=features, probs=np.linspace(0, 1, 90)), 3).indices
    np.testing.assert_array_equal(a, b)
