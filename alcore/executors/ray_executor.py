"""The Ray executor: each run a task on a Ray cluster (`--ray ADDRESS`, $RAY_ADDRESS, or `--ray local`
to start a small one here), asking for `cfg.threads` CPUs and, when the run's device is cuda, a GPU.

The driver (this process) keeps the results store. A task computes in a scratch run folder of its
own (workers need no shared disk) and streams every write it makes there - status and progress,
config, log lines, each round with its arrays - back as a Ray streaming generator; the driver
replays them into the real run folder, touches its heartbeat while the task lives and holds its
worker.lock. Data that is not generated in code is read once by the driver and travels once
through the object store, however many runs use it. A stop request (the run's `cancel` file)
reaches the task through a small actor it polls between batches.

Only this module imports ray, and only the Ray executor imports this module.
"""
from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import ray

from alcore.config import ConfigError, ExperimentConfig
from alcore.executors import MAX_WAITING, QueueFull, mark_queued, queue_full_message
from alcore.runs import HEARTBEAT_S, RunBusy, RunStatus, RunStore, now_iso

REPO = Path(__file__).resolve().parents[2]
LOCAL_CPUS = 2  # `--ray local`: a two-CPU instance on the loopback interface, no Ray dashboard
POLL_S = 0.5  # the driver looks for a run's cancel file this often
STOP_POLL_S = 2.0  # the task asks the stop actor this often: each ask is an actor call, measured at ~4 %
# of a core per task when asked every 0.5 s on a 2-core machine, where the run itself needs the cores
SHIPPED_FILES = ("config.json", "status.json", "rounds.jsonl")  # what a (resumed) run starts from
_connection: dict[str, str] = {}  # ray.init happens once per process: the address it went to


