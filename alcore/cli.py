"""python -m alcore {run, sweep, resume, next, pause, list, show, strategies, summary, figures}.

`run`, `sweep` and `resume` hand their runs to an executor (each run in its own process here, or
a Ray cluster's actors with --ray) and follow them through their run folders until they end.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

from alcore.config import DEFAULT_SEEDS, ConfigError, ExperimentConfig, check, experiment_configs
from alcore.data import DataError
from alcore.executors import QueueFull, make_executor
from alcore.launch import follow as follow_runs, launch
from alcore.model_cli import MODEL_COMMANDS, add_model_commands
from alcore.race import as_race
from alcore.runs import RunState, RunStatus, RunStore, StoreError
from alcore.sweep import Sweep

FOLLOW_S = 0.5  # how often the CLI re-reads the status of the runs it follows

# flag -> config field, for the flags that map one to one
RUN_FLAGS = {
    "data": str, "model": str, "weights": str, "regime": str, "resolution": int, "init": int,
    "init_mode": str, "budget": int, "rounds": int, "epochs": int, "head_steps": int,
    "batch_size": int, "lr": float, "weight_decay": float, "seed": int, "device": str,
    "synthetic_size": int, "oracle": str, "stop_set_size": int, "stop_kappa": float, "stop_window": int,
    "head": str, "threshold_rule": str, "second_resolution": int, "finetune_steps": int, "val_share": float,
    "threads": int, "synthetic_preset": str, "synthetic_classes": int, "synthetic_pneumonia_share": float,
    "classes": str, "columns": str, "uncertain": str, "patient_from": str,  # the data layer (issue 25)
    "keep_models": str,  # the model (issue 27)
}
FIELD_OF_FLAG = {"init": "init_size"}


def _parse_option(text: str) -> tuple[str, object]:
    """KEY=VALUE or SAMPLER.KEY=VALUE; VALUE is read as JSON when it parses (10 -> int)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip(".") or key.count(".") > 1:
        raise argparse.ArgumentTypeError(f"--sampler-option needs KEY=VALUE or SAMPLER.KEY=VALUE, got '{text}'")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alcore", description="Active learning on chest X-rays.")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    # --out also after the command (`run --out DIR`); SUPPRESS keeps a value given before it
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--out", default=argparse.SUPPRESS, help="results folder (default: results/)")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{run,sweep,resume,next,pause,list,show,strategies,summary,data,figures,export,predict,"
                                        "prelabels,mlflow-sync}")
    _run_parser(sub, out)
    _sweep_parser(sub, out)
    _control_parsers(sub, out)
    _reading_parsers(sub, out)
    add_model_commands(sub)
    return parser


