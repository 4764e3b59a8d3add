"""What the dashboard pages show, computed from the results store and the data cache. No streamlit.

Round files never change once listed, so their arrays, projections and the data sets behind
thumbnails are cached in-process (and UMAP layouts on disk, next to the round they belong to).
"""
from __future__ import annotations

import base64
import io
import os
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from alcore.config import ExperimentConfig
from alcore.data.base import Dataset
from alcore.oracle import LabelBook
from alcore.diagnostics import Diagnostics
from alcore.plots import CurveSeries, round_diagnostics as diagnostics_of, strategy_label
from alcore.stopping import StabilityRule
from alcore.runs import ACTIVE_STATES, RunStore, WAITING_STATES, atomic_write_bytes, read_npz
from alcore.summary import rounds_frame

if TYPE_CHECKING:
    from alcore.jobs import JobManager

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
HIDDEN = "hidden"  # the label shown for an image waiting for a person (human oracle)
PROJECTIONS = ("PCA", "UMAP")
LIVE_STATES = ACTIVE_STATES
RESUMABLE_STATES = ("interrupted", "cancelled", "failed")
# The one-click demo: EfficientNet-Lite0 ImageNet features (frozen) on the synthetic teaching preset, where
# the model visibly learns and the strategies' effects were measured over 5 seeds (docs/teaching.md).
# Small, so that its 11 rounds compute in about 10 s on one CPU core: 600 + 60 + 600 images at 64 px.
# PNEUMONIA is the minority, as in screening.
DEMO_CONFIG = ExperimentConfig(resolution=64, synthetic_size=600, synthetic_preset="teaching",
                               synthetic_pneumonia_share=0.3, init_size=30, budget=30, rounds=10)


def results_root() -> Path:
    return Path(os.environ.get("ALCORE_RESULTS", "results"))


# --- run lists ---------------------------------------------------------------------------------
def data_label(config: dict) -> str:
    data = config.get("data", "?")
    if data == "synthetic":
        preset = "" if config.get("synthetic_preset", "standard") == "standard" else f" {config['synthetic_preset']}"
        return f"synthetic{preset} ({config.get('synthetic_size', '?')})"
    return Path(data).name or data


def twin_settings(config: dict) -> dict:
    """A run's config without what a human run and its simulated twin differ in."""
    return {k: v for k, v in config.items() if k not in ("run_id", "resolved", "oracle")}


def withheld_runs(store: RunStore) -> frozenset[str]:
    """The simulated twins of human runs that may still ask for labels (asks_for_labels): their picks
    and labels are the truth's, so no list shows them until the human run is done."""
    configs = {run_id: store.load_config(run_id) for run_id in store.run_ids()}
    asking = [twin_settings(c) for run_id, c in configs.items()
              if c.get("oracle") == "human" and asks_for_labels(store, run_id)]
    return frozenset(run_id for run_id, c in configs.items()
                     if c.get("oracle", "simulated") == "simulated" and twin_settings(c) in asking)


def runs_table(store: RunStore) -> pd.DataFrame:
    """One row per run, newest first, but the withheld twins: what the Home page lists."""
    withheld = withheld_runs(store)
    rows = [{"run_id": run.run_id, "state": run.status.state, "strategy": strategy_label(run.config),
             "oracle": run.config.get("oracle", "simulated"), "data": data_label(run.config),
             "labels": run.last.get("n_labeled", 0),
             "best_accuracy": run.best_accuracy, "best_auc": run.best_auc,
             "started": _local_time(run.status.started_at), "experiment": run.config.get("experiment", "")}
            for run in store.list_runs() if run.run_id not in withheld]
    columns = ["run_id", "state", "strategy", "oracle", "data", "labels", "best_accuracy", "best_auc", "started",
               "experiment"]
    return pd.DataFrame(rows, columns=columns)


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def experiments(store: RunStore) -> dict[str, list[str]]:
    """Experiment name -> its run ids (but the withheld twins), newest experiment first."""
    groups: dict[str, list[str]] = {}
    withheld = withheld_runs(store)
    for run_id in store.run_ids():
        if run_id in withheld:
            continue
        name = store.load_config(run_id).get("experiment", "")
        if name:
            groups.setdefault(name, []).append(run_id)
    return groups


