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
from alcore.config import ExperimentConfig, check, ConfigError
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
from alcore.runs import HEARTBEAT_S, HOST, RunState, RunStatus, RunStore, StoreError, now_iso
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
    The run is `queued`, owned by this process until an executor starts it."""
    check(cfg, pool_size=pool_size(cfg))
    cfg = replace(cfg, sampler=registry.canonical(cfg.sampler))
    run_id = store.create_run_dir(cfg.sampler, cfg.seed)
    try:
        store.write_config(run_id, cfg, {"created_at": now_iso()})
        store.write_status(run_id, RunStatus(RunState.QUEUED, rounds_total=cfg.n_evaluations, message="waiting to start",
                                             pid=os.getpid(), host=HOST))
        store.append_log(run_id, f"created run {run_id}: {cfg.sampler} on {cfg.data}, seed {cfg.seed}")
    except OSError as exc:
        shutil.rmtree(store.run_dir(run_id), ignore_errors=True)  # no half-written run in the list
        raise StoreError.writing(store.root, exc) from exc
    return run_id


class _Watch(threading.Thread):
    """Touches the run's heartbeat every HEARTBEAT_S and turns its `cancel` file into `cancel`."""

    def __init__(self, store: RunStore, run_id: str, cancel: threading.Event):
        super().__init__(name=f"alcore-watch-{run_id}", daemon=True)
        self.store, self.run_id, self.cancel = store, run_id, cancel
        self.stopped = threading.Event()

    def run(self) -> None:
        last_beat = 0.0
        while not self.stopped.wait(CANCEL_POLL_S):
            if self.store.cancel_requested(self.run_id):
                self.cancel.set()
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                self.store.beat(self.run_id)
                last_beat = time.monotonic()


def execute_run(store: RunStore, run_id: str, cancel: threading.Event | None = None,
                on_event: EventFn | None = None, dataset: Dataset | None = None) -> RunStatus:
    """Run (or continue) a created run to its end in this process; every outcome is written to
    status.json. `dataset`: the run's data already loaded (a Ray actor gets it from the object store).
    Raises RunBusy when another process computes the run."""
    cancel = cancel or threading.Event()
    with store.claim(run_id):
        store.beat(run_id)
        watch = _Watch(store, run_id, cancel)
        watch.start()
        try:
            return _execute(store, run_id, cancel, on_event or (lambda event: None), dataset)
        finally:
            watch.stopped.set()