def _run_parser(sub, out: argparse.ArgumentParser) -> None:
    run = sub.add_parser("run", parents=[out], help="run active learning (one run per sampler x seed)")
    run.add_argument("--config", help="a JSON file of settings (flags given here override it)")
    for flag, kind in RUN_FLAGS.items():
        run.add_argument(f"--{flag.replace('_', '-')}", type=kind, default=None)
    run.add_argument("--sampler", default=None, help="a strategy, or several separated by commas")
    run.add_argument("--seeds", type=int, default=None,
                     help=f"run each sampler with seeds seed..seed+N-1 (default: {DEFAULT_SEEDS} for an experiment "
                          "- several samplers, --with-baseline or --experiment - else 1)")
    run.add_argument("--class-weighted", action=argparse.BooleanOptionalAction, default=None,
                     help="class-weighted loss (--no-class-weighted turns off a config file's)")
    run.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                     help="finetune: light augmentation (rotation, scale, shift, brightness, contrast; no flip)")
    run.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None,
                     help="finetune, with --augment: horizontal flips")
    run.add_argument("--sampler-option", type=_parse_option, action="append", default=[],
                     metavar="[SAMPLER.]KEY=VALUE",
                     help="a strategy option, e.g. bald.mc_passes=10; without SAMPLER. it goes to every "
                          "given sampler that has the option")
    run.add_argument("--experiment", default=None, help="group id for the runs of this launch")
    run.add_argument("--race", action="store_true",
                     help="start the runs together as one race (one seed unless --seeds; one Live view)")
    run.add_argument("--pause-each-round", action="store_true",
                     help="step mode: each run waits after its query until `python -m alcore next ID`")
    run.add_argument("--with-baseline", action=argparse.BooleanOptionalAction, default=False,
                     help="add a full-data baseline run (the whole train pool, same recipe) to the experiment")
    run.add_argument("--embeddings", dest="record_embeddings", action=argparse.BooleanOptionalAction, default=None,
                     help="--no-embeddings skips the inference only the Embeddings page uses (faster batch runs; "
                          "same metrics)")
    run.add_argument("--stop-when-stable", action=argparse.BooleanOptionalAction, default=None,
                     help="end the run once predictions are stable (kappa >= --stop-kappa for --stop-window rounds)")
    run.add_argument("--mlflow", nargs="?", const="default", default=None, metavar="TRACKING_URI",
                     help="log each run to MLflow (default store: MLflow's own, ./mlruns)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    _executor_flags(run)


def _sweep_parser(sub, out: argparse.ArgumentParser) -> None:
    sweep = sub.add_parser("sweep", parents=[out], help="one launch over samplers x seeds x init sizes x schedules x models x "
                                         "resolutions (flags override the file)")
    sweep.add_argument("file", nargs="?", help="a JSON sweep file (axes and run settings; see README)")
    sweep.add_argument("--sampler", help="strategies, separated by commas")
    sweep.add_argument("--seeds", type=int, help="seeds per sampler (seed .. seed+N-1)")
    sweep.add_argument("--init", type=_int_list, help="initial labeled sizes, e.g. 100,200")
    sweep.add_argument("--schedule", type=_schedules, help="BUDGETxROUNDS pairs, e.g. 90x10,30x30")
    sweep.add_argument("--model", type=_str_list, help="models, separated by commas")
    sweep.add_argument("--resolution", type=_int_list, help="resolutions, e.g. 128,224")
    sweep.add_argument("--with-baseline", action="store_true", default=None,
                       help="a full-data baseline per model and resolution")
    sweep.add_argument("--experiment", help="the sweep's name (experiments are named after it)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bars")
    _executor_flags(sweep)


def _control_parsers(sub, out: argparse.ArgumentParser) -> None:
    """The commands that act on runs already created: resume, next, pause, and the local executor's worker."""
    resume = sub.add_parser("resume", parents=[out], help="continue an interrupted or cancelled run")
    resume.add_argument("run_id")
    resume.add_argument("--quiet", action="store_true")
    _executor_flags(resume)
    step = sub.add_parser("next", parents=[out], help="step mode: a paused run (or every racer of a race) goes on")
    step.add_argument("run_id", metavar="RUN_OR_RACE_ID")
    pause = sub.add_parser("pause", parents=[out], help="step mode on (or --off) for a run or every racer of a race")
    pause.add_argument("run_id", metavar="RUN_OR_RACE_ID")
    pause.add_argument("--off", action="store_true", help="step mode off: paused runs go on at once")
    worker = sub.add_parser("worker", parents=[out], help=argparse.SUPPRESS)  # the local executor's process
    worker.add_argument("run_id")


def _reading_parsers(sub, out: argparse.ArgumentParser) -> None:
    """The commands that read: list, show, strategies, summary, data, figures."""
    sub.add_parser("list", parents=[out], help="list the runs in the results folder")
    show = sub.add_parser("show", parents=[out], help="a run's config and per-round metrics")
    show.add_argument("run_id")
    sub.add_parser("strategies", parents=[out], help="the query strategies and their options")
    summary = sub.add_parser("summary", parents=[out],
                             help="mean +- std per strategy across the seeds of an experiment")
    summary.add_argument("experiment")
    summary.add_argument("--csv", help="also write the table to this CSV file")
    summary.add_argument("--markdown", action="store_true", help="print a markdown table (mean ± std cells)")
    _data_parser(sub)
    figures = sub.add_parser("figures", parents=[out], help="write a run's ROC, precision-recall and reliability pictures per round")
    figures.add_argument("run_id")
    figures.add_argument("--svg", action="store_true", help="also write SVG files next to the PNG files")


DATA_FLAG_HELP = {
    "classes": "class names in order (with two, the positive one last), each with what it matches: "
               "\"NORMAL=No Finding,PNEUMONIA=Pneumonia\" (table values) or \"Normal,Lung Opacity\" (folders; a "
               "glob on the path below the split folder works too); default: guessed when unambiguous",
    "columns": "a label table's columns: image=...,label=...,patient=...,split=... (default: by their usual names)",
    "uncertain": "a 1/0/-1 label column's -1: drop (default), positive or negative",
    "patient_from": "auto (DICOM PatientID, Kermany file names, a table's patient column) or folder (the first "
                    "folder below the class folder)",
}


def _data_parser(sub) -> None:
    """`data PATH [options]`: the data summary alone, nothing run."""
    data = sub.add_parser("data", help="what the data layer makes of a data source (the summary; nothing is run)")
    data.add_argument("path", help="a folder, a label table (.csv / .tsv), an .npz file or 'synthetic'")
    for flag, text in DATA_FLAG_HELP.items():
        data.add_argument(f"--{flag.replace('_', '-')}", default=None, help=text)
    data.add_argument("--resolution", type=int, default=None, help="decode at this size (default: the run default)")
    data.add_argument("--seed", type=int, default=None, help="the seed carving missing val/test splits")
    data.add_argument("--oracle", default=None, help="human: unlabeled images join the pool")
    data.add_argument("--synthetic-classes", type=int, default=None, help="synthetic data: its classes (2 to 8)")
    data.add_argument("--json", action="store_true", help="print the summary as JSON")


def _executor_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallel", type=int, default=None, metavar="N",
                        help="runs computing at once on this machine (default: one per core)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run each run as a task on a Ray cluster: its address, 'local' to start one "
                             "here, or no value for $RAY_ADDRESS")


