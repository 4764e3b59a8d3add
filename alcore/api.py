"""The Python API, for notebooks and scripts: build a config, run it or a sweep (blocking, or queued
on an executor), read the rounds of runs or of an experiment as a pandas DataFrame.

    from alcore import api
    cfg = api.config(sampler="entropy", rounds=5)
    run_ids = api.run(api.sweep(cfg, samplers=["random", "entropy"], seeds=3))  # one process per run
    frame = api.rounds(run_ids)        # or api.rounds("my-experiment")
    print(api.data_summary(data=Path("labels.csv"), classes="NORMAL=No Finding,PNEUMONIA=Pneumonia").text())
"""
from __future__ import annotations

from pathlib import PurePath

import pandas as pd

from alcore import launch
from alcore.config import ExperimentConfig, check
from alcore.data import DataError, DataSummary, Dataset, load_run_data, summarize  # noqa: F401 - api.DataError
from alcore.executors import make_executor
from alcore.runs import DEFAULT_ROOT, RunStore
from alcore.summary import rounds_frame
from alcore.sweep import Sweep


def config(base: ExperimentConfig | None = None, **settings) -> ExperimentConfig:
    """A checked run config: the defaults (or `base`) with `settings` changed. Raises ConfigError."""
    settings = {k: str(v) if isinstance(v, PurePath) else v for k, v in settings.items()}  # data=Path(...)
    values = {**(base or ExperimentConfig()).to_dict(), **settings}
    cfg = ExperimentConfig.from_dict(values)
    check(cfg)
    return cfg


def sweep(base: ExperimentConfig | None = None, samplers: list[str] | dict[str, dict] | None = None,
          **axes) -> Sweep:
    """A sweep over `samplers` and the other axes of alcore.sweep.Sweep (seeds, init_sizes,
    schedules=[(budget, rounds), ...], models, resolutions, with_baseline, experiment)."""
    base = base or ExperimentConfig()
    if isinstance(samplers, list):
        samplers = {name: dict(base.sampler_options) for name in samplers}
    return Sweep(base=base, samplers=samplers or {}, **axes)


def run(what: ExperimentConfig | Sweep | list[ExperimentConfig], out: str = str(DEFAULT_ROOT),
        parallel: int | None = None, ray: str | None = None, wait: bool = True) -> list[str]:
    """Create the runs and queue them on the local executor (`parallel` at once) or on the Ray
    cluster at `ray` ("local" starts one here); with `wait`, return once every run has ended.
    Each distinct data setting is loaded once first (decoded and cached for the runs): DataError for
    unusable data, ConfigError for a setting (or a pool too small), before any run folder exists.
    Returns the run ids, in the results folder `out`."""
    configs = [what] if isinstance(what, ExperimentConfig) else what.configs() if isinstance(what, Sweep) \
        else list(what)
    store = RunStore(out)
    run_ids = launch.launch(store, make_executor(store, ray, parallel), configs, read_data=True)
    if wait:
        launch.wait(store, run_ids)
    return run_ids


def data(cfg: ExperimentConfig | None = None, **settings) -> Dataset:
    """The decoded data set of a config (or of the defaults with `settings`, e.g. data=Path(...),
    classes=...): images, labels, ids, patients per split. Raises DataError with the CLI's message."""
    return load_run_data(config(cfg, **settings) if settings or cfg is None else cfg)


def data_summary(cfg: ExperimentConfig | None = None, **settings) -> DataSummary:
    """What the data layer makes of the data (classes, counts, patients, what was dropped and why):
    the summary `python -m alcore data` prints; `.text()` for the same lines."""
    cfg = config(cfg, **settings) if settings or cfg is None else cfg
    return summarize(load_run_data(cfg), cfg.data)


def rounds(runs: str | list[str], out: str = str(DEFAULT_ROOT)) -> pd.DataFrame:
    """One row per (run, round) with its metrics: of the given run ids, or of every run of an
    experiment (or of one run) when `runs` is a name."""
    store = RunStore(out)
    if isinstance(runs, str):
        runs = [run_id for run_id in store.run_ids()
                if run_id == runs or store.load_config(run_id).experiment == runs]
    return rounds_frame(store, list(runs))
