"""Uncertainty sampling: label the images the current model is least sure about.

least_confidence (1 - max p), margin (1 - the gap between the top two classes) and entropy (over
all C classes) read the model's class probabilities. With two classes all three are increasing
functions of min(p, 1 - p), so they rank the pool identically; with three or more they can pick
different images (the tests show both). bald separates model uncertainty from label ambiguity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alcore.strategies.base import EPS, Pool, Selection
from alcore.strategies.registry import option, register

_SAME_RANKING = "with two classes it ranks the pool exactly like"


def _two_class_minority(probs: np.ndarray) -> np.ndarray | None:
    """min(p, 1 - p) of the positive column p of two classes (None for more): the binary scores are
    computed from it alone, as before the (n, C) contract, so binary picks stay bit for bit the same."""
    if probs.shape[-1] != 2:
        return None
    p = probs[..., 1]
    return np.minimum(p, 1 - p)


def least_confidence_scores(probs: np.ndarray) -> np.ndarray:
    """1 - max p over the classes (last axis) of (..., C) probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    minority = _two_class_minority(probs)
    return minority if minority is not None else 1 - probs.max(axis=-1)


def margin_scores(probs: np.ndarray) -> np.ndarray:
    """1 - (p_top - p_second) over the classes (last axis) of (..., C) probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    minority = _two_class_minority(probs)
    if minority is not None:
        return 2 * minority
    top_two = -np.partition(-probs, 1, axis=-1)[..., :2]
    return 1 - (top_two[..., 0] - top_two[..., 1])


def entropy_scores(probs: np.ndarray) -> np.ndarray:
    """-sum p log p over the classes (last axis) of (..., C) probabilities, in nats (0 log 0 = 0)."""
    probs = np.asarray(probs, dtype=np.float64)
    minority = _two_class_minority(probs)
    if minority is not None:
        q = np.clip(minority, EPS, 0.5)
        return -(q * np.log(q) + (1 - q) * np.log1p(-q))
    log_p = np.log(probs, out=np.zeros_like(probs), where=probs > 0)
    return -(probs * log_p).sum(axis=-1)


@register("least_confidence", "Prefers images whose most likely class has the lowest probability, "
          f"where the model is least sure; {_SAME_RANKING} margin and entropy.",
          aliases=("uncertainty",),
          reason="the model is least sure: {p}")
def least_confidence(pool: Pool, budget: int) -> Selection:
    """Least confidence (Lewis & Gale 1994; Settles 2009, Active Learning Literature Survey)."""
    return Selection.top_k(least_confidence_scores(pool.probs), budget)


@register("margin", "Prefers images with the smallest gap between the two most likely classes, where a "
          f"small change flips the label; {_SAME_RANKING} least_confidence and entropy.",
          reason="the two most likely classes are nearly tied: {p} (score {score})")
def margin(pool: Pool, budget: int) -> Selection:
    """Smallest margin (Scheffer et al. 2001; Settles 2009, Active Learning Literature Survey)."""
    return Selection.top_k(margin_scores(pool.probs), budget)


@register("entropy", "Prefers images whose predicted class distribution has the highest entropy over all "
          f"classes, the most uncertain; {_SAME_RANKING} least_confidence and margin.",
          reason="the model is least sure: {p} (entropy {score})")
def entropy(pool: Pool, budget: int) -> Selection:
    """Maximum entropy (Settles 2009, Active Learning Literature Survey)."""
    return Selection.top_k(entropy_scores(pool.probs), budget)


@dataclass(frozen=True)
class BaldOptions:
    mc_passes: int = option(20, "MC-dropout forward passes per pool image", minimum=2)  # read by the loop


@register("bald", "Prefers images on which MC-dropout passes disagree (high mutual information): "
          "model uncertainty that labels can reduce, not images that are ambiguous by nature.",
          options=BaldOptions, needs_mc=True,
          reason="dropout samples of the model disagree on it (mutual information {score}): {p}")
def bald(pool: Pool, budget: int) -> Selection:
    """BALD, mutual information of the MC-dropout passes (Houlsby et al. 2011; Gal et al., ICML 2017)."""
    if pool.mc_probs is None:
        raise ValueError("bald needs MC-dropout probabilities (Pool.mc_probs, shape (passes, pool size, classes)); "
                         "run it through the loop, which computes them for strategies registered with needs_mc")
    mc = np.asarray(pool.mc_probs, dtype=np.float64)
    mutual_information = entropy_scores(mc.mean(axis=0)) - entropy_scores(mc).mean(axis=0)
    return Selection.top_k(np.maximum(mutual_information, 0), budget)  # >= 0 up to rounding
