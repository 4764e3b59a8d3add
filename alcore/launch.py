"""The one way a run starts and is waited for: check -> create -> submit, then follow its folder.

The CLI (`run`, `sweep`), the Python API and the dashboard's JobManager all launch through `launch`:
every config is checked (with the train pool's size, read from the data when `scan_pool`) before any
run folder is written, so a refused sweep or race leaves nothing behind; step mode is set before the
executor can start a run; a race's runs are queued to start at the same moment.
"""
from __future__ import annotations

import time
from typing import Iterator

from alcore.config import ConfigError, ExperimentConfig, check
from alcore.executors import Executor
from alcore.runs import RunStatus, RunStore

POLL_S = 0.2  # how often a waiting caller re-reads the status of the runs it follows


def launch(store: RunStore, executor: Executor, configs: list[ExperimentConfig], pause: bool = False,
           together: bool = False, scan_pool: bool = False) -> list[str]:
    """Create the runs and queue them; their ids. `pause`: step mode from the start; `together`: start
    them at the same moment (a race); `scan_pool`: read the data for the pool size when the config does
    not give it (decoded once, cached for the runs). ConfigError / StoreError before any run is created,
    QueueFull when the executor has no room."""
    from alcore.data import DataError
    from alcore.runner import create_checked_run, pool_size  # late: the runner imports torch

    sizes: dict[tuple, int | None] = {}  # runs of one launch share their data: its pool is read once
    for cfg in configs:
        data = (cfg.data, cfg.synthetic_size, cfg.oracle)  # a human run's pool holds unlabeled images too
        try:
            sizes[data] = sizes[data] if data in sizes else pool_size(cfg, scan=scan_pool)
        except DataError as exc:
            raise ConfigError({"data": str(exc)}) from None
        check(cfg, pool_size=sizes[data])
    run_ids = [create_checked_run(cfg, store) for cfg in configs]
    for run_id in run_ids if pause else ():
        store.set_pause(run_id, True)
    if together:
        executor.submit_together(run_ids)
    else:
        for run_id in run_ids:
            executor.submit(run_id)
    return run_ids


def follow(store: RunStore, run_ids: list[str], poll: float = POLL_S) -> Iterator[tuple[str, RunStatus]]:
    """(run id, status) of each run still active, every `poll` seconds, and once more as it ends; returns
    when none is active."""
    pending = list(run_ids)
    while pending:
        for run_id in list(pending):
            status = store.load_status(run_id)
            if not status.active:
                pending.remove(run_id)
            yield run_id, status
        if pending:
            time.sleep(poll)


def wait(store: RunStore, run_ids: list[str], timeout: float | None = None) -> dict[str, RunStatus]:
    """Block until the runs end (or `timeout` seconds pass); each run's last status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = {run_id: store.load_status(run_id) for run_id in run_ids}
    for run_id, status in follow(store, run_ids):
        last[run_id] = status
        if deadline is not None and time.monotonic() > deadline:
            break
    return last