def connect(store: RunStore, address: str) -> "RayExecutor":
    """Connect this process to the cluster at `address` (once) and return an executor on it."""
    if _connection.get("address", address) != address:
        raise ConfigError({"ray": f"this process already uses the Ray cluster at {_connection['address']}; "
                                  f"start another process for {address}"})
    if not ray.is_initialized():
        pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        try:
            if address == "local":
                ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, _node_ip_address="127.0.0.1",
                         runtime_env={"env_vars": {"PYTHONPATH": pythonpath}}, log_to_driver=False,
                         logging_level=logging.WARNING)
            else:  # the cluster's nodes get alcore from here; its dependencies must be installed there
                ray.init(address=address, runtime_env={"py_modules": [str(REPO / "alcore")]},
                         log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:  # unreachable address, version mismatch: a sentence, not a traceback
            raise ConfigError({"ray": f"cannot use the Ray cluster at {address}: {type(exc).__name__}: {exc}"}) \
                from exc
        _connection["address"] = address
    return RayExecutor(store, address)


@ray.remote(num_cpus=0)
class _StopRequests:
    """Which runs were asked to stop: the driver writes, the tasks poll."""

    def __init__(self) -> None:
        self.run_ids: set[str] = set()

    def stop(self, run_id: str) -> None:
        self.run_ids.add(run_id)

    def clear(self, run_id: str) -> None:
        self.run_ids.discard(run_id)

    def requested(self, run_id: str) -> bool:
        return run_id in self.run_ids


class _ForwardingStore(RunStore):
    """A scratch results store that also sends every write to the driver."""

    def __init__(self, root: str, outbox: queue.Queue):
        super().__init__(root)
        self.outbox = outbox

    def write_config(self, run_id: str, config: dict) -> None:
        super().write_config(run_id, config)
        self.outbox.put(("write_config", (run_id, config)))

    def write_status(self, run_id: str, status: RunStatus) -> None:
        super().write_status(run_id, status)
        # a copy: the run goes on changing its status while this one waits to be sent
        self.outbox.put(("write_status", (run_id, replace(status, round_seconds=list(status.round_seconds)))))

    def append_round(self, run_id: str, record: dict, arrays: dict) -> None:
        super().append_round(run_id, record, arrays)
        self.outbox.put(("append_round", (run_id, record, arrays)))

    def append_log(self, run_id: str, line: str) -> None:
        super().append_log(run_id, line)
        self.outbox.put(("append_log", (run_id, line)))


@ray.remote
def _compute(run_id: str, files: dict[str, bytes], dataset: Any, stops: Any) -> Iterator[tuple[str, tuple]]:
    """One run, computed in this worker; yields the store writes it makes, in order."""
    from alcore.runner import execute_run
    outbox: queue.Queue = queue.Queue()
    with tempfile.TemporaryDirectory(prefix="alcore-ray-") as scratch:
        store = _ForwardingStore(scratch, outbox)
        store.run_dir(run_id).mkdir()
        for name, data in files.items():
            (store.run_dir(run_id) / name).write_bytes(data)
        cancel, failure = threading.Event(), []

        def compute() -> None:
            try:
                execute_run(store, run_id, cancel=cancel, dataset=dataset)
            except BaseException as exc:  # handed to the driver below
                failure.append(exc)
            finally:
                outbox.put(None)

        threading.Thread(target=compute, name=f"alcore-{run_id}", daemon=True).start()
        asked = time.monotonic()
        while True:
            try:
                item = outbox.get(timeout=POLL_S)
            except queue.Empty:
                item = ()
            if time.monotonic() - asked >= STOP_POLL_S:
                asked = time.monotonic()
                if ray.get(stops.requested.remote(run_id)):
                    cancel.set()
            if item is None:
                break
            if item:
                yield item
        if failure:
            raise failure[0]


class RayExecutor:
    def __init__(self, store: RunStore, address: str):
        self.store, self.address = store, address
        self.label = f"ray {address}"
        self._stops = _StopRequests.remote()
        self._datasets: dict[tuple, Any] = {}
        self._following: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._following:
                return
            if len(self._following) >= MAX_WAITING:
                raise QueueFull(queue_full_message(len(self._following)))
            self._following.add(run_id)
        self._stops.clear.remote(run_id)
        mark_queued(self.store, run_id, f"waiting for the Ray cluster at {self.address}", self.label)
        threading.Thread(target=self._follow, args=(run_id,), name=f"alcore-ray-{run_id}", daemon=True).start()

    def submit_together(self, run_ids: list[str]) -> None:
        """Ray schedules each task as the cluster has room: together when it has room for all."""
        for run_id in run_ids:
            self.submit(run_id)

    def cancel(self, run_id: str) -> None:
        self.store.request_cancel(run_id)
        self._stops.stop.remote(run_id)

    def _dataset(self, cfg: ExperimentConfig) -> Any:
        """The run's data in the object store (put once per data set), or None when generated in code."""
        if cfg.data == "synthetic":
            return None
        key = (cfg.data, cfg.resolution, cfg.seed, cfg.oracle)
        with self._lock:
            if key not in self._datasets:
                from alcore.data import load_dataset
                self._datasets[key] = ray.put(load_dataset(cfg.data, cfg.resolution, seed=cfg.seed,
                                                           allow_unlabeled=cfg.oracle == "human"))
            return self._datasets[key]

    def _follow(self, run_id: str) -> None:
        """Start the run's task and replay its writes into the run folder until it ends."""
        done = threading.Event()
        try:
            with self.store.claim(run_id):
                threading.Thread(target=self._watch, args=(run_id, done), daemon=True).start()
                cfg = ExperimentConfig.from_json(self.store.run_dir(run_id) / "config.json")
                if cfg.oracle == "human":
                    raise ConfigError({"oracle": "human-oracle runs wait for labels on this machine: run them "
                                                 "with the local executor"})
                folder = self.store.run_dir(run_id)
                files = {name: (folder / name).read_bytes() for name in SHIPPED_FILES if (folder / name).is_file()}
                task = _compute.options(num_cpus=cfg.threads, num_gpus=1 if cfg.device == "cuda" else 0)
                for ref in task.remote(run_id, files, self._dataset(cfg), self._stops):
                    method, args = ray.get(ref)
                    getattr(self.store, method)(*args)
        except RunBusy:
            pass  # another driver follows it
        except Exception as exc:  # the task died or could not start: the run says why
            status = self.store.stored_status(run_id)
            if status.active:
                status.state, status.ended_at, status.message = "failed", now_iso(), "failed on the Ray cluster"
                status.error = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
                self.store.write_status(run_id, status)
                self.store.append_log(run_id, f"failed on the Ray cluster: {status.error}")
        finally:
            done.set()
            with self._lock:
                self._following.discard(run_id)

    def _watch(self, run_id: str, done: threading.Event) -> None:
        """While the task lives: the run's heartbeat (every HEARTBEAT_S), and its cancel file forwarded to the task."""
        forwarded, last_beat = False, time.monotonic()
        while not done.wait(POLL_S):
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                self.store.beat(run_id)
                last_beat = time.monotonic()
            if not forwarded and self.store.cancel_requested(run_id):
                self._stops.stop.remote(run_id)
                forwarded = True
