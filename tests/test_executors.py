"""Executors: the same config gives the same numbers alone, four at once and on Ray; a run killed
outright reads `interrupted` for the CLI and the dashboard and `alcore resume` finishes it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alcore import launch
from alcore.config import ExperimentConfig
from alcore.executors.local import LocalExecutor
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 600
COMPARED = ("round", "n_labeled", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
            "confusion_matrix", "queried_ids")


def tiny(**changes) -> ExperimentConfig:
    """Fine-tuned with dropout and BALD's MC-dropout passes: every kind of random draw is made."""
    return ExperimentConfig(**{"model": "tiny_cnn", "regime": "finetune", "resolution": 32, "synthetic_size": 200,
                               "init_size": 20, "budget": 10, "rounds": 2, "epochs": 2, "batch_size": 8,
                               "sampler": "bald", "seed": 4, "record_embeddings": False, **changes})


def numbers(store: RunStore, run_id: str) -> list[dict]:
    return [{key: line[key] for key in COMPARED} for line in (r.to_dict() for r in store.load_rounds(run_id))]


def wait_done(store: RunStore, run_ids: list[str]) -> None:
    ended = launch.wait(store, run_ids, timeout=TIMEOUT)
    for run_id in run_ids:
        assert ended[run_id].state == "done", store.read_log(run_id)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[dict]:
    """The config computed alone: one worker process, nothing else running."""
    store = RunStore(tmp_path_factory.mktemp("alone"))
    run_id = create_run(tiny(), store)
    LocalExecutor(store, parallel=1).submit(run_id)
    wait_done(store, [run_id])
    return numbers(store, run_id)


def test_four_at_once_give_the_numbers_of_one_alone(tmp_path, reference):
    store = RunStore(tmp_path)
    run_ids = [create_run(tiny(), store) for _ in range(4)]
    executor = LocalExecutor(store, parallel=4)
    for run_id in run_ids:
        executor.submit(run_id)
    wait_done(store, run_ids)
    assert len(reference) == 3 and all(len(r["queried_ids"]) == 10 for r in reference[:2])
    for run_id in run_ids:
        assert numbers(store, run_id) == reference


def test_a_local_ray_instance_gives_the_same_numbers(tmp_path, reference):
    pytest.importorskip("ray")
    import ray
    from alcore.executors import ray_executor
    from alcore.modelio import kept_rounds
    store = RunStore(tmp_path)
    try:
        executor = ray_executor.connect(store, "local")  # loopback, 2 CPUs, no Ray dashboard
        run_ids = [create_run(tiny(), store) for _ in range(4)]
        for run_id in run_ids:
            executor.submit(run_id)
        wait_done(store, run_ids)
        for run_id in run_ids:
            assert numbers(store, run_id) == reference
            assert store.load_status(run_id).executor == "ray local"
            assert kept_rounds(store.run_dir(run_id)), "the worker's kept models reached the driver's results folder"
        # two CPUs: two long-lived actors computed the four runs (a worker imports torch once, not per run)
        assert len({store.load_status(run_id).pid for run_id in run_ids}) == 2

        too_big = create_run(tiny(threads=3), store)  # more CPUs than the cluster has: a sentence, not a hang
        executor.submit(too_big)
        wait_ended = time.monotonic() + TIMEOUT
        while store.load_status(too_big).active:
            assert time.monotonic() < wait_ended
            time.sleep(0.1)
        assert store.load_status(too_big).state == "failed"
        assert "asks for 3 CPUs (its threads); the Ray cluster has 2 CPUs" in store.load_status(too_big).error

        # the long run takes both CPUs: the next one waits for room, and a stop ends it before it starts
        long_run = create_run(tiny(synthetic_size=1000, rounds=40, budget=20, threads=2), store)
        waiting = create_run(tiny(), store)
        executor.submit(long_run)
        executor.submit(waiting)
        phases, deadline = set(), time.monotonic() + TIMEOUT
        while len(store.load_rounds(long_run)) < 3:  # several rounds: phases streamed back are seen
            assert store.load_status(long_run).active and time.monotonic() < deadline, store.read_log(long_run)
            phases.add(store.load_status(long_run).phase)
            time.sleep(0.05)
        # read in this order, the two states say it whatever the machine's speed: if the long run still
        # computes now, it did when the other was read, so that one had no room (step mode would hold
        # the long run, but it does not reach a Ray task)
        other, long_run_active = store.load_status(waiting).state, store.load_status(long_run).active
        assert long_run_active and other == "queued"
        executor.cancel(waiting)
        while store.load_status(waiting).active:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert store.load_status(waiting).message == "cancelled before it started"
        assert store.load_status(waiting).state == "cancelled" and store.load_rounds(waiting) == []
        executor.cancel(long_run)
        while store.load_status(long_run).active:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert store.load_status(long_run).state == "cancelled" and 3 <= len(store.load_rounds(long_run)) < 41
        # which phases a poll catches depends on the machine's speed; that some arrive does not
        assert phases - {""}, "no phase of the Ray run reached its status file"
        assert "stopped by the user" in "\n".join(store.read_log(long_run))
    finally:
        ray.shutdown()
        ray_executor._connection.clear()


