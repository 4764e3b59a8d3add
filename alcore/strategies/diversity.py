"""Diversity sampling: label images that cover the feature space, whatever the model believes.

Distances are Euclidean in Pool.features, which the loop fills with what the head reads: for the
frozen regime's logistic head, the standardised backbone features' top principal components (each
direction weighted by its spread, as the head sees it); for the AdamW head the standardised
features; when fine-tuning, the backbone's output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from alcore.strategies._geometry import (as_f32, greedy_centers, kmeans, knn_mean_distance, nearest,
                                         nearest_distinct, subsample_option, subsampled)
from alcore.strategies.base import EPS, Pool, Selection
from alcore.strategies.registry import option, register

TYPICALITY_NEIGHBOURS = 20  # k of TypiClust's kNN density
MIN_CLUSTER_SIZE = 5  # TypiClust visits clusters this small only after all others


@dataclass(frozen=True)
class PcaKmeansOptions:
    pca_components: int = option(10, "PCA dimensions K-Means clusters in", minimum=1)
    subsample: int = subsample_option()


@register("pca_kmeans", "Prefers a spread of representative images: PCA of the features, K-Means with "
          "one cluster per label to spend, the image nearest each centroid (the reference report's method).",
          options=PcaKmeansOptions, family="diversity",
          reason="nearest its K-Means cluster's centre, a representative (score {score}: minus that distance)")
@subsampled
def pca_kmeans(pool: Pool, budget: int, options: PcaKmeansOptions) -> Selection:
    """PCA, then K-Means with one cluster per label, the image nearest each centroid (the reference report).

    Scores are minus each row's distance to its own centroid (the most central rows score highest)."""
    x = as_f32(pool.features)
    components = min(options.pca_components, *x.shape)
    z = PCA(n_components=components, random_state=int(pool.rng.integers(2**31 - 1))).fit_transform(x)
    z = as_f32(z)
    labels, centers = kmeans(z, budget, pool.rng)
    scores = -np.linalg.norm(z - centers[labels], axis=1).astype(np.float64)
    return Selection(nearest_distinct(z, centers), scores, labels)


@dataclass(frozen=True)
class CoresetOptions:
    subsample: int = subsample_option()


@register("coreset", "Prefers images farthest from everything labeled or already picked (k-center "
          "greedy core-set), so the labels cover the whole feature space.",
          options=CoresetOptions, family="diversity", needs_labeled_features=True,
          reason="far from every labeled image: {score} from the nearest one")
@subsampled
def coreset(pool: Pool, budget: int, options: CoresetOptions) -> Selection:
    """Core-set by k-center greedy (Sener & Savarese, ICLR 2018).

    Scores are each row's distance to its nearest labeled image (NaN with no labeled set)."""
    if len(pool.labeled_features):
        d2, _ = nearest(pool.features, pool.labeled_features)
        first, scores = int(np.argmax(d2)), np.sqrt(d2).astype(np.float64)
    else:
        d2, first, scores = None, int(pool.rng.integers(len(pool))), np.full(len(pool), np.nan)
    picks = greedy_centers(pool.features, budget, first, lambda d: int(np.argmax(d)), d2)
    return Selection(picks, scores)


@dataclass(frozen=True)
class TypiclustOptions:
    max_clusters: int = option(500, "upper bound on the K-Means clusters (labeled + budget by default)", minimum=1)
    subsample: int = subsample_option()


@register("typiclust", "Prefers the most typical image (densest neighbourhood) of each of the largest "
          "clusters no label covers yet (TypiClust): representative picks, strong with few labels.",
          options=TypiclustOptions, family="diversity", needs_labeled_features=True,
          reason="the most typical image of a cluster no label covers yet (typicality {score})")
@subsampled
def typiclust(pool: Pool, budget: int, options: TypiclustOptions) -> Selection:
    """TypiClust (Hacohen, Dekel & Weinshall, ICML 2022).

    Scores are typicality within the row's cluster: 1 / mean distance to its 20 nearest neighbours."""
    n = len(pool)
    everything = np.concatenate([as_f32(pool.features), as_f32(pool.labeled_features)])
    k = min(len(pool.labeled_features) + budget, options.max_clusters, len(everything))
    labels, _ = kmeans(everything, k, pool.rng)
    sizes = np.bincount(labels, minlength=k)
    covered = np.bincount(labels[n:], minlength=k)
    by_cluster = np.argsort(labels[:n], kind="stable")
    members = np.split(by_cluster, np.cumsum(np.bincount(labels[:n], minlength=k))[:-1])
    typicality = np.zeros(n)  # stays 0 for a cluster of one pool row
    queues = []  # per cluster: its pool rows, most typical first
    for rows in members:
        if len(rows) > 1:
            neighbours = min(TYPICALITY_NEIGHBOURS, len(rows) // 2)
            typicality[rows] = 1 / (knn_mean_distance(pool.features[rows], neighbours) + EPS)
        queues.append(rows[np.argsort(-typicality[rows], kind="stable")])
    taken, lengths = np.zeros(k, dtype=np.int64), np.array([len(q) for q in queues])
    picks = np.empty(budget, dtype=np.int64)
    for step in range(budget):
        open_clusters = np.flatnonzero(taken < lengths)
        # fewest labels first, then the largest; tiny clusters (likely outliers) only at the end
        order = np.lexsort((-sizes[open_clusters], covered[open_clusters],
                            sizes[open_clusters] <= MIN_CLUSTER_SIZE))
        c = open_clusters[order[0]]
        picks[step] = queues[c][taken[c]]
        taken[c] += 1
        covered[c] += 1
    return Selection(picks, typicality, labels[:n])
