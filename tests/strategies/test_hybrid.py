"""Hybrid strategies: uncertain and diverse."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import registry
from alcore.strategies.uncertainty import binary_entropy

# rows: A (largest gradient), a duplicate of A, B (uncertain, elsewhere), a confident image like A
BADGE_FEATURES = np.array([[20.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 0.0]])
BADGE_PROBS = np.array([0.5, 0.5, 0.4, 0.999])


def test_badge_scores_are_last_layer_gradient_norms(make_pool):
    selection = registry.query("badge", make_pool(probs=BADGE_PROBS, features=BADGE_FEATURES), 1)
    with_bias = np.c_[BADGE_FEATURES, np.ones(4)]
    expected = np.abs(BADGE_PROBS - (BADGE_PROBS > 0.5)) * np.linalg.norm(with_bias, axis=1)
    np.testing.assert_allclose(selection.scores, expected, rtol=1e-4)
    assert selection.indices.tolist() == [0]  # largest gradient first (ties: lower index)


def test_badge_spreads_its_picks_and_favours_large_gradients(make_pool):
    seconds = [registry.query("badge", make_pool(probs=BADGE_PROBS, features=BADGE_FEATURES, seed=seed), 2)
               .indices[1] for seed in range(60)]
    assert 1 not in seconds  # the duplicate of the first pick adds nothing
    # B's gradient is far from A's (squared distance 164), the confident one's is near zero, so
    # 100 from A's: D^2 sampling takes B about 62% of the time
    assert seconds.count(2) > 25


def test_badge_still_fills_the_budget_when_every_gradient_is_zero(make_pool):
    selection = registry.query("badge", make_pool(probs=np.full(6, 1.0), features=np.ones((6, 3))), 6)
    assert sorted(selection.indices.tolist()) == list(range(6))


def _uncertain_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three blobs; in each, three uncertain images in a row and ten confident ones around."""
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    uncertain = (centres[:, None] + np.array([[-1.0, 0.0], [0.0, 0.1], [1.0, 0.0]])).reshape(-1, 2)
    confident = np.repeat(centres, 10, axis=0) + rng.normal(0, 1, (30, 2))
    features = np.concatenate([uncertain, confident])
    probs = np.r_[[0.5, 0.55, 0.45] * 3, np.where(rng.random(30) < 0.5, 0.02, 0.98)]
    return features, probs, np.r_[np.repeat(np.arange(3), 3), np.repeat(np.arange(3), 10)]


def test_uncertain_kmeans_picks_uncertain_images_one_per_cluster(make_pool):
    features, probs, blob = _uncertain_blobs()
    selection = registry.query("uncertain_kmeans", make_pool(probs=probs, features=features), 3, {"factor": 3})
    assert sorted(selection.indices.tolist()) == [1, 4, 7]  # the middle (most central) uncertain image
    np.testing.assert_allclose(selection.scores, binary_entropy(probs))
    assert (selection.clusters[9:] == -1).all()  # confident images are not candidates
    assert all(len(set(selection.clusters[:9][blob[:9] == b])) == 1 for b in range(3))


@pytest.mark.parametrize("factor", [1, 2.5])
def test_uncertain_kmeans_factor_sets_the_candidates(make_pool, factor):
    features, probs, _ = _uncertain_blobs()
    selection = registry.query("uncertain_kmeans", make_pool(probs=probs, features=features), 2, {"factor": factor})
    assert (selection.clusters >= 0).sum() == round(2 * factor)
    assert set(selection.indices.tolist()) <= set(range(9))