# --- progress ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunProgress:
    """A run's progress from its live job (any process's: the run folder says), else from status.json."""

    state: str
    round: int  # last finished round, -1 before the first
    rounds_total: int
    n_labeled: int
    fraction: float
    eta_seconds: float | None
    detail: str  # what it is doing now
    error: str
    attached: bool  # a live worker (of any process, here or on Ray) computes it, so Stop reaches it

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES

    @property
    def text(self) -> str:
        """Rounds are named by the labels they trained on (as everywhere in the dashboard, CLI and log)."""
        parts = [f"{self.n_labeled} labels used", f"{self.round + 1} of {self.rounds_total} rounds done"]
        if self.state == "waiting_for_labels":
            parts.append("waiting for your labels")
        elif self.state == "paused":
            parts.append("paused after its query: Next round goes on")
        elif self.eta_seconds is not None:
            parts.append(f"about {format_duration(self.eta_seconds)} left")
        return " · ".join(parts)


def run_progress(store: RunStore, jobs: JobManager, run_id: str) -> RunProgress:
    snap = jobs.snapshot(run_id)
    status = store.load_status(run_id)
    if snap is None or not snap.running:  # status.json holds the rounds; a finished job knows how it ended
        state, error = (status.state, status.error) if snap is None else (snap.state, snap.error or status.error)
        return RunProgress(state, status.round, status.rounds_total, status.n_labeled, status.progress,
                           None, status.message, error, attached=False)
    detail = snap.message
    if snap.phase_total:
        detail = f"{snap.phase} {snap.phase_done}/{snap.phase_total}"
    return RunProgress(snap.state, snap.round, snap.rounds_total, max(snap.n_labeled, status.n_labeled),
                       snap.progress, None if snap.state in WAITING_STATES else snap.eta_seconds, detail,
                       snap.error, attached=True)  # a person's pace is not the machine's: no ETA while waiting


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


# --- one round ---------------------------------------------------------------------------------
def round_arrays(store: RunStore, run_id: str, round_index: int) -> dict[str, np.ndarray]:
    path = store.round_path(run_id, round_index)
    return _npz(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=48)
def _npz(path: str, mtime_ns: int) -> dict[str, np.ndarray]:
    return read_npz(Path(path))


def records_embeddings(store: RunStore, run_id: str) -> bool:
    """Whether the run stores each round's layout (runs from before the setting always did)."""
    return store.load_config(run_id).get("record_embeddings", True) is not False


def waiting_ids(store: RunStore, run_id: str) -> frozenset[str]:
    """The images of a human run queued or queried and not yet labeled NORMAL or PNEUMONIA: until a person
    answers them, no page shows their true label, their file name or (unless asked) the model's guess."""
    if store.load_config(run_id).get("oracle") != "human":
        return frozenset()
    book = LabelBook(store, run_id)
    queue = book.queue()
    asked = {i for record in store.load_rounds(run_id) for i in record.get("queried_ids", [])}
    asked |= set(queue.ids if queue is not None else ())
    return frozenset(asked - {i for i, (label, _) in book.answers().items() if label in CLASS_NAMES})


def asks_for_labels(store: RunStore, run_id: str) -> bool:
    """Whether a human run may still ask a person for labels: in any state but done (a stopped or failed
    one can be resumed). While it may, no view shows anything of the truth (agreement, true classes,
    the simulated twin), so nothing biases the person."""
    return store.load_config(run_id).get("oracle") == "human" and store.load_status(run_id).state != "done"


def given_labels(store: RunStore, run_id: str) -> dict[str, str]:
    """A human run's NORMAL / PNEUMONIA answers by sample id (skips left out)."""
    return {i: label for i, (label, _) in LabelBook(store, run_id).answers().items() if label in CLASS_NAMES}


def round_frame(store: RunStore, run_id: str, round_index: int, reveal_prediction: bool = False) -> pd.DataFrame:
    """The train pool at one round: id, PCA x/y, cluster, label, p(PNEUMONIA), score, status, secret.
    x/y are NaN and cluster -1 where the run recorded no embeddings. A human run's labels are the
    person's (never the truth; 'hidden' where none was given). `secret` rows wait for a person:
    their prob and score are NaN unless `reveal_prediction`."""
    path = store.round_path(run_id, round_index)
    frame = _pool_frame(str(path), path.stat().st_mtime_ns).copy()
    frame["secret"] = frame.id.isin(waiting_ids(store, run_id))
    if store.load_config(run_id).get("oracle") == "human":
        answers = given_labels(store, run_id)
        frame["label"] = [answers.get(sample_id, HIDDEN) for sample_id in frame.id]
    if not reveal_prediction:
        frame.loc[frame.secret, ["prob", "score"]] = np.nan
    return frame


