"""The active-learning loop: train -> evaluate -> snapshot -> query -> label, one round at a time.

`run_rounds` yields one RoundResult per finished round. Round r trains on init + r x budget labels,
so `rounds=10` gives 11 evaluations and the last queried batch is trained on. All randomness of
round r comes from (seed, r), so a resumed run repeats an uninterrupted one.

With `record_embeddings` off, a round infers only what its query reads (the unlabeled rows, plus
the labeled ones for strategies that measure distances to them) and the stop set, and the final
round infers only the stop set; probabilities of rows not inferred are stored as NaN, and no
display layout is stored. Probabilities are (n, C), column j = p(Dataset.classes[j]); a round file
stores them through runs.probs_for_file (the positive column when C = 2, as every earlier run).
The stop set (alcore.stopping) is predicted every round for the stopping signal: Cohen's kappa
with the previous round's predicted classes.

Each record holds the test metrics at the learner's threshold (chosen on the labeled set), the same
at 0.5 (keys ending `_at_0_5`) and `ci`: 95 % bootstrap intervals over test images.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from alcore.config import ExperimentConfig
from alcore.data.base import Dataset
from alcore.layout import PoolLayout
from alcore.learners import Learner
from alcore.metrics import RoundMetrics, round_metrics
from alcore.records import RoundRecord, Timings
from alcore.runs import probs_for_file
from alcore.stopping import StabilityRule, round_kappa, stop_set_rows
from alcore.strategies import Pool, registry
from alcore.train import LossNotFinite


class TrainingDiverged(ArithmeticError):
    """Training produced NaN or infinite outputs; the message names the round and what to do."""


@dataclass
class RoundResult:
    record: RoundRecord  # one line of rounds.jsonl
    arrays: dict[str, np.ndarray]  # rounds/round_XXX.npz


# (train rows, round) -> their labels (-1: not given). Simulated: the truth; human: a person.
Oracle = Callable[[np.ndarray, int], np.ndarray]


def initial_rows(labels: np.ndarray, size: int, mode: str, seed: int) -> np.ndarray:
    """The initial labeled set: uniform random, or stratified to the pool's class ratio."""
    rng = np.random.default_rng([seed, 7919])
    if mode == "random":
        return np.sort(rng.choice(len(labels), size=size, replace=False))
    rows = []
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / counts.sum() * size).astype(int)
    quota[np.argsort(-(counts / counts.sum() * size - quota))[: size - quota.sum()]] += 1
    for cls, take in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        rows.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.sort(np.concatenate(rows))


def round_seed(seed: int, round_index: int) -> int:
    return seed * 10_007 + round_index


def layout_arrays(layout: PoolLayout, features: np.ndarray) -> dict[str, np.ndarray]:
    """The Embeddings page's arrays of a round (alcore.layout: 2-D positions, compressed features for the
    page's UMAP, display clusters); on one BLAS / OpenMP thread, so the same on any machine
    (docs/performance.md, "Threads"). Display only: no metric or pick depends on them."""
    with threadpool_limits(1):
        return layout(features).arrays()


@dataclass
class _Query:
    """What a round's pool pass and query found (arrays over the train pool)."""

    probs: np.ndarray  # (n, C) class probabilities; NaN rows where not inferred
    scores: np.ndarray  # the strategy's scores of the unlabeled rows; NaN elsewhere
    picked: np.ndarray  # the rows queried (empty: the last round, or the stopping rule ended the run)
    clusters: np.ndarray | None  # the strategy's clusters, when it has some
    features: np.ndarray | None  # the pool's features, when the whole pool was inferred
    kappa: float | None
    stable: bool
    stopped_by_rule: bool


