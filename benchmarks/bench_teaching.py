"""The teaching presets' tables: the one-click demo's config (DEMO_CONFIG) run with every strategy of
the race and the other diversity strategies, 5 seeds each, through the engine (one process per run,
as the dashboard runs them); then per strategy the AULC of the test ROC-AUC (mean ± std over seeds),
its paired difference against random (same seeds, so the same initial labels) with a 95 % interval,
and the same over the cold start and the warm rounds:

    cold start  the first two query rounds: the area from the initial labels to init + 2 x budget
    warm        the rest: from init + 3 x budget labels to the last round

An effect "appears" when the paired interval excludes 0; for the warm rounds the mean difference
must also exceed the seed-to-seed spread (the larger std of the two strategies' warm AULCs).
For a rare finding it also counts the PNEUMONIA images among the labels (found) at the end of the
cold start: uncertainty sampling "finds the rare class sooner" when its paired interval against
random excludes 0. Prints the mean AUC and PNEUMONIA found per labeled count, the runs' wall time
and the seconds per round (train + test + query).

    python benchmarks/bench_teaching.py                          # the demo: 5 seeds (0-4), 2 runs at once
    python benchmarks/bench_teaching.py --pneumonia-share 0.3    # the teaching preset at 30 % PNEUMONIA
    python benchmarks/bench_teaching.py --from EXP [EXP...]      # summarise runs already in --out
    python benchmarks/bench_teaching.py --draw 777 --first-seed 100 --seeds 3  # design runs: another
                                                                 # data draw, inline in this process
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from alcore import api  # noqa: E402
from alcore.metrics import area_under_curve  # noqa: E402
from alcore.data import synthetic  # noqa: E402
from alcore.runner import create_run, execute_run  # noqa: E402
from alcore.runs import RunStore  # noqa: E402
from alcore.summary import experiment_runs, paired_interval, rounds_frame  # noqa: E402
from alcore.config import DEMO_CONFIG  # noqa: E402

SAMPLERS = ("random", "entropy", "pca_kmeans", "coreset", "typiclust")
UNCERTAINTY, DIVERSITY = ("entropy",), ("pca_kmeans", "coreset", "typiclust")
METRIC = "roc_auc"


def windows(init: int, budget: int, last: int) -> dict[str, tuple[int, int]]:
    """Labeled-count ranges [from, to] of each AULC window."""
    return {"all": (init, last), "cold": (init, init + 2 * budget), "warm": (init + 3 * budget, last)}


def window_aulcs(frame: pd.DataFrame, spans: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One row per run: strategy, seed, the AULC of METRIC over each window, the final METRIC and the
    PNEUMONIA found at the end of the cold start."""
    rows = []
    for run_id, run in frame.groupby("run_id"):
        run = run.sort_values("n_labeled")
        row = {"strategy": run.strategy.iloc[0], "seed": run.seed.iloc[0], "final": run[METRIC].iloc[-1],
               "found_cold": run[run.n_labeled <= spans["cold"][1]].found.iloc[-1]}
        for name, (low, high) in spans.items():
            inside = run[(run.n_labeled >= low) & (run.n_labeled <= high)]
            row[name] = area_under_curve(inside.n_labeled.to_numpy(), inside[METRIC].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def with_found(store: RunStore, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rounds_frame) with `found`: the PNEUMONIA images among each round's labels."""
    found = {(run_id, r.round): r.n_labeled_per_class["PNEUMONIA"]
             for run_id in frame.run_id.unique() for r in store.load_rounds(run_id)}
    return frame.assign(found=[found[key] for key in zip(frame.run_id, frame["round"])])


def per_count(frame: pd.DataFrame) -> str:
    """Mean ± std over seeds of the test AUC and of the PNEUMONIA found, per labeled count."""
    names = [s for s in SAMPLERS if s in set(frame.strategy)]
    stats = frame.groupby(["n_labeled", "strategy"])[[METRIC, "found"]].agg(["mean", "std"])
    lines = ["| labels | " + " | ".join(f"{s} AUC / PNEUMONIA found" for s in names) + " |",
             "|---|" + "---|" * len(names)]
    for n in sorted(frame.n_labeled.unique()):
        cells = [f"{stats.loc[(n, s), (METRIC, 'mean')]:.3f} ± {stats.loc[(n, s), (METRIC, 'std')]:.3f} / "
                 f"{stats.loc[(n, s), ('found', 'mean')]:.1f} ± {stats.loc[(n, s), ('found', 'std')]:.1f}"
                 for s in names]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(per_run: pd.DataFrame, spans: dict[str, tuple[int, int]]) -> str:
    """The markdown tables: AULCs per strategy, paired differences against random, verdicts."""
    names = [s for s in SAMPLERS if s in set(per_run.strategy)]
    stats = per_run.groupby("strategy")[["final", *spans]].agg(["mean", "std"])
    span_text = {k: f"{lo}-{hi} labels" for k, (lo, hi) in spans.items()}
    lines = [f"| strategy | seeds | final AUC | AULC ({span_text['all']}) | cold start AULC ({span_text['cold']}) "
             f"| warm AULC ({span_text['warm']}) |", "|---|---|---|---|---|---|"]
    for s in names:
        cells = [f"{stats.loc[s, (c, 'mean')]:.3f} ± {stats.loc[s, (c, 'std')]:.3f}" for c in ("final", *spans)]
        lines.append(f"| {s} | {(per_run.strategy == s).sum()} | " + " | ".join(cells) + " |")
    reference = per_run[per_run.strategy == "random"].set_index("seed")
    lines += ["", f"| strategy - random (paired by seed) | AULC [95 % CI] | cold start [95 % CI] | warm [95 % CI] "
                  f"| PNEUMONIA found at {spans['cold'][1]} labels [95 % CI] |", "|---|---|---|---|---|"]
    verdicts = []
    for s in names[1:]:
        mine = per_run[per_run.strategy == s].set_index("seed")
        seeds = mine.index.intersection(reference.index)
        cells, intervals = [], {}
        for window in (*spans, "found_cold"):
            intervals[window] = paired_interval((mine.loc[seeds, window] - reference.loc[seeds, window]).to_numpy())
            mean, low, high = intervals[window]
            digits = 1 if window == "found_cold" else 4
            cells.append(f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
        if s in UNCERTAINTY:
            mean, low, _ = intervals["found_cold"]
            verdicts.append(f"- cold start, {s} finds more PNEUMONIA than random by {spans['cold'][1]} labels: "
                            f"{'YES' if low > 0 else 'NO'} (difference {mean:+.1f} images, interval low {low:+.1f})")
            mean, low, _ = intervals["warm"]
            spread = max(stats.loc[s, ("warm", "std")], stats.loc["random", ("warm", "std")])
            shown = mean > spread and low > 0
            verdicts.append(f"- warm, {s} above random by more than the seed spread: "
                            f"{'YES' if shown else 'NO'} (difference {mean:+.4f}, interval low {low:+.4f}, "
                            f"seed spread {spread:.4f})")
        if s in DIVERSITY:
            mean, low, _ = intervals["cold"]
            verdict = "YES" if low > 0 else "on average only (interval includes 0)" if mean > 0 else "NO"
            verdicts.append(f"- cold start, {s} ahead of random: {verdict} (difference {mean:+.4f}, "
                            f"interval low {low:+.4f})")
    return "\n".join(lines + ["", *verdicts])


def timing(store: RunStore, run_ids: list[str]) -> str:
    """Wall seconds per run and seconds per round (train + test + query, from the round records)."""
    per_round = [r.seconds.train + r.seconds.eval + r.seconds.query
                 for run_id in run_ids for r in store.load_rounds(run_id)]
    frame = rounds_frame(store, run_ids)
    wall = frame.groupby("run_id").wall_seconds.first()
    return (f"runs: {len(run_ids)}; wall per run {wall.mean():.1f} s (min {wall.min():.1f}, max {wall.max():.1f}); "
            f"per round {np.mean(per_round):.2f} s (max {np.max(per_round):.2f}) train + test + query")


def design_runs(configs: list, store: RunStore, data_seed: int) -> list[str]:
    """The runs on another draw of the synthetic data (data seed `data_seed`), inline: a worker
    process would draw the product's data set."""
    synthetic.DATA_SEED = data_seed
    run_ids = [create_run(cfg, store) for cfg in configs]
    for run_id in run_ids:
        execute_run(store, run_id)
    return run_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", default="results")
    parser.add_argument("--pneumonia-share", type=float, default=DEMO_CONFIG.synthetic_pneumonia_share)
    parser.add_argument("--draw", type=int, metavar="DATA_SEED",
                        help="design runs: draw the synthetic data with this seed instead of the product's "
                             f"{synthetic.DATA_SEED}, and run them one at a time in this process")
    parser.add_argument("--from", dest="existing", nargs="+", metavar="EXPERIMENT",
                        help="summarise these experiments' runs (together) instead of running")
    args = parser.parse_args()
    base = replace(DEMO_CONFIG, seed=args.first_seed, record_embeddings=False,  # the same metrics, faster
                   synthetic_pneumonia_share=args.pneumonia_share)
    store = RunStore(args.out)
    if args.existing:
        run_ids = [run_id for name in args.existing for run_id in experiment_runs(store, name)]
    else:
        experiment = time.strftime("teaching-%Y%m%d-%H%M%S")
        started = time.monotonic()
        sweep = api.sweep(base, samplers=list(SAMPLERS), seeds=args.seeds, experiment=experiment)
        run_ids = (design_runs(sweep.configs(), store, args.draw) if args.draw is not None
                   else api.run(sweep, out=args.out, parallel=args.parallel))
        print(f"experiment {experiment}: {len(run_ids)} runs in {time.monotonic() - started:.0f} s")
    configs = [store.load_config(r) for r in run_ids]
    cfg = configs[0]
    spans = windows(cfg.init_size, cfg.budget, cfg.final_labeled)
    print(f"data: synthetic {cfg.synthetic_preset} preset, {cfg.synthetic_size} train images, "
          f"{cfg.synthetic_pneumonia_share:.0%} PNEUMONIA; {cfg.model} {cfg.regime} at {cfg.resolution} px; "
          f"{cfg.init_size} + {cfg.budget} x {cfg.rounds} labels; seeds "
          f"{sorted({c.seed for c in configs})}; metric: test ROC-AUC\n")
    frame = with_found(store, rounds_frame(store, run_ids))
    print(report(window_aulcs(frame, spans), spans))
    print("\nMean test ROC-AUC / PNEUMONIA found per labeled count (± std over seeds):\n\n" + per_count(frame))
    print("\n" + timing(store, run_ids))


if __name__ == "__main__":
    main()
