"""Hybrids: uncertain images that are also unlike each other."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alcore.strategies._geometry import (as_f32, d2_sampler, greedy_centers, kmeans, nearest_distinct, sq_norms,
                                         subsample_option, subsampled)
from alcore.strategies.base import Pool, Selection
from alcore.strategies.registry import option, register
from alcore.strategies.uncertainty import entropy_scores


@dataclass(frozen=True)
class BadgeOptions:
    subsample: int = subsample_option()


@register("badge", "Prefers images with large and mutually different last-layer gradient embeddings "
          "(BADGE): uncertain images, spread out by k-means++ seeding.",
          options=BadgeOptions, family="hybrid",
          reason="a large gradient embedding unlike the other picks (norm {score}): {p}")
@subsampled
def badge(pool: Pool, budget: int, options: BadgeOptions) -> Selection:
    """BADGE, k-means++ seeding on gradient embeddings (Ash et al., ICLR 2020).

    Scores are gradient-embedding norms."""
    gradients = gradient_embedding(pool.probs, pool.features)
    norms_sq = sq_norms(gradients)
    picks = greedy_centers(gradients, budget, int(np.argmax(norms_sq)), d2_sampler(pool.rng))
    return Selection(picks, np.sqrt(norms_sq).astype(np.float64))


def gradient_embedding(probs: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Gradient of the loss w.r.t. the last layer (weights, bias), the predicted class y as target.

    C > 2 classes (softmax over C logits, cross-entropy): (p - onehot(y)) outer [features, 1], one
    block of d + 1 per class, (n, C (d + 1)). Two classes are one logit (sigmoid, binary
    cross-entropy): (p - 1[p > 0.5]) * [features, 1] of the positive column p, (n, d + 1).

    `features` must be the last layer's own input (the loop's Pool.features are: the learner
    returns what its head reads), else this is the gradient of some other model."""
    probs = np.asarray(probs, dtype=np.float32)
    with_bias = np.hstack([as_f32(features), np.ones((len(probs), 1), dtype=np.float32)])
    if probs.shape[1] == 2:
        p = probs[:, 1]
        return with_bias * (p - (p > 0.5))[:, None]
    residual = probs.copy()
    residual[np.arange(len(probs)), probs.argmax(axis=1)] -= 1
    return (residual[:, :, None] * with_bias[:, None, :]).reshape(len(probs), -1)


@dataclass(frozen=True)
class UncertainKmeansOptions:
    factor: float = option(5, "how many times the budget to keep as uncertain candidates", minimum=1)


@register("uncertain_kmeans", "Prefers uncertain images that are unlike each other: K-Means on the "
          "factor x budget highest-entropy images, then the image nearest each centroid.",
          options=UncertainKmeansOptions, family="hybrid",
          reason="uncertain ({p}, entropy {score}) and central among the uncertain images")
def uncertain_kmeans(pool: Pool, budget: int, options: UncertainKmeansOptions) -> Selection:
    """Diverse mini-batch active learning: K-Means on the most uncertain images (Zhdanov 2019, arXiv:1901.05954).

    Scores are entropies; clusters are -1 outside the candidates."""
    scores = entropy_scores(pool.probs)
    n_candidates = min(len(pool), max(budget, round(options.factor * budget)))
    candidates = Selection.top_k(scores, n_candidates).indices
    features = as_f32(pool.features[candidates])
    labels, centers = kmeans(features, budget, pool.rng)
    clusters = np.full(len(pool), -1, dtype=np.int64)
    clusters[candidates] = labels
    return Selection(candidates[nearest_distinct(features, centers)], scores, clusters)
