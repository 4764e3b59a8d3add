"""Where a run computes: `local` (each run in a fresh OS process on this machine, N at once, the
rest queued) or `ray` (runs computed by Ray actors on a cluster). The CLI, the dashboard, the
Python API and the benchmarks share them. Either way the run folder holds the truth (status,
progress, heartbeat, rounds), so any reader follows any run and a stop is a `cancel` file the run
sees between batches.

`ray` is imported only when a Ray executor is made: the dashboard's first page never pays for it.
"""
from __future__ import annotations

import os
from typing import Protocol

from alcore.runs import HOST, RunState, RunStore, now_iso

MAX_WAITING = 500  # runs an executor holds before it starts them; more is refused with a message


class QueueFull(RuntimeError):
    """The executor's launch queue is full."""


class Executor(Protocol):
    label: str  # "local" or "ray <address>": recorded in each run's status

    def submit(self, run_id: str) -> None:
        """Queue a created (or resumable) run; it starts when the executor has room. Raises QueueFull."""

    def submit_together(self, run_ids: list[str]) -> None:
        """Queue runs to start at the same moment (a race). Raises QueueFull."""

    def cancel(self, run_id: str) -> None:
        """A queued run ends at once (`cancelled`); a computing one sees the run's cancel file."""


def default_parallel(threads: int = 1) -> int:
    """Runs at once on this machine: one per `threads` cores."""
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def core_share(runs_at_once: int) -> int:
    """The cores each of `runs_at_once` runs computing together on this machine may use: what a run of
    `threads` 0 computes with (alcore.cores; its numbers do not depend on it)."""
    return max(1, (os.cpu_count() or 1) // max(1, runs_at_once))


def queue_full_message(waiting: int) -> str:
    return (f"{waiting} runs are already waiting to start; stop some (Live page or `cancel`) or wait for "
            "them to finish, then launch again")


def make_executor(store: RunStore, ray: str | None = None, parallel: int | None = None) -> Executor:
    """`ray`: None for the local executor, else a Ray address ("local" starts one here)."""
    if ray:
        from alcore.executors.ray_executor import connect
        return connect(store, ray)
    from alcore.executors.local import LocalExecutor
    return LocalExecutor(store, parallel)


def mark_queued(store: RunStore, run_id: str, message: str, executor: str) -> None:
    """Hand a run to an executor: no cancel left over, state `queued` owned by this process, a fresh heartbeat."""
    store.clear_cancel(run_id)
    status = store.stored_status(run_id)
    status.state, status.error, status.ended_at = RunState.QUEUED, "", ""
    status.message = message
    status.pid, status.host, status.executor = os.getpid(), HOST, executor
    store.write_status(run_id, status)
    store.beat(run_id)


def cancel_before_start(store: RunStore, run_id: str) -> None:
    """A queued run asked to stop ends `cancelled` without computing."""
    status = store.stored_status(run_id)
    status.state, status.message, status.ended_at = RunState.CANCELLED, "cancelled before it started", now_iso()
    store.write_status(run_id, status)
    store.clear_cancel(run_id)
