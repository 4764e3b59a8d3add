"""Hospital-scale pools on one machine (issue 28): what a run and the dashboard cost at 10k / 30k / 100k.

    .venv/bin/python benchmarks/bench_scale.py                       # the issue's sizes (an hour or more)
    .venv/bin/python benchmarks/bench_scale.py --sizes 2000 --no-128 --table-rows 2000   # a quick proof

Per pool size (synthetic X-rays at 64 px; 30k also at 128 px): frozen EfficientNet-Lite0, 100 initial
labels + 5 rounds of 1,000, entropy then coreset, embeddings recorded, each run in a fresh process
with a fresh cache for the first (cold) run of a size. It prints the cold preparation (data
generation, then feature extraction) and its images/s, the computing process's peak RSS, the
seconds per round split into train / infer / query / layout / write (train and evaluate from the
run's phase events, infer + query from the round record, the strategy's own seconds and the round
file's write timed in the worker; layout is what remains of the round: the Embeddings layout and
bookkeeping), bytes written per round, and the dashboard: Embeddings, Queried and Compare rendered
by Streamlit's AppTest in a fresh process (its peak RSS stands for the server's; no browser, so the
WebGL draw itself is not in it), plus the Embeddings figure built and serialised with every point
and thinned (alcore.viewmodels.scatter). Then the growth exponent of each cost between sizes
(1.0 = linear), the goals against the measured values, and a 112,120-row NIH-style label table
(hard links to a few synthetic PNGs) through the data layer: rows/s and peak RSS.

Timings depend on the machine's load: the numbers for benchmarks/RESULTS.md come from an idle machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZES = (10_000, 30_000, 100_000)
EXTRA_128 = 30_000
SAMPLERS = ("entropy", "coreset")
INIT, BUDGET, ROUNDS = 100, 1_000, 5
NIH_ROWS = 112_120
GOALS = {"worker_gib": 4.0, "server_gib": 1.5, "round_s": 30.0, "embeddings_s": 5.0, "exponent": 1.0}


# --- the workers (each in its own process: a clean peak RSS) -------------------------------------------
def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker_run(job: dict) -> dict:
    """One AL run through the engine's public entry points, with its phases and writes timed."""
    from alcore.config import ExperimentConfig
    from alcore.runner import create_run, execute_run
    from alcore.runs import RunStore
    from alcore.strategies import registry

    strategy_seconds, write_seconds, events = [], [], []
    query = registry.query

    def timed_query(*args, **kwargs):
        started = time.perf_counter()
        try:
            return query(*args, **kwargs)
        finally:
            strategy_seconds.append(time.perf_counter() - started)

    registry.query = timed_query  # the loop calls registry.query(...) through the module

    class TimedStore(RunStore):
        def append_round(self, run_id, record, arrays) -> None:
            started = time.perf_counter()
            super().append_round(run_id, record, arrays)
            write_seconds.append(time.perf_counter() - started)

    store = TimedStore(job["results"])
    run_id = create_run(ExperimentConfig.from_dict(job["config"]), store)
    started = time.perf_counter()
    status = execute_run(store, run_id, on_event=lambda e: events.append(
        (time.perf_counter() - started, str(e.kind), e.round, e.phase)))
    rounds = store.load_rounds(run_id)
    resolved = json.loads((store.run_dir(run_id) / "config.json").read_text())["resolved"]
    return {"state": str(status.state), "error": status.error, "run_id": run_id, "events": events,
            "images": sum(resolved["split_sizes"].values()),
            "strategy_seconds": strategy_seconds, "write_seconds": write_seconds,
            "query_seconds": [r.seconds.query for r in rounds],
            "round_bytes": [store.round_path(run_id, r).stat().st_size for r in range(len(rounds))],
            "peak_mib": peak_rss_mib()}


def page_file(name: str) -> str:
    (path,) = sorted((REPO / "pages").glob(f"*{name}*.py"))[:1]
    return str(path.relative_to(REPO))


def worker_pages(job: dict) -> dict:
    """Embeddings, Queried and Compare rendered for the run by AppTest; the Embeddings figure built
    and serialised in full and thinned."""
    from streamlit.testing.v1 import AppTest

    seconds = {}
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=1800)
    at.query_params["run"] = job["run_id"]
    at.run()  # Home, imports: not timed
    for name in ("embeddings", "queried", "compare"):
        started = time.perf_counter()
        at.switch_page(page_file(name)).run()
        seconds[name] = time.perf_counter() - started
        if at.exception:
            return {"error": f"{name}: {at.exception[0].value}"}
        if name == "embeddings" and not at.get("plotly_chart"):
            return {"error": "the Embeddings page drew no chart"}
    return {"seconds": seconds, "figure": embeddings_figure_cost(job), "peak_mib": peak_rss_mib()}


