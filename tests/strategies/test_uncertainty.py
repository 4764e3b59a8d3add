"""Uncertainty strategies: hand-made probabilities where the most uncertain rows are obvious."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import registry
from alcore.strategies.uncertainty import binary_entropy

TWO_CLASS_SAME = ("least_confidence", "margin", "entropy")


@pytest.mark.parametrize("name", [*TWO_CLASS_SAME, "uncertainty"])
def test_picks_the_probabilities_nearest_a_coin_flip(make_pool, name):
    pool = make_pool(probs=[0.5, 0.9, 0.1, 0.45])
    assert registry.query(name, pool, 2).indices.tolist() == [0, 3]


def test_scores_are_the_textbook_formulas(make_pool):
    p = np.array([0.5, 0.9, 0.2, 1.0])
    pool = make_pool(probs=p)
    np.testing.assert_allclose(registry.query("least_confidence", pool, 1).scores, 1 - np.maximum(p, 1 - p))
    np.testing.assert_allclose(registry.query("margin", pool, 1).scores, 1 - np.abs(p - (1 - p)))
    np.testing.assert_allclose(registry.query("entropy", pool, 1).scores,
                               [np.log(2), -(0.9 * np.log(0.9) + 0.1 * np.log(0.1)),
                                -(0.2 * np.log(0.2) + 0.8 * np.log(0.8)), 0.0], atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_three_rank_a_random_pool_identically(make_pool, dtype):
    probs = np.random.default_rng(3).random(2000).astype(dtype)
    orders = [registry.query(name, make_pool(probs=probs), 2000).indices for name in TWO_CLASS_SAME]
    np.testing.assert_array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[0], orders[2])


def test_help_says_they_pick_the_same_images():
    for name in TWO_CLASS_SAME:
        text = registry.get(name).help
        assert all(other in text for other in TWO_CLASS_SAME if other != name)


def test_binary_entropy_is_symmetric_and_finite_at_certainty():
    p = np.array([0.0, 1e-20, 0.3, 0.7, 1.0])
    h = binary_entropy(p)
    assert np.all(np.isfinite(h)) and h[0] == pytest.approx(0, abs=1e-9)
    assert h[2] == pytest.approx(h[3])


def test_bald_prefers_disagreeing_passes_over_ambiguous_images(make_pool):
    passes = 20
    mc = np.stack([
        np.tile([0.01, 0.99], passes // 2),  # passes disagree, mean 0.5: high mutual information
        np.full(passes, 0.5),  # every pass says 50-50: maximal entropy, zero mutual information
        np.tile([0.3, 0.7], passes // 2),  # mild disagreement
        np.full(passes, 0.95),  # confident
    ], axis=1)
    pool = make_pool(probs=mc.mean(axis=0), mc_probs=mc)
    selection = registry.query("bald", pool, 2)
    assert selection.indices.tolist() == [0, 2]
    assert selection.scores[1] == pytest.approx(0, abs=1e-9)
    assert selection.scores[0] == pytest.approx(np.log(2) - binary_entropy(0.01), rel=1e-6)
    assert registry.query("entropy", pool, 1).scores[1] == pytest.approx(np.log(2))


def test_bald_explains_missing_or_misshapen_mc_probs(make_pool):
    with pytest.raises(ValueError, match="MC-dropout"):
        registry.query("bald", make_pool(probs=[0.5, 0.6]), 1)
    with pytest.raises(ValueError, match=r"shape \(passes, 2\)"):
        registry.query("bald", make_pool(probs=[0.5, 0.6], mc_probs=np.full((5, 3), 0.5)), 1)
