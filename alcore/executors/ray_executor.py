"""The Ray executor: runs computed on a Ray cluster (`--ray ADDRESS`, $RAY_ADDRESS, or `--ray local`
to start a small one here) by long-lived actors, each asking for a run's `cfg.threads` CPUs (1 for
threads 0; the run then computes on the CPUs its actor holds) and,
when the run's device is cuda, a GPU. An actor computes runs one after another (a sweep imports
torch once per actor, not once per run); there are at most as many as the cluster has room for, the
other runs wait their turn in the driver, and actors leave when no run waits for them.

The driver (this process) keeps the results store. A run computes in a scratch run folder of its
own (workers need no shared disk) and streams every write it makes there - status and progress,
config, log lines, each round with its arrays - back as a Ray streaming generator; the driver
replays them into the real run folder, touches its heartbeat while the run computes and holds its
worker.lock. Data that is not generated in code is read once by the driver and travels once
through the object store, however many runs use it. A stop request (the run's `cancel` file)
reaches the run through a small actor it polls between batches.

Only this module imports ray, and only the Ray executor imports this module.
"""
from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import ray

from alcore.config import ConfigError, ExperimentConfig
from alcore.cores import CORES_ENV
from alcore.executors import MAX_WAITING, QueueFull, cancel_before_start, mark_queued, queue_full_message
from alcore.records import RoundRecord
from alcore.runs import RunBusy, RunState, RunStatus, RunStore, RunWatch, now_iso

PACKAGE = Path(__file__).resolve().parents[1]  # alcore/
LOCAL_CPUS = 2  # `--ray local`: a two-CPU instance on this machine, no Ray dashboard
POLL_S = 0.5  # the driver looks for a run's cancel file this often
STOP_POLL_S = 2.0  # a computing run asks the stop actor this often: each ask is an actor call, measured at ~4 %
# of a core per run when asked every 0.5 s on a 2-core machine, where the run itself needs the cores
SHIPPED_FILES = ("config.json", "status.json", "rounds.jsonl")  # what a (resumed) run starts from
_connection: dict[str, str] = {}  # ray.init happens once per process: the address it went to


def connect(store: RunStore, address: str) -> "RayExecutor":
    """Connect this process to the cluster at `address` (once) and return an executor on it."""
    if _connection.get("address", address) != address:
        raise ConfigError({"ray": f"this process already uses the Ray cluster at {_connection['address']}; "
                                  f"start another process for {address}"})
    if not ray.is_initialized():
        # the workers get alcore from here (runtime_env), whether the package is installed or not; its
        # dependencies must be installed on the cluster's nodes
        settings = dict(runtime_env={"py_modules": [str(PACKAGE)]}, log_to_driver=False, logging_level=logging.WARNING)
        # a local instance of LOCAL_CPUS without Ray's web dashboard, or the cluster at the address
        where = dict(num_cpus=LOCAL_CPUS, include_dashboard=False) if address == "local" else dict(address=address)
        try:
            ray.init(**where, **settings)
        except Exception as exc:  # unreachable address, version mismatch: a sentence, not a traceback
            raise ConfigError({"ray": f"cannot use the Ray cluster at {address}: {type(exc).__name__}: {exc}"}) \
                from exc
        _connection["address"] = address
    return RayExecutor(store, address)


@ray.remote(num_cpus=0)
class _StopRequests:
    """Which runs were asked to stop: the driver writes, the computing runs poll."""

    def __init__(self) -> None:
        self.run_ids: set[str] = set()

    def stop(self, run_id: str) -> None:
        self.run_ids.add(run_id)

    def clear(self, run_id: str) -> None:
        self.run_ids.discard(run_id)

    def requested(self, run_id: str) -> bool:
        return run_id in self.run_ids


@dataclass(frozen=True)
class _ConfigWritten:
    run_id: str
    config: ExperimentConfig
    resolved: dict

    def apply(self, store: RunStore) -> None:
        store.write_config(self.run_id, self.config, self.resolved)


