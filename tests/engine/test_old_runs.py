"""Results folders written by earlier versions still load, as the typed records of today.

`fixtures/run_2026_12/` is a real run folder's JSON files (a tiny synthetic run, captured on
2026-12-07 before the records became typed); the older run below is written by hand with only the
fields the first versions recorded.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from alcore.config import ExperimentConfig
from alcore.records import RoundRecord
from alcore.runner import create_run
from alcore.runs import RunState, RunStore
from alcore.summary import rounds_frame

FIXTURE = Path(__file__).parent / "fixtures" / "run_2026_12"
RUN_ID = "20261207-112754-entropy-s0-5b69bb743a90"


@pytest.fixture
def store(tmp_path) -> RunStore:
    shutil.copytree(FIXTURE, tmp_path / RUN_ID)
    return RunStore(tmp_path)


def test_a_run_folder_of_the_previous_format_loads_typed(store):
    config = store.load_config(RUN_ID)
    assert config == ExperimentConfig(synthetic_size=200, model="tiny_cnn", regime="finetune", resolution=32,
                                      init_size=20, budget=10, rounds=2, epochs=1, stop_set_size=20, threads=1)
    assert store.load_resolved(RUN_ID)["data_fingerprint"] == "synthetic-eb09490caa7a82260011"
    status = store.stored_status(RUN_ID)
    assert status.state is RunState.DONE and status.n_labeled == 40 and status.round_seconds[0] == 2.221
    rounds = store.load_rounds(RUN_ID)
    assert [r.n_labeled for r in rounds] == [20, 30, 40]
    first = rounds[0]
    assert (first.threshold, first.metrics.accuracy, first.metrics.roc_auc) == (0.5, 0.75, 0.43093333333333333)
    assert first.metrics.confusion_matrix == ((0, 25), (0, 75)) and first.metrics_at_0_5.f1 == first.metrics.f1
    assert first.interval("accuracy") == (0.67, 0.83) and first.seconds.train == 2.1323
    assert len(first.queried_ids) == 10 and rounds[-1].queried_ids == () and rounds[1].stop_kappa == 1.0
    summary = store.summary(RUN_ID)
    assert (summary.n_labeled, summary.best_accuracy, summary.config.sampler) == (40, 0.75, "entropy")
    assert rounds_frame(store, [RUN_ID]).roc_auc.tolist() == [r.metrics.roc_auc for r in rounds]


def test_a_record_writes_back_the_line_it_was_read_from(store):
    lines = [json.loads(line) for line in (store.run_dir(RUN_ID) / "rounds.jsonl").read_text().splitlines()]
    assert [RoundRecord.from_dict(line).to_dict() for line in lines] == lines


def test_an_early_run_gets_the_defaults_of_what_it_did_not_record(tmp_path):
    store = RunStore(tmp_path)
    folder = tmp_path / "20250101-000000-uncertainty-s0-early"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({  # before presets, heads, threads, the stopping signal...
        "run_id": folder.name, "data": "synthetic", "synthetic_size": 300, "model": "tiny_cnn", "regime": "frozen",
        "resolution": 32, "sampler": "uncertainty", "init_size": 20, "budget": 10, "rounds": 1, "seed": 0,
        "a_setting_since_removed": 3, "resolved": {"device": "cpu"}}))
    (folder / "status.json").write_text(json.dumps({"state": "done", "round": 1, "rounds_total": 2, "n_labeled": 30}))
    (folder / "rounds.jsonl").write_text("".join(json.dumps(line) + "\n" for line in (
        {"round": 0, "n_labeled": 20, "accuracy": 0.7, "roc_auc": None, "queried_ids": ["a", "b"],
         "train_seconds": 1.5, "query_seconds": 0.1},
        {"round": 1, "n_labeled": 30, "accuracy": 0.8, "roc_auc": 0.9, "queried_ids": []})))
    config = store.load_config(folder.name)
    assert config.sampler == "least_confidence"  # the alias, read as its name
    assert (config.synthetic_preset, config.head, config.stop_set_size) == ("standard", "logistic", 1000)
    assert store.load_resolved(folder.name) == {"device": "cpu"}
    first, last = store.load_rounds(folder.name)
    assert first.threshold is None and first.metrics_at_0_5 is None and first.ci == {}
    assert math.isnan(first.metrics.roc_auc) and math.isnan(first.metric("f1_at_0_5"))
    assert first.seconds.eval == 0.0 and first.stop_kappa is None and not first.stopped_by_rule
    assert last.metric("roc_auc") == 0.9 and store.load_status(folder.name).state is RunState.DONE
    assert store.list_runs()[0].best_auc == 0.9


def test_a_setting_file_with_an_unknown_key_is_still_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"budgett": 5}))
    with pytest.raises(Exception, match="unknown setting 'budgett'"):
        ExperimentConfig.from_json(path)


def test_create_run_leaves_the_callers_config_as_it_was(tmp_path):
    cfg = ExperimentConfig(sampler="uncertainty", synthetic_size=200, resolution=16, model="tiny_cnn", init_size=10,
                           budget=5, rounds=1)
    run_id = create_run(cfg, RunStore(tmp_path))
    assert cfg.sampler == "uncertainty" and RunStore(tmp_path).load_config(run_id).sampler == "least_confidence"
    with pytest.raises(FrozenInstanceError):
        cfg.sampler = "entropy"  # type: ignore[misc]
