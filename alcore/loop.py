"""The active-learning loop: train -> evaluate -> snapshot -> query -> label, one round at a time.

`run_rounds` yields one RoundResult per finished round. Round r trains on init + r x budget labels,
so `rounds=10` gives 11 evaluations and the last queried batch is trained on. All randomness of
round r comes from (seed, r), so a resumed run repeats an uninterrupted one.

With `record_embeddings` off, a round infers only what its query reads (the unlabeled rows, plus
the labeled ones for strategies that measure distances to them) and the final round infers
nothing; probabilities of rows not inferred are stored as NaN, and no display layout is stored.

Each record holds the test metrics at the learner's threshold (chosen on the labeled set), the same
at 0.5 (keys ending `_at_0_5`) and `ci`: 95 % bootstrap intervals over test images.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from alcore.config import ExperimentConfig
from alcore.data.base import Dataset
from alcore.learners import Learner
from alcore.metrics import round_metrics
from alcore.strategies import Pool, registry

DISPLAY_CLUSTERS = 8  # K-Means clusters drawn on the Embeddings page when a strategy has none
STORED_PCA_DIMS = 32  # per-round compressed features, for UMAP on the dashboard


@dataclass
class RoundResult:
    record: dict  # one line of rounds.jsonl
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
    """2-D PCA for the scatter, a compact PCA for UMAP, and display clusters."""
    dims = min(STORED_PCA_DIMS, features.shape[1], len(features))
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(features)
    k = min(DISPLAY_CLUSTERS, len(features))
    clusters = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(reduced[:, :10])
    return reduced[:, :2].astype(np.float32), reduced.astype(np.float16), clusters.astype(np.int32)


def run_rounds(cfg: ExperimentConfig, dataset: Dataset, learner: Learner, to_label: np.ndarray,
               oracle: Oracle, start_round: int = 0,
               on_phase: Callable[[int, str], None] | None = None) -> Iterator[RoundResult]:
    """Run rounds start_round..cfg.rounds. `to_label` (train rows) go to the oracle before the
    first of them is trained: the initial set, or on resume every row labeled so far."""
    train, test = dataset.train, dataset.test
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
        learner.fit(rows, known_labels[rows], seed)
        train_seconds = time.perf_counter() - started

        phase(r, "evaluate")
        started = time.perf_counter()
        # the threshold comes from the labeled rows alone (learner.fit); the test split only scores it
        metrics = round_metrics(test.labels, learner.infer("test").probs, learner.threshold, seed)
        eval_seconds = time.perf_counter() - started

        querying = r < cfg.rounds
        unlabeled = np.flatnonzero(~labeled)
        scores = np.full(len(train), np.nan)
        probs = np.full(len(train), np.nan, dtype=np.float32)
        queried = np.zeros(len(train), dtype=bool)
        strategy_clusters, pool = None, None
        started = time.perf_counter()
        if querying or cfg.record_embeddings:
            phase(r, "query" if querying else "snapshot")
            whole_pool = cfg.record_embeddings or strategy.needs_labeled_features
            pool = learner.infer("train", mc_passes=mc_passes if querying else 0, seed=seed,
                                 rows=None if whole_pool else unlabeled)
            inferred = slice(None) if whole_pool else unlabeled
            probs[inferred] = pool.probs[inferred]
        if querying:
            labeled_features = pool.features[rows if whole_pool else []]
            view = Pool(probs=pool.probs[unlabeled], features=pool.features[unlabeled],
                        labeled_features=labeled_features, rng=np.random.default_rng([cfg.seed, r]),
                        mc_probs=None if pool.mc_probs is None else pool.mc_probs[:, unlabeled],
                        options=cfg.sampler_options)
            selection = registry.query(cfg.sampler, view, cfg.budget)
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
                  "labeled": labeled.copy(), "label": train.labels.astype(np.int8)}
        if cfg.record_embeddings:
            embedding, features_pca, display_clusters = _display_layout(pool.features, seed)
            arrays.update(embedding=embedding, features_pca=features_pca, cluster=display_clusters)
        if strategy_clusters is not None:
            arrays["cluster"] = strategy_clusters
        per_class = np.bincount(known_labels[rows].clip(0), minlength=2)
        record = {
            "round": r, "n_labeled": int(labeled.sum()),
            "n_labeled_per_class": {"NORMAL": int(per_class[0]), "PNEUMONIA": int(per_class[1])},
            **metrics, "fit": learner.fit_info,
            "queried_ids": train.ids[picked].astype(str).tolist(),
            "train_seconds": round(train_seconds, 4), "query_seconds": round(query_seconds, 4),
            "eval_seconds": round(eval_seconds, 4),
        }
        yield RoundResult(record, arrays)
        pending = picked
