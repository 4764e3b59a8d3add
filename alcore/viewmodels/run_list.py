"""The runs the pages list: one row per run, grouped by experiment. No streamlit."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from alcore.plots import strategy_label
from alcore.runs import RunStore
from alcore.viewmodels.round_view import asks_for_labels


def results_root() -> Path:
    return Path(os.environ.get("ALCORE_RESULTS", "results"))


def data_label(config: dict) -> str:
    data = config.get("data", "?")
    if data == "synthetic":
        preset = "" if config.get("synthetic_preset", "standard") == "standard" else f" {config['synthetic_preset']}"
        return f"synthetic{preset} ({config.get('synthetic_size', '?')})"
    return Path(data).name or data


def twin_settings(config: dict) -> dict:
    """A run's config without what a human run and its simulated twin differ in."""
    return {k: v for k, v in config.items() if k not in ("run_id", "resolved", "oracle")}


def withheld_runs(store: RunStore) -> frozenset[str]:
    """The simulated twins of human runs that may still ask for labels (asks_for_labels): their picks
    and labels are the truth's, so no list shows them until the human run is done."""
    configs = {run_id: store.load_config(run_id) for run_id in store.run_ids()}
    asking = [twin_settings(c) for run_id, c in configs.items()
              if c.get("oracle") == "human" and asks_for_labels(store, run_id)]
    return frozenset(run_id for run_id, c in configs.items()
                     if c.get("oracle", "simulated") == "simulated" and twin_settings(c) in asking)


def runs_table(store: RunStore) -> pd.DataFrame:
    """One row per run, newest first, but the withheld twins: what the Home page lists."""
    withheld = withheld_runs(store)
    rows = [{"run_id": run.run_id, "state": run.status.state, "strategy": strategy_label(run.config),
             "oracle": run.config.get("oracle", "simulated"), "data": data_label(run.config),
             "labels": run.last.get("n_labeled", 0),
             "best_accuracy": run.best_accuracy, "best_auc": run.best_auc,
             "started": _local_time(run.status.started_at), "experiment": run.config.get("experiment", "")}
            for run in store.list_runs() if run.run_id not in withheld]
    columns = ["run_id", "state", "strategy", "oracle", "data", "labels", "best_accuracy", "best_auc", "started",
               "experiment"]
    return pd.DataFrame(rows, columns=columns)


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
        name = store.load_config(run_id).get("experiment", "")
        if name:
            groups.setdefault(name, []).append(run_id)
    return groups
