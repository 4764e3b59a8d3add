"""The contract every registered strategy keeps: exactly `budget` distinct rows, reproducibly."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.strategies import Pool, registry

ALL = [info.name for info in registry.all_strategies()]
SUBSAMPLED = [info.name for info in registry.all_strategies() if "subsample" in {o.name for o in info.options}]


def _pool(n: int = 200, seed: int = 0, features: np.ndarray | None = None) -> Pool:
    data = np.random.default_rng(11)
    features = data.normal(size=(n, 6)).astype(np.float32) if features is None else features
    probs = data.random(n)
    mc = np.clip(probs + data.normal(0, 0.1, (8, n)), 0, 1)
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
def test_exactly_budget_distinct_rows(name, budget):
    _check(registry.query(name, _pool(), budget), 200, budget)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")  # PCA of a 1-image pool
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("n", [1, 12])
def test_budget_equal_to_the_pool(name, n):
    selection = registry.query(name, _pool(n=n), n)
    assert sorted(selection.indices.tolist()) == list(range(n))


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_selection(name):
    first, again = (registry.query(name, _pool(seed=3), 20) for _ in range(2))
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
