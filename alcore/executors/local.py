"""The local executor: each run in its own process, at most `parallel` at once, the others queued
(bounded). Runs submitted together (a race) start together when a slot is free, even beyond
`parallel`: they are watched side by side. A dispatcher thread starts the workers, notices their
end, keeps the queued runs' heartbeats and ends a queued run at once when its cancel file appears.

A worker is a fork of the zygote (executors/zygote.py), a process that has imported the engine once,
so a run does not pay torch's and scikit-learn's imports again; it computes what
`python -m alcore worker RUN_ID` computes. Workers start in their own session: a dashboard restart
or a Ctrl-C in the launching terminal leaves them computing, and a later launcher counts them against
its `parallel` slots.
"""
from __future__ import annotations

import collections
import os
import threading
import time

from alcore.cores import CORES_ENV
from alcore.executors import (MAX_WAITING, QueueFull, cancel_before_start, core_share, default_parallel,
                              mark_queued, queue_full_message)
from alcore.executors.zygote import zygote
from alcore.runs import HEARTBEAT_S, HOST, RunState, RunStore, now_iso, pid_alive

TICK_S = 0.2
EXIT_WAIT_S = 30.0


class LocalExecutor:
    label = "local"

    def __init__(self, store: RunStore, parallel: int | None = None, max_waiting: int = MAX_WAITING):
        self.store = store
        self.parallel = parallel or default_parallel()
        self.max_waiting = max_waiting
        self._waiting: collections.deque[list[str]] = collections.deque()  # groups that start together
        self._children: dict[str, int] = {}  # run id -> pid of the worker this executor started
        self._adopted = self._computing_elsewhere()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_beat = 0.0
        zygote().start()  # it imports while the first run is being created

    def _computing_elsewhere(self) -> dict[str, int]:
        """Runs that worker processes of an earlier launcher compute on this host right now."""
        found = {}
        for run_id in self.store.run_ids():
            status = self.store.load_status(run_id)
            if status.state.active and status.state != RunState.QUEUED and status.executor == self.label \
                    and status.host == HOST and status.pid:
                found[run_id] = status.pid
        return found

    def submit(self, run_id: str) -> None:
        self.submit_together([run_id])

    def submit_together(self, run_ids: list[str]) -> None:
        """Queue runs that start at the same moment (one slot free is enough for all of them)."""
        with self._lock:
            for run_id in run_ids:
                child = self._children.get(run_id)
                if child is not None and not self.store.load_status(run_id).active:
                    _wait_for_exit(child, EXIT_WAIT_S)  # it has recorded its end (a resume right after a stop)
            self._reap()
            queued = self._queued()
            fresh = [run_id for run_id in run_ids if run_id not in queued and run_id not in self._children]
            if not fresh:
                return
            if len(queued) + len(fresh) > self.max_waiting:
                raise QueueFull(queue_full_message(len(queued)))
            for run_id in fresh:
                mark_queued(self.store, run_id, f"waiting for a free slot ({self.parallel} at once)", self.label)
            self._waiting.append(fresh)
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="alcore-local-executor", daemon=True)
                self._thread.start()
        self._wake.set()

    def cancel(self, run_id: str) -> None:
        self.store.request_cancel(run_id)
        self._wake.set()

    def waiting(self) -> list[str]:
        with self._lock:
            return self._queued()

    def _queued(self) -> list[str]:
        return [run_id for group in self._waiting for run_id in group]

    # --- the dispatcher thread -------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            self._wake.wait(TICK_S)
            self._wake.clear()
            with self._lock:
                self._reap()
                self._drop_cancelled()
                if time.monotonic() - self._last_beat >= HEARTBEAT_S:
                    for run_id in self._queued():
                        self.store.beat(run_id)
                    self._last_beat = time.monotonic()
                self._adopted = {r: pid for r, pid in self._adopted.items() if pid_alive(pid)}
                while self._waiting and len(self._children) + len(self._adopted) < self.parallel:
                    group = self._waiting.popleft()
                    computing = len(self._children) + len(self._adopted) + len(group)
                    share = core_share(min(max(self.parallel, len(group)), computing + len(self._queued())))
                    for run_id in group:
                        self._start(run_id, share, starting=group)

    def _start(self, run_id: str, cores: int, starting: list[str]) -> None:
        """A worker for the run, told its share of the cores (used when the run's `threads` is 0). While the
        zygote still imports, the runs still queued and those being started keep their heartbeats:
        a run with a stale one reads as interrupted."""
        def beat() -> None:
            for waiting in [*self._queued(), *starting]:
                self.store.beat(waiting)
        self._children[run_id] = zygote().spawn(self.store.root.resolve(), run_id, {CORES_ENV: str(cores)},
                                                on_wait=beat)

    def _reap(self) -> None:
        """Forget finished workers; one that died without a final status is recorded as interrupted."""
        for run_id, pid in list(self._children.items()):
            if pid_alive(pid):
                continue
            del self._children[run_id]
            status = self.store.stored_status(run_id)
            if status.active and status.pid in (pid, os.getpid()):
                status.state, status.ended_at = RunState.INTERRUPTED, now_iso()
                status.message = "the worker process ended unexpectedly (see worker.out); resume continues it"
                self.store.write_status(run_id, status)

    def _drop_cancelled(self) -> None:
        for run_id in [r for r in self._queued() if self.store.cancel_requested(r)]:
            group = next(g for g in self._waiting if run_id in g)
            group.remove(run_id)
            if not group:
                self._waiting.remove(group)
            cancel_before_start(self.store, run_id)


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
