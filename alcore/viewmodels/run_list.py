"""The runs the pages list: one row per run, grouped by experiment. No streamlit."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from alcore.config import ExperimentConfig
from alcore.plots import strategy_label
from alcore.runs import RunStore


def results_root() -> Path:
    return Path(os.environ.get("ALCORE_RESULTS", "results"))


def data_label(config: ExperimentConfig) -> str:
    if config.data == "synthetic":
        preset = "" if config.synthetic_preset == "standard" else f" {config.synthetic_preset}"
        return f"synthetic{preset} ({config.synthetic_size})"
    return Path(config.data).name or config.data


def runs_table(store: RunStore) -> pd.DataFrame:
    """One row per run, newest first: what the Home page lists."""
    rows = [{"run_id": run.run_id, "state": str(run.status.state), **_settings(run.config),
             "labels": run.n_labeled, "best_accuracy": run.best_accuracy, "best_auc": run.best_auc,
             "started": _local_time(run.status.started_at)} for run in store.list_runs()]
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
    """Experiment name -> its run ids, newest experiment first."""
    groups: dict[str, list[str]] = {}
    for run_id in store.run_ids():
        name = store.load_config(run_id).experiment
        if name:
            groups.setdefault(name, []).append(run_id)
    return groups
