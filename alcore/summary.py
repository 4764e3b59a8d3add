"""Summaries across runs: per-strategy mean +- std curves, final metrics, AULC, labels-to-target, and
each strategy's paired AULC difference against random (same seeds, so the same initial labels).

The macro metrics hold for any number of classes: ROC-AUC (the macro one-vs-rest mean; with two
classes the positive class's AUC), balanced accuracy (macro recall) and macro-F1. Sensitivity,
specificity and F1 are the positive class's (two classes only): a table leaves out what no run has."""
from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
from scipy import stats

from alcore.metrics import METRIC_NAMES, area_under_curve
from alcore.runs import RunStore

TARGET_SHARE = 0.95  # "labels needed to reach 95 % of the full-data baseline's metric"
REFERENCE_STRATEGY = "random"
PAIRED_METRICS = ("roc_auc", "balanced_accuracy", "macro_f1")  # AULCs compared with random, seed by seed
FINAL_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "sensitivity", "specificity", "f1", "roc_auc")


def rounds_frame(store: RunStore, run_ids: list[str]) -> pd.DataFrame:
    """One row per (run, round): run_id, strategy, seed, experiment, full_data, n_labeled, metrics."""
    rows = []
    for run_id in run_ids:
        config = store.load_config(run_id)
        wall = _wall_seconds(store, run_id)
        for record in store.load_rounds(run_id):
            rows.append({"run_id": run_id, "strategy": config.sampler, "seed": config.seed,
                         "experiment": config.experiment, "full_data": config.full_data,
                         "wall_seconds": wall, "round": record.round, "n_labeled": record.n_labeled,
                         **{m: record.metric(m) for m in METRIC_NAMES}})
    columns = ["run_id", "strategy", "seed", "experiment", "full_data", "wall_seconds", "round", "n_labeled",
               *METRIC_NAMES]
    return pd.DataFrame(rows, columns=columns)


def _wall_seconds(store: RunStore, run_id: str) -> float:
    """Start to end of a finished run, from its status (NaN while it runs)."""
    status = store.load_status(run_id)
    if not (status.started_at and status.ended_at):
        return math.nan
    return (datetime.fromisoformat(status.ended_at) - datetime.fromisoformat(status.started_at)).total_seconds()