@dataclass(frozen=True)
class _StatusWritten:
    run_id: str
    status: RunStatus

    def apply(self, store: RunStore) -> None:
        store.write_status(self.run_id, self.status)


@dataclass(frozen=True)
class _RoundAppended:
    run_id: str
    record: RoundRecord
    arrays: dict

    def apply(self, store: RunStore) -> None:
        store.append_round(self.run_id, self.record, self.arrays)


@dataclass(frozen=True)
class _LogAppended:
    run_id: str
    line: str

    def apply(self, store: RunStore) -> None:
        store.append_log(self.run_id, self.line)


@dataclass(frozen=True)
class _FileWritten:
    run_id: str
    relative: str
    data: bytes | None

    def apply(self, store: RunStore) -> None:
        store.write_file(self.run_id, self.relative, self.data)


_StoreWrite = _ConfigWritten | _StatusWritten | _RoundAppended | _LogAppended | _FileWritten


class _ForwardingStore(RunStore):
    """A scratch results store that also sends every write to the driver, which applies it to the real one."""

    def __init__(self, root: str, outbox: queue.Queue):
        super().__init__(root)
        self.outbox = outbox

    def write_config(self, run_id: str, config: ExperimentConfig, resolved: dict) -> None:
        super().write_config(run_id, config, resolved)
        self.outbox.put(_ConfigWritten(run_id, config, dict(resolved)))

    def write_status(self, run_id: str, status: RunStatus) -> None:
        super().write_status(run_id, status)
        # a copy: the run goes on changing its status while this one waits to be sent
        self.outbox.put(_StatusWritten(run_id, replace(status, round_seconds=list(status.round_seconds))))

    def append_round(self, run_id: str, record: RoundRecord, arrays: dict) -> None:
        super().append_round(run_id, record, arrays)
        self.outbox.put(_RoundAppended(run_id, record, arrays))

    def append_log(self, run_id: str, line: str) -> None:
        super().append_log(run_id, line)
        self.outbox.put(_LogAppended(run_id, line))

    def write_file(self, run_id: str, relative: str, data: bytes | None) -> None:
        super().write_file(run_id, relative, data)
        self.outbox.put(_FileWritten(run_id, relative, data))


