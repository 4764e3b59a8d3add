"""End to end on tiny synthetic data: every results field, cancel, resume, crash safety."""
import json

import numpy as np
import pytest

from alcore.config import ConfigError, ExperimentConfig
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore

ROUND_FIELDS = {"round", "n_labeled", "n_labeled_per_class", "accuracy", "balanced_accuracy", "precision",
                "recall", "f1", "roc_auc", "confusion_matrix", "queried_ids", "train_seconds",
                "query_seconds", "eval_seconds"}
NPZ_FIELDS = {"ids", "prob", "score", "queried", "label", "embedding", "cluster", "labeled"}
METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "n_labeled", "queried_ids", "stop_kappa")


def tiny(**changes) -> ExperimentConfig:
    values = dict(model="tiny_cnn", regime="finetune", resolution=32, synthetic_size=200, init_size=20,
                  budget=10, rounds=2, epochs=1, batch_size=16, sampler="entropy", seed=3)
    values.update(changes)
    return ExperimentConfig(**values)


def run(store: RunStore, cfg: ExperimentConfig, **kwargs):
    run_id = create_run(cfg, store)
    return run_id, execute_run(store, run_id, **kwargs)


def test_tiny_run_writes_every_field(tmp_path):
    store = RunStore(tmp_path)
    run_id, status = run(store, tiny())
    assert status.state == "done", status.error
    folder = tmp_path / run_id
    config = json.loads((folder / "config.json").read_text())
    resolved = config["resolved"]
    assert config["sampler"] == "entropy" and resolved["device"] == "cpu"
    assert resolved["weights_used"] == "random" and resolved["versions"]["torch"]
    assert len(resolved["initial_ids"]) == 20
    rounds = store.load_rounds(run_id)
    assert [r.round for r in rounds] == [0, 1, 2]
    assert [r.n_labeled for r in rounds] == [20, 30, 40]
    for r in rounds:
        assert ROUND_FIELDS <= set(r.to_dict())
        assert sum(map(sum, r.metrics.confusion_matrix)) == resolved["split_sizes"]["test"]
        assert sum(r.n_labeled_per_class.values()) == r.n_labeled
    assert [len(r.queried_ids) for r in rounds] == [10, 10, 0]
    arrays = store.load_round_arrays(run_id, 0)
    assert NPZ_FIELDS <= set(arrays)
    n = resolved["split_sizes"]["train"]
    assert arrays["embedding"].shape == (n, 2) and arrays["prob"].shape == (n,)
    assert arrays["queried"].sum() == 10 and not (arrays["queried"] & arrays["labeled"]).any()
    assert set(arrays["ids"][arrays["queried"]]) == set(rounds[0].queried_ids)
    unlabeled = ~arrays["labeled"]
    assert np.isfinite(arrays["score"][unlabeled]).all() and np.isnan(arrays["score"][~unlabeled]).all()
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "done" and status["ended_at"]


def test_frozen_regime_runs_and_reuses_feature_cache(tmp_path):
    store = RunStore(tmp_path)
    _, first = run(store, tiny(regime="frozen", sampler="pca_kmeans", sampler_options={"pca_components": 4}))
    assert first.state == "done", first.error
    _, second = run(store, tiny(regime="frozen", sampler="random"))
    assert second.state == "done", second.error


def test_cancel_then_resume_matches_uninterrupted_run(tmp_path):
    store = RunStore(tmp_path)
    _, full = run(store, tiny())
    reference = store.load_rounds(store.run_ids()[0])

    cancel = __import__("threading").Event()

    def stop_after_round_0(event):
        if event.kind == "round" and event.round == 0:
            cancel.set()

    run_id = create_run(tiny(), store)
    status = execute_run(store, run_id, cancel=cancel, on_event=stop_after_round_0)
    assert status.state == "cancelled"
    assert [r.round for r in store.load_rounds(run_id)] == [0]
    status = execute_run(store, run_id)
    assert status.state == "done", status.error
    resumed = store.load_rounds(run_id)
    for a, b in zip(reference, resumed, strict=True):
        for key in METRICS:
            assert a.to_dict()[key] == pytest.approx(b.to_dict()[key], abs=1e-6), key