@lru_cache(maxsize=48)
def _pool_frame(path: str, mtime_ns: int) -> pd.DataFrame:
    """A round file as a frame, built once per process (every session following a run reads it)."""
    a = _npz(path, mtime_ns)
    status = np.where(a["queried"], "queried", np.where(a["labeled"], "labeled", "unlabeled"))
    labels = a["label"].astype(int)
    xy = a["embedding"] if "embedding" in a else np.full((len(a["ids"]), 2), np.nan, np.float32)
    return pd.DataFrame({
        "id": a["ids"], "x": xy[:, 0], "y": xy[:, 1], "cluster": a.get("cluster", np.full(len(a["ids"]), -1)),
        "label": np.where(labels < 0, "unknown", np.array(CLASS_NAMES)[labels.clip(0)]),
        "prob": a["prob"].astype(float), "score": a["score"].astype(float), "status": status,
    })


def projection(store: RunStore, run_id: str, round_index: int, method: str) -> np.ndarray:
    """(n, 2) layout of the round's train pool: PCA from the round file, or UMAP cached beside it."""
    arrays = round_arrays(store, run_id, round_index)
    if method == "PCA":
        return arrays["embedding"]
    path = store.run_dir(run_id) / "rounds" / f"umap_{round_index:03d}.npy"
    if path.is_file():
        return np.load(path)
    layout = umap_layout(arrays["features_pca"])
    try:
        atomic_write_bytes(path, _npy_bytes(layout))
    except OSError:  # a full disk or a read-only run folder: shown all the same, computed again next time
        pass
    return layout


_UMAP_COMPILED = threading.Event()
_UMAP_WARM_UP: list[threading.Thread] = []
_UMAP_LOCK = threading.Lock()


def warm_up_umap() -> None:
    """Compile UMAP's numba code in a background thread, once per process: the first layout otherwise
    spends 30-60 s compiling on two cores (numba caches little of it on disk), the next ones seconds.
    Started when the Embeddings page is first shown, not at server start, so a demo run is not slowed."""
    with _UMAP_LOCK:
        if not _UMAP_WARM_UP:
            tiny = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
            _UMAP_WARM_UP.append(threading.Thread(target=umap_layout, args=(tiny,), name="umap-warm-up", daemon=True))
            _UMAP_WARM_UP[0].start()


def umap_compiled() -> bool:
    """Whether a UMAP layout has finished in this process (later ones need no compiling)."""
    return _UMAP_COMPILED.is_set()


def umap_layout(features: np.ndarray) -> np.ndarray:
    """UMAP on exact neighbours (sklearn): skipping pynndescent saves a minute of numba compiling,
    and 200 epochs lay out 5,000 points in about two seconds on two cores."""
    import umap  # late: importing it costs seconds
    from sklearn.neighbors import NearestNeighbors

    features = features.astype(np.float32)
    if len(features) < 4:  # no neighbourhood to lay out
        return np.zeros((len(features), 2), np.float32)
    k = min(15, len(features) - 1)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(features).kneighbors(features)
    reducer = umap.UMAP(n_neighbors=k, min_dist=0.1, n_epochs=200, precomputed_knn=(indices, distances, None))
    with warnings.catch_warnings():  # "no NNDescent index, so no transform()": we never transform
        warnings.simplefilter("ignore", UserWarning)
        layout = reducer.fit_transform(features).astype(np.float32)
    _UMAP_COMPILED.set()
    return layout


def _npy_bytes(array: np.ndarray) -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def latest_queried_round(rounds: list[dict]) -> dict | None:
    """The record of the last round that queried images (the final round only evaluates)."""
    queried = [r for r in rounds if r.get("queried_ids")]
    return queried[-1] if queried else None


def queried_frame(store: RunStore, run_id: str, rounds: list[dict], reveal_prediction: bool = False) -> pd.DataFrame:
    """The images queried in the given rounds (records), highest score first within a round; `labels`
    is the labeled count of the model that picked them (round_frame's `secret` marks those waiting)."""
    frames = []
    for record in rounds:
        frame = round_frame(store, run_id, record["round"], reveal_prediction)
        frames.append(frame[frame.status == "queried"].sort_values("score", ascending=False)
                      .assign(round=record["round"], labels=record["n_labeled"]))
    columns = ["round", "labels", "id", "label", "prob", "score", "secret"]
    return pd.concat(frames)[columns].reset_index(drop=True) if frames else pd.DataFrame(columns=columns)


