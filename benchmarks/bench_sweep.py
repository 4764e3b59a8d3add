"""Sweep executors side by side: a 10-strategy x 3-seed frozen sweep on the synthetic default
(EfficientNet-Lite0 features at 128 px, 2,000 images, 100 initial labels + 90 per round), run
  inline     - every run in this process, one after the other (no executor: the reference cost),
  local x1   - the local executor, one worker process at a time,
  local x2   - the local executor, two worker processes at a time,
  ray x2     - a local Ray instance (loopback, 2 CPUs): two tasks at a time.
Per-run overhead of an executor = (its wall time x its workers - inline wall time) / runs: what
each run pays for its own process (or Ray task, streaming, object store) beyond the computing.
The features are extracted once before the clock starts (every variant reads the same cache).
Targets: Ray's overhead < 2 s per run; local x2 >= 1.6x faster than local x1 on 2 cores.

    python benchmarks/bench_sweep.py [--rounds 10] [--seeds 3] [--strategies N] [--only inline,local1,...]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = {"inline": 1, "local1": 1, "local2": 2, "ray2": 2}  # name -> runs computing at once
STRATEGIES = ("random", "least_confidence", "margin", "entropy", "bald", "pca_kmeans", "coreset", "typiclust",
              "badge", "uncertain_kmeans")


def sweep_configs(args: argparse.Namespace, experiment: str):
    from alcore.config import ExperimentConfig
    from alcore.sweep import Sweep
    sweep = Sweep(base=ExperimentConfig(rounds=args.rounds, record_embeddings=False),
                  samplers={name: {} for name in STRATEGIES[:args.strategies]}, seeds=args.seeds,
                  experiment=experiment)
    return sweep.configs()


def time_variant(name: str, args: argparse.Namespace, root: Path) -> tuple[float, float]:
    """(wall seconds of the sweep, of which seconds starting the executor: Ray's start, once)."""
    from alcore.executors import make_executor
    from alcore.runner import create_run, execute_run
    from alcore.runs import RunStore
    store = RunStore(root / name)
    run_ids = [create_run(cfg, store) for cfg in sweep_configs(args, name)]
    start = time.monotonic()
    startup = 0.0
    if name == "inline":
        for run_id in run_ids:
            execute_run(store, run_id)
    else:
        executor = make_executor(store, "local" if name.startswith("ray") else None, VARIANTS[name])
        startup = time.monotonic() - start
        for run_id in run_ids:
            executor.submit(run_id)
        while any(store.load_status(run_id).active for run_id in run_ids):
            time.sleep(0.2)
    wall = time.monotonic() - start
    states = {store.load_status(run_id).state for run_id in run_ids}
    assert states == {"done"}, f"{name}: runs ended {states}"
    return wall, startup


def warm_caches(args: argparse.Namespace, root: Path) -> None:
    """Decode the data and extract the features once, outside every clock."""
    from alcore.runner import create_run, execute_run
    from alcore.runs import RunStore
    from dataclasses import replace
    store = RunStore(root / "warm")
    cfg = replace(sweep_configs(args, "warm")[0], rounds=1)
    assert execute_run(store, create_run(cfg, store)).state == "done"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", type=int, default=len(STRATEGIES))
    parser.add_argument("--only", default=",".join(VARIANTS), help="variants to run, comma separated")
    args = parser.parse_args()
    variants = [v for v in args.only.split(",") if v]
    n_runs = args.strategies * args.seeds
    print(f"# bench_sweep  {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
    print(f"sweep: {args.strategies} strategies x {args.seeds} seeds = {n_runs} runs, frozen efficientnet_lite0 "
          f"128 px, synthetic 2000, 100 + 90 x {args.rounds}; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("ALCORE_CACHE", str(root / "cache"))
        warm_caches(args, root)
        walls, startups = {}, {}
        for name in variants:
            walls[name], startups[name] = time_variant(name, args, root)
            print(f"  {name:7} done in {walls[name]:7.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)

    def overhead(name: str, startup: bool = True) -> float:
        if "inline" not in walls or name == "inline":
            return float("nan")
        wall = walls[name] - (0.0 if startup else startups[name])
        return (wall * VARIANTS[name] - walls["inline"]) / n_runs

    print(f"\n{'executor':8} {'at once':>7} {'wall s':>8} {'start s':>8} {'s / run':>8} {'overhead s / run':>17} "
          f"{'(w/o start)':>11} {'vs local x1':>11}")
    for name in variants:
        speedup = walls["local1"] / walls[name] if "local1" in walls else float("nan")
        print(f"{name:8} {VARIANTS[name]:>7} {walls[name]:>8.1f} {startups[name]:>8.1f} {walls[name] / n_runs:>8.2f} "
              f"{overhead(name):>17.2f} {overhead(name, False):>11.2f} {speedup:>10.2f}x")
    if {"ray2", "inline"} <= walls.keys():
        ray = overhead("ray2")
        print(f"target: Ray overhead per run < 2 s: {ray:.2f} s -> {'met' if ray < 2 else 'NOT met'} "
              f"({overhead('ray2', False):.2f} s without Ray's one-off start of {startups['ray2']:.1f} s)")
    if {"local1", "local2"} <= walls.keys():
        ratio = walls["local1"] / walls["local2"]
        print(f"target: local x2 >= 1.6x faster than local x1: {ratio:.2f}x -> {'met' if ratio >= 1.6 else 'NOT met'}")


if __name__ == "__main__":
    main()
