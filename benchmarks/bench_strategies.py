"""Query time and peak extra memory of every registered strategy on synthetic embeddings.

    .venv/bin/python benchmarks/bench_strategies.py [--quick]

Embeddings: 512-d float32 around 40 cluster centres; 1,000 labeled rows; bald gets 20
MC-dropout passes. Memory is tracemalloc's peak above the start of the query (numpy
buffers included; BLAS and OpenMP scratch space are not). Target: every strategy answers
a 50,000-image pool with a budget of 1,000 in under 10 s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from alcore.strategies import Pool, registry  # noqa: E402
from alcore.strategies._geometry import DISTANCE_BLOCK_BYTES  # noqa: E402
from alcore.runs import two_class_probs  # noqa: E402

DIM, CENTRES, N_LABELED, MC_PASSES = 512, 40, 1_000, 20
TARGET_POOL, TARGET_BUDGET, TARGET_SECONDS = 50_000, 1_000, 10.0


def synthetic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pool features, labeled features, probs, mc_probs) with clustered structure."""
    centres = 3 * rng.standard_normal((CENTRES, DIM), dtype=np.float32)
    features = rng.standard_normal((n + N_LABELED, DIM), dtype=np.float32)
    features += centres[rng.integers(CENTRES, size=n + N_LABELED)]
    logits = features[:n] @ rng.standard_normal(DIM, dtype=np.float32) / np.sqrt(DIM * 10)
    probs = 1 / (1 + np.exp(-logits))
    mc_logits = logits + rng.normal(0, 0.5, size=(MC_PASSES, n)).astype(np.float32)
    return features[:n], features[n:], two_class_probs(probs), two_class_probs(1 / (1 + np.exp(-mc_logits)))


def measure(name: str, pool: Pool, budget: int) -> tuple[float, float]:
    """(seconds, peak extra MiB) of one query."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    registry.query(name, pool, budget)
    seconds = time.perf_counter() - start
    return seconds, (tracemalloc.get_traced_memory()[1] - before) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 200,000-image pool")
    args = parser.parse_args()
    pools = (5_000, 50_000) if args.quick else (5_000, 50_000, 200_000)
    budgets = (90, 1_000)
    features, labeled, probs, mc_probs = synthetic(max(pools), np.random.default_rng(0))
    cases = [(n, b) for n in pools for b in budgets]

    tracemalloc.start()
    header = f"{'strategy':<18}" + "".join(f"{f'{n:,}/{b:,}':>19}" for n, b in cases)
    print(f"query seconds / peak extra MiB, per pool size / budget (dim {DIM}, {N_LABELED:,} labeled; "
          f"distance blocks <= {DISTANCE_BLOCK_BYTES / 2**20:g} MiB; load {os.getloadavg()[0]:.1f})")
    print(header + f"   target <{TARGET_SECONDS:.0f}s at {TARGET_POOL:,}/{TARGET_BUDGET:,}")
    failed = []
    for info in registry.all_strategies():
        cells, verdict = [], ""
        for n, budget in cases:
            pool = Pool(probs[:n], features[:n], labeled, np.random.default_rng(1),
                        mc_probs[:, :n] if info.needs_mc else None)
            seconds, mib = measure(info.name, pool, budget)
            cells.append(f"{seconds:8.2f}s {mib:7.0f}MiB")
            if (n, budget) == (TARGET_POOL, TARGET_BUDGET):
                verdict = "PASS" if seconds < TARGET_SECONDS else "FAIL"
                if verdict == "FAIL":
                    failed.append(info.name)
        print(f"{info.name:<18}" + "".join(f"{c:>19}" for c in cells) + f"   {verdict}", flush=True)
    print(f"target: {'all PASS' if not failed else 'FAIL: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