def test_crash_while_writing_a_round_keeps_finished_rounds(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    run_id = create_run(tiny(), store)
    import alcore.runs as runs

    real_replace = runs.os.replace
    calls = {"n": 0}

    def flaky_replace(src, dst):
        if str(dst).endswith("rounds.jsonl"):
            calls["n"] += 1
            if calls["n"] == 2:  # the second round's write dies half way
                raise OSError("disk vanished")
        return real_replace(src, dst)

    monkeypatch.setattr(runs.os, "replace", flaky_replace)
    status = execute_run(store, run_id)
    assert status.state == "failed" and "disk vanished" in status.error
    assert [r.round for r in store.load_rounds(run_id)] == [0]
    assert not list((tmp_path / run_id).glob(".*.tmp"))
    monkeypatch.setattr(runs.os, "replace", real_replace)
    assert execute_run(store, run_id).state == "done"
    assert [r.round for r in store.load_rounds(run_id)] == [0, 1, 2]


def test_bad_data_fails_with_a_message_not_a_crash(tmp_path):
    store = RunStore(tmp_path)
    (tmp_path / "empty").mkdir()
    _, status = run(store, tiny(data=str(tmp_path / "empty")))
    assert status.state == "failed" and status.error


def test_budget_larger_than_pool_is_refused(tmp_path):
    store = RunStore(tmp_path / "r")
    with pytest.raises(ConfigError, match="more than the pool"):
        create_run(tiny(budget=100, rounds=5), store)  # the synthetic pool's size is known: no folder
    assert not store.run_ids()


def test_full_data_baseline_trains_on_the_whole_pool(tmp_path):
    store = RunStore(tmp_path)
    run_id, status = run(store, tiny(full_data=True))
    assert status.state == "done", status.error
    rounds = store.load_rounds(run_id)
    assert len(rounds) == 1 and rounds[0].n_labeled == 200


def test_an_active_run_reads_interrupted_once_its_process_is_gone_or_silent(tmp_path):
    import os
    import subprocess
    import time
    from alcore import runs
    store = RunStore(tmp_path)
    run_id = create_run(tiny(), store)
    other = subprocess.Popen(["sleep", "30"])
    try:
        status = store.load_status(run_id)
        status.state, status.pid, status.host = runs.RunState.RUNNING, other.pid, runs.HOST
        store.write_status(run_id, status)
        store.beat(run_id)
        assert store.load_status(run_id).state == "running"
        assert store.mark_interrupted() == []
        other.kill()
        other.wait()
        assert store.load_status(run_id).state == "interrupted"  # every reader, at once
        assert store.stored_status(run_id).state == "running"  # the file as the process left it
        status.pid, status.host = os.getpid(), "another-host"  # elsewhere: only the heartbeat counts
        store.write_status(run_id, status)
        assert store.load_status(run_id).state == "running"
        stale = time.time() - runs.STALE_S - 1
        os.utime(store.run_dir(run_id) / "heartbeat", (stale, stale))
        assert store.load_status(run_id).state == "interrupted"
        assert store.mark_interrupted() == [run_id] and store.stored_status(run_id).state == "interrupted"
    finally:
        other.kill()


def test_one_process_computes_a_run(tmp_path):
    from alcore.runs import RunBusy
    store = RunStore(tmp_path)
    run_id = create_run(tiny(), store)
    with store.claim(run_id):
        with pytest.raises(RunBusy):
            execute_run(store, run_id)
    assert execute_run(store, run_id).state == "done"


def test_resume_keeps_the_stored_initial_set_and_the_first_start_facts(tmp_path, monkeypatch):
    import threading
    store = RunStore(tmp_path)
    run_id = create_run(tiny(), store)
    cancel = threading.Event()
    execute_run(store, run_id, cancel, on_event=lambda e: e.kind == "round" and cancel.set())
    first = store.load_resolved(run_id)
    monkeypatch.setattr("alcore.runner.initial_rows", lambda *a: pytest.fail("resume recomputed the initial set"))
    assert execute_run(store, run_id).state == "done"
    resolved = store.load_resolved(run_id)
    assert resolved["initial_ids"] == first["initial_ids"] and resolved["versions"] == first["versions"]
    assert [r["from_round"] for r in resolved["resumes"]] == [1] and resolved["resumes"][0]["device"] == "cpu"


@pytest.fixture
def inferred_rows(monkeypatch):
    """How many train-split rows each finetune pool pass pushes through the network."""
    import alcore.learners as learners
    counts = []
    real = learners.extract_features

    def counting(model, images, *args, rows=None, **kwargs):
        counts.append(len(images) if rows is None else len(rows))
        return real(model, images, *args, rows=rows, **kwargs)

    monkeypatch.setattr(learners, "extract_features", counting)
    return counts


def test_without_embeddings_only_the_unlabeled_rows_are_inferred(tmp_path, inferred_rows):
    store = RunStore(tmp_path)
    run_id, status = run(store, tiny(record_embeddings=False, stop_set_size=0))
    assert status.state == "done", status.error
    sizes = store.load_resolved(run_id)["split_sizes"]
    train, test = sizes["train"], sizes["test"]
    # round 0: test + 180 unlabeled; round 1: test + 170; round 2 (no query): test only
    assert inferred_rows == [test, train - 20, test, train - 30, test]
    for r in (0, 1):
        arrays = store.load_round_arrays(run_id, r)
        assert "embedding" not in arrays and "features_pca" not in arrays and "cluster" not in arrays
        assert np.isnan(arrays["prob"][arrays["labeled"]]).all()
        assert np.isfinite(arrays["prob"][~arrays["labeled"]]).all()
    assert np.isnan(store.load_round_arrays(run_id, 2)["prob"]).all()


def test_without_embeddings_the_stop_set_is_inferred_every_round(tmp_path, inferred_rows):
    """The stopping signal needs its stop set predicted each round, the last one included."""
    store = RunStore(tmp_path)
    run_id, status = run(store, tiny(record_embeddings=False, stop_set_size=5))
    assert status.state == "done", status.error
    test = store.load_resolved(run_id)["split_sizes"]["test"]
    assert inferred_rows[-2:] == [test, 5]  # the final round: the test set, then the 5 stop-set images
    final = store.load_round_arrays(run_id, 2)["prob"]
    assert np.isfinite(final).sum() == 5
    kappas = [r.stop_kappa for r in store.load_rounds(run_id)]
    assert kappas[0] is None and all(-1 <= k <= 1 for k in kappas[1:])


@pytest.mark.parametrize("sampler, labeled_rows_inferred", [("coreset", True), ("bald", False)])
def test_without_embeddings_the_picks_are_the_same(tmp_path, inferred_rows, sampler, labeled_rows_inferred):
    """coreset measures distances to the labeled images, so they are still inferred; BALD's
    MC-dropout masks must not depend on which rows were inferred."""
    store = RunStore(tmp_path)
    picks = {}
    for record in (True, False):
        inferred_rows.clear()
        run_id, status = run(store, tiny(sampler=sampler, record_embeddings=record))
        assert status.state == "done", status.error
        picks[record] = [sorted(r.queried_ids) for r in store.load_rounds(run_id)]
    train = store.load_resolved(run_id)["split_sizes"]["train"]
    assert inferred_rows[1] == (train if labeled_rows_inferred else train - 20)
    assert picks[True] == picks[False] and picks[True][0]
