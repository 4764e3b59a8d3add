"""Races and step mode in the engine: racers start together on the same initial set and give the numbers
their configs give alone; a paused run waits after its query (state `paused` in its folder) until
'Next round', through a Stop and a Resume; a race pauses and goes on as one."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from alcore.jobs import JobManager
from alcore.oracle import StepGate
from alcore.race import DEFAULT_RACERS, is_race, race_configs, racers
from alcore.runs import RunStore, StepControl
from alcore.train import Cancelled
from tests.test_jobs import TIMEOUT, tiny

METRICS = ("accuracy", "roc_auc", "threshold", "queried_ids", "n_labeled")


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "results")


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def numbers(store: RunStore, run_id: str) -> list[tuple]:
    return [tuple(str(r.to_dict()[k]) for k in METRICS) for r in store.load_rounds(run_id)]


def test_a_step_gate_holds_a_rounds_picks_until_the_round_is_released(store):
    store.run_dir("r1").mkdir(parents=True)
    paused, cancel = [], threading.Event()
    gate = StepGate(lambda rows, r: rows * 0 + 1, store, "r1", cancel, paused.append)
    assert gate(np.arange(3), 1).tolist() == [1, 1, 1] and paused == []  # step mode off: no wait
    store.set_pause("r1", True)
    assert gate(np.arange(2), 0).tolist() == [1, 1] and paused == []  # the initial set never waits
    answer: list = []
    waiter = threading.Thread(target=lambda: answer.append(gate(np.arange(2), 1)))
    waiter.start()
    wait_until(lambda: paused == [1], "the pause")
    assert not answer  # still holding the picks
    store.release("r1", 1)
    waiter.join(TIMEOUT)
    assert answer[0].tolist() == [1, 1]
    assert store.step_control("r1") == StepControl(pause=True, released=1)
    cancel.set()
    with pytest.raises(Cancelled):  # round 2 is not released: a stop ends the wait
        gate(np.arange(2), 2)


def test_a_paused_run_waits_after_its_query_through_stop_and_resume(store):
    jobs = JobManager(store)
    alone = jobs.launch(tiny(rounds=3))
    run_id = jobs.launch(tiny(rounds=3), pause=True)

    def paused_after(round_index: int) -> bool:
        status = store.load_status(run_id)
        return status.state == "paused" and status.round == round_index

    wait_until(lambda: paused_after(0), "the pause after round 0")
    assert len(store.load_rounds(run_id)) == 1 and store.load_rounds(run_id)[0].queried_ids  # picks are shown
    assert jobs.store.load_status(run_id).active
    restarted = JobManager(store)  # a restarted dashboard: the run is still paused, and Next works from there
    assert run_id not in restarted.interrupted_at_start and store.load_status(run_id).state == "paused"
    assert restarted.next_round([run_id]) == [run_id]
    wait_until(lambda: paused_after(1), "the pause after round 1")
    jobs.cancel(run_id)
    assert jobs.wait(run_id, TIMEOUT).state == "cancelled"
    jobs.resume(run_id)  # a restarted run waits where it was: its picks are still not labeled
    wait_until(lambda: paused_after(1), "the pause again after resume")
    jobs.set_pause([run_id], False)  # step mode off: it goes on to the end
    assert jobs.wait(run_id, TIMEOUT).state == "done"
    jobs.wait(alone, TIMEOUT)
    assert numbers(store, run_id) == numbers(store, alone)  # pausing changes no number


def test_a_race_starts_its_racers_together_on_one_initial_set_and_each_gives_its_solo_numbers(store):
    jobs = JobManager(store, max_parallel=1)  # a race starts all at once even with one slot
    base = tiny(rounds=2)
    race_id = jobs.launch_race(race_configs(base, ("coreset", "entropy", "random")), pause=True)
    assert is_race(race_id)
    run_ids = racers(store, race_id)
    assert [store.load_config(r).sampler for r in run_ids] == ["random", "entropy", "coreset"]
    assert {store.load_config(r).experiment for r in run_ids} == {race_id}
    wait_until(lambda: all(store.load_status(r).state == "paused" for r in run_ids), "every racer paused")
    initial = {tuple(store.load_resolved(r)["initial_ids"]) for r in run_ids}
    assert len(initial) == 1  # same data, initial set and seed
    assert sorted(jobs.next_round(run_ids)) == sorted(run_ids)  # Next applies to all racers
    wait_until(lambda: all(store.load_status(r).round == 1 and store.load_status(r).state == "paused"
                           for r in run_ids), "every racer paused after round 1")
    jobs.set_pause(run_ids, False)
    for run_id in run_ids:
        assert jobs.wait(run_id, TIMEOUT).state == "done"
    solo = jobs.launch(replace(base, sampler="coreset"))
    jobs.wait(solo, TIMEOUT)
    assert numbers(store, run_ids[2]) == numbers(store, solo)


def test_the_default_race_is_random_entropy_pca_kmeans_and_coreset():
    configs = race_configs(tiny(seed=3))
    assert tuple(c.sampler for c in configs) == DEFAULT_RACERS
    assert len({c.experiment for c in configs}) == 1 and is_race(configs[0].experiment)
    assert {(c.seed, c.init_size, c.data) for c in configs} == {(3, 20, "synthetic")}


def test_a_race_with_an_invalid_racer_creates_no_run(store):
    from alcore.config import ConfigError
    jobs = JobManager(store)
    bad = race_configs(tiny(), ("random", "entropy"))
    bad[1] = replace(bad[1], budget=10_000)
    with pytest.raises(ConfigError):
        jobs.launch_race(bad)
    assert store.run_ids() == []