def embeddings_figure_cost(job: dict) -> dict:
    """Seconds and bytes of the Embeddings figure's JSON spec: every point, then thinned."""
    from alcore.runs import RunStore
    from alcore.viewmodels import figures, round_view, scatter

    store = RunStore(job["results"])
    last = store.load_rounds(job["run_id"])[-2]  # the last round that queried
    frame = round_view.round_frame(store, job["run_id"], last)
    classes = store.classes(job["run_id"])
    xy = frame[["x", "y"]].to_numpy()
    cost = {}
    for kind in ("all", "thinned"):
        started = time.perf_counter()
        if kind == "all":
            fig = figures.embedding_figure(frame, xy, "label", "PCA", classes)
        else:
            fig = scatter.thinned_figure(scatter.thin(frame, xy), "label", "PCA", classes)
        spec = fig.to_json()
        cost[kind] = {"seconds": time.perf_counter() - started, "mib": len(spec) / 2**20,
                      "points": sum(len(t.x) for t in fig.data)}
    return cost


def worker_table(job: dict) -> dict:
    """The NIH-style table through the data layer (a fresh cache: every image decoded)."""
    from alcore.data import load_dataset

    started = time.perf_counter()
    data = load_dataset(job["table"], 64, classes="NORMAL=No Finding,PNEUMONIA=Pneumonia")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": sum(len(s) for s in data.splits.values()),
            "dropped": sum(d.count for d in data.dropped), "peak_mib": peak_rss_mib()}


WORKERS = {"run": worker_run, "pages": worker_pages, "table": worker_table}


def in_process(kind: str, job: dict, env: dict[str, str]) -> dict:
    """Run one worker in a fresh interpreter; its result, or {"error": ...}."""
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, json.dumps(job)], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
    return {"error": f"{kind} worker exited with {proc.returncode}:\n    {tail}"}


# --- what the parent makes of the workers' results ---------------------------------------------------
def preparation(res: dict) -> tuple[float, float]:
    """(data seconds, feature seconds) before the first round: up to the first feature batch, then to round 0."""
    first_phase = min(t for t, kind, _, _ in res["events"] if kind == "phase")
    features_from = min((t for t, kind, _, phase in res["events"]
                         if kind == "progress" and phase.startswith("features")), default=first_phase)
    return features_from, first_phase - features_from


def round_splits(res: dict) -> list[dict[str, float]]:
    """Per round: seconds of train / test / infer / query / layout / write and the total."""
    phases = [(t, r, phase) for t, kind, r, phase in res["events"] if kind == "phase"]
    ends = {r: t for t, kind, r, _ in res["events"] if kind == "round"}
    splits = []
    for r in sorted(ends):
        marks = [(t, phase) for t, rr, phase in phases if rr == r] + [(ends[r], "")]
        spent = {}
        for (t, phase), (t_next, _) in zip(marks, marks[1:]):
            spent[phase] = spent.get(phase, 0.0) + t_next - t
        query = res["strategy_seconds"][r] if r < len(res["strategy_seconds"]) else 0.0
        write, total = res["write_seconds"][r], ends[r] - marks[0][0]
        split = {"train": spent.get("train", 0.0) + spent.get("labeling", 0.0), "test": spent.get("evaluate", 0.0),
                 "infer": res["query_seconds"][r] - query, "query": query, "write": write}
        splits.append({**split, "layout": total - sum(split.values()), "total": total})
    return splits


def exponent(small: float, large: float, n_small: int, n_large: int) -> float:
    """d log(cost) / d log(pool size) between two sizes (1.0: linear)."""
    if small <= 0 or large <= 0:
        return math.nan
    return math.log(large / small) / math.log(n_large / n_small)