class _Rounds:
    """The loop's state across rounds: which rows are labeled and how, and the stopping signal."""

    def __init__(self, cfg: ExperimentConfig, dataset: Dataset, learner: Learner, oracle: Oracle,
                 on_phase: Callable[[int, str], None] | None, done_rounds: Sequence[RoundRecord],
                 previous_probs: np.ndarray | None):
        self.cfg, self.train, self.test, self.learner, self.oracle = cfg, dataset.train, dataset.test, learner, oracle
        self.classes = dataset.classes
        initial = initial_rows(self.train.labels, cfg.init_size, cfg.init_mode, cfg.seed)
        self.stop_rows = stop_set_rows(len(self.train), initial, cfg.stop_set_size, cfg.seed)
        self.rule = StabilityRule(cfg.stop_kappa, cfg.stop_window)
        self.kappas: list[float | None] = [r.stop_kappa for r in done_rounds]
        self.previous_stop = None if previous_probs is None else previous_probs[self.stop_rows]
        if self.previous_stop is not None and not np.isfinite(self.previous_stop).all():
            self.previous_stop = None  # a round stored before the stop set existed
        self.strategy = registry.get(cfg.sampler)
        self.labeled = np.zeros(len(self.train), dtype=bool)
        self.known_labels = np.full(len(self.train), -1, dtype=np.int64)
        self.phase = on_phase or (lambda r, p: None)
        self.layout = PoolLayout(cfg.seed)  # kept across rounds: it holds the rows its models are fitted on
        needs_mc = self.strategy.needs_mc
        self.mc_passes = int(self.strategy.option_values(cfg.sampler_options).get("mc_passes", 0)) if needs_mc else 0

    def label(self, pending: np.ndarray, r: int) -> np.ndarray:
        """The oracle's answers for `pending` rows; the labeled rows."""
        if len(pending):
            self.phase(r, "labeling")
            self.known_labels[pending] = self.oracle(pending, r)
            self.labeled[pending[self.known_labels[pending] >= 0]] = True
        if not self.labeled.any():
            raise ValueError(f"no image has a label yet: label at least {_one_of_each(self.classes)} image")
        return np.flatnonzero(self.labeled)

    def diverged(self, r: int) -> TrainingDiverged:
        return TrainingDiverged(f"the loss became NaN at round {r}: lower the learning rate (it was {self.cfg.lr:g})")

    def fit(self, r: int, rows: np.ndarray, seed: int) -> None:
        self.phase(r, "train")
        try:
            self.learner.fit(rows, self.known_labels[rows], seed)
        except LossNotFinite:
            raise self.diverged(r) from None

    def evaluate(self, r: int, seed: int) -> tuple[np.ndarray, RoundMetrics]:
        """Test probabilities and metrics; the threshold comes from the labeled rows alone (learner.fit)."""
        self.phase(r, "evaluate")
        test_probs = self.learner.infer("test").probs
        if not np.isfinite(test_probs).all():  # finite weights whose activations overflow: diverged too
            raise self.diverged(r)
        return test_probs, round_metrics(self.test.labels, test_probs, self.learner.threshold, seed)

    def query(self, r: int, seed: int, rows: np.ndarray) -> _Query:
        """The pool pass (what the query, the stop set and the display need), the stopping signal, the picks."""
        cfg, n = self.cfg, len(self.train)
        querying = r < cfg.rounds
        unlabeled = np.flatnonzero(~self.labeled)
        probs, pool = np.full((n, len(self.classes)), np.nan, dtype=np.float32), None
        whole_pool = cfg.record_embeddings or (querying and self.strategy.needs_labeled_features)
        needed = np.union1d(unlabeled, self.stop_rows) if querying else self.stop_rows
        if whole_pool or len(needed):
            self.phase(r, "query" if querying else "snapshot")
            pool = self.learner.infer("train", mc_passes=self.mc_passes if querying else 0, seed=seed,
                                      rows=None if whole_pool else needed)
            inferred = slice(None) if whole_pool else needed
            probs[inferred] = pool.probs[inferred]
        self.kappas.append(round_kappa(self.previous_stop, probs[self.stop_rows]))
        self.previous_stop = probs[self.stop_rows]
        stable = self.rule.holds(self.kappas)
        stopped_by_rule = querying and stable and cfg.stop_when_stable
        found = _Query(probs, np.full(n, np.nan), np.empty(0, dtype=np.int64), None,
                       pool.features if whole_pool and pool is not None else None, self.kappas[-1], bool(stable),
                       bool(stopped_by_rule))
        if querying and not stopped_by_rule:
            self._pick(found, pool, unlabeled, rows if whole_pool else [], r)
        return found

    def _pick(self, found: _Query, pool, unlabeled: np.ndarray, labeled_rows, r: int) -> None:
        view = Pool(probs=pool.probs[unlabeled], features=pool.features[unlabeled],
                    labeled_features=pool.features[labeled_rows], rng=np.random.default_rng([self.cfg.seed, r]),
                    mc_probs=None if pool.mc_probs is None else pool.mc_probs[:, unlabeled])
        selection = registry.query(self.cfg.sampler, view, self.cfg.budget, self.cfg.sampler_options)
        found.picked = unlabeled[selection.indices]
        found.scores[unlabeled] = selection.scores
        if selection.clusters is not None:
            found.clusters = np.full(len(self.train), -1, dtype=np.int32)
            found.clusters[unlabeled] = selection.clusters

    def arrays(self, found: _Query, test_probs: np.ndarray) -> dict[str, np.ndarray]:
        """rounds/round_XXX.npz: the pool's state, the test probabilities, and the display layout."""
        queried = np.zeros(len(self.train), dtype=bool)
        queried[found.picked] = True
        # scores are only shown (float32 is plenty); probabilities stay exact: a resume's stop-set signal reads them
        arrays = {"ids": self.train.ids.astype(str), "prob": probs_for_file(found.probs),
                  "score": found.scores.astype(np.float32), "queried": queried,
                  "labeled": self.labeled.copy(), "label": self.train.labels.astype(np.int8),
                  "test_prob": probs_for_file(test_probs), "test_label": self.test.labels.astype(np.int8)}
        if self.cfg.record_embeddings:
            arrays.update(layout_arrays(self.layout, found.features))
        if found.clusters is not None:
            arrays["cluster"] = found.clusters
        return arrays

    def record(self, r: int, rows: np.ndarray, metrics: RoundMetrics, found: _Query, seconds: Timings) -> RoundRecord:
        per_class = np.bincount(self.known_labels[rows], minlength=len(self.classes))
        return RoundRecord(
            round=r, n_labeled=int(self.labeled.sum()), metrics=metrics.at_threshold, threshold=metrics.threshold,
            metrics_at_0_5=metrics.at_0_5, ci=metrics.ci,
            n_labeled_per_class={name: int(count) for name, count in zip(self.classes, per_class)},
            fit=dict(self.learner.fit_info), queried_ids=tuple(self.train.ids[found.picked].astype(str).tolist()),
            seconds=seconds, stop_kappa=found.kappa, predictions_stable=found.stable,
            stopped_by_rule=found.stopped_by_rule)


