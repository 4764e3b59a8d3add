"""Hand-made pools for the strategy tests."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from alcore.strategies import Pool

BLOB_CENTRES = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])


def two_class(p: Any) -> np.ndarray:
    """p(positive) of two classes, shape (...), as the Pool holds it: [1 - p, p], shape (..., 2)."""
    p = np.asarray(p)
    return np.stack([1 - p, p], axis=-1)


@pytest.fixture
def make_pool() -> Callable[..., Pool]:
    """make_pool(probs=..., features=..., labeled=..., mc_probs=..., seed=0) -> Pool.

    probs are (n, C) class probabilities, or (n,) p(positive) of two classes (the Pool gets
    [1 - p, p]); mc_probs likewise (T, n, C) or (T, n). Missing probs are 0.5 of two classes,
    missing features a zero column, missing labeled features none.
    """
    def make(probs: Any = None, features: Any = None, labeled: Any = None, mc_probs: Any = None,
             seed: int = 0) -> Pool:
        n = len(probs) if probs is not None else len(features)
        features = np.zeros((n, 1), np.float32) if features is None else np.asarray(features, np.float32)
        probs = np.full(n, 0.5) if probs is None else np.asarray(probs, np.float64)
        probs = two_class(probs) if probs.ndim == 1 else probs
        if mc_probs is not None:
            mc_probs = np.asarray(mc_probs, np.float64)
            mc_probs = two_class(mc_probs) if mc_probs.ndim == 2 else mc_probs
        if labeled is None:
            labeled = np.empty((0, features.shape[1]))
        labeled = np.asarray(labeled, np.float32)
        return Pool(probs, features, labeled, np.random.default_rng(seed), mc_probs)
    return make


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """(features, blob id): 30 points around each of three far-apart centres in 2-D."""
    rng = np.random.default_rng(7)
    blob = np.repeat(np.arange(3), 30)
    return (BLOB_CENTRES[blob] + rng.normal(0, 1, (90, 2))).astype(np.float32), blob