def show_run(name: str, res: dict, cold: bool) -> None:
    data_s, features_s = preparation(res)
    prep = data_s + features_s
    print(f"  {name}: {'cold' if cold else 'warm (feature cache filled)'} preparation {data_s:.1f} s data + "
          f"{features_s:.1f} s features ({res['images'] / prep:,.0f} images/s); peak RSS {res['peak_mib']:,.0f} MiB")
    print(f"    {'round':>5}" + "".join(f"{k:>10}" for k in ("train s", "test s", "infer s", "query s", "layout s",
                                                          "write s", "total s")) + f"{'written':>12}")
    for r, (split, size) in enumerate(zip(round_splits(res), res["round_bytes"])):
        cells = "".join(f"{split[k]:10.2f}" for k in ("train", "test", "infer", "query", "layout", "write", "total"))
        print(f"    {r:>5}{cells} {size / 2**20:8.1f} MiB")


def show_pages(res: dict) -> None:
    if "error" in res:
        print(f"  dashboard FAILED: {res['error']}")
        return
    s = res["seconds"]
    print(f"  dashboard (AppTest, fresh process): Embeddings {s['embeddings']:.2f} s, Queried {s['queried']:.2f} s, "
          f"Compare {s['compare']:.2f} s; peak RSS {res['peak_mib']:,.0f} MiB")
    for kind, cost in res["figure"].items():
        print(f"  Embeddings figure, {kind}: {cost['points']:,} points, built + serialised in {cost['seconds']:.2f} s, "
              f"{cost['mib']:.1f} MiB of JSON")


def run_size(size: int, px: int, budget: int, root: Path) -> dict:
    """Both strategies' runs on one pool size (the first with a cold cache), then the dashboard on the last."""
    print(f"\n== {size:,} images at {px} px: init {INIT} + {ROUNDS} x {budget:,}, frozen efficientnet_lite0 ==",
          flush=True)
    results, env = root / f"results-{size}-{px}", {"ALCORE_CACHE": str(root / f"cache-{size}-{px}"),
                                                    "ALCORE_RESULTS": str(root / f"results-{size}-{px}")}
    out = {"size": size, "px": px, "runs": {}}
    for k, sampler in enumerate(SAMPLERS):
        config = dict(data="synthetic", synthetic_size=size, resolution=px, model="efficientnet_lite0",
                      regime="frozen", sampler=sampler, init_size=INIT, budget=budget, rounds=ROUNDS, seed=0,
                      record_embeddings=True, experiment=f"scale-{size}-{px}")
        res = in_process("run", {"results": str(results), "config": config}, env)
        if res.get("error") or res.get("state") != "done":
            print(f"  {sampler} FAILED: {res.get('error') or res['state']}")
            return out
        show_run(sampler, res, cold=k == 0)
        out["runs"][sampler] = res
    out["pages"] = in_process("pages", {"results": str(results), "run_id": res["run_id"]}, env)
    show_pages(out["pages"])
    return out


def summary(case: dict) -> dict[str, float]:
    """The costs compared between sizes and against the goals."""
    runs = case["runs"]
    rounds = {s: [r["total"] for r in round_splits(res)] for s, res in runs.items()}
    pages = case.get("pages", {})
    return {"round_mean_s": sum(sum(v) / len(v) for v in rounds.values()) / max(len(rounds), 1),
            "round_max_s": max((max(v) for v in rounds.values()), default=math.nan),
            "worker_mib": max((res["peak_mib"] for res in runs.values()), default=math.nan),
            "server_mib": pages.get("peak_mib", math.nan),
            "embeddings_s": pages.get("seconds", {}).get("embeddings", math.nan),
            "bytes_per_round": max((max(res["round_bytes"]) for res in runs.values()), default=math.nan)}


def show_growth(cases: list[dict]) -> None:
    series = [(c["size"], summary(c)) for c in cases if c["px"] == 64 and len(c["runs"]) == len(SAMPLERS)]
    if len(series) < 2:
        return
    print("\ngrowth exponent between sizes (64 px; 1.0 = linear, 2.0 = quadratic):")
    pairs = [*zip(series, series[1:])] + ([(series[0], series[-1])] if len(series) > 2 else [])
    for (n_a, a), (n_b, b) in pairs:
        cells = ", ".join(f"{key} {exponent(a[key], b[key], n_a, n_b):.2f}" for key in a)
        print(f"  {n_a:,} -> {n_b:,}: {cells}")


