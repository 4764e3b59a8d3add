"""The results store: results/<run_id>/{config.json, status.json, rounds.jsonl, rounds/, log.txt}.

Every write is atomic (temp file in the same folder, fsync, rename): a crash leaves either the old
file or the new one. A round's npz is written before its line in rounds.jsonl, so every listed
round has its arrays.

Liveness lives in the run folder too, so every reader (pages, CLI, a restarted server) derives the
same state: the process computing a run holds `worker.lock`, records its pid and host in
status.json and touches `heartbeat` every few seconds; an active status whose process is gone (same
host, pid dead) or whose heartbeat is stale reads as `interrupted`. A `cancel` file asks the run to
stop between batches; `step.json` (StepControl) pauses it after each round's query (step mode).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from alcore import CLASS_NAMES
from alcore.config import ExperimentConfig
from alcore.records import RoundRecord

DEFAULT_ROOT = Path("results")
HEARTBEAT_S = 2.0  # how often the process owning an active run touches its heartbeat file
STALE_S = 60.0  # an active run whose heartbeat is older than this is interrupted, for every reader
HOST = socket.gethostname()


class RunState(StrEnum):
    """Where a run is. Active: queued, running or waiting for a person (their labels with the human
    oracle, or a "Next round" in step mode); the others are ends, all but done resumable."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING_FOR_LABELS = "waiting_for_labels"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (RunState.QUEUED, RunState.RUNNING, RunState.WAITING_FOR_LABELS, RunState.PAUSED)

    @property
    def waiting(self) -> bool:
        """Waiting for a person: no ETA, no progress of its own."""
        return self in (RunState.WAITING_FOR_LABELS, RunState.PAUSED)

    @property
    def resumable(self) -> bool:
        return self in (RunState.INTERRUPTED, RunState.CANCELLED, RunState.FAILED)


class RunWatch(threading.Thread):
    """While a run computes (a `with` block): its heartbeat touched now and every HEARTBEAT_S, and
    `on_cancel` called once when its cancel file appears (checked every `poll` seconds). The one watch
    of a computing run, in the process that computes it or in the Ray driver that follows it."""

    def __init__(self, store: RunStore, run_id: str, on_cancel: Callable[[], object], poll: float):
        super().__init__(name=f"alcore-watch-{run_id}", daemon=True)
        self.store, self.run_id, self.on_cancel, self.poll = store, run_id, on_cancel, poll
        self.stopped = threading.Event()

    def __enter__(self) -> RunWatch:
        self.store.beat(self.run_id)
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()

    def run(self) -> None:
        cancelled, last_beat = False, time.monotonic()
        while not self.stopped.wait(self.poll):
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                self.store.beat(self.run_id)
                last_beat = time.monotonic()
            if not cancelled and self.store.cancel_requested(self.run_id):
                self.on_cancel()
                cancelled = True


class RunBusy(RuntimeError):
    """Another process already computes this run (it holds the run folder's worker.lock)."""


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> null, numpy scalars/arrays -> Python values."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(_clean(obj), indent=2, allow_nan=False).encode())


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


class StoreError(RuntimeError):
    """The results folder cannot be written (disk full, no permission); the message says what to do."""

    @classmethod
    def writing(cls, root: Path, exc: OSError) -> "StoreError":
        reason = exc.strerror or str(exc)
        return cls(f"cannot write to the results folder {root}: {reason}. Free some disk space or choose a folder "
                   "you can write to (--out, or $ALCORE_RESULTS for the dashboard); nothing was started")


