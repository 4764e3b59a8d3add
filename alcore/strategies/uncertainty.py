"""Uncertainty sampling: label the images the current model is least sure about.

Each score reads a row's class probabilities other than its most likely class: least confidence is
their total (1 - max p), margin adds the runner-up (1 - the top-two gap), entropy spans all C
classes. With two classes all three are increasing functions of min(p, 1 - p), so they rank the
pool identically; with three or more they can pick different images (the tests show both). bald
separates model uncertainty from label ambiguity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alcore.strategies.base import EPS, Pool, Selection
from alcore.strategies.registry import option, register

_SAME_RANKING = "with two classes it ranks the pool exactly like"


def non_top_probs(probs: np.ndarray) -> np.ndarray:
    """(..., C - 1) float64: each row's probabilities of the classes other than its most likely one,
    ascending, from (..., C) class probabilities.

    Two classes give min(p, 1 - p) of the positive column p alone (the first column is 1 - p), as
    before the (n, C) contract, so binary scores and picks are bit for bit what they were."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[-1] == 2:
        p = probs[..., 1]
        return np.minimum(p, 1 - p)[..., None]
    return np.sort(probs, axis=-1)[..., :-1]


def least_confidence_scores(probs: np.ndarray) -> np.ndarray:
    """1 - max p, as the total of the other classes (no cancellation when the model is nearly sure)."""
    return non_top_probs(probs).sum(axis=-1)


def margin_scores(probs: np.ndarray) -> np.ndarray:
    """1 - (p_top - p_second), as the other classes' total plus the runner-up."""
    others = non_top_probs(probs)
    return others.sum(axis=-1) + others[..., -1]


def entropy_scores(probs: np.ndarray) -> np.ndarray:
    """Entropy over the C classes in nats (0 at certainty, log C when all are equal); the top class's
    probability is taken as 1 - the others' total, which keeps a near-certain row's precision."""
    others = np.clip(non_top_probs(probs), EPS, None)
    rest = others.sum(axis=-1)
    return -((others * np.log(others)).sum(axis=-1) + (1 - rest) * np.log1p(-rest))


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
