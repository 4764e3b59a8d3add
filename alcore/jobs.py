"""Background runs: one thread per run, thread-safe snapshots, cancel. No streamlit here.

Workers only write their Job under its lock and the results store; pages read `snapshot()`, a
copy. At most `max_parallel` runs compute at once (the rest wait, state "queued"), so that an
experiment of many runs does not thrash a 2-core machine.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from alcore.config import ExperimentConfig
from alcore.runner import RunEvent, create_run, execute_run
from alcore.runs import RunStore


@dataclass(frozen=True)
class JobSnapshot:
    run_id: str
    state: str  # queued | running | waiting_for_labels | done | failed | cancelled | interrupted
    round: int  # last finished round, -1 before the first
    rounds_total: int
    n_labeled: int
    phase: str
    phase_done: int
    phase_total: int
    message: str
    error: str
    started: float  # time.monotonic() when computing began (0 while queued)
    finished_round_seconds: tuple[float, ...]  # wall seconds of each finished round

    @property
    def running(self) -> bool:
        return self.state in ("queued", "running", "waiting_for_labels")

    @property
    def progress(self) -> float:
        within = self.phase_done / self.phase_total if self.phase_total else 0.0
        return min(1.0, (self.round + 1 + 0.9 * within) / max(1, self.rounds_total))

    @property
    def eta_seconds(self) -> float | None:
        if not self.finished_round_seconds or not self.running:
            return None
        # later rounds train on more labels: the mean of the last two rounds is the honest guess
        recent = self.finished_round_seconds[-2:]
        return sum(recent) / len(recent) * (self.rounds_total - self.round - 1)


@dataclass
class Job:
    snapshot: JobSnapshot
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_round_at: float = 0.0

    def update(self, **changes) -> None:
        with self.lock:
            self.snapshot = replace(self.snapshot, **changes)


class JobManager:
    def __init__(self, store: RunStore, max_parallel: int = 2):
        self.store = store
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_parallel)
        self._computing = 0
        self.interrupted_at_start = store.mark_interrupted(live_run_ids=set())
        threading.Thread(target=preload_run_modules, name="alcore-preload", daemon=True).start()

    def launch(self, cfg: ExperimentConfig) -> str:
        """Create the run (raises ConfigError on invalid settings) and start it in the background."""
        run_id = create_run(cfg, self.store)
        self._start(run_id, cfg.n_evaluations)
        return run_id

    def resume(self, run_id: str) -> None:
        if self.is_live(run_id):
            return
        cfg = ExperimentConfig.from_json(self.store.run_dir(run_id) / "config.json")
        self._start(run_id, cfg.n_evaluations, finished=self.store.load_status(run_id).round)

    def _start(self, run_id: str, rounds_total: int, finished: int = -1) -> None:
        job = Job(JobSnapshot(run_id, "queued", finished, rounds_total, 0, "waiting for a free slot", 0, 0,
                              "queued", "", 0.0, ()))
        job.thread = threading.Thread(target=self._work, args=(job,), name=f"alcore-{run_id}", daemon=True)
        with self._lock:
            self._jobs[run_id] = job
        job.thread.start()

    def _work(self, job: Job) -> None:
        acquired = False
        while not job.cancel.is_set() and not acquired:  # a queued run that is cancelled ends at once
            acquired = self._slots.acquire(timeout=0.2)
        try:
            if job.cancel.is_set():
                job.update(state="cancelled", message="cancelled before it started")
                status = self.store.load_status(job.snapshot.run_id)
                status.state, status.message = "cancelled", "cancelled before it started"
                self.store.write_status(job.snapshot.run_id, status)
                return
            now = time.monotonic()
            job.last_round_at = now
            job.update(state="running", started=now, message="starting")
            self._share_cores(+1)
            try:
                status = execute_run(self.store, job.snapshot.run_id, job.cancel, lambda e: self._on_event(job, e))
            except Exception as exc:  # raised before execute_run could record it (e.g. an unreadable config.json)
                job.update(state="failed", message="failed", error=f"{type(exc).__name__}: {exc}")
                return
            finally:
                self._share_cores(-1)
            job.update(state=status.state, message=status.message, error=status.error)
        finally:
            if acquired:
                self._slots.release()

    def _share_cores(self, change: int) -> None:
        """Split the cores between the runs computing now. torch's thread count is process-wide,
        and two runs with all cores each oversubscribe the CPU (OpenMP then crawls)."""
        import torch
        with self._lock:
            self._computing += change
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, self._computing)))

    @staticmethod
    def _on_event(job: Job, event: RunEvent) -> None:
        if event.kind == "progress":
            job.update(phase=event.phase, phase_done=event.done, phase_total=event.total)
        elif event.kind == "phase":
            job.update(phase=event.phase, phase_done=0, phase_total=0)
        elif event.kind == "round":
            now = time.monotonic()
            seconds = job.snapshot.finished_round_seconds + (now - job.last_round_at,)
            job.last_round_at = now
            job.update(round=event.round, n_labeled=event.record["n_labeled"], finished_round_seconds=seconds)
        elif event.kind == "status" and event.status is not None:
            live_state = event.status.state if event.status.state in ("running", "waiting_for_labels") else "running"
            job.update(state=live_state, message=event.status.message, rounds_total=event.status.rounds_total)

    def snapshot(self, run_id: str) -> JobSnapshot | None:
        with self._lock:
            job = self._jobs.get(run_id)
        if job is None:
            return None
        with job.lock:
            return job.snapshot

    def cancel(self, run_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(run_id)
        if job is None or not job.snapshot.running:
            return False
        job.cancel.set()
        return True

    def is_live(self, run_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(run_id)
        return job is not None and job.thread is not None and job.thread.is_alive()

    def live_ids(self) -> set[str]:
        with self._lock:
            return {run_id for run_id, job in self._jobs.items() if job.thread and job.thread.is_alive()}

    def wait(self, run_id: str, timeout: float | None = None) -> JobSnapshot | None:
        with self._lock:
            job = self._jobs.get(run_id)
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        return self.snapshot(run_id)


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def preload_run_modules() -> None:
    """Import what a run would otherwise import lazily on its first step: a torch optimiser's first
    construction imports torch._dynamo (about 900 modules, 2-3 s). In a run thread beside a busy
    server that import competed for the GIL and delayed the first curve point by several seconds.
    Runs in a background thread from JobManager(), so the first page is not held up by it."""
    import torch._dynamo  # noqa: F401


def manager_for(root: str | Path) -> JobManager:
    """One manager per results folder per process (the dashboard and its tests share it)."""
    key = Path(root).resolve()
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(RunStore(key))
        return _MANAGERS[key]
