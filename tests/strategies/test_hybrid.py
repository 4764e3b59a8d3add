"""Hybrid strategies: uncertain and diverse."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import registry
from alcore.strategies.hybrid import gradient_embedding
from alcore.strategies.uncertainty import entropy_scores
from tests.strategies.conftest import two_class

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


def test_badge_embedding_with_three_classes_is_the_softmax_layers_gradient():
    """C blocks: the gradient of cross-entropy (predicted class as target) w.r.t. a C-way linear
    layer's weights and bias, as autograd computes it, class by class."""
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(4)
    features = data.normal(size=(7, 5))
    layer = torch.nn.Linear(5, 3).double()
    logits = layer(torch.from_numpy(features))
    probs = torch.softmax(logits, dim=1).detach().numpy()
    expected = []
    for i in range(len(features)):
        layer.zero_grad()
        torch.nn.functional.cross_entropy(logits[i:i + 1], logits[i:i + 1].argmax(dim=1)).backward(retain_graph=True)
        expected.append(torch.cat([layer.weight.grad, layer.bias.grad[:, None]], dim=1).flatten().numpy())
    np.testing.assert_allclose(gradient_embedding(probs, features), np.array(expected), atol=1e-6)


def test_badge_with_three_classes_scores_gradient_norms(make_pool):
    """Same features, other class probabilities: C blocks of (p - onehot(argmax)) [x, 1]."""
    probs = np.array([[0.5, 0.3, 0.2], [0.3, 0.5, 0.2], [1.0, 0.0, 0.0], [0.4, 0.35, 0.25]])
    features = np.array([[3.0, 4.0], [3.0, 4.0], [3.0, 4.0], [0.0, 0.0]])
    selection = registry.query("badge", make_pool(probs=probs, features=features), 2)
    residual = probs - np.eye(3)[probs.argmax(axis=1)]
    expected = np.linalg.norm(residual, axis=1) * np.linalg.norm(np.c_[features, np.ones(4)], axis=1)
    np.testing.assert_allclose(selection.scores, expected, rtol=1e-6)
    assert selection.scores[2] == 0  # sure and right: nothing to learn from it
    assert selection.indices[0] in (0, 1)  # the largest gradients (0 and 1 tie: sqrt(0.38) x sqrt(26))
    assert selection.indices.tolist()[0] == int(np.argmax(expected))


def test_badge_tells_apart_images_that_differ_only_in_the_predicted_class():
    """One block per class: the same features predicted as class 0 or class 1 give gradients far apart
    (a single block would see one point)."""
    probs = np.array([[0.5, 0.3, 0.2], [0.3, 0.5, 0.2]])
    embedding = gradient_embedding(probs, np.array([[3.0, 4.0], [3.0, 4.0]]))
    assert embedding.shape == (2, 9)
    np.testing.assert_allclose(np.linalg.norm(embedding[0] - embedding[1]), np.sqrt(1.28 * 26), rtol=1e-6)


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
    np.testing.assert_allclose(selection.scores, entropy_scores(two_class(probs)))
    assert (selection.clusters[9:] == -1).all()  # confident images are not candidates
    assert all(len(set(selection.clusters[:9][blob[:9] == b])) == 1 for b in range(3))


@pytest.mark.parametrize("factor", [1, 2.5])
def test_uncertain_kmeans_factor_sets_the_candidates(make_pool, factor):
    features, probs, _ = _uncertain_blobs()
    selection = registry.query("uncertain_kmeans", make_pool(probs=probs, features=features), 2, {"factor": factor})
    assert (selection.clusters >= 0).sum() == round(2 * factor)
    assert set(selection.indices.tolist()) <= set(range(9))


def test_uncertain_kmeans_ranks_three_classes_by_their_entropy(make_pool):
    """Three classes: the candidates are the rows of highest entropy over all three (rows 0-8, near
    1/3 each; the others are sure of one class or another)."""
    features, _, blob = _uncertain_blobs()
    sure = np.eye(3)[np.random.default_rng(5).integers(3, size=30)] * 0.94 + 0.02
    probs = np.r_[np.tile([[0.34, 0.33, 0.33], [0.36, 0.32, 0.32], [0.3, 0.4, 0.3]], (3, 1)), sure]
    selection = registry.query("uncertain_kmeans", make_pool(probs=probs, features=features), 3, {"factor": 3})
    assert sorted(selection.indices.tolist()) == [1, 4, 7]
    np.testing.assert_allclose(selection.scores, -(probs * np.log(probs)).sum(axis=1), rtol=1e-12)
    assert (selection.clusters[9:] == -1).all()
