"""The runs the pages list: one row per run, grouped by experiment. No streamlit."""
from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from alcore.config import ExperimentConfig
from alcore.plots import strategy_label
from alcore.runs import RunStore
from alcore.viewmodels.round_view import asks_for_labels


def results_root() -> Path:
    return Path(os.environ.get("ALCORE_RESULTS", "results"))


def data_label(config: ExperimentConfig) -> str:
    if config.data == "synthetic":
        preset = "" if config.synthetic_preset == "standard" else f" {config.synthetic_preset}"
        return f"synthetic{preset} ({config.synthetic_size})"
    return Path(config.data).name or config.data


def twin_settings(config: ExperimentConfig) -> ExperimentConfig:
    """A run's config without what a human run and its simulated twin differ in."""
    return replace(config, oracle="simulated")


def withheld_runs(store: RunStore) -> frozenset[str]:
    """The simulated twins of human runs that may still ask for labels (asks_for_labels): their picks
    and labels are the truth's, so no list shows them until the human run is done."""
    configs = {run_id: store.load_config(run_id) for run_id in store.run_ids()}
    asking = [twin_settings(c) for run_id, c in configs.items() if c.oracle == "human" and asks_for_labels(store, run_id)]
    return frozenset(run_id for run_id, c in configs.items() if c.oracle == "simulated" and twin_settings(c) in asking)


def runs_table(store: RunStore) -> pd.DataFrame:
    """One row per run, newest first, but the withheld twins: what the Home page lists."""
    withheld = withheld_runs(store)
    rows = [{"run_id": run.run_id, "state": str(run.status.state), **_settings(run.config),
             "labels": run.n_labeled, "best_accuracy": run.best_accuracy, "best_auc": run.best_auc,
             "started": _local_time(run.status.started_at)} for run in store.list_runs() if run.run_id not in withheld]
    columns = ["run_id", "state", "strategy", "oracle", "data", "labels", "best_accuracy", "best_auc", "started",
               "experiment"]
    return pd.DataFrame(rows, columns=columns)


def _settings(config: ExperimentConfig | None) -> dict[str, str]:
    """What the table shows of a run's settings ("?" for a folder whose config.json is unreadable)."""
    if config is None:
        return {"strategy": "?", "oracle": "?", "data": "?", "experiment": ""}
    return {"strategy": strategy_label(config), "oracle": config.oracle, "data": data_label(config),
            "experiment": config.experiment}


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def experiments(store: RunStore) -> dict[str, list[str]]:
    """Experiment name -> its run ids (but the withheld twins), newest experiment first."""
    groups: dict[str, list[str]] = {}
    withheld = withheld_runs(store)
    for run_id in store.run_ids():
        if run_id in withheld:
            continue
        name = store.load_config(run_id).experiment
        if name:
            groups.setdefault(name, []).append(run_id)
    return groups
