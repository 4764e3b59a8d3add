"""The uncertainty strategies pick what scikit-activeml 1.0.1 picks on the same probabilities
(skactiveml.pool.UncertaintySampling and uncertainty_scores, Settles 2009's three measures)."""
from __future__ import annotations

import numpy as np
import pytest
from skactiveml.base import SkactivemlClassifier
from skactiveml.pool import UncertaintySampling, uncertainty_scores

from alcore.strategies import registry
from tests.strategies.conftest import two_class

METHODS = {"least_confidence": "least_confident", "margin": "margin_sampling", "entropy": "entropy"}
BUDGET = 40


class FixedProbabilities(SkactivemlClassifier):
    """A 'classifier' whose samples are their own class probabilities: predict_proba(X) = X."""

    def fit(self, X, y, sample_weight=None):
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=np.float64)


def _probabilities(n_classes: int) -> np.ndarray:
    data = np.random.default_rng(n_classes)
    if n_classes == 2:
        return two_class(data.random(500))
    return data.dirichlet(np.full(n_classes, 0.7), size=500)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("name", METHODS)
def test_same_picks_and_scores_as_scikit_activeml(make_pool, name, n_classes):
    probs = _probabilities(n_classes)
    ours = registry.query(name, make_pool(probs=probs), BUDGET)
    scores = uncertainty_scores(probs, method=METHODS[name])
    if n_classes > 2:  # the same arithmetic, bit for bit
        np.testing.assert_array_equal(ours.scores, scores)
    else:  # binary entropy keeps its log1p form (today's binary numbers): equal up to rounding
        np.testing.assert_allclose(ours.scores, scores, rtol=1e-12)
    strategy = UncertaintySampling(method=METHODS[name], random_state=0)
    unlabeled = np.full(len(probs), np.nan)  # skactiveml's missing label: every row is a candidate
    theirs = strategy.query(probs, unlabeled, FixedProbabilities(classes=np.arange(n_classes)), fit_clf=False,
                            batch_size=BUDGET)
    assert ours.indices.tolist() == theirs.tolist()


def test_the_three_methods_disagree_on_three_classes():
    """Otherwise the agreement above would be one test three times."""
    probs = _probabilities(3)
    picks = {name: set(np.argsort(-uncertainty_scores(probs, method=method), kind="stable")[:BUDGET])
             for name, method in METHODS.items()}
    assert picks["least_confidence"] != picks["margin"] != picks["entropy"] != picks["least_confidence"]
