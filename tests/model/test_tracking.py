"""A tiny run logged to a temporary MLflow store, read back with MlflowClient: every round's metrics at
step = labels used, the params, the exported model; mlflow-sync logs existing runs once."""
from __future__ import annotations

import pytest

from alcore.cli import main
from tests.model.conftest import finished_run

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(autouse=True)
def file_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setattr("alcore.tracking._log_figures", lambda *args: None)  # PNG export: tested in test_plot_files


def test_a_run_with_mlflow_logs_every_rounds_metrics_at_labels_used(tmp_path, store):
    from mlflow.tracking import MlflowClient
    uri = str(tmp_path / "mlruns")
    run_id = finished_run(store, mlflow=uri, experiment="tiny-experiment")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny-experiment")
    [logged] = client.search_runs([experiment.experiment_id])
    assert logged.data.tags["alcore.run_id"] == run_id and logged.info.status == "FINISHED"
    assert logged.data.params["sampler"] == "entropy" and logged.data.params["model"] == "tiny_cnn"
    rounds = store.load_rounds(run_id)
    history = client.get_metric_history(logged.info.run_id, "roc_auc")
    assert [(m.step, m.value) for m in history] == [(r.n_labeled, pytest.approx(r.metrics.roc_auc)) for r in rounds]
    low = client.get_metric_history(logged.info.run_id, "accuracy_ci_low")
    assert [m.step for m in low] == [20, 30, 40] and all(m.value <= r.metrics.accuracy for m, r in zip(low, rounds))
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id, "model")}
    assert {"model/model.pt2", "model/model.json", "model/MODEL_CARD.md"} <= artifacts
    assert "logged to MLflow" in (store.run_dir(run_id) / "log.txt").read_text()


def test_mlflow_sync_logs_existing_runs_once(tmp_path, store, capsys):
    from mlflow.tracking import MlflowClient
    first, second = finished_run(store), finished_run(store, seed=4)
    assert main(["mlflow-sync", str(store.root)]) == 0
    assert main(["mlflow-sync", str(store.root)]) == 0
    client = MlflowClient(tracking_uri=str(tmp_path / "mlruns"))  # "default": beside the results folder
    logged = client.search_runs([client.get_experiment_by_name("alcore").experiment_id])
    assert sorted(r.data.tags["alcore.run_id"] for r in logged) == sorted([first, second])
    assert "logged as MLflow run" in capsys.readouterr().out


def test_a_failing_store_is_a_line_in_the_log_not_a_failed_run(tmp_path, store):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    run_id = finished_run(store, mlflow=str(blocked / "mlruns"))
    assert store.load_status(run_id).state == "done"
    assert "MLflow logging to" in (store.run_dir(run_id) / "log.txt").read_text()


def test_the_run_flags_set_keep_models_and_mlflow():
    from alcore.cli import build_parser, configs_from_args
    args = build_parser().parse_args(["run", "--model", "tiny_cnn", "--keep-models", "all", "--mlflow"])
    [cfg] = configs_from_args(args)
    assert (cfg.keep_models, cfg.mlflow) == ("all", "default")
    args = build_parser().parse_args(["run", "--mlflow", "http://tracking:5000"])
    assert configs_from_args(args)[0].mlflow == "http://tracking:5000"
    assert configs_from_args(build_parser().parse_args(["run"]))[0].mlflow == ""