def _str_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in _str_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got '{text}'") from None


def _schedules(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(n) for n in part.lower().split("x")) for part in _str_list(text)]  # type: ignore[misc]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BUDGETxROUNDS pairs like 90x10,30x30, got '{text}'") from None


def ray_address(args: argparse.Namespace) -> str | None:
    """--ray's address: as given, or $RAY_ADDRESS for a bare --ray; None for the local executor."""
    if args.ray is None:
        return None
    address = args.ray or os.environ.get("RAY_ADDRESS", "")
    if not address:
        raise ConfigError({"ray": "--ray without an address needs RAY_ADDRESS set (or give --ray HOST:PORT, "
                                  "or --ray local)"})
    return address


def configs_from_args(args: argparse.Namespace) -> list[ExperimentConfig]:
    """One config per sampler x seed: defaults < --config file < flags."""
    from alcore.strategies import registry

    base = ExperimentConfig.from_json(args.config) if args.config else ExperimentConfig()
    changes = {FIELD_OF_FLAG.get(f, f): getattr(args, f) for f in RUN_FLAGS if getattr(args, f) is not None}
    for name in ("class_weighted", "record_embeddings", "stop_when_stable", "augment", "hflip", "mlflow"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    base = replace(base, **changes)
    samplers = [s.strip() for s in (args.sampler or base.sampler).split(",") if s.strip()]
    if not samplers:
        raise ConfigError({"sampler": f"give one or several samplers: {', '.join(registry.names())}"})
    seeds = args.seeds
    if seeds is None:
        seeds = DEFAULT_SEEDS if (len(samplers) > 1 and not args.race) or args.with_baseline or args.experiment else 1
    if seeds < 1:
        raise ConfigError({"seeds": f"--seeds must be 1 or more (got {seeds})"})
    samplers = list(dict.fromkeys(registry.canonical(s) for s in samplers))  # an unknown one: check() says so
    given = [*base.sampler_options.items(), *args.sampler_option] if isinstance(base.sampler_options, dict) \
        else args.sampler_option
    configs = experiment_configs(base, sampler_options(samplers, given), seeds, args.with_baseline,
                                 args.experiment or "")
    if args.race:
        if args.experiment:
            raise ConfigError({"experiment": "--race names its runs' experiment itself (race-...): drop --experiment"})
        configs = as_race(configs)
    return configs


def sampler_options(samplers: list[str], given: list[tuple[str, object]]) -> dict[str, dict]:
    """Each sampler's options from KEY=VALUE / SAMPLER.KEY=VALUE pairs. A plain KEY goes to the one sampler
    given, or to those of several that have the option; one none of them has is refused."""
    from alcore.strategies import registry

    options: dict[str, dict] = {s: {} for s in samplers}
    for key, value in given:
        sampler, _, name = key.rpartition(".")
        if sampler:
            if not registry.is_known(sampler) or registry.canonical(sampler) not in options:
                raise ConfigError({"sampler_options": f"--sampler-option {key}: '{sampler}' is not one of the "
                                                      f"samplers of this run ({', '.join(samplers)})"})
            targets = [registry.canonical(sampler)]
        elif len(samplers) == 1:
            targets = samplers
        else:
            targets = [s for s in samplers
                       if registry.is_known(s) and name in {o.name for o in registry.get(s).options}]
            if not targets:
                raise ConfigError({"sampler_options": f"--sampler-option {key}: none of {', '.join(samplers)} has "
                                                      f"an option '{name}' (see `python -m alcore strategies`)"})
        for target in targets:
            options[target][name] = value
    return options


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _outcome(store: RunStore, run_id: str) -> str:
    status = store.load_status(run_id)
    rounds = store.load_rounds(run_id)
    last = (f"; {rounds[-1].n_labeled} labels, accuracy {_fmt(rounds[-1].metrics.accuracy)}, "
            f"AUC {_fmt(rounds[-1].metrics.roc_auc)}") if rounds else ""
    return (f"{run_id}: {status.state}" + (f" - {status.error}" if status.error else "") + last
            + f"  ({store.run_dir(run_id)})")


def follow(store: RunStore, run_ids: list[str], quiet: bool) -> bool:
    """Show the runs' progress from their folders (alcore.launch.follow) until each ends; True when all are
    done. Ctrl-C asks them to stop after their current step (finished rounds are kept)."""
    from tqdm import tqdm
    ok, ended, told = True, set(), set()
    runs_bar = None if quiet or len(run_ids) == 1 else tqdm(total=len(run_ids), desc="runs", unit="run")
    bars = _RoundBars() if len(run_ids) == 1 and not quiet else None
    try:
        for run_id, status in follow_runs(store, run_ids, FOLLOW_S):
            _tell_waiting(run_id, status, told)
            if bars is not None and status.state == RunState.RUNNING:
                bars.show(status)
            if not status.active:
                ended.add(run_id)
                ok = ok and status.state == RunState.DONE
                tqdm.write(_outcome(store, run_id))
                if runs_bar is not None:
                    runs_bar.update(1)
    except KeyboardInterrupt:
        for run_id in set(run_ids) - ended:
            store.request_cancel(run_id)
        raise
    finally:
        for bar in (runs_bar, bars):
            if bar is not None:
                bar.close()
    return ok


def _tell_waiting(run_id: str, status: RunStatus, told: set) -> None:
    """Once per batch or pause: what a run waits for and where a person gives it."""
    from tqdm import tqdm
    if status.state == RunState.WAITING_FOR_LABELS and status.message not in told:
        told.add(status.message)
        tqdm.write(f"{run_id}: {status.message}: label them on the dashboard's Label page "
                   "(`make run`); this run continues when the batch is labeled")
    if status.state == RunState.PAUSED and (run_id, status.round) not in told:
        told.add((run_id, status.round))
        tqdm.write(f"{run_id}: {status.message} (`python -m alcore next {run_id}`, or Next round on the Live page)")


class _RoundBars:
    """One run's progress: a bar of rounds (named by their labels, as everywhere) and one of the phase's batches."""

    def __init__(self):
        self.rounds = self.phase = None

    def show(self, status: RunStatus) -> None:
        from tqdm import tqdm
        if self.rounds is None:
            self.rounds = tqdm(total=status.rounds_total, desc="rounds", position=0, unit="round")
            self.phase = tqdm(total=0, desc="", position=1, leave=False, unit="batch")
        self.rounds.n = status.round + 1
        self.rounds.set_postfix(labels=status.n_labeled)
        self.phase.total, self.phase.n = status.phase_total, status.phase_done
        self.phase.set_description(status.phase, refresh=True)

    def close(self) -> None:
        for bar in (self.rounds, self.phase):
            if bar is not None:
                bar.close()


def start(store: RunStore, configs: list[ExperimentConfig], args: argparse.Namespace) -> list[str]:
    """alcore.launch on the executor the flags name (a bad --ray is refused before any run folder is made):
    the runs' ids. `run` reads the data first and prints its summary (each distinct one once): every
    refusal comes after it, before any run folder is written."""
    executor = make_executor(store, ray_address(args), args.parallel)
    printed: set[str] = set()  # each distinct summary once (the seeds of an experiment read the data each)

    def read_data(cfg: ExperimentConfig):
        dataset, summary = _data_summary(cfg, quiet=True)
        if (text := summary.text()) not in printed:
            printed.add(text)
            print(text, flush=True)
        return dataset

    return launch(store, executor, configs, pause=getattr(args, "pause_each_round", False),
                  together=getattr(args, "race", False), read_data=read_data if args.command == "run" else None)


def cmd_run(args, store: RunStore) -> int:
    run_ids = start(store, configs_from_args(args), args)
    return 0 if follow(store, run_ids, args.quiet) else 1


def _data_summary(cfg: ExperimentConfig, quiet: bool = False):
    """Load the config's data, print its summary unless `quiet`; (data set, summary). A DataError
    becomes the data setting's ConfigError (the message the API raises too)."""
    from alcore.data import DataError, run_data_summary
    try:
        dataset, summary = run_data_summary(cfg)
    except DataError as exc:
        raise ConfigError({"data": str(exc)}) from None
    if not quiet:
        print(summary.text(), flush=True)
    return dataset, summary


def cmd_data(args, store: RunStore) -> int:
    settings = {name: getattr(args, name)
                for name in (*DATA_FLAG_HELP, "resolution", "seed", "oracle", "synthetic_classes")
                if getattr(args, name) is not None}
    cfg = ExperimentConfig.from_dict({"data": args.path, **settings})
    check(cfg)
    summary = _data_summary(cfg, quiet=True)[1]
    print(json.dumps(summary.to_dict(), indent=1) if args.json else summary.text())
    return 0


def sweep_from_args(args: argparse.Namespace) -> Sweep:
    """The sweep file (if any), its axes overridden by the flags given."""
    sweep = Sweep.from_json(args.file) if args.file else Sweep()
    if args.sampler:
        sweep.samplers = {name: dict(sweep.base.sampler_options) for name in _str_list(args.sampler)}
    for flag, axis in (("seeds", "seeds"), ("init", "init_sizes"), ("schedule", "schedules"), ("model", "models"),
                       ("resolution", "resolutions"), ("with_baseline", "with_baseline"),
                       ("experiment", "experiment")):
        if getattr(args, flag) is not None:
            setattr(sweep, axis, getattr(args, flag))
    return sweep


def cmd_sweep(args, store: RunStore) -> int:
    configs = sweep_from_args(args).configs()
    run_ids = start(store, configs, args)
    experiments = sorted({cfg.experiment for cfg in configs})
    print(f"sweep: {len(configs)} runs in {len(experiments)} experiment{'s' * (len(experiments) > 1)}: "
          + ", ".join(experiments))
    return 0 if follow(store, run_ids, args.quiet) else 1


def cmd_resume(args, store: RunStore) -> int:
    if not store.exists(args.run_id):
        raise SystemExit(f"error: no run '{args.run_id}' in {store.root}/ (see `python -m alcore list`)")
    state = store.load_status(args.run_id).state
    if not state.resumable:
        raise SystemExit(f"error: run {args.run_id} is '{state}'; only interrupted, cancelled or failed "
                         "runs can be resumed")
    make_executor(store, ray_address(args), args.parallel).submit(args.run_id)
    return 0 if follow(store, [args.run_id], args.quiet) else 1


def step_targets(store: RunStore, run_or_race: str) -> list[str]:
    """A run id, or a race id standing for all its racers."""
    from alcore.race import is_race, racers
    run_ids = racers(store, run_or_race) if is_race(run_or_race) else \
        [run_or_race] if store.exists(run_or_race) else []
    if not run_ids:
        raise SystemExit(f"error: no run or race '{run_or_race}' in {store.root}/ (see `python -m alcore list`)")
    return run_ids


def cmd_next(args, store: RunStore) -> int:
    run_ids = step_targets(store, args.run_id)
    released = [run_id for run_id in run_ids if store.next_round(run_id)]
    for run_id in run_ids:
        print(f"{run_id}: " + ("goes on to its next round" if run_id in released else
                               f"not paused ({store.load_status(run_id).state}): nothing to do"))
    return 0 if released else 1


def cmd_pause(args, store: RunStore) -> int:
    for run_id in step_targets(store, args.run_id):
        store.set_pause(run_id, not args.off)
        print(f"{run_id}: step mode {'off' if args.off else 'on: it pauses after its next query'}")
    return 0


def cmd_worker(args, store: RunStore) -> int:
    from alcore.executors.worker import work
    return work(store, args.run_id)


def cmd_list(args, store: RunStore) -> int:
    runs = store.list_runs()
    if not runs:
        print(f"no runs in {store.root}/")
        return 0
    print(f"{'run id':44} {'state':12} {'sampler':18} {'labels':>6} {'best acc':>8} {'best AUC':>8}  data")
    for run in runs:
        sampler, data = (run.config.sampler, run.config.data) if run.config else ("?", "?")
        print(f"{run.run_id:44} {run.status.state:12} {sampler:18} {run.n_labeled:>6} {_fmt(run.best_accuracy):>8} "
              f"{_fmt(run.best_auc):>8}  {data}")
    return 0


def cmd_show(args, store: RunStore) -> int:
    if not store.exists(args.run_id):
        raise SystemExit(f"error: no run '{args.run_id}' in {store.root}/ (see `python -m alcore list`)")
    config, status = store.load_config(args.run_id), store.load_status(args.run_id)
    print(json.dumps({"run_id": args.run_id, **config.to_dict()}, indent=2))
    resolved = store.load_resolved(args.run_id)
    classes = store.classes(args.run_id)
    binary = len(classes) == 2  # C > 2: macro-F1 and macro one-vs-rest AUC, predicted by argmax
    print(f"state: {status.state} {status.error}\ndevice: {resolved.get('device')}  weights: "
          f"{resolved.get('weights_detail')}\ndata: {resolved.get('dataset')} {resolved.get('split_sizes')}\n"
          f"classes: {', '.join(classes)}" + (f" (positive: {classes[-1]})" if binary else " (argmax: no threshold)"))
    print(f"\n{'round':>5} {'labels':>6} {'acc':>6} {'bal.acc':>7} {'F1' if binary else 'macroF1':>7} "
          f"{'AUC':>6} {'train s':>8} {'query s':>8}")
    for r in store.load_rounds(args.run_id):
        m = r.metrics
        print(f"{r.round:>5} {r.n_labeled:>6} {_fmt(m.accuracy):>6} {_fmt(m.balanced_accuracy):>7} "
              f"{_fmt(m.f1 if binary else m.macro_f1):>7} {_fmt(m.roc_auc):>6} {r.seconds.train:>8.2f} "
              f"{r.seconds.query:>8.2f}")
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
    # the text table leaves out what no run has (sensitivity and the like with more than two classes); the CSV keeps all
    print(markdown_table(table) if args.markdown else table.dropna(axis=1, how="all").to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def cmd_figures(args, store: RunStore) -> int:
    from alcore.plots import write_run_figures
    if not store.exists(args.run_id):
        raise SystemExit(f"error: no run '{args.run_id}' in {store.root}/ (see `python -m alcore list`)")
    try:
        paths = write_run_figures(store, args.run_id, svg=args.svg)
    except (RuntimeError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"wrote {len(paths)} files to {paths[0].parent}")
    return 0


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "resume": cmd_resume, "next": cmd_next, "pause": cmd_pause,
            "worker": cmd_worker, "list": cmd_list,
            "show": cmd_show, "strategies": cmd_strategies, "summary": cmd_summary, "data": cmd_data,
            "figures": cmd_figures, **MODEL_COMMANDS}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    store = RunStore(Path(args.out))
    try:
        return COMMANDS[args.command](args, store)
    except ConfigError as exc:
        print("error: " + "; ".join(f"{k}: {v}" for k, v in exc.problems.items()), file=sys.stderr)
        return 2
    except DataError as exc:
        print(f"error: data: {exc}", file=sys.stderr)
        return 2
    except (StoreError, QueueFull) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the runs were asked to stop after their current step; "
              "`python -m alcore resume RUN_ID` continues one", file=sys.stderr)
        return 130
