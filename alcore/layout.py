"""The Embeddings page's view of the pool, per round: 2-D positions and display clusters, at any pool size.

Every model here is fitted on a fixed sample of at most SAMPLE_ROWS pool rows (drawn once from the
run's seed) and applied to the whole pool, so a round costs O(n) however large the pool: PCA and
K-Means are refitted each round on the sample's current features (as the whole pool's were before,
and a small pool is its own sample), and UMAP, when asked for, is fitted once, on the first round's
sample, then places every image of every round by its nearest sample images in that space. With
the frozen backbone the features never change, so every round's map is the first one; when
fine-tuning, images move on one map as the model learns (a resumed fine-tuning run's map is fitted
at the round it resumes from: display only, no metric or pick depends on it). `umap_positions` is
the same UMAP for one round's features on demand (a page's route, instead of the loop's).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

SAMPLE_ROWS = 4_000  # rows every layout model is fitted on; below UMAP's 4,096, where it needs no pynndescent
DISPLAY_CLUSTERS = 8  # K-Means clusters drawn on the Embeddings page when a strategy has none
STORED_PCA_DIMS = 32  # per-round compressed features (the page's UMAP input)
CLUSTER_DIMS = 10  # principal components K-Means clusters in
UMAP_NEIGHBOURS = 15
NEIGHBOUR_MEMORY_MIB = 64  # sklearn's working memory for the nearest-sample search


@dataclass(frozen=True)
class RoundLayout:
    """One round's pool as the Embeddings page draws it; rows are the train pool's."""

    embedding: np.ndarray  # (n, 2) float16 (a drawn position: 3 digits are plenty): the first two principal components
    features_pca: np.ndarray  # (n, <= 32) float16: the leading principal components
    cluster: np.ndarray  # (n,) int32: display clusters 0..7
    umap: np.ndarray | None = None  # (n, 2) float16, when the layout was asked for UMAP

    def arrays(self) -> dict[str, np.ndarray]:
        """The round file's arrays (the names the pages read)."""
        arrays = {"embedding": self.embedding, "features_pca": self.features_pca, "cluster": self.cluster}
        return arrays if self.umap is None else {**arrays, "umap": self.umap}


def fit_rows(n: int, seed: int, sample_rows: int = SAMPLE_ROWS) -> np.ndarray:
    """Ascending rows the layout models are fitted on: all of a small pool, else a random subset."""
    if n <= sample_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 4099]).choice(n, size=sample_rows, replace=False))


def umap_positions(features: np.ndarray, seed: int, sample_rows: int = SAMPLE_ROWS) -> np.ndarray:
    """(n, 2) UMAP layout of one round's features, computed on demand (the page's route): fitted on
    a sample, every row placed by its nearest sample rows; a small pool is UMAP of every row."""
    umap_map = UmapMap(seed)
    umap_map.fit(np.asarray(features)[fit_rows(len(features), seed, sample_rows)])
    return umap_map.transform(features)


class UmapMap:
    """UMAP fitted once on reference points; any later point lands at the weighted mean of the
    positions of its nearest reference points (UMAP's own starting guess for new points: its
    `transform` then runs further epochs that cost minutes at 100,000 points on two cores)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.reference: np.ndarray | None = None
        self.positions: np.ndarray | None = None

    def fit(self, reference: np.ndarray) -> None:
        import umap  # late: importing it costs seconds

        self.reference = np.asarray(reference, dtype=np.float32)
        if len(self.reference) < 4:  # no neighbourhood to lay out
            self.positions = np.zeros((len(self.reference), 2), np.float32)
            return
        reducer = umap.UMAP(n_neighbors=min(UMAP_NEIGHBOURS, len(self.reference) - 1), min_dist=0.1,
                            n_epochs=200, random_state=self.seed)
        with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state": wanted
            warnings.simplefilter("ignore", UserWarning)
            self.positions = reducer.fit_transform(self.reference).astype(np.float32)

    def transform(self, points: np.ndarray) -> np.ndarray:
        """(n, 2) positions: a point equal to a reference point takes its position exactly."""
        points = np.asarray(points, dtype=np.float32)
        k = min(UMAP_NEIGHBOURS, len(self.reference))
        with config_context(working_memory=NEIGHBOUR_MEMORY_MIB):
            distances, nearest = NearestNeighbors(n_neighbors=k).fit(self.reference).kneighbors(points)
        # UMAP-like memberships: 1 for the nearest, decaying with the distance beyond it
        beyond = distances - distances[:, :1]
        scale = beyond.mean(axis=1, keepdims=True)
        weights = np.exp(-beyond / np.where(scale > 0, scale, 1.0))
        on_reference = (points == self.reference[nearest[:, 0]]).all(axis=1)
        weights[on_reference] = np.eye(k)[0]  # exactly there (a distance of 0 computes as ~1e-3 in float32)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.positions[nearest]).astype(np.float32)


class PoolLayout:
    """The per-round layout, kept by the loop across rounds (it holds the sample and the UMAP map)."""

    def __init__(self, seed: int, with_umap: bool = False, sample_rows: int = SAMPLE_ROWS):
        self.seed = seed
        self.with_umap = with_umap
        self.sample_rows = sample_rows
        self.sample: np.ndarray | None = None
        self.pool_size = 0
        self.umap_basis: PCA | None = None  # the projection UMAP was fitted in (the first round's)
        self.umap_map = UmapMap(seed)

    def __call__(self, features: np.ndarray) -> RoundLayout:
        """This round's layout of the whole pool from its (n, d) features. On one BLAS / OpenMP thread:
        split over threads, PCA's and K-Means' sums, and so the map, would depend on the machine's
        cores (docs/performance.md, "Threads")."""
        features = np.asarray(features, dtype=np.float32)
        sample = self._sample(len(features))
        dims = min(STORED_PCA_DIMS, features.shape[1], len(sample))
        k = min(DISPLAY_CLUSTERS, len(sample))
        with threadpool_limits(1):
            pca = PCA(n_components=dims, random_state=self.seed).fit(features[sample])
            reduced = pca.transform(features)
            kmeans = KMeans(n_clusters=k, n_init=1, random_state=self.seed).fit(reduced[sample, :CLUSTER_DIMS])
            clusters = kmeans.predict(reduced[:, :CLUSTER_DIMS])
            umap = self._umap(features, pca, reduced) if self.with_umap else None
        return RoundLayout(reduced[:, :2].astype(np.float16), reduced.astype(np.float16), clusters.astype(np.int32),
                           umap)

    def _sample(self, n: int) -> np.ndarray:
        if self.sample is None:  # drawn once: the same rows every round
            self.sample, self.pool_size = fit_rows(n, self.seed, self.sample_rows), n
        if n != self.pool_size:
            raise ValueError(f"the layout was made for a pool of {self.pool_size} images, not {n}: "
                             "use a new PoolLayout for another pool")
        return self.sample

    def _umap(self, features: np.ndarray, pca: PCA, reduced: np.ndarray) -> np.ndarray:
        if self.umap_basis is None:
            self.umap_basis = pca
            self.umap_map.fit(reduced[self.sample])
        return self.umap_map.transform(reduced if self.umap_basis is pca else self.umap_basis.transform(features))
