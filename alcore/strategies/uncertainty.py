"""Uncertainty sampling: label the images the current model is least sure about.

For two classes least_confidence, margin and entropy are all increasing functions of
min(p, 1 - p), so they rank the pool identically; they are kept for comparison with the
multi-class literature. bald separates model uncertainty from label ambiguity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alcore.strategies.base import EPS, Pool, Selection
from alcore.strategies.registry import option, register

_SAME_RANKING = "with two classes it ranks the pool exactly like"


def minority_prob(p: np.ndarray) -> np.ndarray:
    """min(p, 1 - p): the probability of the less likely class, 0.5 at a coin flip."""
    p = np.asarray(p, dtype=np.float64)
    return np.minimum(p, 1 - p)


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """-(p log p + (1-p) log(1-p)) in nats, elementwise; 0 at certainty, log 2 at p = 0.5."""
    q = np.clip(minority_prob(p), EPS, 0.5)
    return -(q * np.log(q) + (1 - q) * np.log1p(-q))


@register("least_confidence", "Prefers images whose most likely class has the lowest probability "
          f"(p nearest 0.5), where the model is least sure; {_SAME_RANKING} margin and entropy.",
          aliases=("uncertainty",),
          reason="the model is least sure: p = {p}")
def least_confidence(pool: Pool, budget: int) -> Selection:
    """Least confidence (Lewis & Gale 1994; Settles 2009, Active Learning Literature Survey)."""
    return Selection.top_k(minority_prob(pool.probs), budget)  # = 1 - max(p, 1 - p)


@register("margin", "Prefers images with the smallest gap between the two class probabilities, "
          f"where a small change flips the label; {_SAME_RANKING} least_confidence and entropy.",
          reason="the two classes are nearly tied: p = {p} (score {score})")
def margin(pool: Pool, budget: int) -> Selection:
    """Smallest margin (Scheffer et al. 2001; Settles 2009, Active Learning Literature Survey)."""
    return Selection.top_k(2 * minority_prob(pool.probs), budget)  # = 1 - |p - (1 - p)|


@register("entropy", "Prefers images whose predicted class distribution has the highest entropy, "
          f"the most uncertain; {_SAME_RANKING} least_confidence and margin.",
          reason="the model is least sure: p = {p} (entropy {score})")
def entropy(pool: Pool, budget: int) -> Selection:
    """Maximum entropy (Settles 2009, Active Learning Literature Survey)."""
    return Selection.top_k(binary_entropy(pool.probs), budget)


@dataclass(frozen=True)
class BaldOptions:
    mc_passes: int = option(20, "MC-dropout forward passes per pool image", minimum=2)  # read by the loop


@register("bald", "Prefers images on which MC-dropout passes disagree (high mutual information): "
          "model uncertainty that labels can reduce, not images that are ambiguous by nature.",
          options=BaldOptions, needs_mc=True,
          reason="dropout samples of the model disagree on it (mutual information {score}): p = {p}")
def bald(pool: Pool, budget: int) -> Selection:
    """BALD, mutual information of the MC-dropout passes (Houlsby et al. 2011; Gal et al., ICML 2017)."""
    if pool.mc_probs is None:
        raise ValueError("bald needs MC-dropout probabilities (Pool.mc_probs, shape (passes, pool size)); "
                         "run it through the loop, which computes them for strategies registered with needs_mc")
    mc = np.asarray(pool.mc_probs, dtype=np.float64)
    if mc.ndim != 2 or mc.shape[1] != len(pool):
        raise ValueError(f"bald needs mc_probs of shape (passes, {len(pool)}); got {mc.shape}")
    mutual_information = binary_entropy(mc.mean(axis=0)) - binary_entropy(mc).mean(axis=0)
    return Selection.top_k(np.maximum(mutual_information, 0), budget)  # >= 0 up to rounding