# --- images ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunImages:
    dataset: Dataset
    rows: dict[str, tuple[str, int]]  # sample id -> (split, row)
    thumbnails: dict[str, str] = field(default_factory=dict, compare=False)  # encoded once, for every session

    def image(self, sample_id: str) -> np.ndarray:
        split, row = self.rows[sample_id]
        return np.asarray(self.dataset.splits[split].images[row])

    def thumbnail(self, sample_id: str) -> str:
        """The image as a thumbnail data URI: one shown to twenty browsers is encoded once, not twenty times."""
        if sample_id not in self.thumbnails:
            self.thumbnails[sample_id] = thumbnail_uri(self.image(sample_id))
        return self.thumbnails[sample_id]

    def source(self, sample_id: str) -> str:
        split, row = self.rows[sample_id]
        return str(self.dataset.splits[split].sources[row])

    def label(self, sample_id: str) -> int:
        """The true label: 0 NORMAL, 1 PNEUMONIA, -1 unknown (an unlabeled folder)."""
        split, row = self.rows[sample_id]
        return int(self.dataset.splits[split].labels[row])


def run_images(store: RunStore, run_id: str) -> RunImages:
    """The decoded images of a run: the cache entry named in its config, else decoded again."""
    config = store.load_config(run_id)
    fingerprint = config.get("resolved", {}).get("data_fingerprint", "")
    return _images(fingerprint, config["data"], int(config["resolution"]), int(config["seed"]),
                   int(config.get("synthetic_size", 2000)), float(config.get("synthetic_pneumonia_share", 0.75)),
                   config.get("oracle") == "human", str(config.get("synthetic_preset", "standard")))


@lru_cache(maxsize=4)
def _images(fingerprint: str, data: str, resolution: int, seed: int, size: int, share: float,
            allow_unlabeled: bool, preset: str) -> RunImages:
    from alcore.data import load_dataset, open_cached

    dataset = open_cached(fingerprint) if fingerprint else None
    if dataset is None:
        dataset = load_dataset(data, resolution, seed=seed, synthetic_size=size, pneumonia_share=share,
                               allow_unlabeled=allow_unlabeled, synthetic_preset=preset)
    rows = {sample_id: (name, row) for name, split in dataset.splits.items()
            for row, sample_id in enumerate(split.ids.tolist())}
    return RunImages(dataset, rows)


def thumbnail_uris(store: RunStore, run_id: str, ids: list[str]) -> list[str]:
    """Each sample's image as the model saw it, as a thumbnail data URI (cached for every session)."""
    images = run_images(store, run_id)
    return [images.thumbnail(i) for i in ids]


def images_by_id(store: RunStore, run_id: str, ids: list[str]) -> list[np.ndarray]:
    """Each sample's decoded (H, W) uint8 image, as the model saw it."""
    images = run_images(store, run_id)
    return [images.image(i) for i in ids]


THUMBNAIL_PX = 192  # the longest side of a grid thumbnail (8 per row on a wide screen: about 160 px each)
SHORT_ID = 18  # characters of a sample id under a thumbnail: one line