def show_goals(cases: list[dict]) -> None:
    """The issue's goals at the largest 64 px size measured, each met or missed."""
    done = [c for c in cases if c["px"] == 64 and len(c["runs"]) == len(SAMPLERS)]
    if not done:
        return
    large, small = done[-1], done[0]
    got = summary(large)
    growth = exponent(summary(small)["round_mean_s"], got["round_mean_s"], small["size"], large["size"])
    checks = [("worker peak RSS < 4 GB", got["worker_mib"] / 1024, GOALS["worker_gib"], "GiB"),
              ("server peak RSS < 1.5 GB (AppTest process)", got["server_mib"] / 1024, GOALS["server_gib"], "GiB"),
              ("a round < 30 s (slowest round, entropy or coreset)", got["round_max_s"], GOALS["round_s"], "s"),
              ("Embeddings first draw < 5 s (server side)", got["embeddings_s"], GOALS["embeddings_s"], "s"),
              (f"per-round cost growth {small['size']:,} -> {large['size']:,} at most linear", growth,
               GOALS["exponent"], "(exponent)")]
    print(f"\ngoals at {large['size']:,} images / 64 px" + ("" if large["size"] == SIZES[-1] else
                                                          f" (the issue's are at {SIZES[-1]:,})") + ":")
    for name, value, goal, unit in checks:
        verdict = "n/a" if math.isnan(value) else "MET" if value < goal or (unit == "(exponent)" and value <= goal) \
            else "MISSED"
        print(f"  {name:<55} {value:8.2f} {unit:<11} {verdict}")


# --- the NIH-style label table ------------------------------------------------------------------------
NIH_FINDINGS = (("No Finding", 0.54), ("Pneumonia", 0.009), ("Pneumonia|Infiltration", 0.004),
                ("Infiltration", 0.18), ("Effusion", 0.12), ("Atelectasis", 0.147))  # about NIH's shares


def write_nih_table(folder: Path, rows: int, distinct_images: int = 64) -> Path:
    """Data_Entry.csv as NIH ships it (bare file names, images_0XX/images/ folders, a patient column),
    every file a hard link to one of a few synthetic 64 px PNGs (decoding still reads each file)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    bases = []
    for k in range(distinct_images):
        smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64)), axis=0), axis=1)
        pixels = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
        bases.append(folder / "bases" / f"{k}.png")
        bases[-1].parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(bases[-1])
    names, shares = zip(*NIH_FINDINGS)
    findings = rng.choice(len(names), size=rows, p=np.array(shares) / sum(shares))
    lines = ["Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position"]
    for row in range(rows):
        patient, follow_up = divmod(row, 3)
        name = f"{patient:08d}_{follow_up:03d}.png"
        target = folder / f"images_{1 + row * 12 // rows:03d}" / "images" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(bases[row % distinct_images], target)
        lines.append(f"{name},{names[findings[row]]},{follow_up},{patient},{40 + row % 40},{'MF'[row % 2]},PA")
    (folder / "Data_Entry.csv").write_text("\n".join(lines) + "\n")
    return folder / "Data_Entry.csv"


def run_table(rows: int, root: Path) -> None:
    print(f"\n== NIH-style label table: {rows:,} rows, 64 px ==", flush=True)
    started = time.perf_counter()
    table = write_nih_table(root / "nih", rows)
    print(f"  written in {time.perf_counter() - started:.1f} s (not counted)")
    res = in_process("table", {"table": str(table)}, {"ALCORE_CACHE": str(root / "cache-nih")})
    if "error" in res:
        print(f"  FAILED: {res['error']}")
        return
    print(f"  data layer: {res['seconds']:.1f} s, {rows / res['seconds']:,.0f} rows/s ({res['images']:,} images kept, "
          f"{res['dropped']:,} rows dropped by reason); peak RSS {res['peak_mib']:,.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="train-pool sizes at 64 px, comma-separated")
    parser.add_argument("--no-128", action="store_true", help=f"skip the {EXTRA_128:,} pool at 128 px")
    parser.add_argument("--table-rows", type=int, default=NIH_ROWS, help="rows of the NIH-style table (0: skip)")
    parser.add_argument("--budget", type=int, default=BUDGET, help="labels per round (smaller for a quick proof)")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cases = [(n, 64) for n in sizes] + ([] if args.no_128 else [(EXTRA_128, 128)])
    print(f"bench_scale: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start "
          "(the numbers for RESULTS.md come from an idle machine)")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        root = Path(args.keep or scratch)
        results = [run_size(n, px, args.budget, root) for n, px in cases]
        show_growth(results)
        show_goals(results)
        if args.table_rows:
            run_table(args.table_rows, root)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print("RESULT " + json.dumps(WORKERS[sys.argv[2]](json.loads(sys.argv[3]))), flush=True)
    else:
        raise SystemExit(main())
