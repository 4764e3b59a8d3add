"""One round of a run as the pages show it: the train pool's frame and the queried images.

Round files never change once listed, so their arrays and frames are cached in-process. No streamlit.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from alcore.metrics import REFERENCE_THRESHOLD, predicted_classes
from alcore.oracle import LabelBook
from alcore.records import RoundRecord
from alcore.runs import RunState, RunStore, probs_from_file, read_npz

HIDDEN = "hidden"  # the label (and prediction) shown for an image waiting for a person (human oracle)
UNKNOWN = "unknown"  # the true label of an image in an unlabeled folder
NOT_INFERRED = "not inferred"  # the prediction of a row the run did not infer (a labeled row without embeddings)


def round_arrays(store: RunStore, run_id: str, round_index: int) -> dict[str, np.ndarray]:
    path = store.round_path(run_id, round_index)
    return cached_npz(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=48)
def cached_npz(path: str, mtime_ns: int) -> dict[str, np.ndarray]:
    """A round file's arrays, read once per process (the mtime keys a file written again)."""
    return read_npz(Path(path))


def records_embeddings(store: RunStore, run_id: str) -> bool:
    """Whether the run stores each round's layout (runs from before the setting always did)."""
    return store.load_config(run_id).record_embeddings


def waiting_ids(store: RunStore, run_id: str) -> frozenset[str]:
    """The images of a human run queued or queried and not yet given a class label: until a person
    answers them, no page shows their true label, their file name or (unless asked) the model's guess."""
    if store.load_config(run_id).oracle != "human":
        return frozenset()
    book = LabelBook(store, run_id)
    queue = book.queue()
    asked = {i for record in store.load_rounds(run_id) for i in record.queried_ids}
    asked |= set(queue.ids if queue is not None else ())
    return frozenset(asked - set(given_labels(store, run_id)))


def asks_for_labels(store: RunStore, run_id: str) -> bool:
    """Whether a human run may still ask a person for labels: in any state but done (a stopped or failed
    one can be resumed). While it may, no view shows anything of the truth (agreement, true classes,
    the simulated twin), so nothing biases the person."""
    return store.load_config(run_id).oracle == "human" and store.load_status(run_id).state != RunState.DONE


def given_labels(store: RunStore, run_id: str) -> dict[str, str]:
    """A human run's class answers by sample id (skips left out)."""
    book = LabelBook(store, run_id)
    classes = book.classes
    return {i: label for i, (label, _) in book.answers().items() if label in classes}


def predicted_labels(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Each row's predicted label index from (n, C) probabilities: with two classes p(positive) at or above
    the round's threshold (0.5 for runs recorded before thresholds), else the most probable class; -1 where
    the row was not inferred (NaN)."""
    inferred = ~np.isnan(probs).any(axis=1)
    cut = REFERENCE_THRESHOLD if threshold is None or np.isnan(threshold) else threshold
    return np.where(inferred, predicted_classes(np.nan_to_num(probs), cut), -1)


def round_frame(store: RunStore, run_id: str, record: RoundRecord, reveal_prediction: bool = False) -> pd.DataFrame:
    """The train pool at one round (its record: which round, and the threshold its model predicts at): id, PCA x/y, cluster, label, predicted (class), confidence (its
    probability), prob (p(positive), two classes only), score, status, secret. x/y are NaN and cluster -1
    where the run recorded no embeddings. A human run's labels are the person's (never the truth; 'hidden'
    where none was given). `secret` rows wait for a person: their prediction and score are hidden unless
    `reveal_prediction`."""
    path = store.round_path(run_id, record.round)
    frame = _pool_frame(str(path), path.stat().st_mtime_ns, store.classes(run_id), record.threshold).copy()
    frame["secret"] = frame.id.isin(waiting_ids(store, run_id))
    if store.load_config(run_id).oracle == "human":
        answers = given_labels(store, run_id)
        frame["label"] = [answers.get(sample_id, HIDDEN) for sample_id in frame.id]
    if not reveal_prediction:
        frame.loc[frame.secret, [c for c in ("confidence", "prob", "score") if c in frame]] = np.nan
        frame.loc[frame.secret, "predicted"] = HIDDEN
    return frame


@lru_cache(maxsize=48)
def _pool_frame(path: str, mtime_ns: int, classes: tuple[str, ...], threshold: float | None) -> pd.DataFrame:
    """A round file as a frame, built once per process (every session following a run reads it)."""
    a = cached_npz(path, mtime_ns)
    status = np.where(a["queried"], "queried", np.where(a["labeled"], "labeled", "unlabeled"))
    labels = a["label"].astype(int)
    probs = probs_from_file(a["prob"])
    predicted = predicted_labels(probs, threshold)
    names = np.array(classes, dtype=object)
    xy = a["embedding"].astype(np.float32) if "embedding" in a else np.full((len(a["ids"]), 2), np.nan, np.float32)
    frame = pd.DataFrame({
        "id": a["ids"], "x": xy[:, 0], "y": xy[:, 1], "cluster": a.get("cluster", np.full(len(a["ids"]), -1)),
        "label": np.where(labels < 0, UNKNOWN, names[labels.clip(0)]),
        "predicted": np.where(predicted < 0, NOT_INFERRED, names[predicted.clip(0)]),
        "confidence": np.where(predicted < 0, np.nan, probs[np.arange(len(probs)), predicted.clip(0)]).astype(float),
        "score": a["score"].astype(float), "status": status,
    })
    if len(classes) == 2:
        frame.insert(frame.columns.get_loc("score"), "prob", probs[:, 1].astype(float))
    return frame


def latest_queried_round(rounds: list[RoundRecord]) -> RoundRecord | None:
    """The record of the last round that queried images (the final round only evaluates)."""
    queried = [r for r in rounds if r.queried_ids]
    return queried[-1] if queried else None


def queried_frame(store: RunStore, run_id: str, rounds: list[RoundRecord], reveal_prediction: bool = False) -> pd.DataFrame:
    """The images queried in the given rounds (records), highest score first within a round; `labels`
    is the labeled count of the model that picked them (round_frame's `secret` marks those waiting)."""
    frames = []
    for record in rounds:
        frame = round_frame(store, run_id, record, reveal_prediction)
        frames.append(frame[frame.status == "queried"].sort_values("score", ascending=False)
                      .assign(round=record.round, labels=record.n_labeled))
    columns = ["round", "labels", "id", "label", "predicted", "confidence", "score", "secret"]
    return pd.concat(frames)[columns].reset_index(drop=True) if frames else pd.DataFrame(columns=columns)
