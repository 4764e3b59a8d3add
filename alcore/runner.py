"""Runs an experiment end to end: config -> data -> learner -> loop -> results store.

Used by every executor (a worker process, a Ray actor) and by the CLI alike. `create_run` validates
and writes the run folder at once (so a page can follow it); `execute_run` does the work in the
calling process and always leaves a final status: done, failed (with the reason), cancelled or -
if the process dies - an active status that every reader sees as interrupted (runs.py).

While it works it holds the run's lock, touches its heartbeat, turns a `cancel` file into a stop
between batches, waits in state `paused` after each query while step mode is on (StepGate), and
writes phase and batch progress into status.json (at most every
PROGRESS_WRITE_S). It computes on `run_cores(cfg.threads)` cores (alcore.cores): its setting, else its
executor's share, else the whole machine; its numbers are the same on any number of them.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import alcore
from alcore.config import ConfigError, ExperimentConfig, check, pool_problems
from alcore.cores import run_cores
from alcore.data import load_run_data, summarize
from alcore.data.base import DataError, Dataset
from alcore.learners import make_learner
from alcore.loop import TrainingDiverged, initial_rows, run_rounds
from alcore.models import build_classifier, resolve_device
from alcore.modelio import keep_round_model
from alcore.tracking import log_after_run
from alcore.oracle import HumanOracle, LabelBook, StepGate
from alcore.records import RoundRecord
from alcore.runs import HOST, RunState, RunStatus, RunStore, RunWatch, StoreError, now_iso, probs_from_file
from alcore.strategies import registry
from alcore.train import Cancelled, TrainSettings

log = logging.getLogger(__name__)
PROGRESS_WRITE_S = 0.5  # batch progress reaches status.json at most this often
CANCEL_POLL_S = 0.25


class EventKind(StrEnum):
    PHASE = "phase"  # a phase of a round began (`round`, `phase`)
    PROGRESS = "progress"  # batch progress within the phase (`done` of `total`)
    ROUND = "round"  # a round finished (`record`)
    STATUS = "status"  # status.json was written (`status`)


@dataclass
class RunEvent:
    """What a run reports while it works: a phase change, batch progress, or a finished round."""

    run_id: str
    kind: EventKind
    round: int = -1
    phase: str = ""
    done: int = 0
    total: int = 0
    record: RoundRecord | None = None
    status: RunStatus | None = None


EventFn = Callable[[RunEvent], None]
PHASE_NAMES = {"labeling": "labeling the picked images", "train": "training", "evaluate": "testing",
               "query": "choosing the next images", "snapshot": "recording the pool"}


def _versions() -> dict[str, str]:
    """Installed versions, read from package metadata: importing torchvision here cost seconds of
    GIL time inside the dashboard's server while a demo run started."""
    return {"alcore": alcore.__version__, "python": platform.python_version(),
            **{package: _installed(package) for package in ("torch", "torchvision", "numpy", "scikit-learn")}}


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def pool_size(cfg: ExperimentConfig, scan: bool = False) -> int | None:
    """The train pool's size when it is known without decoding (synthetic; an .npz file's label array),
    or, with `scan`, by reading the data (decoded once and cached for the run). None when unknown.
    Raises DataError for data that cannot run (missing, empty, a single class)."""
    if cfg.data == "synthetic":
        return cfg.synthetic_size if isinstance(cfg.synthetic_size, int) else None
    if scan:
        return len(load_run_data(cfg).train)
    path = Path(cfg.data).expanduser()
    if path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return len(npz["train_labels"])
        except (OSError, ValueError, KeyError):
            return None  # the run says what is wrong with it
    return None


def create_run(cfg: ExperimentConfig, store: RunStore) -> str:
    """Validate what can be checked before reading the images (the pool's size too, where it is
    known), then create the run folder; returns its id. ConfigError or StoreError, with nothing written.
    The run is `queued`, owned by this process until an executor starts it. (alcore.launch checks a
    whole launch first, then calls new_run_folder.)"""
    check(cfg, pool_size=pool_size(cfg))
    return new_run_folder(cfg, store)


def new_run_folder(cfg: ExperimentConfig, store: RunStore) -> str:
    """The run folder of a checked config: its id. StoreError, with nothing written, when it cannot be."""
    cfg = replace(cfg, sampler=registry.canonical(cfg.sampler))
    run_id = store.create_run_dir(cfg.sampler, cfg.seed)
    try:
        store.write_config(run_id, cfg, {"created_at": now_iso()})
        store.write_status(run_id, RunStatus(RunState.QUEUED, rounds_total=cfg.n_evaluations,
                                             message="waiting to start",
                                             pid=os.getpid(), host=HOST))
        store.append_log(run_id, f"created run {run_id}: {cfg.sampler} on {cfg.data}, seed {cfg.seed}")
    except OSError as exc:
        shutil.rmtree(store.run_dir(run_id), ignore_errors=True)  # no half-written run in the list
        raise StoreError.writing(store.root, exc) from exc
    return run_id


