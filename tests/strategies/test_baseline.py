"""random: the baseline."""
from __future__ import annotations

import numpy as np

from alcore.strategies import registry


def test_random_is_reproducible_distinct_and_unscored(make_pool):
    first = registry.query("random", make_pool(probs=np.full(500, 0.5), seed=4), 100)
    again = registry.query("random", make_pool(probs=np.full(500, 0.5), seed=4), 100)
    other = registry.query("random", make_pool(probs=np.full(500, 0.5), seed=5), 100)
    np.testing.assert_array_equal(first.indices, again.indices)
    assert len(set(first.indices.tolist())) == 100
    assert not np.array_equal(first.indices, other.indices)
    assert np.isnan(first.scores).all() and first.clusters is None


def test_random_ignores_the_model(make_pool):
    """Uniform: over many draws every row is picked about equally often, confident or not."""
    probs = np.r_[np.full(5, 0.5), np.full(5, 0.999)]
    counts = np.zeros(10)
    for seed in range(400):
        counts[registry.query("random", make_pool(probs=probs, seed=seed), 3).indices] += 1
    assert counts.min() > 80 and counts.max() < 160  # expected 120 each
