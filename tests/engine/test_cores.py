"""A run's numbers do not depend on how many cores compute it (issue 30, alcore.cores): the same
config on 1, 2 and 4 cores, alone and four at once through the local executor, gives the same
per-round metrics, picks and probabilities, bit for bit: for the frozen default and for a tiny
fine-tuned config that makes every kind of draw (augmentation, dropout, BALD's MC passes, a
validation slice)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from alcore import launch
from alcore.config import ExperimentConfig
from alcore.cores import CORES_ENV, run_cores, workers
from alcore.executors.local import LocalExecutor
from alcore.records import Timings
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore

CORES = (1, 2, 4)

CONFIGS = {
    "frozen default": ExperimentConfig(synthetic_size=200, resolution=64, init_size=20, budget=20, rounds=2, seed=1),
    "tiny finetune": ExperimentConfig(model="tiny_cnn", regime="finetune", resolution=32, synthetic_size=200,
                                      init_size=24, budget=10, rounds=2, epochs=2, batch_size=16, sampler="bald",
                                      augment=True, val_share=0.25, seed=5),
}
TIMEOUT_S = 600


def outcome(store: RunStore, run_id: str) -> list[tuple]:
    """Each round's record (its timings aside) and its pool and test probabilities."""
    rounds = []
    for record in store.load_rounds(run_id):
        arrays = store.load_round_arrays(run_id, record.round)
        line = json.dumps(replace(record, seconds=Timings()).to_dict(), sort_keys=True)  # NaN reads equal here
        rounds.append((line, record.queried_ids, arrays["prob"].tobytes(), arrays["test_prob"].tobytes()))
    return rounds


def alone(cfg: ExperimentConfig, cores: int, root, monkeypatch) -> list[tuple]:
    """The run computed in this process on `cores` cores, with a cache of its own (features extracted anew)."""
    monkeypatch.setenv("ALCORE_CACHE", str(root / "cache"))
    store = RunStore(root / "results")
    run_id = create_run(replace(cfg, threads=cores), store)
    status = execute_run(store, run_id)
    assert status.state == "done", status.error
    assert store.load_resolved(run_id)["threads"] == cores
    return outcome(store, run_id)


@pytest.fixture(scope="module", params=list(CONFIGS))
def computed(request, tmp_path_factory) -> tuple[ExperimentConfig, dict[int, list[tuple]]]:
    monkeypatch = pytest.MonkeyPatch()
    try:
        results = {cores: alone(CONFIGS[request.param], cores, tmp_path_factory.mktemp(f"cores{cores}"), monkeypatch)
                   for cores in CORES}
    finally:
        monkeypatch.undo()
    return CONFIGS[request.param], results


def test_one_two_and_four_cores_give_the_same_numbers(computed):
    _, results = computed
    assert len(results[1]) == 3 and any(picks for _, picks, _, _ in results[1])
    assert results[2] == results[1] and results[4] == results[1]


def test_four_at_once_through_the_local_executor_give_the_numbers_of_one_alone(computed, tmp_path):
    cfg, results = computed
    store = RunStore(tmp_path)
    run_ids = [create_run(replace(cfg, threads=cores), store) for cores in (*CORES, 0)]
    LocalExecutor(store, parallel=4).submit_together(run_ids)
    ended = launch.wait(store, run_ids, timeout=TIMEOUT_S)
    for run_id in run_ids:
        assert ended[run_id].state == "done", store.read_log(run_id)
        assert outcome(store, run_id) == results[1]
    shares = [store.load_resolved(run_id)["threads"] for run_id in run_ids]
    assert shares[:3] == list(CORES) and shares[3] >= 1  # threads 0: the executor's share


def test_threads_zero_means_the_executors_share_else_the_whole_machine(monkeypatch):
    monkeypatch.delenv(CORES_ENV, raising=False)
    assert run_cores(3) == 3
    assert run_cores(0) >= 1 and run_cores(0) == (os.cpu_count() or 1)
    monkeypatch.setenv(CORES_ENV, "2")
    assert run_cores(0) == 2 and run_cores(5) == 5


def test_each_worker_computes_with_one_thread_and_leaves_the_callers_alone():
    before = torch.get_num_threads()
    pool = workers(3)
    assert torch.get_num_threads() == before
    torch.set_num_threads(before + 1)  # torch's process-wide count changes after the workers started
    try:
        assert list(pool.map(lambda _: torch.get_num_threads(), range(9))) == [1] * 9
        assert pool.call(torch.get_num_threads) == 1
    finally:
        torch.set_num_threads(before)


def test_a_consumer_that_stops_early_leaves_nothing_computing():
    pool, started = workers(2), []

    def piece(i: int) -> int:
        started.append(i)
        time.sleep(0.01)
        return i

    pieces = pool.map(piece, range(100))
    assert [next(pieces) for _ in range(3)] == [0, 1, 2]
    pieces.close()
    count = len(started)
    time.sleep(0.05)
    assert len(started) == count < 100 and np.all(np.diff(sorted(started)) == 1)
