"""The baseline every other strategy has to beat."""
from __future__ import annotations

from alcore.strategies.base import Pool, Selection
from alcore.strategies.registry import register


@register("random", "Picks images uniformly at random: the unbiased baseline that any smarter "
          "strategy must beat to be worth its cost.", family="baseline",
          reason="drawn at random, whatever the model thinks (the baseline): {p}")
def random(pool: Pool, budget: int) -> Selection:
    """Uniform random sampling, the baseline of every study (Settles 2009, Active Learning Literature Survey)."""
    return Selection.unscored(pool.rng.choice(len(pool), size=budget, replace=False), len(pool))
