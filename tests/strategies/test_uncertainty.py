"""Uncertainty strategies: hand-made probabilities where the most uncertain rows are obvious."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import registry
from alcore.strategies.uncertainty import entropy_scores
from tests.strategies.conftest import two_class

TWO_CLASS_SAME = ("least_confidence", "margin", "entropy")

# Three classes, where each measure picks a different row:
#   row 0  confident                     top 0.90, top-two gap 0.85, entropy 0.39
#   row 1  two classes all but tied      top 0.50, gap 0.005 (the smallest), entropy 0.72
#   row 2  the weakest top class         top 0.40 (the lowest), gap 0.02, entropy 1.07
#   row 3  mass spread over all three    top 0.42, gap 0.13, entropy 1.08 (the highest)
THREE_CLASS = np.array([[0.90, 0.05, 0.05], [0.50, 0.495, 0.005], [0.40, 0.38, 0.22], [0.42, 0.29, 0.29]])
THREE_CLASS_PICK = {"least_confidence": 2, "margin": 1, "entropy": 3}


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
    probs = two_class(np.random.default_rng(3).random(2000).astype(dtype))
    orders = [registry.query(name, make_pool(probs=probs), 2000).indices for name in TWO_CLASS_SAME]
    np.testing.assert_array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[0], orders[2])


def test_help_says_they_pick_the_same_images():
    for name in TWO_CLASS_SAME:
        text = registry.get(name).help
        assert all(other in text for other in TWO_CLASS_SAME if other != name)


@pytest.mark.parametrize("name", TWO_CLASS_SAME)
def test_with_three_classes_each_picks_what_it_measures(make_pool, name):
    assert registry.query(name, make_pool(probs=THREE_CLASS), 1).indices.tolist() == [THREE_CLASS_PICK[name]]
    assert len(set(THREE_CLASS_PICK.values())) == 3


def test_three_class_scores_are_the_textbook_formulas(make_pool):
    pool = make_pool(probs=THREE_CLASS)
    top_two = -np.sort(-THREE_CLASS, axis=1)[:, :2]
    np.testing.assert_allclose(registry.query("least_confidence", pool, 1).scores, 1 - top_two[:, 0])
    np.testing.assert_allclose(registry.query("margin", pool, 1).scores, 1 - (top_two[:, 0] - top_two[:, 1]))
    np.testing.assert_allclose(registry.query("entropy", pool, 1).scores,
                               -(THREE_CLASS * np.log(THREE_CLASS)).sum(axis=1), rtol=1e-12)


def test_entropy_is_finite_at_certainty_and_largest_when_all_classes_are_equal():
    h = entropy_scores(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1 / 3] * 3, [0.0, 1e-20, 1.0]]))
    assert np.all(np.isfinite(h)) and h[0] == pytest.approx(0, abs=1e-9) and h[3] == pytest.approx(0, abs=1e-9)
    assert h[2] == pytest.approx(np.log(3))
    binary = entropy_scores(two_class(np.array([0.0, 1e-20, 0.3, 0.7, 1.0])))
    assert np.all(np.isfinite(binary)) and binary[0] == pytest.approx(0, abs=1e-9)
    assert binary[2] == pytest.approx(binary[3])


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
    assert selection.scores[0] == pytest.approx(np.log(2) - entropy_scores(two_class(0.01)), rel=1e-6)
    assert registry.query("entropy", pool, 1).scores[1] == pytest.approx(np.log(2))


def test_bald_over_three_classes(make_pool):
    """Mutual information over C: passes sure of a different class each beat passes that all say 1/3."""
    sure = np.array([[0.98, 0.01, 0.01], [0.01, 0.98, 0.01], [0.01, 0.01, 0.98]])
    mc = np.stack([
        np.tile(sure, (2, 1)),  # each pass sure of another class, mean 1/3 each: high mutual information
        np.full((6, 3), 1 / 3),  # every pass says 1/3: maximal entropy, zero mutual information
        np.tile([[0.6, 0.3, 0.1], [0.3, 0.6, 0.1]], (3, 1)),  # mild disagreement between two classes
        np.tile([0.9, 0.05, 0.05], (6, 1)),  # confident
    ], axis=1)  # (6 passes, 4 images, 3 classes)
    pool = make_pool(probs=mc.mean(axis=0), mc_probs=mc)
    selection = registry.query("bald", pool, 2)
    assert selection.indices.tolist() == [0, 2]
    assert selection.scores[0] == pytest.approx(np.log(3) - entropy_scores(sure[0]), rel=1e-6)
    assert selection.scores[1] == pytest.approx(0, abs=1e-9) and selection.scores[3] == pytest.approx(0, abs=1e-9)
    # both average to 1/3 per class: entropy cannot tell the disagreement from the ambiguity
    np.testing.assert_allclose(registry.query("entropy", pool, 1).scores[:2], np.log(3))


def test_bald_explains_missing_mc_probs(make_pool):
    with pytest.raises(ValueError, match="MC-dropout"):
        registry.query("bald", make_pool(probs=[0.5, 0.6]), 1)
