"""python -m alcore {run, resume, list, show, strategies, summary}."""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path

from alcore.config import DEFAULT_SEEDS, ConfigError, ExperimentConfig, check, experiment_configs
from alcore.runs import RunStore

# flag -> config field, for the flags that map one to one
RUN_FLAGS = {
    "data": str, "model": str, "weights": str, "regime": str, "resolution": int, "init": int,
    "init_mode": str, "budget": int, "rounds": int, "epochs": int, "head_steps": int,
    "batch_size": int, "lr": float, "weight_decay": float, "seed": int, "device": str,
    "synthetic_size": int, "oracle": str, "head": str, "finetune_steps": int, "val_share": float,
}
FIELD_OF_FLAG = {"init": "init_size"}


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--sampler-option needs KEY=VALUE, got '{text}'")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alcore", description="Active learning on chest X-rays.")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run active learning (one run per sampler x seed)")
    run.add_argument("--config", help="a JSON file of settings (flags given here override it)")
    for flag, kind in RUN_FLAGS.items():
        run.add_argument(f"--{flag.replace('_', '-')}", type=kind, default=None)
    run.add_argument("--sampler", default=None, help="a strategy, or several separated by commas")
    run.add_argument("--seeds", type=int, default=None,
                     help=f"run each sampler with seeds seed..seed+N-1 (default: {DEFAULT_SEEDS} for an experiment "
                          "- several samplers, --with-baseline or --experiment - else 1)")
    run.add_argument("--class-weighted", action="store_true", default=None, help="class-weighted loss")
    run.add_argument("--augment", action="store_true", default=None,
                     help="finetune: light augmentation (rotation, scale, shift, brightness, contrast; no flip)")
    run.add_argument("--hflip", action="store_true", default=None, help="finetune, with --augment: horizontal flips")
    run.add_argument("--sampler-option", type=_parse_option, action="append", default=[],
                     metavar="KEY=VALUE", help="a strategy option, e.g. pca_components=10")
    run.add_argument("--experiment", default=None, help="group id for the runs of this launch")
    run.add_argument("--with-baseline", action="store_true",
                     help="add a full-data baseline run (the whole train pool, same recipe) to the experiment")
    run.add_argument("--no-embeddings", action="store_true",
                     help="skip the inference only the Embeddings page uses (faster batch runs; same metrics)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    resume = sub.add_parser("resume", help="continue an interrupted or cancelled run")
    resume.add_argument("run_id")
    resume.add_argument("--quiet", action="store_true")
    sub.add_parser("list", help="list the runs in the results folder")
    show = sub.add_parser("show", help="a run's config and per-round metrics")
    show.add_argument("run_id")
    sub.add_parser("strategies", help="the query strategies and their options")
    summary = sub.add_parser("summary", help="mean +- std per strategy across the seeds of an experiment")
    summary.add_argument("experiment")
    summary.add_argument("--csv", help="also write the table to this CSV file")
    summary.add_argument("--markdown", action="store_true", help="print a markdown table (mean ± std cells)")
    return parser


def configs_from_args(args: argparse.Namespace) -> list[ExperimentConfig]:
    """One config per sampler x seed: defaults < --config file < flags."""
    base = ExperimentConfig.from_json(args.config) if args.config else ExperimentConfig()
    changes = {FIELD_OF_FLAG.get(f, f): getattr(args, f) for f in RUN_FLAGS if getattr(args, f) is not None}
    for flag in ("class_weighted", "augment", "hflip"):
        if getattr(args, flag) is not None:
            changes[flag] = True
    if args.no_embeddings:
        changes["record_embeddings"] = False
    if args.sampler_option:
        changes["sampler_options"] = {**base.sampler_options, **dict(args.sampler_option)}
    base = replace(base, **changes)
    samplers = [s.strip() for s in (args.sampler or base.sampler).split(",") if s.strip()]
    seeds = args.seeds
    if seeds is None:
        seeds = DEFAULT_SEEDS if len(samplers) > 1 or args.with_baseline or args.experiment else 1
    if seeds < 1:
        raise ConfigError({"seeds": f"--seeds must be 1 or more (got {seeds})"})
    configs = experiment_configs(base, {s: base.sampler_options for s in samplers}, seeds, args.with_baseline,
                                 args.experiment or "")
    for cfg in configs:
        check(cfg)
    return configs


def _progress_printer(quiet: bool):
    """tqdm bars: rounds, and batches within the current phase."""
    from tqdm import tqdm
    bars: dict[str, tqdm] = {}

    def on_event(event) -> None:
        if event.kind == "status" and event.status.state == "waiting_for_labels":
            tqdm.write(f"{event.status.message}: label them on the dashboard's Label page (`make run`, run "
                       f"{event.run_id}); this run continues when the batch is labeled")
        if quiet:
            return
        if event.kind == "status" and event.status.rounds_total and "rounds" not in bars:
            bars["rounds"] = tqdm(total=event.status.rounds_total, desc="rounds", position=0, unit="round")
        elif event.kind == "progress":
            bar = bars.get("batches")
            if bar is None or bar.desc != event.phase or bar.total != event.total:
                if bar is not None:
                    bar.close()
                bar = bars["batches"] = tqdm(total=event.total, desc=event.phase, position=1, leave=False,
                                             unit="batch")
            bar.n = event.done
            bar.refresh()
        elif event.kind == "round" and "rounds" in bars:
            bars["rounds"].update(1)
            bars["rounds"].set_postfix(acc=f"{event.record['accuracy']:.3f}", auc=_fmt(event.record["roc_auc"]))

    def close() -> None:
        for bar in bars.values():
            bar.close()
        bars.clear()

    return on_event, close


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _execute(store: RunStore, run_id: str, quiet: bool) -> bool:
    from alcore.runner import execute_run
    on_event, close = _progress_printer(quiet)
    try:
        status = execute_run(store, run_id, on_event=on_event)
    finally:
        close()
    rounds = store.load_rounds(run_id)
    last = rounds[-1] if rounds else {}
    print(f"{run_id}: {status.state}" + (f" - {status.error}" if status.error else "")
          + (f"; {last['n_labeled']} labels, accuracy {_fmt(last['accuracy'])}, AUC {_fmt(last['roc_auc'])}"
             if last else "") + f"  ({store.run_dir(run_id)})")
    return status.state == "done"


def cmd_run(args, store: RunStore) -> int:
    from alcore.runner import create_run
    configs = configs_from_args(args)
    ok = True
    for cfg in configs:
        ok = _execute(store, create_run(cfg, store), args.quiet) and ok
    return 0 if ok else 1


def cmd_resume(args, store: RunStore) -> int:
    if not store.exists(args.run_id):
        raise SystemExit(f"error: no run '{args.run_id}' in {store.root}/ (see `python -m alcore list`)")
    state = store.load_status(args.run_id).state
    if state not in ("interrupted", "cancelled", "failed"):
        raise SystemExit(f"error: run {args.run_id} is '{state}'; only interrupted, cancelled or failed "
                         "runs can be resumed")
    return 0 if _execute(store, args.run_id, args.quiet) else 1


def cmd_list(args, store: RunStore) -> int:
    runs = store.list_runs()
    if not runs:
        print(f"no runs in {store.root}/")
        return 0
    print(f"{'run id':44} {'state':12} {'sampler':18} {'labels':>6} {'best acc':>8} {'best AUC':>8}  data")
    for run in runs:
        cfg = run.config
        print(f"{run.run_id:44} {run.status.state:12} {cfg.get('sampler', '?'):18} "
              f"{run.last.get('n_labeled', 0):>6} {_fmt(run.best_accuracy):>8} {_fmt(run.best_auc):>8}  "
              f"{cfg.get('data', '?')}")
    return 0


def cmd_show(args, store: RunStore) -> int:
    if not store.exists(args.run_id):
        raise SystemExit(f"error: no run '{args.run_id}' in {store.root}/ (see `python -m alcore list`)")
    config, status = store.load_config(args.run_id), store.load_status(args.run_id)
    print(json.dumps({k: v for k, v in config.items() if k != "resolved"}, indent=2))
    resolved = config.get("resolved", {})
    print(f"state: {status.state} {status.error}\ndevice: {resolved.get('device')}  weights: "
          f"{resolved.get('weights_detail')}\ndata: {resolved.get('dataset')} {resolved.get('split_sizes')}")
    print(f"\n{'round':>5} {'labels':>6} {'acc':>6} {'bal.acc':>7} {'F1':>6} {'AUC':>6} {'train s':>8} {'query s':>8}")
    for r in store.load_rounds(args.run_id):
        print(f"{r['round']:>5} {r['n_labeled']:>6} {_fmt(r['accuracy']):>6} {_fmt(r['balanced_accuracy']):>7} "
              f"{_fmt(r['f1']):>6} {_fmt(r['roc_auc']):>6} {r['train_seconds']:>8.2f} {r['query_seconds']:>8.2f}")
    return 0


def cmd_strategies(args, store: RunStore) -> int:
    from alcore.strategies import registry
    for info in registry.all_strategies():
        alias = f" (alias: {', '.join(info.aliases)})" if info.aliases else ""
        print(f"{info.name}{alias}\n    {info.help}")
        for option in info.options:
            print(f"    option {option.name} = {option.default!r}: {option.help}")
    return 0


def cmd_summary(args, store: RunStore) -> int:
    from alcore.summary import experiment_table, markdown_table
    table = experiment_table(store, args.experiment)
    print(markdown_table(table) if args.markdown else table.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "list": cmd_list, "show": cmd_show,
            "strategies": cmd_strategies, "summary": cmd_summary}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    store = RunStore(Path(args.out))
    try:
        return COMMANDS[args.command](args, store)
    except ConfigError as exc:
        print("error: " + "; ".join(f"{k}: {v}" for k, v in exc.problems.items()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; `python -m alcore resume RUN_ID` continues the run", file=sys.stderr)
        return 130
