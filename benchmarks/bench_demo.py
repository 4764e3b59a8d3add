"""Time from the Home page's one-click demo launch to its first curve point (issue 3's 15 s goal).

Runs the demo config through the same JobManager the dashboard uses, in a fresh results folder,
once with an empty data/feature cache (a first-ever click) and once with it warm (any later
click), and prints the seconds to each milestone. The run computes in its own worker process, so
the clock includes that process's start and imports, as a user's click does.

    python benchmarks/bench_demo.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_SECONDS = 15.0


def time_demo(results: Path) -> dict[str, float]:
    from alcore.jobs import JobManager
    from alcore.runs import RunStore
    from alcore.viewmodels.views import DEMO_CONFIG

    manager = JobManager(RunStore(results))
    start = time.monotonic()
    run_id = manager.launch(DEMO_CONFIG)
    marks: dict[str, float] = {}
    while True:
        snap = manager.snapshot(run_id)
        if snap.round >= 0 and "first point" not in marks:
            marks["first point"] = time.monotonic() - start
        if snap.round >= 1 and "second point" not in marks:
            marks["second point"] = time.monotonic() - start
        if not snap.running:
            marks["whole run"] = time.monotonic() - start
            marks["state"] = snap.state
            return marks
        time.sleep(0.05)


def main() -> None:
    from alcore.viewmodels.views import DEMO_CONFIG

    print(f"demo config: {DEMO_CONFIG.model} {DEMO_CONFIG.regime}, {DEMO_CONFIG.resolution} px, "
          f"synthetic {DEMO_CONFIG.synthetic_size}, init {DEMO_CONFIG.init_size} + {DEMO_CONFIG.budget} "
          f"x {DEMO_CONFIG.rounds}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ALCORE_CACHE"] = str(Path(tmp) / "cache")
        for label in ("cold cache", "warm cache"):
            marks = time_demo(Path(tmp) / label.replace(" ", "-"))
            verdict = "met" if marks["first point"] <= TARGET_SECONDS else "NOT met"
            print(f"{label}: first point {marks['first point']:.1f} s (target <= {TARGET_SECONDS:.0f} s: "
                  f"{verdict}), second {marks['second point']:.1f} s, whole run {marks['whole run']:.1f} s "
                  f"({marks['state']})")


if __name__ == "__main__":
    main()