def _execute(store: RunStore, run_id: str, cancel: threading.Event, emit: EventFn,
             preloaded: Dataset | None) -> RunStatus:
    cfg = stored = store.load_config(run_id)  # `cfg` becomes the baseline's recipe; config.json keeps `stored`
    done_rounds = store.load_rounds(run_id)
    status = store.stored_status(run_id)
    status.state, status.error, status.ended_at = RunState.RUNNING, "", ""
    status.pid, status.host, status.phase, status.phase_done, status.phase_total = os.getpid(), HOST, "", 0, 0
    status.rounds_total = cfg.n_evaluations
    status.round_seconds = status.round_seconds[:len(done_rounds)]
    status.started_at = status.started_at or now_iso()
    clock = {"round": time.monotonic(), "written": 0.0}

    def set_status(**changes) -> None:
        for key, value in changes.items():
            setattr(status, key, value)
        store.write_status(run_id, status)
        clock["written"] = time.monotonic()
        emit(RunEvent(run_id, EventKind.STATUS, status=status))

    def note(message: str) -> None:
        store.append_log(run_id, message)
        log.info("%s: %s", run_id, message)

    pool: int | None = None
    try:
        cores = run_cores(cfg.threads)
        torch.set_num_threads(cores)
        set_status(message="loading data")
        dataset = preloaded or load_run_data(cfg)
        for warning in dataset.notes:
            note(f"data: {warning}")
        pool = len(dataset.train)
        check(cfg, pool_size=pool)
        if cfg.full_data:  # the baseline: one round on every label of the train pool
            cfg = replace(cfg, init_size=len(dataset.train), rounds=0, sampler="random")
        resolved = store.load_resolved(run_id)
        if resolved.get("data_fingerprint", dataset.fingerprint) != dataset.fingerprint:
            raise DataError(f"the data at {cfg.data} changed since this run started; "
                            "resume needs the same images - start a new run instead")

        device = resolve_device(cfg.device)
        model, weights = build_classifier(cfg.model, cfg.weights, cfg.resolution, cfg.seed)
        if weights.notice:
            note(weights.notice)
        id_to_row = {sample_id: i for i, sample_id in enumerate(dataset.train.ids.tolist())}
        if "initial_ids" in resolved:  # a resume: the stored set and the first start's facts stay as recorded
            rows = np.array(sorted(id_to_row[i] for i in resolved["initial_ids"]), dtype=np.int64)
            resolved.setdefault("resumes", []).append({
                "at": now_iso(), "from_round": len(done_rounds), "device": str(device), "host": HOST,
                "weights_used": weights.used, "versions": _versions()})
            if resolved.get("device") != str(device):
                note(f"resumed on {device}, started on {resolved.get('device')}: later rounds may differ")
        else:
            rows = initial_rows(dataset.train.labels, cfg.init_size, cfg.init_mode, cfg.seed)
            resolved.update({
                "device": str(device), "device_name": _device_name(device),
                "weights_used": weights.used, "weights_detail": weights.detail, "weights_notice": weights.notice,
                "dataset": dataset.name, "data_fingerprint": dataset.fingerprint, "data_notes": dataset.notes,
                "data_summary": summarize(dataset, cfg.data).to_dict(),
                "split_sizes": {k: len(v) for k, v in dataset.splits.items()},
                "train_class_counts": np.bincount(dataset.train.labels.clip(0), minlength=2).tolist(),
                "initial_ids": dataset.train.ids[rows].tolist(), "threads": cores, "versions": _versions(),
            })
        store.write_config(run_id, stored, resolved)

        logged_quarters: dict[str, int] = {}

        def progress(phase: str, done: int, total: int) -> None:
            status.phase, status.phase_done, status.phase_total = phase, done, total
            if time.monotonic() - clock["written"] >= PROGRESS_WRITE_S or done == total:
                store.write_status(run_id, status)
                clock["written"] = time.monotonic()
            emit(RunEvent(run_id, EventKind.PROGRESS, round=status.round + 1, phase=phase, done=done, total=total))
            quarter = 4 * done // max(total, 1)
            if phase.startswith("features") and logged_quarters.get(phase, -1) < quarter:  # minutes on real data
                logged_quarters[phase] = quarter
                note(f"{phase.replace('features', 'extracting the features of the')} images: batch {done} of {total}")

        settings = TrainSettings(cfg.epochs, cfg.head_steps, cfg.batch_size, cfg.lr, cfg.weight_decay,
                                 cfg.class_weighted, device, cancel, steps=cfg.finetune_steps, augment=cfg.augment,
                                 hflip=cfg.hflip, val_share=cfg.val_share,
                                 threshold_rule=cfg.threshold_rule, cores=cores)
        set_status(message="preparing model" + (" and feature cache" if cfg.regime == "frozen" else ""))
        learner = make_learner(cfg.regime, model, dataset, settings, weights, cfg.model, cfg.seed, progress,
                               head=cfg.head, second_resolution=cfg.second_resolution)

        for record in done_rounds:  # resume: every stored query goes (back) to the oracle
            rows = np.union1d(rows, [id_to_row[i] for i in record.queried_ids])
        start = len(done_rounds)
        if start:
            note(f"resuming after the round at {done_rounds[-1].n_labeled} labels: "
                 f"{len(rows)} images labeled or queried so far")
        clock["round"] = time.monotonic()

        def on_phase(r: int, phase: str) -> None:
            set_status(state=RunState.RUNNING, message=PHASE_NAMES.get(phase, phase), phase=phase, phase_done=0,
                       phase_total=0)
            emit(RunEvent(run_id, EventKind.PHASE, round=r, phase=phase))

        def on_wait(r: int, n: int) -> None:
            batch = "the initial set" if r == 0 else f"picked by the model trained on {status.n_labeled} labels"
            note(f"waiting for {n} labels ({batch})")
            set_status(state=RunState.WAITING_FOR_LABELS, message=f"{n} images to label ({batch})")

        def on_pause(r: int) -> None:
            note(f"paused after the round at {status.n_labeled} labels (step mode): waiting for 'Next round'")
            set_status(state=RunState.PAUSED, message=f"paused after the round at {status.n_labeled} labels: "
                                               "'Next round' labels its picks and goes on")

        oracle = StepGate(HumanOracle(LabelBook(store, run_id), dataset.train.ids, dataset.train.sources, cancel,
                                      on_wait)
                          if cfg.oracle == "human" else lambda picked, r: dataset.train.labels[picked],
                          store, run_id, cancel, on_pause)
        previous_probs = store.load_round_arrays(run_id, start - 1)["prob"] if start else None
        finished = "finished"
        for result in run_rounds(cfg, dataset, learner, rows, oracle, start, on_phase=on_phase,
                                 done_rounds=done_rounds, previous_probs=previous_probs):
            store.append_round(run_id, result.record, result.arrays)
            keep_round_model(store, run_id, cfg, learner, result.record.round)
            rec = result.record
            note(f"at {rec.n_labeled} labels: threshold {rec.threshold:.3f}, accuracy {rec.metrics.accuracy:.3f}, "
                 f"AUC {rec.metrics.roc_auc:.3f}, train {rec.seconds.train:.1f}s, query {rec.seconds.query:.1f}s"
                 + ("" if rec.stop_kappa is None else f", stop-set kappa {rec.stop_kappa:.4f}")
                 + (f"; fit {rec.fit}" if rec.fit else ""))
            now = time.monotonic()
            status.round_seconds.append(round(now - clock["round"], 3))
            clock["round"] = now
            set_status(round=rec.round, n_labeled=rec.n_labeled, message=f"tested at {rec.n_labeled} labels")
            if rec.stopped_by_rule:
                note(f"at {rec.n_labeled} labels: predictions stable (kappa >= {cfg.stop_kappa} for {cfg.stop_window} "
                     "rounds): the stopping rule ends the run here")
                set_status(rounds_total=rec.round + 1)
                finished = f"finished early at {rec.n_labeled} labels: predictions stable (stopping rule)"
            emit(RunEvent(run_id, EventKind.ROUND, round=rec.round, record=rec))
        set_status(state=RunState.DONE, message=finished, ended_at=now_iso(), phase="", phase_done=0, phase_total=0)
    except Cancelled:
        note(f"stopped by the user {_kept(status)}")
        set_status(state=RunState.CANCELLED, message=f"stopped {_kept(status)}", ended_at=now_iso())
    except KeyboardInterrupt:
        set_status(state=RunState.INTERRUPTED, message=f"interrupted {_kept(status)}", ended_at=now_iso())
        raise
    except (ConfigError, DataError) as exc:
        note(f"refused: {exc}")
        set_status(state=RunState.FAILED, error=str(exc), message="invalid settings or data", ended_at=now_iso())
    except TrainingDiverged as exc:
        note(f"failed: {exc}")
        set_status(state=RunState.FAILED, error=str(exc), message="failed: training diverged", ended_at=now_iso())
    except (MemoryError, torch.OutOfMemoryError):
        note("failed:\n" + traceback.format_exc())
        set_status(state=RunState.FAILED, error=out_of_memory_message(cfg, pool), message="out of memory",
                   ended_at=now_iso())
    except Exception as exc:  # anything else: keep the traceback in the log, a sentence in the status
        note("failed:\n" + traceback.format_exc())
        set_status(state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}", message="failed", ended_at=now_iso())
    if cfg.mlflow:
        log_after_run(store, run_id, cfg.mlflow, note)
    return status


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
