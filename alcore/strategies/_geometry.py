"""Shared geometry for the feature-space strategies: distances under a memory budget, K-Means,
pool subsampling.

Distances are squared Euclidean in float32, computed in row blocks of at most
DISTANCE_BLOCK_BYTES (one row at the least), so no strategy ever holds an n x n or a large
n x m matrix: at 100,000 pool rows an n x n matrix would take 40 GB.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from threadpoolctl import threadpool_limits

from alcore.strategies.base import Pool, Selection
from alcore.strategies.registry import StrategyFn, option

DISTANCE_BLOCK_BYTES = 16 * 2**20  # the largest distance block held at once (4,194,304 float32 entries)
FULL_KMEANS_WORK = 2e9  # rows x clusters x dims above which MiniBatchKMeans replaces KMeans


def subsample_option() -> Any:
    """The `subsample` field every subsampled strategy's options share."""
    return option(20_000, "pools larger than this are first cut to a random subset of this many rows "
                  "(0 = always use the whole pool)", minimum=0)


def as_f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def sq_distance_blocks(x: np.ndarray, y: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (rows, d2): squared distances from x[rows] to every row of y, block by block."""
    x, y = as_f32(x), as_f32(y)
    y_sq = sq_norms(y)
    step = max(1, DISTANCE_BLOCK_BYTES // (y.itemsize * max(len(y), 1)))
    for start in range(0, len(x), step):
        rows = slice(start, min(start + step, len(x)))
        block = x[rows]
        d2 = block @ y.T
        d2 *= -2
        d2 += sq_norms(block)[:, None]
        d2 += y_sq[None, :]
        np.maximum(d2, 0, out=d2)  # float32 cancellation can dip just below zero
        yield rows, d2


def nearest(x: np.ndarray, y: np.ndarray, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row of x: squared distance to, and index of, its nearest row of y not in `exclude`."""
    d2_min = np.empty(len(x), dtype=np.float32)
    arg = np.empty(len(x), dtype=np.int64)
    for rows, d2 in sq_distance_blocks(x, y):
        if exclude is not None:
            d2[:, exclude] = np.inf
        arg[rows] = d2.argmin(axis=1)
        d2_min[rows] = d2[np.arange(len(d2)), arg[rows]]
    return d2_min, arg


def nearest_distinct(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the point nearest each center, all distinct (needs len(centers) <= len(points)).

    When centers share a nearest point the closest center keeps it; the others take their
    nearest point not yet used, and so on until every center has its own.
    """
    chosen = np.empty(len(centers), dtype=np.int64)
    used = np.zeros(len(points), dtype=bool)
    todo = np.arange(len(centers))
    while len(todo):
        d2, idx = nearest(centers[todo], points, exclude=used)
        by_distance = np.argsort(d2, kind="stable")
        _, first = np.unique(idx[by_distance], return_index=True)
        winners = by_distance[first]
        chosen[todo[winners]] = idx[winners]
        used[idx[winners]] = True
        todo = np.delete(todo, winners)
    return chosen


def knn_mean_distance(x: np.ndarray, k: int) -> np.ndarray:
    """Mean Euclidean distance of each row of x to its k nearest other rows (k < len(x))."""
    out = np.empty(len(x), dtype=np.float32)
    for rows, d2 in sq_distance_blocks(x, x):
        d2[np.arange(len(d2)), np.arange(rows.start, rows.stop)] = np.inf  # not its own neighbour
        d2.partition(k - 1, axis=1)  # in place: no second block
        out[rows] = np.sqrt(d2[:, :k]).mean(axis=1)
    return out


def greedy_centers(x: np.ndarray, k: int, first: int, choose: Callable[[np.ndarray], int],
                   d2: np.ndarray | None = None) -> np.ndarray:
    """k distinct rows of x, in pick order: `first`, then repeatedly choose(d2).

    d2 holds every row's squared distance to its nearest pick (or to the rows behind the
    starting `d2`, e.g. the labeled set); rows already picked hold -1 so they are never taken.
    """
    x = as_f32(x)
    x_sq = sq_norms(x)
    d2 = np.full(len(x), np.inf, dtype=np.float32) if d2 is None else d2.astype(np.float32)
    picks = np.empty(k, dtype=np.int64)
    picks[0] = first
    # one memory-bound matrix-vector product per pick: a second BLAS thread adds little, and
    # on a busy machine its spin-waiting makes each product several times slower
    with threadpool_limits(1, user_api="blas"):
        for step in range(1, k + 1):
            i = picks[step - 1]
            np.minimum(d2, x_sq - 2 * (x @ x[i]) + x_sq[i], out=d2)
            d2[i] = -1  # np.minimum keeps it there
            if step < k:
                picks[step] = choose(d2)
    return picks


def d2_sampler(rng: np.random.Generator) -> Callable[[np.ndarray], int]:
    """k-means++ choice: a row drawn with probability proportional to its d2 (uniform if all are 0)."""
    def choose(d2: np.ndarray) -> int:
        weights = np.maximum(d2, 0).astype(np.float64)
        total = weights.sum()
        if total > 0:
            return int(rng.choice(len(d2), p=weights / total))
        return int(rng.choice(np.flatnonzero(d2 >= 0)))
    return choose


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centers) of K-Means with k clusters, seeded by k-means++ on x.

    The seeding is ours (one distance pass per seed) because sklearn's greedy k-means++
    dominates the run time for hundreds of clusters; MiniBatchKMeans takes over when full
    K-Means iterations would be slow.
    """
    x = as_f32(x)
    init = x[greedy_centers(x, k, int(rng.integers(len(x))), d2_sampler(rng))]
    seed = int(rng.integers(2**31 - 1))
    if len(x) * k * x.shape[1] <= FULL_KMEANS_WORK:
        model = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed)
    else:
        model = MiniBatchKMeans(n_clusters=k, init=init, n_init=1, batch_size=4096, random_state=seed)
    model.fit(x)
    return model.labels_.astype(np.int64), model.cluster_centers_.astype(np.float32)


def subsampled(fn: StrategyFn) -> StrategyFn:
    """Run `fn` on a random subset of options.subsample rows when the pool is larger.

    Scores are NaN and clusters -1 outside the subset; picked indices refer to the whole pool.
    """
    @functools.wraps(fn)
    def run(pool: Pool, budget: int, options) -> Selection:
        n, size = len(pool), max(options.subsample, budget)
        if not options.subsample or n <= size:
            return fn(pool, budget, options)
        rows = np.sort(pool.rng.choice(n, size=size, replace=False))
        part = fn(pool.subset(rows), budget, options)
        scores = np.full(n, np.nan)
        scores[rows] = part.scores
        clusters = None
        if part.clusters is not None:
            clusters = np.full(n, -1, dtype=np.int64)
            clusters[rows] = part.clusters
        return Selection(rows[part.indices], scores, clusters)
    return run
