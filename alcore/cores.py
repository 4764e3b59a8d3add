"""A run's cores, and numbers that do not depend on how many there are (issue 30).

torch's CPU kernels split their work over the intra-op threads, and where they sum (a convolution's
weight gradient over the batch, BatchNorm's statistics) the split sets the order of the floating-point
additions: a training step gives other last bits on 1 and on 2 threads, and fine-tuning amplifies
them into other picks (docs/performance.md, "Threads"). So that work is cut into a fixed partition of
pieces (inference batches, the micro-batches of a training step) chosen without looking at the
cores; each piece is computed with ONE intra-op thread by one of the run's worker threads (torch
releases the GIL inside its kernels), and the pieces are combined in a fixed order. A piece's numbers
are the same whichever worker computes it, so the run's numbers are the same on any number of cores.

torch.set_num_threads acts on the calling thread (OpenMP's setting is per thread) and also sets a
process-wide count that a thread copies, once, the first time torch asks for its own count: each
worker does that first, then sets 1 for itself, before any work (set the other way round, a worker
took the count a caller set later: measured, EfficientNet-Lite0's features moved by 1e-5).
"""
from __future__ import annotations

import collections
import concurrent.futures
import functools
import os
import threading
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

if TYPE_CHECKING:
    import torch

CORES_ENV = "ALCORE_CORES"  # set by an executor for its worker: the run's share of the machine's cores
T = TypeVar("T")
R = TypeVar("R")


def run_cores(threads: int) -> int:
    """The cores a run computes with: its `threads` setting when above 0, else its executor's share
    ($ALCORE_CORES), else every core of the machine (a run alone)."""
    if threads > 0:
        return threads
    share = os.environ.get(CORES_ENV, "")
    return int(share) if share.isdigit() and int(share) > 0 else os.cpu_count() or 1


class Workers:
    """`count` threads, each computing with one torch intra-op thread."""

    def __init__(self, count: int):
        import torch  # here: launchers read CORES_ENV without importing torch

        self.count = count
        self._pool = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="alcore-core",
                                                           initializer=_one_thread)
        # start every thread now: a thread setting its count later would do it while others compute
        started = threading.Barrier(count + 1)
        for _ in range(count):
            self._pool.submit(started.wait)
        started.wait()
        torch.set_num_threads(torch.get_num_threads())  # the process-wide count: the caller's again

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn(item) for each item, in order, computed ahead by the workers (at most two per worker
        waiting). A consumer that stops early (a cancel) leaves no piece computing behind it."""
        pending: collections.deque[concurrent.futures.Future] = collections.deque()
        try:
            for item in items:
                pending.append(self._pool.submit(fn, item))
                if len(pending) >= 2 * self.count:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            concurrent.futures.wait(pending)

    def call(self, fn: Callable[..., R], *args) -> R:
        """fn(*args) computed by one worker (one intra-op thread), waited for."""
        return self._pool.submit(fn, *args).result()


def _one_thread() -> None:
    import torch

    torch.get_num_threads()  # torch's per-thread setup first: it copies the process-wide count once
    torch.set_num_threads(1)


@functools.lru_cache(maxsize=None)
def workers(count: int) -> Workers:
    """The process's workers for runs of `count` cores (a run's process computes one run)."""
    return Workers(max(1, count))


class InThisThread:
    """A GPU's way: the pieces in order by the calling thread (the device does the parallel work)."""

    count = 1

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)

    def call(self, fn: Callable[..., R], *args) -> R:
        return fn(*args)


def workers_for(device: torch.device, cores: int) -> Workers | InThisThread:
    """Who computes the pieces of work on `device`: on a CPU the run's `cores` workers."""
    return workers(cores) if device.type == "cpu" else InThisThread()