def cli(root: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "alcore", "--out", str(root), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def live_page(root: Path, run_id: str, monkeypatch):
    """The dashboard's Live page of the run, as a fresh server would render it."""
    from tests.pages.conftest import dashboard_page  # it puts the repo on sys.path for `ui.*`
    monkeypatch.setenv("ALCORE_RESULTS", str(root))
    return dashboard_page("pages/live.py", run=run_id)


def test_a_run_killed_mid_round_reads_interrupted_everywhere_and_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    cfg = tiny(synthetic_size=600, rounds=4, budget=20, epochs=3)
    store = RunStore(tmp_path / "results")
    uninterrupted = create_run(cfg, store)
    assert execute_run(store, uninterrupted).state == "done"

    run_id = create_run(cfg, store)
    store.set_pause(run_id, True)  # step mode: it waits after round 0's query, then we let round 1 begin
    LocalExecutor(store, parallel=1).submit(run_id)
    deadline = time.monotonic() + TIMEOUT
    for state in ("paused", "running"):  # states, not a poll racing a phase: round 1 runs for seconds
        if state == "running":
            store.set_pause(run_id, False)
        while store.load_status(run_id).state != state:
            assert store.load_status(run_id).active and time.monotonic() < deadline, store.read_log(run_id)
            time.sleep(0.05)
    status = store.load_status(run_id)
    assert status.state == "running" and status.pid != os.getpid()
    os.kill(status.pid, signal.SIGKILL)
    while store.load_status(run_id).state != "interrupted":  # the pid is gone: at once, no staleness wait
        assert time.monotonic() < deadline
        time.sleep(0.05)

    listed = [line for line in cli(store.root, "list").splitlines() if line.startswith(run_id)]
    assert listed and listed[0].split()[1] == "interrupted"
    assert "state: interrupted" in cli(store.root, "show", run_id)
    progress = store.load_status(run_id)
    assert progress.state == "interrupted" and progress.resumable
    page = live_page(store.root, run_id, monkeypatch)
    assert any("State: **interrupted**" in c.value for c in page.caption)
    assert page.button(key="live_resume").label == "Resume"
    assert len(store.load_rounds(run_id)) < 5

    cli(store.root, "resume", run_id, "--quiet")
    assert store.load_status(run_id).state == "done"
    assert numbers(store, run_id) == numbers(store, uninterrupted)


BUILD_ONCE = """
import sys, time
import alcore.data.cache as cache
from alcore.data.synthetic import load_synthetic

original = cache.cached

def counting(key, build, progress=None):
    def slow_build():
        with open(sys.argv[1], "a") as out:
            out.write(key + "\\n")
        time.sleep(1)
        return build()
    return original(key, slow_build, progress)

cache.cached = counting
load_synthetic(60, 0.75, 32)
"""


def test_runs_starting_together_decode_their_data_once(tmp_path):
    """Two processes asking for the same uncached data set at once: one decodes, the other waits and reads."""
    script = tmp_path / "decode.py"
    script.write_text(BUILD_ONCE)
    log = tmp_path / "builds.txt"
    env = {**os.environ, "ALCORE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    workers = [subprocess.Popen([sys.executable, str(script), str(log)], cwd=REPO, env=env) for _ in range(3)]
    assert [w.wait(TIMEOUT) for w in workers] == [0, 0, 0]
    assert len(log.read_text().splitlines()) == 1


SLOW_ZYGOTE = """
import json, sys, time
for line in sys.stdin:
    time.sleep(1.0)  # a zygote still importing torch on a loaded machine
    print(json.dumps({"pid": 4242}), flush=True)
"""


def test_a_spawn_waiting_for_a_slow_zygote_keeps_calling_on_wait(monkeypatch):
    """The launcher beats its queued runs while the zygote imports: a minute of silence would make them
    read as interrupted (a stale heartbeat) before they ever started."""
    from alcore.executors import zygote as zygote_module
    monkeypatch.setattr(zygote_module, "WAIT_TICK_S", 0.1)
    slow = zygote_module.Zygote()
    slow._process = subprocess.Popen([sys.executable, "-c", SLOW_ZYGOTE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
    calls = []
    try:
        assert slow.spawn(Path("/nowhere"), "run", on_wait=lambda: calls.append(time.monotonic())) == 4242
    finally:
        slow._process.kill()
        slow._process.wait()
    assert len(calls) >= 3
