"""The contract every registered strategy keeps: exactly `budget` distinct rows, reproducibly."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import Pool, registry
from tests.strategies.conftest import two_class

ALL = [info.name for info in registry.all_strategies()]
SUBSAMPLED = [info.name for info in registry.all_strategies() if "subsample" in {o.name for o in info.options}]


def _pool(n: int = 200, seed: int = 0, features: np.ndarray | None = None, n_classes: int = 2) -> Pool:
    data = np.random.default_rng(11)
    features = data.normal(size=(n, 6)).astype(np.float32) if features is None else features
    if n_classes == 2:
        probs = data.random(n)
        mc = two_class(np.clip(probs + data.normal(0, 0.1, (8, n)), 0, 1))
        probs = two_class(probs)
    else:
        mc = data.dirichlet(np.ones(n_classes), size=(8, n))
        probs = mc.mean(axis=0)
    return Pool(probs, features, data.normal(size=(15, features.shape[1])).astype(np.float32),
                np.random.default_rng(seed), mc)


def _check(selection, n: int, budget: int) -> None:
    assert selection.indices.shape == (budget,) and selection.indices.dtype == np.int64
    assert len(set(selection.indices.tolist())) == budget
    assert selection.indices.min() >= 0 and selection.indices.max() < n
    assert selection.scores.shape == (n,)
    assert selection.clusters is None or selection.clusters.shape == (n,)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("budget", [1, 17])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_exactly_budget_distinct_rows(name, budget, n_classes):
    _check(registry.query(name, _pool(n_classes=n_classes), budget), 200, budget)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")  # PCA of a 1-image pool
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("n", [1, 12])
def test_budget_equal_to_the_pool(name, n):
    selection = registry.query(name, _pool(n=n), n)
    assert sorted(selection.indices.tolist()) == list(range(n))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_same_seed_same_selection(name, n_classes):
    first, again = (registry.query(name, _pool(seed=3, n_classes=n_classes), 20) for _ in range(2))
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.scores, again.scores)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters", "ignore:invalid value encountered in divide")
@pytest.mark.parametrize("name", ALL)
def test_identical_images_still_give_distinct_rows(name):
    _check(registry.query(name, _pool(n=30, features=np.ones((30, 4), np.float32)), 10), 30, 10)


@pytest.mark.parametrize("name", SUBSAMPLED)
def test_subsample_limits_the_rows_looked_at(name):
    selection = registry.query(name, _pool(n=300), 10, {"subsample": 100})
    looked_at = ~np.isnan(selection.scores)
    assert looked_at.sum() == 100 and looked_at[selection.indices].all()
    if selection.clusters is not None:
        assert ((selection.clusters >= 0) == looked_at).all()
    assert not np.isnan(registry.query(name, _pool(n=300), 10, {"subsample": 0}).scores).any()


@pytest.mark.parametrize("name", SUBSAMPLED)
def test_subsample_smaller_than_the_budget_grows_to_the_budget(name):
    _check(registry.query(name, _pool(n=300), 40, {"subsample": 5}), 300, 40)


def test_subsampled_strategies():
    assert set(SUBSAMPLED) == {"pca_kmeans", "coreset", "typiclust", "badge"}


def test_the_pool_refuses_probabilities_without_a_class_axis():
    features, labeled = np.zeros((3, 1), np.float32), np.zeros((0, 1), np.float32)
    with pytest.raises(ValueError, match=r"Pool.probs must be \(pool size, classes\) .* got shape \(3,\)"):
        Pool(np.full(3, 0.5), features, labeled, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Pool.mc_probs must be \(passes, 3, 2\).* got shape \(5, 3\)"):
        Pool(np.full((3, 2), 0.5), features, labeled, np.random.default_rng(0), np.full((5, 3), 0.5))
