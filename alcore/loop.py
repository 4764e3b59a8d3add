"""The active-learning loop: train -> evaluate -> snapshot -> query -> label, one round at a time.

`run_rounds` yields one RoundResult per finished round. Round r trains on init + r x budget labels,
so `rounds=10` gives 11 evaluations and the last queried batch is trained on. All randomness of
round r comes from (seed, r), so a resumed run repeats an uninterrupted one.

With `record_embeddings` off, a round infers only what its query reads (the unlabeled rows, plus
the labeled ones for strategies that measure distances to them) and the stop set, and the final
round infers only the stop set; probabilities of rows not inferred are stored as NaN, and no
display layout is stored. The stop set (alcore.stopping) is predicted every round for the
stopping signal: Cohen's kappa with the previous round's predictions.

Each record holds the test metrics at the learner's threshold (chosen on the labeled set), the same
at 0.5 (keys ending `_at_0_5`) and `ci`: 95 % bootstrap intervals over test images.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from alcore.config import ExperimentConfig
from alcore.data.base import Dataset
from alcore.learners import Learner
from alcore.metrics import round_metrics
from alcore.records import RoundRecord, Timings
from alcore.stopping import StabilityRule, round_kappa, stop_set_rows
from alcore.strategies import Pool, registry
from alcore.train import LossNotFinite

DISPLAY_CLUSTERS = 8  # K-Means clusters drawn on the Embeddings page when a strategy has none
STORED_PCA_DIMS = 32  # per-round compressed features, for UMAP on the dashboard


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


def _display_layout(features: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2-D PCA for the scatter, a compact PCA for UMAP, and display clusters; on one BLAS / OpenMP
    thread, so the same on any machine (docs/performance.md, "Threads")."""
    dims = min(STORED_PCA_DIMS, features.shape[1], len(features))
    k = min(DISPLAY_CLUSTERS, len(features))
    with threadpool_limits(1):
        reduced = PCA(n_components=dims, random_state=seed).fit_transform(features)
        clusters = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(reduced[:, :10])
    return reduced[:, :2].astype(np.float32), reduced.astype(np.float16), clusters.astype(np.int32)


