"""A finished round as a typed record: written once by the store (one line of rounds.jsonl), read back
as the same type by pages, CLI and summary.

The line keeps the flat layout of every earlier version (metrics at the top level, the same at 0.5
under keys ending `_at_0_5`, `ci`, `train_seconds`...), so old results folders load unchanged; a
field an older run did not record reads as its default (NaN, None, empty).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from alcore.metrics import AT_REFERENCE, THRESHOLD_METRICS, Metrics, number


@dataclass(frozen=True)
class Timings:
    """Seconds a round spent training, querying (with the pool's inference) and testing."""

    train: float = 0.0
    query: float = 0.0
    eval: float = 0.0


@dataclass(frozen=True)
class RoundRecord:
    """One finished round: what its model was trained on, how it tested, what it queried."""

    round: int
    n_labeled: int  # the labels this round's model trained on: the round's name everywhere
    metrics: Metrics  # at `threshold`
    threshold: float | None = None  # chosen on the labeled rows; None: argmax (C > 2), or recorded before thresholds
    metrics_at_0_5: Metrics | None = None  # at the reference threshold 0.5; None: recorded before it
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)  # 95 % bootstrap interval per metric
    n_labeled_per_class: dict[str, int] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)  # what the learner reports of its fit
    queried_ids: tuple[str, ...] = ()  # the images this round's model picked (empty: the last round)
    seconds: Timings = Timings()
    stop_kappa: float | None = None  # agreement with the previous round on the stop set
    predictions_stable: bool = False
    stopped_by_rule: bool = False

    def metric(self, name: str) -> float:
        """A metric by name (METRIC_NAMES, or one of them + `_at_0_5`); NaN when not recorded."""
        if name.endswith(AT_REFERENCE):
            at = self.metrics_at_0_5
            return math.nan if at is None else getattr(at, name.removesuffix(AT_REFERENCE))
        return getattr(self.metrics, name)

    def interval(self, name: str) -> tuple[float, float]:
        return self.ci.get(name, (math.nan, math.nan))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RoundRecord:
        """A line of rounds.jsonl, of this version or an earlier one (absent fields: their defaults)."""
        metrics = Metrics.from_dict(values)
        at_0_5 = (Metrics.from_dict(values, AT_REFERENCE)
                  if "accuracy" + AT_REFERENCE in values else None)
        threshold = values.get("threshold")
        kappa = values.get("stop_kappa")
        return cls(
            round=int(values["round"]), n_labeled=int(values["n_labeled"]), metrics=metrics,
            threshold=None if threshold is None else float(threshold), metrics_at_0_5=at_0_5,
            ci={k: (number(lo), number(hi)) for k, (lo, hi) in (values.get("ci") or {}).items()},
            n_labeled_per_class=dict(values.get("n_labeled_per_class") or {}), fit=dict(values.get("fit") or {}),
            queried_ids=tuple(values.get("queried_ids") or ()),
            seconds=Timings(*(float(values.get(f"{k}_seconds") or 0.0) for k in ("train", "query", "eval"))),
            stop_kappa=None if kappa is None else float(kappa),
            predictions_stable=bool(values.get("predictions_stable", False)),
            stopped_by_rule=bool(values.get("stopped_by_rule", False)))

    def to_dict(self) -> dict[str, Any]:
        """The line written to rounds.jsonl (the flat layout every version reads)."""
        reference = {} if self.metrics_at_0_5 is None else self.metrics_at_0_5.to_dict(AT_REFERENCE, THRESHOLD_METRICS)
        return {"round": self.round, "n_labeled": self.n_labeled, "n_labeled_per_class": self.n_labeled_per_class,
                "threshold": self.threshold, **self.metrics.to_dict(), **reference,
                "ci": {k: list(v) for k, v in self.ci.items()}, "fit": self.fit, "queried_ids": list(self.queried_ids),
                **{f"{f.name}_seconds": getattr(self.seconds, f.name) for f in fields(Timings)},
                "stop_kappa": self.stop_kappa, "predictions_stable": self.predictions_stable,
                "stopped_by_rule": self.stopped_by_rule}