def execute_run(store: RunStore, run_id: str, cancel: threading.Event | None = None,
                on_event: EventFn | None = None, dataset: Dataset | None = None) -> RunStatus:
    """Run (or continue) a created run to its end in this process; every outcome is written to
    status.json. `dataset`: the run's data already loaded (a Ray actor gets it from the object store).
    Raises RunBusy when another process computes the run."""
    cancel = cancel or threading.Event()
    with store.claim(run_id):
        with RunWatch(store, run_id, cancel.set, CANCEL_POLL_S):
            return _execute(store, run_id, cancel, on_event or (lambda event: None), dataset)


def _execute(store: RunStore, run_id: str, cancel: threading.Event, emit: EventFn,
             preloaded: Dataset | None) -> RunStatus:
    return _Execution(store, run_id, cancel, emit).run(preloaded)


class _Execution:
    """One execution of a run in this process, step by step: data, model, resolved facts, learner, rounds.
    It owns the run's status (written to status.json, sent as events) and its log."""

    def __init__(self, store: RunStore, run_id: str, cancel: threading.Event, emit: EventFn):
        self.store, self.run_id, self.cancel, self.emit = store, run_id, cancel, emit
        self.cfg = self.stored = store.load_config(run_id)  # `cfg` becomes the baseline's recipe; `stored` is kept
        self.done_rounds = store.load_rounds(run_id)
        self.status = status = store.stored_status(run_id)
        status.state, status.error, status.ended_at = RunState.RUNNING, "", ""
        status.pid, status.host, status.phase, status.phase_done, status.phase_total = os.getpid(), HOST, "", 0, 0
        status.rounds_total = self.cfg.n_evaluations
        status.round_seconds = status.round_seconds[:len(self.done_rounds)]
        status.started_at = status.started_at or now_iso()
        self.written = 0.0  # when status.json was last written (time.monotonic)
        self.round_started = time.monotonic()
        self.pool: int | None = None  # the train pool's size, once the data is loaded
        self.logged_quarters: dict[str, int] = {}

    def set_status(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.status, key, value)
        self.store.write_status(self.run_id, self.status)
        self.written = time.monotonic()
        self.emit(RunEvent(self.run_id, EventKind.STATUS, status=self.status))

    def note(self, message: str) -> None:
        self.store.append_log(self.run_id, message)
        log.info("%s: %s", self.run_id, message)

    def run(self, preloaded: Dataset | None) -> RunStatus:
        """Every outcome ends in status.json: done, cancelled, failed (with a sentence), interrupted."""
        try:
            self.compute(preloaded)
        except Cancelled:
            self.note(f"stopped by the user {_kept(self.status)}")
            self.set_status(state=RunState.CANCELLED, message=f"stopped {_kept(self.status)}", ended_at=now_iso())
        except KeyboardInterrupt:
            self.set_status(state=RunState.INTERRUPTED, message=f"interrupted {_kept(self.status)}", ended_at=now_iso())
            raise
        except Exception as exc:  # noqa: BLE001 - each kind gets its sentence; the traceback stays in the log
            self.fail(exc)
        if self.cfg.mlflow:
            log_after_run(self.store, self.run_id, self.cfg.mlflow, self.note)
        return self.status

    def fail(self, exc: Exception) -> None:
        if isinstance(exc, (ConfigError, DataError)):
            self.note(f"refused: {exc}")
            error, message = str(exc), "invalid settings or data"
        elif isinstance(exc, TrainingDiverged):
            self.note(f"failed: {exc}")
            error, message = str(exc), "failed: training diverged"
        elif isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
            self.note("failed:\n" + traceback.format_exc())
            error, message = out_of_memory_message(self.cfg, self.pool), "out of memory"
        else:
            self.note("failed:\n" + traceback.format_exc())
            error, message = f"{type(exc).__name__}: {exc}", "failed"
        self.set_status(state=RunState.FAILED, error=error, message=message, ended_at=now_iso())

    def compute(self, preloaded: Dataset | None) -> None:
        cfg = self.cfg
        cores = run_cores(cfg.threads)
        torch.set_num_threads(cores)
        self.set_status(message="loading data")
        dataset = self.load_data(preloaded)
        cfg = self.cfg  # the baseline's recipe, once the pool is known
        device = resolve_device(cfg.device)
        model, weights = build_classifier(cfg.model, cfg.weights, cfg.resolution, cfg.seed, len(dataset.classes))
        if weights.notice:
            self.note(weights.notice)
        rows = self.resolve(dataset, device, weights, cores)
        settings = TrainSettings(cfg.epochs, cfg.head_steps, cfg.batch_size, cfg.lr, cfg.weight_decay,
                                 cfg.class_weighted, device, self.cancel, steps=cfg.finetune_steps,
                                 augment=cfg.augment, hflip=cfg.hflip, val_share=cfg.val_share,
                                 threshold_rule=cfg.threshold_rule, cores=cores)
        self.set_status(message="preparing model" + (" and feature cache" if cfg.regime == "frozen" else ""))
        learner = make_learner(cfg.regime, model, dataset, settings, weights, cfg.model, cfg.seed, self.progress,
                               head=cfg.head, second_resolution=cfg.second_resolution)
        finished = self.rounds(dataset, learner, rows)
        self.set_status(state=RunState.DONE, message=finished, ended_at=now_iso(), phase="", phase_done=0,
                        phase_total=0)

    def load_data(self, preloaded: Dataset | None) -> Dataset:
        """The run's data, checked against the run: the pool's size, and the same images on a resume."""
        dataset = preloaded or load_run_data(self.cfg)
        for warning in dataset.notes:
            self.note(f"data: {warning}")
        self.pool = len(dataset.train)
        if problems := pool_problems(self.cfg, self.pool):  # the rest was checked when the run was created
            raise ConfigError(problems)
        if self.cfg.full_data:  # the baseline: one round on every label of the train pool
            self.cfg = replace(self.cfg, init_size=self.pool, rounds=0, sampler="random")
        fingerprint = self.store.load_resolved(self.run_id).get("data_fingerprint", dataset.fingerprint)
        if fingerprint != dataset.fingerprint:
            raise DataError(f"the data at {self.cfg.data} changed since this run started; "
                            "resume needs the same images - start a new run instead")
        return dataset

    def resolve(self, dataset: Dataset, device: torch.device, weights, cores: int) -> np.ndarray:
        """The facts of the first start recorded in config.json (a resume adds its own); the initial rows."""
        cfg, resolved = self.cfg, self.store.load_resolved(self.run_id)
        if "initial_ids" in resolved:  # a resume: the stored set and the first start's facts stay as recorded
            id_to_row = {sample_id: i for i, sample_id in enumerate(dataset.train.ids.tolist())}
            rows = np.array(sorted(id_to_row[i] for i in resolved["initial_ids"]), dtype=np.int64)
            resolved.setdefault("resumes", []).append({
                "at": now_iso(), "from_round": len(self.done_rounds), "device": str(device), "host": HOST,
                "weights_used": weights.used, "versions": _versions()})
            if resolved.get("device") != str(device):
                self.note(f"resumed on {device}, started on {resolved.get('device')}: later rounds may differ")
        else:
            rows = initial_rows(dataset.train.labels, cfg.init_size, cfg.init_mode, cfg.seed)
            resolved.update({
                "device": str(device), "device_name": _device_name(device),
                "weights_used": weights.used, "weights_detail": weights.detail, "weights_notice": weights.notice,
                "dataset": dataset.name, "data_fingerprint": dataset.fingerprint, "data_notes": dataset.notes,
                "data_summary": summarize(dataset, cfg.data).to_dict(),
                "split_sizes": {k: len(v) for k, v in dataset.splits.items()},
                "train_class_counts": np.bincount(dataset.train.labels[dataset.train.labels >= 0],
                                                  minlength=len(dataset.classes)).tolist(),
                "initial_ids": dataset.train.ids[rows].tolist(), "threads": cores, "versions": _versions(),
            })
        self.store.write_config(self.run_id, self.stored, resolved)
        return rows

    def progress(self, phase: str, done: int, total: int) -> None:
        """Batch progress: into status.json at most every PROGRESS_WRITE_S, the feature extraction into the log."""
        status = self.status
        status.phase, status.phase_done, status.phase_total = phase, done, total
        if time.monotonic() - self.written >= PROGRESS_WRITE_S or done == total:
            self.store.write_status(self.run_id, status)
            self.written = time.monotonic()
        self.emit(RunEvent(self.run_id, EventKind.PROGRESS, round=status.round + 1, phase=phase, done=done,
                           total=total))
        quarter = 4 * done // max(total, 1)
        if phase.startswith("features") and self.logged_quarters.get(phase, -1) < quarter:  # minutes on real data
            self.logged_quarters[phase] = quarter
            self.note(f"{phase.replace('features', 'extracting the features of the')} images: batch {done} of {total}")

    def rounds(self, dataset: Dataset, learner, rows: np.ndarray) -> str:
        """The rounds (from the first not done), each stored as it ends; how the run finished."""
        id_to_row = {sample_id: i for i, sample_id in enumerate(dataset.train.ids.tolist())}
        for record in self.done_rounds:  # resume: every stored query goes (back) to the oracle
            rows = np.union1d(rows, [id_to_row[i] for i in record.queried_ids])
        start = len(self.done_rounds)
        if start:
            self.note(f"resuming after the round at {self.done_rounds[-1].n_labeled} labels: "
                      f"{len(rows)} images labeled or queried so far")
        self.round_started = time.monotonic()
        previous_probs = probs_from_file(self.store.load_round_arrays(self.run_id, start - 1)["prob"]) if start else None
        finished = "finished"
        for result in run_rounds(self.cfg, dataset, learner, rows, self.oracle(dataset), start,
                                 on_phase=self.on_phase, done_rounds=self.done_rounds, previous_probs=previous_probs):
            self.store.append_round(self.run_id, result.record, result.arrays)
            keep_round_model(self.store, self.run_id, self.cfg, learner, result.record.round)
            if self.round_done(result.record):
                finished = f"finished early at {result.record.n_labeled} labels: predictions stable (stopping rule)"
        return finished

    def round_done(self, rec: RoundRecord) -> bool:
        """Log, status and event of a stored round; whether the stopping rule ended the run there."""
        decision = "argmax" if rec.threshold is None else f"threshold {rec.threshold:.3f}"
        self.note(f"at {rec.n_labeled} labels: {decision}, accuracy {rec.metrics.accuracy:.3f}, "
                  f"AUC {rec.metrics.roc_auc:.3f}, train {rec.seconds.train:.1f}s, query {rec.seconds.query:.1f}s"
                  + ("" if rec.stop_kappa is None else f", stop-set kappa {rec.stop_kappa:.4f}")
                  + (f"; fit {rec.fit}" if rec.fit else ""))
        now = time.monotonic()
        self.status.round_seconds.append(round(now - self.round_started, 3))
        self.round_started = now
        self.set_status(round=rec.round, n_labeled=rec.n_labeled, message=f"tested at {rec.n_labeled} labels")
        if rec.stopped_by_rule:
            self.note(f"at {rec.n_labeled} labels: predictions stable (kappa >= {self.cfg.stop_kappa} for "
                      f"{self.cfg.stop_window} rounds): the stopping rule ends the run here")
            self.set_status(rounds_total=rec.round + 1)
        self.emit(RunEvent(self.run_id, EventKind.ROUND, round=rec.round, record=rec))
        return rec.stopped_by_rule

    def oracle(self, dataset: Dataset) -> StepGate:
        """Who labels: the truth, or a person (human oracle); step mode pauses after each query either way."""
        train = dataset.train
        answer = (HumanOracle(LabelBook(self.store, self.run_id), train.ids, train.sources, self.cancel, self.on_wait)
                  if self.cfg.oracle == "human" else lambda picked, r: train.labels[picked])
        return StepGate(answer, self.store, self.run_id, self.cancel, self.on_pause)

    def on_phase(self, r: int, phase: str) -> None:
        self.set_status(state=RunState.RUNNING, message=PHASE_NAMES.get(phase, phase), phase=phase, phase_done=0,
                        phase_total=0)
        self.emit(RunEvent(self.run_id, EventKind.PHASE, round=r, phase=phase))

    def on_wait(self, r: int, n: int) -> None:
        batch = "the initial set" if r == 0 else f"picked by the model trained on {self.status.n_labeled} labels"
        self.note(f"waiting for {n} labels ({batch})")
        self.set_status(state=RunState.WAITING_FOR_LABELS, message=f"{n} images to label ({batch})")

    def on_pause(self, r: int) -> None:
        self.note(f"paused after the round at {self.status.n_labeled} labels (step mode): waiting for 'Next round'")
        self.set_status(state=RunState.PAUSED, message=f"paused after the round at {self.status.n_labeled} labels: "
                                                       "'Next round' labels its picks and goes on")


def _kept(status: RunStatus) -> str:
    """What a stopped run keeps, rounds named by their labels as everywhere."""
    return f"at {status.n_labeled} labels" if status.round >= 0 else "before its first round"


def out_of_memory_message(cfg: ExperimentConfig, pool: int | None) -> str:
    """What ran out and what to lower."""
    size = f"a train pool of {pool:,} images" if pool is not None else "the data being loaded"
    lower = "the batch size, " if cfg.regime == "finetune" else ""
    return (f"out of memory with {size} at {cfg.resolution} px ({cfg.model}, {cfg.regime}, device {cfg.device}): "
            f"lower {lower}the resolution or the pool size (a smaller synthetic size or folder)")


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
