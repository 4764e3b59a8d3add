"""The job manager without Streamlit: runs in worker processes, statuses from their folders, cancel,
parallel runs, a bounded queue, interrupted runs."""
from __future__ import annotations

import time

import pytest

from alcore.config import ConfigError, ExperimentConfig
from alcore.jobs import JobManager, manager_for
from alcore.runs import RunStatus, RunStore

TIMEOUT = 120


def tiny(**changes) -> ExperimentConfig:
    """A real run of a few seconds on two cores."""
    return ExperimentConfig(**{"model": "tiny_cnn", "regime": "finetune", "resolution": 32, "synthetic_size": 200,
                               "init_size": 20, "budget": 10, "rounds": 2, "epochs": 1, **changes})


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "results")


@pytest.fixture
def jobs(store) -> JobManager:
    manager = JobManager(store)
    yield manager
    for run_id in manager.active_ids():
        manager.cancel(run_id)
        manager.wait(run_id, TIMEOUT)


def wait_for_state(store: RunStore, run_id: str, state: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while store.load_status(run_id).state != state:
        assert store.load_status(run_id).active and time.monotonic() < deadline, store.read_log(run_id)
        time.sleep(0.05)


def wait_for_round(jobs: JobManager, run_id: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while jobs.store.load_status(run_id).round < 0 and jobs.store.load_status(run_id).active:
        assert time.monotonic() < deadline, "no round finished in time"
        time.sleep(0.05)


def test_a_launched_run_works_in_the_background_and_ends_done(jobs, store):
    run_id = jobs.launch(tiny())
    first = jobs.store.load_status(run_id)
    assert first.state in ("queued", "running") and first.active and first.rounds_total == 3
    assert store.load_status(run_id).state in ("queued", "running")  # the folder exists at once, for a page to follow
    final = jobs.wait(run_id, TIMEOUT)
    assert (final.state, final.round, final.n_labeled, final.error) == ("done", 2, 40, "")
    assert final.progress == 1.0 and final.eta_seconds is None and len(final.round_seconds) == 3
    assert [r.n_labeled for r in store.load_rounds(run_id)] == [20, 30, 40]
    assert not store.load_status(run_id).active and run_id not in jobs.active_ids()


def test_a_status_read_is_a_copy_that_a_reader_cannot_change_for_others(jobs):
    run_id = jobs.launch(tiny())
    status = jobs.store.load_status(run_id)
    status.message = "changed by a reader"
    assert jobs.store.load_status(run_id).message != "changed by a reader"
    jobs.wait(run_id, TIMEOUT)
    assert status.state in ("queued", "running")  # a status read earlier does not move


def test_cancel_stops_after_the_current_step_and_keeps_finished_rounds(jobs, store):
    run_id = jobs.launch(tiny(synthetic_size=1000, rounds=90), pause=True)  # it waits after round 0's query
    wait_for_state(store, run_id, "paused")
    assert jobs.cancel(run_id)
    final = jobs.wait(run_id, TIMEOUT)
    assert final.state == "cancelled" and store.load_status(run_id).state == "cancelled"
    assert [r.round for r in store.load_rounds(run_id)] == [0]
    assert not jobs.cancel(run_id)  # nothing left to cancel


def test_a_cancelled_run_resumes_where_it_stopped(jobs, store):
    run_id = jobs.launch(tiny(rounds=4))
    wait_for_round(jobs, run_id)
    jobs.cancel(run_id)
    jobs.wait(run_id, TIMEOUT)
    kept = len(store.load_rounds(run_id))
    jobs.resume(run_id)
    assert jobs.wait(run_id, TIMEOUT).state == "done"
    rounds = store.load_rounds(run_id)
    assert [r.round for r in rounds] == list(range(5)) and kept <= 5


def test_two_runs_compute_at_once_and_a_third_waits_for_a_slot(store):
    jobs = JobManager(store, max_parallel=2)
    run_ids = [jobs.launch(tiny(seed=s)) for s in range(3)]
    most_running, saw_queued = 0, False
    while any(jobs.store.load_status(r).active for r in run_ids):
        states = [jobs.store.load_status(r).state for r in run_ids]
        most_running = max(most_running, states.count("running"))
        saw_queued = saw_queued or (states.count("running") == 2 and "queued" in states)
        time.sleep(0.01)
    assert most_running == 2 and saw_queued
    assert [jobs.store.load_status(r).state for r in run_ids] == ["done"] * 3
    assert all(len(store.load_rounds(r)) == 3 for r in run_ids)


def test_a_queued_run_cancelled_ends_at_once_without_waiting_for_a_slot(store):
    jobs = JobManager(store, max_parallel=1)
    busy = jobs.launch(tiny(synthetic_size=1000, rounds=90))
    waiting = jobs.launch(tiny())
    assert jobs.store.load_status(waiting).state == "queued"
    assert jobs.cancel(waiting)
    assert jobs.wait(waiting, 5).state == "cancelled" and jobs.store.load_status(busy).active
    assert store.load_status(waiting).state == "cancelled" and not store.load_rounds(waiting)
    jobs.cancel(busy)
    jobs.wait(busy, TIMEOUT)


def test_a_run_that_cannot_even_start_ends_failed_not_running(store):
    jobs = JobManager(store, max_parallel=1)
    broken = jobs.launch(tiny())
    jobs.wait(broken, TIMEOUT)
    busy = jobs.launch(tiny(synthetic_size=1000, rounds=90))
    wait_for_round(jobs, busy)
    jobs.resume(broken)  # queued behind `busy`; its config breaks before it gets a slot
    (store.run_dir(broken) / "config.json").write_text("{not json")
    jobs.cancel(busy)
    final = jobs.wait(broken, TIMEOUT)
    assert final.state == "failed" and "JSONDecodeError" in final.error


def test_invalid_settings_are_refused_before_any_thread_starts(jobs, store):
    with pytest.raises(ConfigError) as refused:
        jobs.launch(tiny(budget=0, model="vgg"))
    assert set(refused.value.problems) == {"budget", "model"}
    assert store.run_ids() == []


def test_a_budget_larger_than_a_known_pool_is_refused_before_any_folder(jobs, store):
    with pytest.raises(ConfigError, match="more than the pool of 200 images"):
        jobs.launch(tiny(rounds=50))  # 20 + 10 x 50 labels > the pool of 200
    assert not store.run_ids()


def test_a_run_the_data_refuses_ends_failed_with_the_reason(jobs, tmp_path):
    from PIL import Image
    folder = tmp_path / "xrays" / "NORMAL"  # a folder is read by the run: its problem shows there
    folder.mkdir(parents=True)
    for i in range(4):
        Image.new("L", (20, 20), 40 * i).save(folder / f"n{i}.png")
    run_id = jobs.launch(tiny(data=str(tmp_path / "xrays")))
    final = jobs.wait(run_id, TIMEOUT)
    assert final.state == "failed" and "PNEUMONIA" in final.error


def test_runs_left_running_by_a_dead_process_are_marked_interrupted(store):
    import subprocess
    from alcore.runs import HOST
    gone = subprocess.Popen(["true"])
    gone.wait()
    run_id = "20250101-000000-entropy-s0-dead"
    store.run_dir(run_id).mkdir(parents=True)
    store.write_config(run_id, tiny(), {})
    store.write_status(run_id, RunStatus("running", round=1, rounds_total=3, pid=gone.pid, host=HOST))
    done = "20250101-000001-entropy-s0-done"
    store.run_dir(done).mkdir(parents=True)
    store.write_config(done, tiny(), {})
    store.write_status(done, RunStatus("done", round=2, rounds_total=3))
    jobs = JobManager(store)
    assert jobs.interrupted_at_start == [run_id]
    status = store.load_status(run_id)
    assert status.state == "interrupted" and status.round == 1 and status.ended_at
    assert store.load_status(done).state == "done"


def test_a_full_queue_refuses_a_launch_with_a_message(store):
    import os
    from alcore.executors import QueueFull
    from alcore.executors.local import LocalExecutor
    from alcore.runner import create_run
    executor = LocalExecutor(store, parallel=1, max_waiting=1)
    executor._adopted = {"another-run": os.getpid()}  # its one slot is taken by a live worker
    first, second = create_run(tiny(), store), create_run(tiny(), store)
    executor.submit(first)
    with pytest.raises(QueueFull, match="1 runs are already waiting to start"):
        executor.submit(second)
    assert store.load_status(first).state == "queued" and executor.waiting() == [first]
    executor.cancel(first)
    deadline = time.monotonic() + TIMEOUT
    while store.load_status(first).state != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert store.load_status(first).message == "cancelled before it started" and not store.load_rounds(first)


def test_one_manager_per_results_folder(tmp_path):
    assert manager_for(tmp_path / "a") is manager_for(tmp_path / "a")
    assert manager_for(tmp_path / "a") is not manager_for(tmp_path / "b")
