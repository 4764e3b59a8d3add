"""The one way a run starts and is waited for: check -> create -> submit, then follow its folder.

The CLI (`run`, `sweep`), the Python API and the dashboard's JobManager all launch through `launch`:
every config is checked once (config.validate, then the pool size: read from the data with
`read_data`) before any run folder is written, so a refused sweep or race leaves nothing behind; step
mode is set before the executor can start a run; a race's runs are queued to start at the same moment.
The worker checks again only what depends on the data it reads (config.pool_problems).
"""
from __future__ import annotations

import time
from typing import Callable, Iterator

from alcore.config import ConfigError, ExperimentConfig, check, pool_problems
from alcore.data import Dataset
from alcore.executors import Executor
from alcore.runs import RunStatus, RunStore

POLL_S = 0.2  # how often a waiting caller re-reads the status of the runs it follows


def launch(store: RunStore, executor: Executor, configs: list[ExperimentConfig], pause: bool = False,
           together: bool = False, read_data: Callable[[ExperimentConfig], Dataset] | None = None) -> list[str]:
    """Create the runs and queue them; their ids. `pause`: step mode from the start; `together`: start
    them at the same moment (a race); `read_data` (e.g. data.load_run_data): how to load each distinct
    data setting once (decoded and cached for the runs) for the pool size and the data's own checks;
    without it, the pool size where it is known without reading images. ConfigError, DataError or
    StoreError before any run folder is written; QueueFull when the executor has no room."""
    from alcore.runner import new_run_folder, pool_size  # late: the runner imports torch

    for cfg in configs:  # every one checked before any is created: no run of a refused sweep or race lingers
        check(cfg)
    sizes: dict[tuple, int | None] = {}
    for cfg in configs:
        key = _data_key(cfg)
        if key not in sizes:
            sizes[key] = len(read_data(cfg).train) if read_data else pool_size(cfg)
        if sizes[key] is not None and (problems := pool_problems(cfg, sizes[key])):
            raise ConfigError(problems)
    run_ids = [new_run_folder(cfg, store) for cfg in configs]
    for run_id in run_ids if pause else ():
        store.set_pause(run_id, True)
    if together:
        executor.submit_together(run_ids)
    else:
        for run_id in run_ids:
            executor.submit(run_id)
    return run_ids


def _data_key(cfg: ExperimentConfig) -> tuple:
    """The settings that decide a run's data set (runs of a sweep share it)."""
    return (cfg.data, cfg.resolution, cfg.seed, cfg.synthetic_size, cfg.synthetic_pneumonia_share,
            cfg.synthetic_preset, cfg.synthetic_classes, cfg.classes, cfg.columns, cfg.uncertain, cfg.patient_from, cfg.oracle)


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