def _one_of_each(classes: Sequence[str]) -> str:
    """'one NORMAL and one PNEUMONIA', 'one NORMAL, one BACTERIAL and one VIRAL'."""
    ones = [f"one {name}" for name in classes]
    return f"{', '.join(ones[:-1])} and {ones[-1]}"


def run_rounds(cfg: ExperimentConfig, dataset: Dataset, learner: Learner, to_label: np.ndarray,
               oracle: Oracle, start_round: int = 0,
               on_phase: Callable[[int, str], None] | None = None,
               done_rounds: Sequence[RoundRecord] = (),
               previous_probs: np.ndarray | None = None) -> Iterator[RoundResult]:
    """Run rounds start_round..cfg.rounds. `to_label` (train rows) go to the oracle before the
    first of them is trained: the initial set, or on resume every row labeled so far. On resume,
    `done_rounds` and the last done round's pool probabilities `previous_probs` ((n, C), read back
    with runs.probs_from_file) continue the stopping signal.

    With `stop_when_stable`, the round where predictions have become stable queries nothing and
    is the last."""
    loop = _Rounds(cfg, dataset, learner, oracle, on_phase, done_rounds, previous_probs)
    pending = np.asarray(to_label, dtype=np.int64)
    for r in range(start_round, cfg.rounds + 1):
        rows = loop.label(pending, r)
        seed = round_seed(cfg.seed, r)
        started = time.perf_counter()
        loop.fit(r, rows, seed)
        trained = time.perf_counter()
        test_probs, metrics = loop.evaluate(r, seed)
        tested = time.perf_counter()
        found = loop.query(r, seed, rows)
        queried = time.perf_counter()
        arrays = loop.arrays(found, test_probs)
        seconds = Timings(round(trained - started, 4), round(queried - tested, 4), round(tested - trained, 4))
        yield RoundResult(loop.record(r, rows, metrics, found, seconds), arrays)
        if found.stopped_by_rule:
            return
        pending = found.picked