@dataclass
class RunStatus:
    state: RunState
    round: int = -1  # last finished round (-1: none yet)
    rounds_total: int = 0
    n_labeled: int = 0
    message: str = ""
    error: str = ""
    started_at: str = ""
    ended_at: str = ""
    updated_at: str = ""
    pid: int = 0  # the process computing (or, while queued, launching) the run
    host: str = ""  # where that pid lives: elsewhere only the heartbeat tells liveness
    phase: str = ""  # what the run does now, and how far it is through it
    phase_done: int = 0
    phase_total: int = 0
    round_seconds: list[float] = field(default_factory=list)  # wall seconds of each finished round
    executor: str = ""  # "local", "ray <address>", or "" when computed in the caller's process

    @property
    def progress(self) -> float:
        """How far the run is, 0..1: its finished rounds, plus 0.9 of the current phase's batches while active."""
        within = self.phase_done / self.phase_total if self.phase_total and self.active else 0.0
        return min(1.0, (self.round + 1 + 0.9 * within) / max(1, self.rounds_total))

    @property
    def resumable(self) -> bool:
        return self.state.resumable

    @property
    def detail(self) -> str:
        """What it does now: its phase and the phase's batches while active, else its last message."""
        return f"{self.phase} {self.phase_done}/{self.phase_total}" if self.active and self.phase_total else self.message

    @property
    def text(self) -> str:
        """The progress in words; rounds counted as the user set them (the query rounds after the initial model)."""
        parts = [f"{self.n_labeled} labels used", f"{max(self.round, 0)} of {self.rounds_total - 1} rounds done"]
        if self.state == RunState.WAITING_FOR_LABELS:
            parts.append("waiting for your labels")
        elif self.state == RunState.PAUSED:
            parts.append("paused after its query: Next round goes on")
        elif self.eta_seconds is not None:
            parts.append(f"about {format_duration(self.eta_seconds)} left")
        return " · ".join(parts)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left while the machine computes (None before a round has finished, or while it waits for
        a person, whose pace is not the machine's). Later rounds train on more labels: the mean of the last
        two rounds is the honest guess."""
        if not self.round_seconds or not self.active or self.state.waiting:
            return None
        recent = self.round_seconds[-2:]
        return sum(recent) / len(recent) * (self.rounds_total - self.round - 1)

    def __post_init__(self):
        self.state = RunState(self.state)

    @property
    def active(self) -> bool:
        return self.state.active


@dataclass
class StepControl:
    """Step mode: after each round's query the run waits (state `paused`) until a person releases the
    next round. A file in the run folder, so a restart, a Stop and a Resume keep it."""

    pause: bool = False
    released: int = 0  # rounds up to this one go on without waiting

    def lets_through(self, round_index: int) -> bool:
        return not self.pause or round_index <= self.released


@dataclass
class RunSummary:
    run_id: str
    status: RunStatus
    config: ExperimentConfig | None  # None: a folder whose config.json cannot be read
    n_rounds: int
    last: RoundRecord | None  # the last round's record (None before the first)
    best_accuracy: float
    best_auc: float

    @property
    def n_labeled(self) -> int:
        return 0 if self.last is None else self.last.n_labeled


class RunStore:
    """All runs under one root folder."""

    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise KeyError(f"not a run id: {run_id!r}")
        return self.root / run_id

    def exists(self, run_id: str) -> bool:
        try:
            return (self.run_dir(run_id) / "config.json").is_file()
        except KeyError:
            return False

    def new_run_id(self, sampler: str, seed: int) -> str:
        """Time, sampler, seed and 48 random bits: readable, sorted by time, unique in practice."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{sampler}-s{seed}-{secrets.token_hex(6)}"

    def create_run_dir(self, sampler: str, seed: int) -> str:
        """A new run id whose folder this call created: an id taken meanwhile (however unlikely) is
        drawn again, so concurrent launches never share a folder. StoreError when it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            while True:
                run_id = self.new_run_id(sampler, seed)
                try:
                    self.run_dir(run_id).mkdir()
                    return run_id
                except FileExistsError:
                    continue
        except OSError as exc:
            raise StoreError.writing(self.root, exc) from exc

    # --- writing -------------------------------------------------------------------------
    def write_config(self, run_id: str, config: ExperimentConfig, resolved: dict[str, Any]) -> None:
        """config.json: the run id, every setting, and `resolved`: the facts the run found (device,
        weights, data fingerprint, initial set, versions)."""
        atomic_write_json(self.run_dir(run_id) / "config.json", {"run_id": run_id, **config.to_dict(),
                                                                 "resolved": resolved})

    def write_status(self, run_id: str, status: RunStatus) -> None:
        status.updated_at = now_iso()
        atomic_write_json(self.run_dir(run_id) / "status.json", asdict(status))

    def append_round(self, run_id: str, record: RoundRecord, arrays: dict[str, np.ndarray]) -> None:
        """Persist one finished round: its arrays, then its line (the whole file, atomically)."""
        folder = self.run_dir(run_id)
        atomic_write_npz(self.round_path(run_id, record.round), arrays)
        kept = [r for r in self.load_rounds(run_id) if r.round < record.round]
        lines = [json.dumps(_clean(r.to_dict()), allow_nan=False) for r in [*kept, record]]
        atomic_write_bytes(folder / "rounds.jsonl", ("\n".join(lines) + "\n").encode())

    def append_log(self, run_id: str, line: str) -> None:
        """The run's human-readable log; appends are line-sized and losing the last is harmless."""
        with open(self.run_dir(run_id) / "log.txt", "a", encoding="utf-8") as handle:
            handle.write(f"{datetime.now().strftime('%H:%M:%S')}  {line}\n")

    def write_file(self, run_id: str, relative: str, data: bytes | None) -> None:
        """A file of the run below its folder (a kept model: alcore.modelio), atomically; None removes it."""
        path = self.run_dir(run_id) / relative
        if data is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)

    # --- reading -------------------------------------------------------------------------
    def load_config(self, run_id: str) -> ExperimentConfig:
        """The run's settings, of this version or an earlier one (ExperimentConfig.from_dict fills the rest)."""
        return ExperimentConfig.from_dict(self._config_file(run_id), ignore_unknown=True)

    def load_resolved(self, run_id: str) -> dict[str, Any]:
        """The facts the run recorded when it started (config.json's `resolved`; {} before it started)."""
        return dict(self._config_file(run_id).get("resolved") or {})

    def _config_file(self, run_id: str) -> dict[str, Any]:
        path = self.run_dir(run_id) / "config.json"
        data = read_if_changed(path)
        if data is None:
            raise FileNotFoundError(f"no config.json in {path.parent}")
        return json.loads(data)

    def load_status(self, run_id: str) -> RunStatus:
        """The run's status as every reader must see it: an active run whose process is gone
        reads as `interrupted` (status.json itself is left as the process wrote it)."""
        status = self.stored_status(run_id)
        if status.active and not self.is_alive(run_id, status):
            return replace(status, state=RunState.INTERRUPTED, message=INTERRUPTED_MESSAGE)
        return status

    def stored_status(self, run_id: str) -> RunStatus:
        """status.json as written (an active state there may belong to a dead process)."""
        data = read_if_changed(self.run_dir(run_id) / "status.json")
        if data is None:
            return RunStatus(state=RunState.INTERRUPTED, message="no status.json")
        values = json.loads(data)
        known = RunStatus.__dataclass_fields__
        return RunStatus(**{k: v for k, v in values.items() if k in known})

    # --- liveness, cancel, ownership ------------------------------------------------------
    def is_alive(self, run_id: str, status: RunStatus) -> bool:
        """The owning process is there: its pid runs (when on this host) and its heartbeat is fresh."""
        if status.pid and status.host == HOST and not pid_alive(status.pid):
            return False
        try:
            beat = (self.run_dir(run_id) / "heartbeat").stat().st_mtime
        except FileNotFoundError:
            beat = _epoch(status.updated_at)
        return time.time() - beat < STALE_S

    def beat(self, run_id: str) -> None:
        (self.run_dir(run_id) / "heartbeat").touch()

    def request_cancel(self, run_id: str) -> None:
        (self.run_dir(run_id) / "cancel").touch()

    def cancel_requested(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / "cancel").exists()

    def clear_cancel(self, run_id: str) -> None:
        (self.run_dir(run_id) / "cancel").unlink(missing_ok=True)

    def step_control(self, run_id: str) -> StepControl:
        data = read_if_changed(self.run_dir(run_id) / "step.json")
        return StepControl() if data is None else StepControl(**json.loads(data))

    def set_pause(self, run_id: str, pause: bool) -> None:
        """Step mode on or off; off lets a paused run go on at once."""
        control = self.step_control(run_id)
        atomic_write_json(self.run_dir(run_id) / "step.json", asdict(replace(control, pause=pause)))

    def release(self, run_id: str, round_index: int) -> None:
        """A run paused before `round_index` goes on (and pauses again after it)."""
        control = self.step_control(run_id)
        released = max(control.released, round_index)
        atomic_write_json(self.run_dir(run_id) / "step.json", asdict(replace(control, released=released)))

    def next_round(self, run_id: str) -> bool:
        """'Next round': a paused run labels its picks and trains the next round; False when it is not paused."""
        status = self.load_status(run_id)
        if status.state != RunState.PAUSED:
            return False
        self.release(run_id, status.round + 1)
        return True

    @contextlib.contextmanager
    def claim(self, run_id: str):
        """Hold the run's worker.lock for the block: one process computes a run, however many
        sessions click Resume. The kernel drops the lock when the process dies, even by SIGKILL."""
        handle = open(self.run_dir(run_id) / "worker.lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunBusy(f"run {run_id} is already being computed by another process") from None
            yield
        finally:
            handle.close()

    def load_rounds(self, run_id: str) -> list[RoundRecord]:
        path = self.run_dir(run_id) / "rounds.jsonl"
        if not path.is_file():
            return []
        return [RoundRecord.from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]

    def round_path(self, run_id: str, round_index: int) -> Path:
        """rounds/round_XXX.npz: the round's per-image arrays."""
        return self.run_dir(run_id) / "rounds" / f"round_{round_index:03d}.npz"

    def load_round_arrays(self, run_id: str, round_index: int) -> dict[str, np.ndarray]:
        return read_npz(self.round_path(run_id, round_index))

    def classes(self, run_id: str) -> tuple[str, ...]:
        """The run's class names, label index order (the positive class last when there are two):
        from the data summary it recorded when it started; NORMAL / PNEUMONIA before that."""
        names = self.load_resolved(run_id).get("data_summary", {}).get("classes")
        return tuple(names) if names else CLASS_NAMES

    def read_log(self, run_id: str, last: int = 200) -> list[str]:
        data = read_if_changed(self.run_dir(run_id) / "log.txt")
        return data.decode("utf-8", errors="replace").splitlines()[-last:] if data is not None else []

    def run_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir() if (p / "config.json").is_file()), reverse=True)

    def summary(self, run_id: str) -> RunSummary:
        rounds = self.load_rounds(run_id)

        def best(name: str) -> float:
            values = [r.metric(name) for r in rounds if not math.isnan(r.metric(name))]
            return max(values) if values else math.nan

        return RunSummary(run_id, self.load_status(run_id), self.load_config(run_id), len(rounds),
                          rounds[-1] if rounds else None, best("accuracy"), best("roc_auc"))

    def list_runs(self) -> list[RunSummary]:
        out = []
        for run_id in self.run_ids():
            try:
                out.append(self.summary(run_id))
            except (OSError, ValueError) as exc:  # a folder someone edited by hand: skip, say why
                out.append(RunSummary(run_id, RunStatus(RunState.FAILED, error=f"unreadable: {exc}"), None, 0, None,
                                      math.nan, math.nan))
        return out

    def mark_interrupted(self, live_run_ids: set[str] = frozenset()) -> list[str]:
        """Write 'interrupted' into status.json of the runs that already read as interrupted (their
        process is gone), except `live_run_ids`; returns them. Readers need not wait for this."""
        marked = []
        for run_id in self.run_ids():
            stored = self.stored_status(run_id)
            status = self.load_status(run_id)
            if stored.active and status.state == RunState.INTERRUPTED and run_id not in live_run_ids:
                status.ended_at = status.ended_at or now_iso()
                self.write_status(run_id, status)
                marked.append(run_id)
        return marked


