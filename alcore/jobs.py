"""The dashboard's handle on runs (no streamlit here): launch, resume and stop through an executor,
and snapshots of any run read from its folder.

The computing happens in worker processes (or Ray actors); this process only launches and follows.
A snapshot is built from status.json as every reader sees it (runs.py): a page of a restarted
dashboard follows the runs of the previous one, and a run whose process died reads `interrupted`.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from alcore.config import ExperimentConfig
from alcore.executors import Executor, make_executor
from alcore.race import as_race
from alcore.runs import RunState, RunStatus, RunStore

POLL_S = 0.1


@dataclass(frozen=True)
class JobSnapshot:
    run_id: str
    state: RunState
    round: int  # last finished round, -1 before the first
    rounds_total: int
    n_labeled: int
    phase: str
    phase_done: int
    phase_total: int
    message: str
    error: str
    finished_round_seconds: tuple[float, ...]  # wall seconds of each finished round

    @classmethod
    def of(cls, run_id: str, status: RunStatus) -> "JobSnapshot":
        return cls(run_id, status.state, status.round, status.rounds_total, status.n_labeled, status.phase,
                   status.phase_done, status.phase_total, status.message, status.error,
                   tuple(status.round_seconds))

    @property
    def running(self) -> bool:
        return self.state.active

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


class JobManager:
    """Launches runs on the local executor (`max_parallel` at once) or on a Ray cluster."""

    def __init__(self, store: RunStore, max_parallel: int | None = None):
        self.store = store
        self.max_parallel = max_parallel
        self._executors: dict[str, Executor] = {}
        self._mine: set[str] = set()
        self._lock = threading.Lock()
        self.interrupted_at_start = store.mark_interrupted()

    def executor(self, ray: str | None = None) -> Executor:
        """The local executor, or the Ray one at `ray` (connected on first use)."""
        key = ray or "local"
        with self._lock:
            if key not in self._executors:
                self._executors[key] = make_executor(self.store, ray, self.max_parallel)
            return self._executors[key]

    def launch(self, cfg: ExperimentConfig, ray: str | None = None, pause: bool = False) -> str:
        """Create the run (raises ConfigError on invalid settings) and queue it; raises QueueFull.
        `pause`: step mode from the start (the run waits after each round's query)."""
        return self.launch_together([cfg], ray, pause)[0]

    def launch_race(self, configs: list[ExperimentConfig], ray: str | None = None, pause: bool = False) -> str:
        """Start the runs as one race (alcore.race): created, then started at the same moment; the race id."""
        configs = as_race(configs)
        self.launch_together(configs, ray, pause)
        return configs[0].experiment

    def launch_together(self, configs: list[ExperimentConfig], ray: str | None = None,
                        pause: bool = False) -> list[str]:
        """Create every run first (ConfigError / StoreError before any starts), then queue them together."""
        from alcore.config import check
        from alcore.runner import create_run, pool_size  # late: the runner imports torch, the server needs it not
        for cfg in configs:  # every one checked before any is created: no run of a refused race lingers
            check(cfg, pool_size=pool_size(cfg))
        run_ids = [create_run(cfg, self.store) for cfg in configs]
        if pause:
            self.set_pause(run_ids, True)
        self.executor(ray).submit_together(run_ids)
        with self._lock:
            self._mine.update(run_ids)
        return run_ids

    def set_pause(self, run_ids: list[str], pause: bool) -> None:
        """Step mode on or off for these runs (off lets the paused ones go on at once)."""
        for run_id in run_ids:
            self.store.set_pause(run_id, pause)

    def next_round(self, run_ids: list[str]) -> list[str]:
        """'Next round' for the paused runs among these; returns them. The others pause when they get there."""
        return [run_id for run_id in run_ids if self.store.next_round(run_id)]

    def resume(self, run_id: str, ray: str | None = None) -> None:
        """Queue a stopped run again, on the executor it last ran on unless `ray` says otherwise."""
        status = self.store.load_status(run_id)
        if status.active:
            return
        self.store.load_config(run_id)  # an unreadable config.json: say it now
        if ray is None and status.executor.startswith("ray "):
            ray = status.executor.removeprefix("ray ")
        self._submit(run_id, ray)

    def _submit(self, run_id: str, ray: str | None) -> None:
        self.executor(ray).submit(run_id)
        with self._lock:
            self._mine.add(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask an active run to stop (any process's: the request is a file in its folder)."""
        if not self.store.load_status(run_id).active:
            return False
        self.store.request_cancel(run_id)
        for executor in list(self._executors.values()):
            executor.cancel(run_id)
        return True

    def snapshot(self, run_id: str) -> JobSnapshot | None:
        """The run as its files say; None for a finished run this process did not launch."""
        status = self.store.load_status(run_id)
        with self._lock:
            mine = run_id in self._mine
        return JobSnapshot.of(run_id, status) if mine or status.active else None

    def is_live(self, run_id: str) -> bool:
        return self.store.load_status(run_id).active

    def live_ids(self) -> set[str]:
        with self._lock:
            mine = set(self._mine)
        return {run_id for run_id in mine if self.is_live(run_id)}

    def wait(self, run_id: str, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the run is no longer active (or `timeout` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_live(run_id) and (deadline is None or time.monotonic() < deadline):
            time.sleep(POLL_S)
        return self.snapshot(run_id)


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def manager_for(root: str | Path) -> JobManager:
    """One manager per results folder per process (the dashboard and its tests share it)."""
    key = Path(root).resolve()
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(RunStore(key))
        return _MANAGERS[key]