def run_rounds(cfg: ExperimentConfig, dataset: Dataset, learner: Learner, to_label: np.ndarray,
               oracle: Oracle, start_round: int = 0,
               on_phase: Callable[[int, str], None] | None = None,
               done_rounds: Sequence[RoundRecord] = (), previous_probs: np.ndarray | None = None) -> Iterator[RoundResult]:
    """Run rounds start_round..cfg.rounds. `to_label` (train rows) go to the oracle before the
    first of them is trained: the initial set, or on resume every row labeled so far. On resume,
    `done_rounds` and the last done round's pool `previous_probs` continue the stopping signal.

    With `stop_when_stable`, the round where predictions have become stable queries nothing and
    is the last."""
    train, test = dataset.train, dataset.test
    initial = initial_rows(train.labels, cfg.init_size, cfg.init_mode, cfg.seed)
    stop_rows = stop_set_rows(len(train), initial, cfg.stop_set_size, cfg.seed)
    rule = StabilityRule(cfg.stop_kappa, cfg.stop_window)
    kappas: list[float | None] = [r.stop_kappa for r in done_rounds]
    previous_stop = None if previous_probs is None else previous_probs[stop_rows]
    if previous_stop is not None and not np.isfinite(previous_stop).all():
        previous_stop = None  # a round stored before the stop set existed
    strategy = registry.get(cfg.sampler)
    labeled = np.zeros(len(train), dtype=bool)
    known_labels = np.full(len(train), -1, dtype=np.int64)
    pending = np.asarray(to_label, dtype=np.int64)
    phase = on_phase or (lambda r, p: None)
    mc_passes = int(strategy.option_values(cfg.sampler_options).get("mc_passes", 0)) if strategy.needs_mc else 0

    for r in range(start_round, cfg.rounds + 1):
        if len(pending):
            phase(r, "labeling")
            known_labels[pending] = oracle(pending, r)
            labeled[pending[known_labels[pending] >= 0]] = True
        if not labeled.any():
            raise ValueError("no image has a label yet: label at least one NORMAL and one PNEUMONIA image")
        seed = round_seed(cfg.seed, r)
        rows = np.flatnonzero(labeled)
        phase(r, "train")
        started = time.perf_counter()
        diverged = TrainingDiverged(f"the loss became NaN at round {r}: lower the learning rate (it was {cfg.lr:g})")
        try:
            learner.fit(rows, known_labels[rows], seed)
        except LossNotFinite:
            raise diverged from None
        train_seconds = time.perf_counter() - started

        phase(r, "evaluate")
        started = time.perf_counter()
        test_probs = learner.infer("test").probs
        if not np.isfinite(test_probs).all():  # finite weights whose activations overflow: diverged too
            raise diverged
        # the threshold comes from the labeled rows alone (learner.fit); the test split only scores it
        metrics = round_metrics(test.labels, test_probs, learner.threshold, seed)
        eval_seconds = time.perf_counter() - started

        querying = r < cfg.rounds
        unlabeled = np.flatnonzero(~labeled)
        scores = np.full(len(train), np.nan)
        probs = np.full(len(train), np.nan, dtype=np.float32)
        queried = np.zeros(len(train), dtype=bool)
        strategy_clusters, pool = None, None
        started = time.perf_counter()
        whole_pool = cfg.record_embeddings or (querying and strategy.needs_labeled_features)
        needed = np.union1d(unlabeled, stop_rows) if querying else stop_rows
        if whole_pool or len(needed):
            phase(r, "query" if querying else "snapshot")
            pool = learner.infer("train", mc_passes=mc_passes if querying else 0, seed=seed,
                                 rows=None if whole_pool else needed)
            inferred = slice(None) if whole_pool else needed
            probs[inferred] = pool.probs[inferred]
        kappas.append(round_kappa(previous_stop, probs[stop_rows]))
        previous_stop = probs[stop_rows]
        stable = rule.holds(kappas)
        stopped_by_rule = querying and stable and cfg.stop_when_stable
        querying = querying and not stopped_by_rule
        if querying:
            labeled_features = pool.features[rows if whole_pool else []]
            view = Pool(probs=pool.probs[unlabeled], features=pool.features[unlabeled],
                        labeled_features=labeled_features, rng=np.random.default_rng([cfg.seed, r]),
                        mc_probs=None if pool.mc_probs is None else pool.mc_probs[:, unlabeled])
            selection = registry.query(cfg.sampler, view, cfg.budget, cfg.sampler_options)
            picked = unlabeled[selection.indices]
            scores[unlabeled] = selection.scores
            queried[picked] = True
            if selection.clusters is not None:
                strategy_clusters = np.full(len(train), -1, dtype=np.int32)
                strategy_clusters[unlabeled] = selection.clusters
        else:
            picked = np.empty(0, dtype=np.int64)
        query_seconds = time.perf_counter() - started

        arrays = {"ids": train.ids.astype(str), "prob": probs, "score": scores, "queried": queried,
                  "labeled": labeled.copy(), "label": train.labels.astype(np.int8),
                  "test_prob": test_probs.astype(np.float32), "test_label": test.labels.astype(np.int8)}
        if cfg.record_embeddings:
            embedding, features_pca, display_clusters = _display_layout(pool.features, seed)
            arrays.update(embedding=embedding, features_pca=features_pca, cluster=display_clusters)
        if strategy_clusters is not None:
            arrays["cluster"] = strategy_clusters
        per_class = np.bincount(known_labels[rows].clip(0), minlength=2)
        record = RoundRecord(
            round=r, n_labeled=int(labeled.sum()), metrics=metrics.at_threshold, threshold=metrics.threshold,
            metrics_at_0_5=metrics.at_0_5, ci=metrics.ci,
            n_labeled_per_class={"NORMAL": int(per_class[0]), "PNEUMONIA": int(per_class[1])},
            fit=dict(learner.fit_info), queried_ids=tuple(train.ids[picked].astype(str).tolist()),
            seconds=Timings(round(train_seconds, 4), round(query_seconds, 4), round(eval_seconds, 4)),
            stop_kappa=kappas[-1], predictions_stable=bool(stable), stopped_by_rule=bool(stopped_by_rule))
        yield RoundResult(record, arrays)
        if stopped_by_rule:
            return
        pending = picked
