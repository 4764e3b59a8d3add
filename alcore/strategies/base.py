"""The one contract every query strategy follows: a view of the pool in, indices out."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

EPS = 1e-12


@dataclass(frozen=True)
class Pool:
    """What a strategy may look at. Rows of every per-sample array are the unlabeled pool."""

    probs: np.ndarray  # (n, C) class probabilities of the current model; column j = p(class j)
    features: np.ndarray  # (n, d) penultimate-layer features
    labeled_features: np.ndarray  # (m, d) features of the labeled set
    rng: np.random.Generator
    mc_probs: np.ndarray | None = None  # (T, n, C) class probabilities of T MC-dropout passes, if asked for

    def __post_init__(self) -> None:
        shape = np.shape(self.probs)
        if len(shape) != 2 or shape[1] < 2:
            raise ValueError(f"Pool.probs must be (pool size, classes) with at least two class columns "
                             f"(two classes: [1 - p, p]); got shape {shape}")
        if self.mc_probs is not None and (np.ndim(self.mc_probs) != 3 or np.shape(self.mc_probs)[1:] != shape):
            raise ValueError(f"Pool.mc_probs must be (passes, {shape[0]}, {shape[1]}), one (pool size, classes) "
                             f"matrix per MC-dropout pass; got shape {np.shape(self.mc_probs)}")

    def __len__(self) -> int:
        return len(self.probs)

    def subset(self, rows: np.ndarray) -> "Pool":
        """The pool cut to `rows` (the labeled set and the generator stay as they are)."""
        return replace(self, probs=self.probs[rows], features=self.features[rows],
                       mc_probs=None if self.mc_probs is None else self.mc_probs[:, rows])


@dataclass(frozen=True)
class Selection:
    """The chosen pool rows, plus each row's score (NaN where the strategy has none)."""

    indices: np.ndarray  # (budget,) int, distinct rows of the pool, in pick order
    scores: np.ndarray  # (n,) float
    clusters: np.ndarray | None = None  # (n,) int, when the strategy clusters the pool

    @staticmethod
    def top_k(scores: np.ndarray, budget: int) -> "Selection":
        """Highest scores first; ties broken by the lower index (stable, deterministic)."""
        order = np.argsort(-scores, kind="stable")[:budget]
        return Selection(indices=order.astype(np.int64), scores=scores.astype(np.float64))

    @staticmethod
    def unscored(indices: np.ndarray, n: int, clusters: np.ndarray | None = None) -> "Selection":
        return Selection(indices=np.asarray(indices, dtype=np.int64),
                         scores=np.full(n, np.nan), clusters=clusters)
