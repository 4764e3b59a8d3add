"""When can labeling stop? Stabilizing predictions (Bloodgood & Vijay-Shanker, CoNLL 2009).

A fixed stop set of train-pool images, unlabeled at the start and drawn with the run's seed, is
predicted every round; Cohen's kappa between successive rounds' predicted classes (p >= 0.5 of the
positive class with two classes, the most probable of C > 2) measures how much the model still changes. When kappa stays at or above a threshold for `window` successive
comparisons (3), the model has stopped changing: more labels are unlikely to change what it
predicts. The stop set needs no labels. The default threshold is the paper's, 0.99, set for
deterministic learners like the frozen regime's logistic head; a head retrained with dropout
and minibatches (`--head adamw`, fine-tuning) differs from itself by about 1-3 % of the stop set
and may need 0.98 (measured in the README's stopping section).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from alcore.diagnostics import cohen_kappa

STOP_SET_STREAM = 4099  # the stop set's own random stream of the run's seed


def stop_set_rows(n_train: int, initially_labeled: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to `size` train rows not in the initial labeled set, drawn with the run's seed."""
    candidates = np.setdiff1d(np.arange(n_train), initially_labeled)
    take = min(size, len(candidates))
    return np.sort(np.random.default_rng([seed, STOP_SET_STREAM]).choice(candidates, size=take, replace=False))


@dataclass(frozen=True)
class StabilityRule:
    """Predictions are stable when the last `window` kappas are all >= `threshold`."""

    threshold: float = 0.99
    window: int = 3

    def holds(self, kappas: Sequence[float | None]) -> bool:
        recent = list(kappas)[-self.window:]
        return len(recent) == self.window and all(_at_least(k, self.threshold) for k in recent)

    def stable_since(self, kappas: Sequence[float | None]) -> int | None:
        """The round from which predictions stopped changing, when the rule holds at the last
        round: kappas[r] compares round r with r - 1, so a streak starting at r began at r - 1."""
        if not self.holds(kappas):
            return None
        start = len(kappas)
        while start > 0 and _at_least(kappas[start - 1], self.threshold):
            start -= 1
        return start - 1

    def first_stop(self, kappas: Sequence[float | None]) -> int | None:
        """The first round at which the rule holds (where a run with the rule would have ended)."""
        return next((r for r in range(len(kappas)) if self.holds(kappas[:r + 1])), None)


def _at_least(kappa: float | None, threshold: float) -> bool:
    return kappa is not None and not math.isnan(kappa) and kappa >= threshold


def round_kappa(previous: np.ndarray | None, current: np.ndarray) -> float | None:
    """Kappa between two rounds' predicted classes on the stop set, from their (m, C) class
    probabilities; None at the first round."""
    if previous is None or len(current) == 0:
        return None
    return cohen_kappa(predicted_classes(previous), predicted_classes(current))


def predicted_classes(probs: np.ndarray) -> np.ndarray:
    """The stop set's predicted classes: p(positive) >= 0.5 with two classes, the most probable of C > 2."""
    return probs[:, 1] >= 0.5 if probs.shape[1] == 2 else probs.argmax(1)
