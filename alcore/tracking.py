"""Runs logged to MLflow (`--mlflow [URI]`, the Setup field, `python -m alcore mlflow-sync RESULTS`).

One MLflow run per alcore run, in the MLflow experiment named as the run's experiment ("alcore" when
it has none): the config as params, every round's test metrics (and their 95 % interval bounds) with
step = labels used, the round figures and the exported model as artifacts. A run already logged to
the same store (tag `alcore.run_id`) is not logged twice. MLflow is imported only here, when asked.

"default" is an `mlruns` folder beside the results folder: MLflow's file store, which the
`mlflow-skinny` client writes when MLFLOW_ALLOW_FILE_STORE is set (this module sets it for file
stores; MLflow 3 keeps that store in maintenance mode). View it with the full package:
`pip install mlflow && MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri mlruns`.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path

from alcore.records import RoundRecord
from alcore.runs import RunStore

log = logging.getLogger(__name__)
DEFAULT_EXPERIMENT = "alcore"
RUN_TAG = "alcore.run_id"
ROUND_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc",
                 "accuracy_at_0_5", "balanced_accuracy_at_0_5", "f1_at_0_5")
MLFLOW_STATES = {"done": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}


class TrackingError(RuntimeError):
    """MLflow missing or its store unusable; the message says what to do."""


def tracking_uri(setting: str, results_root: Path) -> str:
    """The store a run's `mlflow` setting names: "default" -> <results>/../mlruns."""
    if setting == "default":
        return str((Path(results_root).resolve().parent / "mlruns"))
    return setting


def client_for(uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingError("MLflow is not installed: pip install mlflow-skinny (the pinned version is in "
                            "requirements.txt)") from None
    if "://" not in uri or uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def log_run(store: RunStore, run_id: str, uri: str) -> str:
    """Log one finished alcore run to the MLflow store at `uri`; returns the MLflow run id (the
    existing one when the run was logged there before)."""
    client = client_for(uri)
    cfg = store.load_config(run_id)
    name = cfg.experiment or DEFAULT_EXPERIMENT
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run_id}'", max_results=1)
    if found:
        return found[0].info.run_id
    tags = {RUN_TAG: run_id, "data": cfg.data, "sampler": cfg.sampler}
    mlflow_run = client.create_run(experiment_id, run_name=run_id, tags=tags)
    mlflow_id = mlflow_run.info.run_id
    client.log_batch(mlflow_id, params=_params(cfg.to_dict(), store.load_resolved(run_id)),
                     metrics=_metrics(store.load_rounds(run_id)))
    _log_figures(client, mlflow_id, store, run_id)
    _log_model(client, mlflow_id, store, run_id)
    client.set_terminated(mlflow_id, MLFLOW_STATES.get(store.load_status(run_id).state, "KILLED"))
    return mlflow_id


def _params(config: dict, resolved: dict) -> list:
    from mlflow.entities import Param
    values = dict(config)
    values.update(weights_used=resolved.get("weights_used", ""), data_fingerprint=resolved.get("data_fingerprint", ""))
    return [Param(k, json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for k, v in sorted(values.items())]


def _metrics(rounds: list[RoundRecord]) -> list:
    """Every round's metrics at step = labels used; `<metric>_ci_low` / `_ci_high` the interval."""
    from mlflow.entities import Metric
    metrics = []
    for record in rounds:
        values = {name: record.metric(name) for name in ROUND_METRICS}
        values["threshold"] = record.threshold
        for name, (low, high) in record.ci.items():
            values[f"{name}_ci_low"], values[f"{name}_ci_high"] = low, high
        metrics += [Metric(k, float(v), 0, record.n_labeled) for k, v in values.items()
                    if isinstance(v, (int, float)) and math.isfinite(v)]
    return metrics


def _log_figures(client, mlflow_id: str, store: RunStore, run_id: str) -> None:
    from alcore.plots import write_run_figures
    try:
        paths = write_run_figures(store, run_id)
    except (RuntimeError, ValueError) as exc:  # no image export here, or nothing to draw
        client.set_tag(mlflow_id, "alcore.figures", f"not logged: {exc}")
        return
    client.log_artifacts(mlflow_id, str(paths[0].parent), "figures")


def _log_model(client, mlflow_id: str, store: RunStore, run_id: str) -> None:
    from alcore.modelfolder import write_model_folder
    from alcore.modelio import ModelError, run_model
    try:
        model = run_model(store, run_id)
    except ModelError as exc:
        client.set_tag(mlflow_id, "alcore.model", f"not logged: {exc}")
        return
    with tempfile.TemporaryDirectory() as folder:
        write_model_folder(model, Path(folder) / "model")
        client.log_artifacts(mlflow_id, str(Path(folder) / "model"), "model")


def sync(results_root: str | Path, uri: str) -> list[tuple[str, str]]:
    """Log every finished run under `results_root` not yet in the store: (run id, what happened)."""
    store = RunStore(Path(results_root))
    outcomes = []
    for summary in store.list_runs():
        if summary.status.state not in MLFLOW_STATES:
            outcomes.append((summary.run_id, f"skipped: {summary.status.state}"))
            continue
        outcomes.append((summary.run_id, f"logged as MLflow run {log_run(store, summary.run_id, uri)}"))
    return outcomes


def log_after_run(store: RunStore, run_id: str, setting: str, note) -> None:
    """The runner's hook for a run that ended: log it; a failure is a line in the run's log
    (`note`), never the run's failure."""
    uri = tracking_uri(setting, store.root)
    try:
        note(f"logged to MLflow ({uri}) as run {log_run(store, run_id, uri)}")
    except Exception as exc:  # MLflow's own errors are many; the run's numbers are already safe
        note(f"MLflow logging to {uri} failed ({type(exc).__name__}: {exc}); "
             "`python -m alcore mlflow-sync RESULTS` tries again")