INTERRUPTED_MESSAGE = "the process running it stopped; `python -m alcore resume` continues it"


def pid_alive(pid: int) -> bool:
    """A process with this pid exists on this host (a zombie - dead, not yet reaped - does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


def probs_for_file(probs: np.ndarray) -> np.ndarray:
    """(n, C) class probabilities as a round file stores them: the positive column (n,) when C = 2
    (the form every earlier run wrote), the whole (n, C) matrix otherwise."""
    probs = np.asarray(probs, dtype=np.float32)
    return probs[:, 1].copy() if probs.ndim == 2 and probs.shape[1] == 2 else probs


def two_class_probs(positive: np.ndarray) -> np.ndarray:
    """(..., 2) float32 [1 - p, p] of probabilities p(positive class) (..., ): a one-logit model's classes."""
    positive = np.asarray(positive, dtype=np.float32)
    return np.stack([1 - positive, positive], -1)


def probs_from_file(stored: np.ndarray) -> np.ndarray:
    """Back from `probs_for_file`: (n, C) float32 class probabilities (NaN rows stay NaN)."""
    stored = np.asarray(stored, dtype=np.float32)
    return two_class_probs(stored) if stored.ndim == 1 else stored


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def read_if_changed(path: Path) -> bytes | None:
    """A small run file's bytes (None if absent), read from disk only when it changed since the last
    call in this process: a page following a live run re-reads its status every 2 s."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _read_bytes(str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=512)
def _read_bytes(path: str, identity: tuple[int, int, int]) -> bytes:
    return Path(path).read_bytes()


class RoundsReader:
    """Reads rounds.jsonl incrementally: each refresh parses only the lines added since the last."""

    def __init__(self, store: RunStore, run_id: str):
        self.path = store.run_dir(run_id) / "rounds.jsonl"
        self.rounds: list[RoundRecord] = []
        self._offset = 0
        self._mtime = 0.0

    def refresh(self) -> list[RoundRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self.rounds
        if stat.st_mtime == self._mtime and stat.st_size == self._offset:
            return self.rounds
        if stat.st_size < self._offset:  # rewritten shorter (resume trimmed it): start over
            self.rounds, self._offset = [], 0
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.rounds.extend(RoundRecord.from_dict(json.loads(line)) for line in complete.decode().splitlines()
                           if line.strip())
        self._offset += len(complete)
        self._mtime = stat.st_mtime
        return self.rounds