def thumbnail_uri(image: np.ndarray) -> str:
    """A PNG data URI of the image at thumbnail size. Inline, not a media file: a file the server
    drops on a rerun gave the browser 404s ('Image source error') when a live page refreshed."""
    thumb = Image.fromarray(image)
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def short_id(sample_id: str) -> str:
    """A sample id that fits one line under a thumbnail: the file name, its middle elided."""
    name = Path(sample_id).name
    if len(name) <= SHORT_ID:
        return name
    keep = SHORT_ID - 1
    return name[:keep - keep // 2] + "…" + name[-(keep // 2):]


def original_file(store: RunStore, run_id: str, sample_id: str) -> Path | None:
    """The image file a sample was decoded from, when it is a file still on disk."""
    source = Path(run_images(store, run_id).source(sample_id))
    return source if source.suffix and source.is_file() else None


# --- comparison --------------------------------------------------------------------------------
IGNORED_IN_SERIES = {"run_id", "seed", "experiment", "resolved", "sampler", "full_data", "record_embeddings",
                     "stop_set_size", "stop_kappa", "stop_window"}  # the stopping signal changes no metric
APPLIES = {  # settings that matter only to some runs: a series name lists them only there
    "synthetic_size": lambda c: c.get("data") == "synthetic",
    "synthetic_pneumonia_share": lambda c: c.get("data") == "synthetic",
    "synthetic_preset": lambda c: c.get("data") == "synthetic",
    "epochs": lambda c: c.get("regime") == "finetune",
    "head_steps": lambda c: c.get("regime") == "frozen",
}


def comparison_frame(store: RunStore, run_ids: list[str]) -> pd.DataFrame:
    """summary.rounds_frame whose 'strategy' names a series: the sampler, plus the settings that
    differ between the compared runs and apply to it, so only runs differing in seed alone are averaged."""
    frame = rounds_frame(store, run_ids)
    configs = {run_id: store.load_config(run_id) for run_id in run_ids}
    al = [c for c in configs.values() if not c.get("full_data")]
    varying = sorted({k for c in al for k, v in c.items() if k not in IGNORED_IN_SERIES
                      and any(other.get(k) != v for other in al)})
    if "data" in varying:  # the data's label already says which synthetic set
        varying = [k for k in varying if k not in ("synthetic_size", "synthetic_pneumonia_share", "synthetic_preset")]

    def series(config: dict) -> str:
        shown = [k for k in varying if APPLIES.get(k, lambda c: True)(config)]
        extra = ", ".join(f"{k}={data_label(config) if k == 'data' else config.get(k)}" for k in shown)
        return strategy_label(config) + (f" ({extra})" if extra and not config.get("full_data") else "")

    frame["strategy"] = frame.run_id.map({run_id: series(c) for run_id, c in configs.items()})
    return frame


# --- diagnostics of a round and the stopping signal --------------------------------------------
def round_diagnostics(store: RunStore, run_id: str, record: dict) -> Diagnostics | None:
    """The round's test-set curves (plots.round_diagnostics) from its cached arrays."""
    return diagnostics_of(record, round_arrays(store, run_id, record["round"]))


def record_at(records: list[dict], round_index: int | None) -> dict:
    """The record of a round, or the last one when the run has not got that far (or None is asked)."""
    return next((r for r in records if r["round"] == round_index), records[-1])


def curve_series(store: RunStore, run_ids: list[str], round_index: int | None) -> list[CurveSeries]:
    """One entry per run that can draw the round (its last round when it has fewer), for the overlays."""
    series = []
    for run_id in run_ids:
        records = store.load_rounds(run_id)
        if not records:
            continue
        record = record_at(records, round_index)
        found = round_diagnostics(store, run_id, record)
        if found is not None:
            config = store.load_config(run_id)
            name = f"{strategy_label(config)} s{config.get('seed', '?')} · {record['n_labeled']} labels"
            series.append(CurveSeries(name, found, record.get("ci") or {}))
    return series


def diagnostics_table(series: list[CurveSeries]) -> pd.DataFrame:
    """What a radiologist reads per model: sensitivity and specificity at the threshold, and the rest."""
    rows = [{"model": s.name, "threshold": s.diagnostics.point.threshold,
             "sensitivity": s.diagnostics.point.sensitivity, "specificity": s.diagnostics.point.specificity,
             "precision": s.diagnostics.point.precision, "roc_auc": s.diagnostics.roc_auc,
             "average_precision": s.diagnostics.average_precision, "brier": s.diagnostics.reliability.brier,
             "ece": s.diagnostics.reliability.ece} for s in series]
    return pd.DataFrame(rows, columns=["model", "threshold", "sensitivity", "specificity", "precision", "roc_auc",
                                       "average_precision", "brier", "ece"])


def stability_rule(config: dict) -> StabilityRule:
    """The run's stopping rule (the defaults for runs recorded before it had one)."""
    return StabilityRule(float(config.get("stop_kappa", StabilityRule.threshold)),
                         int(config.get("stop_window", StabilityRule.window)))


def stopping_summary(records: list[dict], config: dict) -> str:
    """The stopping signal in a sentence: since when the model has stopped changing, or how far it is."""
    kappas = [r.get("stop_kappa") for r in records]
    if not config.get("stop_set_size", 1) or all(k is None for k in kappas):
        return ("No stopping signal: this run predicts no stop set (stop_set_size 0, or recorded before the signal "
                "existed)." if len(records) > 1 or not config.get("stop_set_size", 1) else
                "The stopping signal needs two rounds: it compares each round's predictions with the previous one's.")
    rule = stability_rule(config)
    what = f"κ ≥ {rule.threshold} between successive rounds' predictions on the stop set for {rule.window} rounds"
    labels = [r["n_labeled"] for r in records]  # kappas[i] belongs to records[i]
    since = rule.stable_since(kappas)
    if since is not None:
        text = (f"**The model has stopped changing since {labels[since]} labels** ({what}): more labels are "
                "unlikely to change what it predicts.")
        if records[-1].get("stopped_by_rule"):
            text += f" The stopping rule ended the run at {records[-1]['n_labeled']} labels."
        return text
    first = rule.first_stop(kappas)
    last = next(k for k in reversed(kappas) if k is not None)
    return (f"Still changing: κ = {last:.4f} against the previous round (it says stop at {what})."
            + (f" It held at {labels[first]} labels, then the predictions moved again." if first is not None else ""))