@ray.remote
class _Computer:
    """A long-lived Ray worker computing runs one after another: torch and the engine are imported
    once per worker, not once per run (a fresh Ray worker per task cost ~5 s of imports per run)."""

    def compute(self, run_id: str, files: dict[str, bytes], dataset: Any, stops: Any) -> Iterator[_StoreWrite]:
        """One run, computed in this worker; yields the store writes it makes, in order."""
        from alcore.runner import execute_run
        # a run of threads 0 computes on the CPUs this actor holds (alcore.cores); one run at a time here
        os.environ[CORES_ENV] = str(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
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


@dataclass(frozen=True)
class _Shape:
    """What a run asks of the cluster: its threads as CPUs (1 for threads 0), and a GPU when its device is cuda."""

    cpus: int
    gpus: int


def _too_big(shape: _Shape) -> str:
    """Why a run of this shape can never start on the cluster as it is, or "" when it can."""
    total = ray.cluster_resources()
    cpus, gpus = int(total.get("CPU", 0)), int(total.get("GPU", 0))
    if shape.cpus <= cpus and shape.gpus <= gpus:
        return ""
    fixes = [fix for fix, needed in (("lower the threads", shape.cpus > cpus), ("use device cpu", shape.gpus > gpus))
             if needed]
    return (f"the run asks for {shape.cpus} CPUs (its threads)" + (" and a GPU (device cuda)" if shape.gpus else "")
            + f"; the Ray cluster has {cpus} CPUs and {gpus} GPUs in all: {' or '.join(fixes)}, or add a node "
            "that has them")


class _ComputerPool:
    """At most as many computing actors as the cluster has room for. A run takes an idle actor of its
    shape, else a new one while there is room, else waits its turn (first come, first served); an
    actor that no waiting run wants is let go, so a finished sweep holds no cluster resources."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._idle: dict[_Shape, list[Any]] = {}
        self._held: list[_Shape] = []  # one entry per live actor
        self._waiting: list[str] = []  # run ids, in arrival order

    def take(self, run_id: str, shape: _Shape, stop: Callable[[], bool]) -> Any | None:
        """An actor for the run; None when `stop()` turns true while the run waits."""
        with self._changed:
            self._waiting.append(run_id)
            try:
                while not stop():
                    if self._waiting[0] == run_id:
                        actor = self._idle_or_new(shape)
                        if actor is not None:
                            return actor
                    self._changed.wait(POLL_S)
                return None
            finally:
                self._waiting.remove(run_id)
                self._changed.notify_all()

    def _idle_or_new(self, shape: _Shape) -> Any | None:
        if self._idle.get(shape):
            return self._idle[shape].pop()
        for other, actors in self._idle.items():  # idle actors of other shapes make room
            while actors:
                ray.kill(actors.pop())
                self._held.remove(other)
        if self._held and not self._room_for(shape):
            return None
        self._held.append(shape)
        return _Computer.options(num_cpus=shape.cpus, num_gpus=shape.gpus).remote()

    def _room_for(self, shape: _Shape) -> bool:
        total = ray.cluster_resources()
        return (sum(s.cpus for s in self._held) + shape.cpus <= total.get("CPU", 0)
                and sum(s.gpus for s in self._held) + shape.gpus <= total.get("GPU", 0))

    def give_back(self, actor: Any, shape: _Shape, healthy: bool) -> None:
        """A run is over: its actor serves the next waiting run, or leaves."""
        with self._changed:
            if healthy and self._waiting:
                self._idle.setdefault(shape, []).append(actor)
            else:
                ray.kill(actor)
                self._held.remove(shape)
            self._changed.notify_all()


class RayExecutor:
    def __init__(self, store: RunStore, address: str):
        self.store, self.address = store, address
        self.label = f"ray {address}"
        self._stops = _StopRequests.remote()
        self._computers = _ComputerPool()
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
        """Runs start in arrival order as the cluster has room: together when it has room for all."""
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
                from alcore.data import load_run_data
                self._datasets[key] = ray.put(load_run_data(cfg))
            return self._datasets[key]

    def _follow(self, run_id: str) -> None:
        """Compute the run on an actor and replay its writes into the run folder until it ends."""
        try:
            forward_stop = partial(self._stops.stop.remote, run_id)
            with self.store.claim(run_id), RunWatch(self.store, run_id, forward_stop, POLL_S):
                cfg = self.store.load_config(run_id)
                if cfg.oracle == "human":
                    raise ConfigError({"oracle": "human-oracle runs wait for labels on this machine: run them "
                                                 "with the local executor"})
                folder = self.store.run_dir(run_id)
                files = {name: (folder / name).read_bytes() for name in SHIPPED_FILES if (folder / name).is_file()}
                shape = _Shape(cfg.threads or 1, 1 if cfg.device == "cuda" else 0)
                if problem := _too_big(shape):
                    raise ConfigError({"ray": problem})
                dataset = self._dataset(cfg)
                computer = self._computers.take(run_id, shape, lambda: self.store.cancel_requested(run_id))
                if computer is None:  # stopped while it waited for room on the cluster
                    cancel_before_start(self.store, run_id)
                    return
                healthy = False
                try:
                    for ref in computer.compute.remote(run_id, files, dataset, self._stops):
                        write: _StoreWrite = ray.get(ref)
                        write.apply(self.store)
                    healthy = True
                finally:
                    self._computers.give_back(computer, shape, healthy)
        except RunBusy:
            pass  # another driver follows it
        except Exception as exc:  # the actor died or could not start: the run says why
            status = self.store.stored_status(run_id)
            if status.active:
                status.state, status.ended_at, status.message = RunState.FAILED, now_iso(), "failed on the Ray cluster"
                status.error = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
                self.store.write_status(run_id, status)
                self.store.append_log(run_id, f"failed on the Ray cluster: {status.error}")
        finally:
            with self._lock:
                self._following.discard(run_id)
