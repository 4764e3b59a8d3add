"""Each strategy's one-line reason for a pick (shown when a teacher hovers it in step mode)."""
from __future__ import annotations

import math

from alcore.strategies import registry


def test_every_strategy_gives_a_reason_with_the_picks_numbers():
    for name in registry.names():
        text = registry.reason(name, 0.52, 0.6931)
        assert text and "{" not in text, name
        assert "0.52" in text or "0.693" in text, (name, text)  # it names p or the score
        assert "–" in registry.reason(name, math.nan, math.nan), name  # a number it does not have: a dash


def test_entropy_says_the_model_is_least_sure_and_coreset_how_far_the_pick_is():
    assert registry.reason("entropy", 0.52, 0.6928) == "the model is least sure: p = 0.52 (entropy 0.693)"
    assert registry.reason("uncertainty", 0.5, math.nan) == "the model is least sure: p = 0.50"  # an alias
    assert (registry.reason("entropy", 0.61, 1.0503, "VIRAL")  # the caller names the class of p
            == "the model is least sure: p(VIRAL) = 0.61 (entropy 1.05)")
    assert registry.reason("coreset", math.nan, 3.25) == "far from every labeled image: 3.25 from the nearest one"
