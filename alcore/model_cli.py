"""python -m alcore {export, predict, prelabels, mlflow-sync}: the model a run made, taken away and applied.

Their `--out` names what they write (a model folder, a CSV); the results folder is `--results`
(default: the global `--out`, results/).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alcore.runs import RunStore


def add_model_commands(sub) -> None:
    """The subcommands, on the main parser's subparsers."""
    export = sub.add_parser("export", help="write a run's model as a self-contained model folder")
    _run_round(export)
    _common(export, "the model folder to write")

    predict = sub.add_parser("predict", help="a model's predictions for a folder, a DICOM tree or a label table")
    predict.add_argument("model", metavar="MODEL_DIR_OR_RUN_ID")
    predict.add_argument("--data", required=True, help="a folder (any depth; DICOM too), a label table or an image")
    predict.add_argument("--at", type=int, default=None, metavar="LABELS", help="with a run id: its model at LABELS")
    predict.add_argument("--heatmaps", default=None, metavar="DIR",
                         help="also write a Grad-CAM overlay PNG per image into DIR (where the model looked)")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(predict, "the CSV to write (predictions.csv)")

    prelabels = sub.add_parser("prelabels", help="a run's model on its remaining unlabeled pool, as CSV")
    _run_round(prelabels)
    _common(prelabels, "the CSV to write (prelabels.csv)")

    sync = sub.add_parser("mlflow-sync", help="log the finished runs of a results folder to MLflow")
    sync.add_argument("results", metavar="RESULTS_ROOT")
    sync.add_argument("--uri", default="default", metavar="TRACKING_URI",
                      help="the MLflow store (default: an mlruns folder beside RESULTS_ROOT)")


def _run_round(parser: argparse.ArgumentParser) -> None:
    """A run id and, optionally, which of its kept rounds."""
    parser.add_argument("run_id")
    parser.add_argument("--at", type=int, default=None, metavar="LABELS",
                        help="the model trained on this many labels (default: the last kept round)")


def _common(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", dest="target", required=True, help=what)
    parser.add_argument("--force", action="store_true", help="replace what --out names")
    parser.add_argument("--results", default=None, help="the results folder (default: the global --out, results/)")


def _store(args, store: RunStore) -> RunStore:
    return RunStore(Path(args.results)) if args.results else store


def _free(args) -> Path:
    """The --out file, refused when it exists without --force."""
    from alcore.modelio import ModelError
    target = Path(args.target).expanduser()
    if target.exists() and not args.force:
        raise ModelError(f"{target} already exists: choose another --out, or add --force to replace it")
    return target


def cmd_export(args, store: RunStore) -> int:
    from alcore.modelfolder import write_model_folder
    from alcore.modelio import run_model
    model = run_model(_store(args, store), args.run_id, args.at)
    files = write_model_folder(model, args.target, args.force)
    print(f"wrote the model at {model.card['labels_used']} labels to {args.target}: "
          + ", ".join(f.name for f in files))
    return 0


def cmd_predict(args, store: RunStore) -> int:
    from tqdm import tqdm

    from alcore.predict import list_inputs, open_model, predict, write_predictions
    target = _free(args)  # before minutes of predictions, not after
    model = open_model(args.model, _store(args, store), args.at)
    inputs = list_inputs(args.data)
    with tqdm(total=len(inputs), desc="predicting", unit="image", disable=args.quiet, file=sys.stderr) as bar:
        rows = predict(model, inputs, bar.update, Path(args.heatmaps).expanduser() if args.heatmaps else None)
    write_predictions(rows, model.classes, target, force=True)
    failed = [row for row in rows if row.error]
    print(f"wrote {len(rows) - len(failed)} predictions to {target}"
          + (f"; {len(failed)} files could not be used:" if failed else ""))
    for row in failed:
        print(f"  {row.name}: {row.error}")
    return 0


def cmd_prelabels(args, store: RunStore) -> int:
    from alcore.predict import pool_prelabels, write_predictions
    target = _free(args)
    model, rows, ids = pool_prelabels(_store(args, store), args.run_id, args.at)
    write_predictions(rows, model.classes, target, force=True, extra={"sample_id": ids})
    print(f"wrote pre-labels of {len(rows)} unlabeled pool images (model at {model.card['labels_used']} labels) "
          f"to {target}")
    return 0


def cmd_mlflow_sync(args, store: RunStore) -> int:
    from alcore.tracking import sync, tracking_uri
    if not Path(args.results).is_dir():
        print(f"error: no results folder at {args.results}", file=sys.stderr)
        return 2
    uri = tracking_uri(args.uri, Path(args.results))
    for run_id, outcome in sync(args.results, uri):
        print(f"{run_id}: {outcome}")
    print(f"MLflow store: {uri}")
    return 0


def _refusing(command):
    """The command with its refusals (a model, a file, the data) as one line on stderr, exit status 2."""
    def guarded(args, store: RunStore) -> int:
        from alcore.data.base import DataError
        from alcore.modelio import ModelError
        from alcore.tracking import TrackingError
        try:
            return command(args, store)
        except (ModelError, DataError, TrackingError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return guarded


MODEL_COMMANDS = {name: _refusing(command) for name, command in
                  (("export", cmd_export), ("predict", cmd_predict), ("prelabels", cmd_prelabels),
                   ("mlflow-sync", cmd_mlflow_sync))}
