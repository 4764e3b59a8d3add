"""A round's test-set diagnostics and the stopping signal, as the pages show them. No streamlit."""
from __future__ import annotations

import pandas as pd

from alcore.config import ExperimentConfig
from alcore.diagnostics import Diagnostics
from alcore.plots import CurveSeries, diagnostics_from_arrays, strategy_label
from alcore.records import RoundRecord
from alcore.runs import RunStore
from alcore.stopping import StabilityRule
from alcore.viewmodels.round_view import round_arrays


def stored_round_diagnostics(store: RunStore, run_id: str, record: RoundRecord) -> Diagnostics | None:
    """The round's test-set curves (plots.diagnostics_from_arrays) from its cached arrays."""
    return diagnostics_from_arrays(record, round_arrays(store, run_id, record.round))


def record_at(records: list[RoundRecord], round_index: int | None) -> RoundRecord:
    """The record of a round, or the last one when the run has not got that far (or None is asked)."""
    return next((r for r in records if r.round == round_index), records[-1])


def round_choices(store: RunStore, run_ids: list[str]) -> dict[str, int]:
    """The rounds the overlays can show, named by labels as every page names rounds ('at 60 labels';
    'at 60-90 labels' where the runs differ): name -> round index, in order. A run with fewer rounds
    shows its last one."""
    labels: dict[int, set[int]] = {}
    for run_id in run_ids:
        for record in store.load_rounds(run_id):
            labels.setdefault(record.round, set()).add(record.n_labeled)
    return {f"at {min(counts)}{'' if len(counts) == 1 else f'-{max(counts)}'} labels": r
            for r, counts in sorted(labels.items())}


def curve_series(store: RunStore, run_ids: list[str], round_index: int | None) -> list[CurveSeries]:
    """One entry per run that can draw the round (its last round when it has fewer), for the overlays."""
    series = []
    for run_id in run_ids:
        records = store.load_rounds(run_id)
        if not records:
            continue
        record = record_at(records, round_index)
        found = stored_round_diagnostics(store, run_id, record)
        if found is not None:
            config = store.load_config(run_id)
            name = f"{strategy_label(config)} s{config.seed} · {record.n_labeled} labels"
            series.append(CurveSeries(name, found, record.ci))
    return series


def diagnostics_table(series: list[CurveSeries]) -> pd.DataFrame:
    """What a radiologist reads per model: sensitivity and specificity at the threshold, and the rest."""
    rows = [{"Model": s.name, "Threshold": s.diagnostics.point.threshold,
             "Sensitivity": s.diagnostics.point.sensitivity, "Specificity": s.diagnostics.point.specificity,
             "Precision": s.diagnostics.point.precision, "ROC-AUC": s.diagnostics.roc_auc,
             "Average precision": s.diagnostics.average_precision, "Brier": s.diagnostics.reliability.brier,
             "ECE": s.diagnostics.reliability.ece} for s in series]
    return pd.DataFrame(rows, columns=["Model", "Threshold", "Sensitivity", "Specificity", "Precision", "ROC-AUC",
                                       "Average precision", "Brier", "ECE"])


def stability_rule(config: ExperimentConfig) -> StabilityRule:
    """The run's stopping rule."""
    return StabilityRule(config.stop_kappa, config.stop_window)


def stopping_summary(records: list[RoundRecord], config: ExperimentConfig) -> str:
    """The stopping signal in a sentence: since when the model has stopped changing, or how far it is."""
    kappas = [r.stop_kappa for r in records]
    if not config.stop_set_size or all(k is None for k in kappas):
        return ("No stopping signal: this run predicts no stop set (stop_set_size 0, or recorded before the signal "
                "existed)." if len(records) > 1 or not config.stop_set_size else
                "The stopping signal needs two rounds: it compares each round's predictions with the previous one's.")
    rule = stability_rule(config)
    what = f"κ ≥ {rule.threshold} between successive rounds' predictions on the stop set for {rule.window} rounds"
    labels = [r.n_labeled for r in records]  # kappas[i] belongs to records[i]
    since = rule.stable_since(kappas)
    if since is not None:
        text = (f"**The model has stopped changing since {labels[since]} labels** ({what}): more labels are "
                "unlikely to change what it predicts.")
        if records[-1].stopped_by_rule:
            text += f" The stopping rule ended the run at {records[-1].n_labeled} labels."
        return text
    first = rule.first_stop(kappas)
    last = next(k for k in reversed(kappas) if k is not None)
    return (f"Still changing: κ = {last:.4f} against the previous round (it says stop at {what})."
            + (f" It held at {labels[first]} labels, then the predictions moved again." if first is not None else ""))
