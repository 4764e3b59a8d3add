"""The dashboard's handle on runs (no streamlit here): launch (alcore.launch), resume and stop through
an executor.

The computing happens in worker processes (or Ray actors); this process only launches and follows.
Every reader reads a run's status from its folder (runs.py): a page of a restarted dashboard follows
the runs of the previous one, and a run whose process died reads `interrupted`.
"""
from __future__ import annotations

import threading
from pathlib import Path

from alcore import launch
from alcore.config import ExperimentConfig
from alcore.executors import Executor, make_executor
from alcore.race import as_race
from alcore.runs import RunStatus, RunStore


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
        """Create every run first (ConfigError / StoreError before any starts), then queue them together.
        The pool size is the config's where it is known without reading the data: decoding a folder here
        would hold up the page (the worker checks the rest on the data)."""
        run_ids = launch.launch(self.store, self.executor(ray), configs, pause=pause, together=True)
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

    def active_ids(self) -> set[str]:
        """The runs this manager launched or resumed that are still active."""
        with self._lock:
            mine = set(self._mine)
        return {run_id for run_id in mine if self.store.load_status(run_id).active}

    def wait(self, run_id: str, timeout: float | None = None) -> RunStatus:
        """Block until the run is no longer active (or `timeout` seconds pass); its status."""
        return launch.wait(self.store, [run_id], timeout)[run_id]


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def manager_for(root: str | Path) -> JobManager:
    """One manager per results folder per process (the dashboard and its tests share it)."""
    key = Path(root).resolve()
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(RunStore(key))
        return _MANAGERS[key]