def strategy_curves(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, std and count of `metric` per (strategy, n_labeled) over seeds (full-data runs excluded)."""
    curves = frame[~frame.full_data.astype(bool)].groupby(["strategy", "n_labeled"])[metric]
    out = curves.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def baseline_value(frame: pd.DataFrame, metric: str) -> float:
    """The full-data baseline's metric (mean over its seeds), NaN when there is none."""
    base = frame[frame.full_data.astype(bool)]
    return float(base[metric].mean()) if len(base) else math.nan


def labels_to_reach(n_labeled: np.ndarray, values: np.ndarray, target: float) -> float:
    """The first labeled count whose metric reaches `target`; NaN if never (or no target)."""
    if math.isnan(target):
        return math.nan
    hits = np.flatnonzero(np.asarray(values) >= target)
    return float(np.asarray(n_labeled)[hits[0]]) if hits.size else math.nan


def paired_interval(differences: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean of paired differences (NaN below two)."""
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return (float(d.mean()) if len(d) else math.nan), math.nan, math.nan
    half = stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def per_run_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per active-learning run: strategy, seed, final metrics, AULCs, labels to target."""
    al = frame[~frame.full_data.astype(bool)]
    target = TARGET_SHARE * baseline_value(frame, "accuracy")
    per_run = []
    for (strategy, run_id), runs in al.groupby(["strategy", "run_id"]):
        runs = runs.sort_values("n_labeled")
        last = runs.iloc[-1]
        per_run.append({"strategy": strategy, "seed": last.seed, "final_labels": last.n_labeled,
                        **{f"final_{m}": last[m] for m in FINAL_METRICS},
                        "aulc_accuracy": area_under_curve(runs.n_labeled, runs.accuracy),
                        **{f"aulc_{m}": area_under_curve(runs.n_labeled, runs[m]) for m in PAIRED_METRICS},
                        "labels_to_target": labels_to_reach(runs.n_labeled, runs.accuracy, target),
                        "wall_seconds": last.wall_seconds})
    return pd.DataFrame(per_run)


def _paired_columns(runs: pd.DataFrame, strategy: str) -> dict[str, float]:
    """AULC of `strategy` minus random's, paired by seed: mean, 95 % low and high, pairs."""
    mine = runs[runs.strategy == strategy].groupby("seed").mean(numeric_only=True)
    reference = runs[runs.strategy == REFERENCE_STRATEGY].groupby("seed").mean(numeric_only=True)
    seeds = mine.index.intersection(reference.index)
    out: dict[str, float] = {}
    for m in PAIRED_METRICS:
        column = f"aulc_{m}"
        mean, low, high = paired_interval((mine.loc[seeds, column] - reference.loc[seeds, column]).to_numpy())
        out.update({f"{column}_vs_random_mean": mean, f"{column}_vs_random_low": low,
                    f"{column}_vs_random_high": high})
    out["paired_seeds"] = len(seeds)
    return out


def final_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: seeds, final metrics and AULCs (mean, std), the paired AULC difference against
    random with its 95 % interval across seeds (`*_vs_random_mean/low/high`), and the labels needed
    to reach 95 % of the baseline's accuracy (mean over the `labels_to_target_reached` seeds that did)."""
    runs = per_run_table(frame)
    if runs.empty:
        return pd.DataFrame()
    value_columns = [c for c in runs.columns if c not in ("strategy", "seed", "final_labels")]
    grouped = runs.groupby("strategy")
    table = grouped[value_columns].agg(["mean", "std"])
    table.columns = [f"{col}_{stat}" for col, stat in table.columns]
    table.insert(0, "seeds", grouped.size())
    table.insert(1, "final_labels", grouped.final_labels.max())
    table["labels_to_target_reached"] = grouped.labels_to_target.count()
    if REFERENCE_STRATEGY in table.index:
        paired = pd.DataFrame({s: _paired_columns(runs, s) for s in table.index if s != REFERENCE_STRATEGY}).T
        table = table.join(paired)
    return table.reset_index()


def experiment_runs(store: RunStore, experiment: str) -> list[str]:
    ids = [run_id for run_id in store.run_ids() if store.load_config(run_id).experiment == experiment]
    if not ids:
        known = sorted({store.load_config(r).experiment for r in store.run_ids()} - {""})
        raise SystemExit(f"error: no runs of experiment '{experiment}' in {store.root}/"
                         + (f" (experiments: {', '.join(known)})" if known else ""))
    return ids


def experiment_table(store: RunStore, experiment: str) -> pd.DataFrame:
    frame = rounds_frame(store, experiment_runs(store, experiment))
    table = final_table(frame)
    base = frame[frame.full_data.astype(bool)]
    if len(base):
        row = {"strategy": "full-data baseline", "seeds": base.run_id.nunique(), "final_labels": base.n_labeled.max()}
        for m in FINAL_METRICS:
            row[f"final_{m}_mean"], row[f"final_{m}_std"] = base[m].mean(), base[m].std()
        row["wall_seconds_mean"] = base.wall_seconds.mean()
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    return table.round(4)


MARKDOWN_COLUMNS = {"final_accuracy": "accuracy", "final_balanced_accuracy": "balanced acc.",
                    "final_macro_f1": "macro-F1", "final_sensitivity": "sensitivity",
                    "final_specificity": "specificity", "final_roc_auc": "ROC-AUC", "aulc_roc_auc": "AULC AUC",
                    "aulc_roc_auc_vs_random": "AULC AUC - random [95 % CI]",
                    "aulc_balanced_accuracy": "AULC bal. acc.",
                    "aulc_balanced_accuracy_vs_random": "AULC bal. acc. - random [95 % CI]",
                    "aulc_macro_f1_vs_random": "AULC macro-F1 - random [95 % CI]",
                    "labels_to_target": "labels to 95 % of baseline acc. (seeds reaching)",
                    "wall_seconds": "wall s / run"}


def text_cell(row: pd.Series, column: str) -> str:
    """One cell of the experiment table as text: 'mean ± std' (the mean alone for one seed), a paired
    difference as 'mean [low, high]', labels to target with how many seeds reached it."""
    if column.endswith("_vs_random"):
        mean, low, high = (row.get(f"{column}_{s}") for s in ("mean", "low", "high"))
        if mean is None or pd.isna(mean):
            return "n/a"
        return f"{mean:+.3f}" + ("" if pd.isna(low) else f" [{low:+.3f}, {high:+.3f}]")
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    if mean is None or pd.isna(mean):
        return "n/a"
    digits = 0 if column in ("labels_to_target", "wall_seconds") else 3
    text = f"{mean:.{digits}f}" + ("" if std is None or pd.isna(std) else f" ± {std:.{digits}f}")
    reached = row.get("labels_to_target_reached")
    if column == "labels_to_target" and reached is not None and not pd.isna(reached):
        text += f" ({int(reached)}/{int(row.seeds)})"
    return text


def _cells(table: pd.DataFrame, columns) -> dict[str, list[str]]:
    """text_cell of each column for every row, leaving out the columns no row has (n/a throughout: the
    positive class's metrics of runs with more than two classes, the macro ones of older runs)."""
    cells = {column: [text_cell(row, column) for _, row in table.iterrows()] for column in columns}
    return {column: texts for column, texts in cells.items() if any(text != "n/a" for text in texts)}


def text_table(table: pd.DataFrame) -> pd.DataFrame:
    """final_table for reading: strategy, seeds, labels, then one text_cell per metric."""
    shown = table[["strategy", "seeds", "final_labels"]].copy()
    metrics = list(dict.fromkeys(c.rsplit("_", 1)[0] for c in table.columns if c.endswith("_mean")))
    for column, texts in _cells(table, metrics).items():
        shown[column] = texts
    return shown


def markdown_table(table: pd.DataFrame) -> str:
    """The experiment table as markdown (text_cell's cells)."""
    cells = _cells(table, MARKDOWN_COLUMNS)
    header = ["strategy", "seeds", "labels", *(MARKDOWN_COLUMNS[column] for column in cells)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (_, row) in enumerate(table.iterrows()):
        row_cells = [str(row.strategy), str(int(row.seeds)), str(int(row.final_labels)),
                     *(texts[i] for texts in cells.values())]
        lines.append("| " + " | ".join(row_cells) + " |")
    return "\n".join(lines)
