"""Time the one-click demo race (issue 17's targets: the first point of every curve within 15 s of the
click, the whole race - four strategies x 11 rounds - within 2 minutes, on two CPU cores).

Default: the race through the same JobManager the dashboard uses, in a fresh results folder, once with an
empty data/feature cache (a first-ever click) and once with it warm (any later click). The racers compute in
their own worker processes, so the clock includes their start and imports, as a click does.

`--browser`: as a teacher does it: a freshly started `streamlit run dashboard.py`, Debian's Chromium
(Playwright) opening Home and clicking the demo as soon as its button shows; the clock stops when the Live
page has drawn a point on every curve, and when every racer reads done. Cold (empty cache), then warm
(a second fresh server on the same cache).

    python benchmarks/bench_demo.py [--browser]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST_POINTS_S = 15.0
WHOLE_RACE_S = 120.0


def time_race(results: Path) -> dict[str, float]:
    """Seconds from the launch to each racer's first point, to the first point of every curve, to the end."""
    from alcore.jobs import JobManager
    from alcore.race import race_configs, racers
    from alcore.runs import RunStore
    from alcore.config import DEMO_CONFIG

    store = RunStore(results)
    manager = JobManager(store)
    start = time.monotonic()
    run_ids = racers(store, manager.launch_race(race_configs(DEMO_CONFIG)))
    marks: dict[str, float] = {}
    while True:
        snaps = {run_id: store.load_status(run_id) for run_id in run_ids}
        for run_id, snap in snaps.items():
            name = store.load_config(run_id).sampler
            if snap.round >= 0 and name not in marks:
                marks[name] = time.monotonic() - start
        if "every curve" not in marks and all(s.round >= 0 for s in snaps.values()):
            marks["every curve"] = time.monotonic() - start
        if not any(s.active for s in snaps.values()):
            marks["whole race"] = time.monotonic() - start
            marks["states"] = ",".join(sorted({s.state for s in snaps.values()}))
            return marks
        time.sleep(0.05)


def time_race_in_browser(work: Path) -> dict[str, float]:
    """A fresh server and browser: the click as soon as Home shows, the clock read off the page. The server
    caches under `work` (start_dashboard), so a second call is the warm case."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_dashboard, stop_runs
    from tests.e2e.test_browser import CURVES_WITH_POINTS

    work.mkdir(parents=True, exist_ok=True)
    server_started = time.monotonic()
    server, url = start_dashboard(work)
    marks: dict[str, float] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(600_000)
            page.goto(url)
            demo = page.get_by_role("button", name="Start the demo race")
            demo.wait_for()
            marks["Home shown after server start"] = time.monotonic() - server_started
            start = time.monotonic()
            demo.click()
            page.wait_for_function(CURVES_WITH_POINTS, arg=[4, 1], polling=100)
            marks["every curve"] = time.monotonic() - start
            page.wait_for_function("() => (document.body.innerText.match(/· done/g) || []).length >= 4",
                                   polling=200)
            marks["whole race"] = time.monotonic() - start
            browser.close()
    finally:
        stop_runs(work / "results")
        server.terminate()
        server.wait(timeout=30)
    return marks


def main() -> None:
    from alcore.config import DEMO_CONFIG

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="a fresh server and Chromium, as a teacher clicks")
    args = parser.parse_args()
    print(f"demo race: random, entropy, pca_kmeans, coreset; {DEMO_CONFIG.model} {DEMO_CONFIG.regime}, "
          f"{DEMO_CONFIG.resolution} px, synthetic {DEMO_CONFIG.synthetic_size}, init {DEMO_CONFIG.init_size} + "
          f"{DEMO_CONFIG.budget} x {DEMO_CONFIG.rounds}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} "
          f"(1-min average) at the start")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ALCORE_CACHE"] = str(Path(tmp) / "cache")
        for label in ("cold cache", "warm cache"):
            marks = (time_race_in_browser(Path(tmp) / "browser") if args.browser
                     else time_race(Path(tmp) / label.replace(" ", "-")))
            first = "met" if marks["every curve"] <= FIRST_POINTS_S else "NOT met"
            whole = "met" if marks["whole race"] <= WHOLE_RACE_S else "NOT met"
            others = ", ".join(f"{k} {v:.1f} s" for k, v in marks.items()
                               if k not in ("every curve", "whole race", "states"))
            print(f"{label}: first point of every curve {marks['every curve']:.1f} s (target <= "
                  f"{FIRST_POINTS_S:.0f} s: {first}); whole race {marks['whole race']:.1f} s (target <= "
                  f"{WHOLE_RACE_S:.0f} s: {whole}); {others}" + (f" ({marks['states']})" if "states" in marks else "")
                  + f"; load now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
