"""A round's test-set diagnostics and the stopping signal, as the pages show them. No streamlit."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from alcore.config import ExperimentConfig
from alcore.diagnostics import Diagnostics
from alcore.metrics import class_key
from alcore.plots import CurveSeries, diagnostics_from_arrays, interval, strategy_label, with_interval
from alcore.records import RoundRecord
from alcore.runs import RunStore
from alcore.stopping import StabilityRule
from alcore.viewmodels.round_view import round_arrays

Interval = tuple[float, float]


def stored_round_diagnostics(store: RunStore, run_id: str, record: RoundRecord) -> Diagnostics | None:
    """The round's test-set curves (plots.diagnostics_from_arrays) from its cached arrays."""
    return diagnostics_from_arrays(record, round_arrays(store, run_id, record.round), store.classes(run_id))


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


def overlay_classes(series: list[CurveSeries]) -> tuple[str, ...]:
    """The classes whose one-vs-rest curves the overlays pick one of: the runs' classes when they all
    have the same more than two; () otherwise (two classes: the positive one's curves, as ever)."""
    classes = {s.diagnostics.classes for s in series}
    return next(iter(classes)) if len(classes) == 1 and all(s.diagnostics.argmax for s in series) else ()


def one_class(series: list[CurveSeries], index: int) -> list[CurveSeries]:
    """The series drawing class `index`'s one-vs-rest curves only."""
    return [replace(s, only=index) for s in series]


def _binary_row(s: CurveSeries) -> dict:
    d, point = s.diagnostics, s.diagnostics.point
    return {"Model": s.name, "Threshold": point.threshold, "Sensitivity": point.sensitivity,
            "Specificity": point.specificity, "Precision": point.precision, "ROC-AUC": d.curves[0].roc_auc,
            "Average precision": d.curves[0].average_precision, "Brier": d.brier, "ECE": d.reliability.ece}


def _argmax_row(s: CurveSeries) -> dict:
    m = s.diagnostics.metrics
    return {"Model": s.name, "Accuracy": m.accuracy, "Balanced accuracy": m.balanced_accuracy,
            "Macro-F1": m.macro_f1, "Macro ROC-AUC": m.roc_auc, "Cohen's κ": m.kappa, "Brier": s.diagnostics.brier,
            "Top-label ECE": s.diagnostics.reliability.ece}


def diagnostics_table(series: list[CurveSeries]) -> pd.DataFrame:
    """What a radiologist reads per model: two classes, sensitivity and specificity at the threshold
    and the rest; more (argmax), the macro metrics. Runs of both kinds: the columns of both."""
    rows = [_argmax_row(s) if s.diagnostics.argmax else _binary_row(s) for s in series]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(k for row in rows for k in row)) or ["Model"])


def round_tiles(found: Diagnostics, ci: dict[str, Interval]) -> dict[str, tuple[float, Interval | None]]:
    """The round's headline numbers, {label: (value, its 95 % interval or None)}: two classes at the
    operating point; more, the macro metrics of the argmax predictions."""
    def shown(value: float, *keys: str) -> tuple[float, Interval | None]:
        return value, interval(ci, *keys)

    brier, ece = shown(found.brier), shown(found.reliability.ece, *(("top_label_ece",) if found.argmax else ()))
    if not found.argmax:
        point = found.point
        return {"Sensitivity": shown(point.sensitivity, "sensitivity"),
                "Specificity": shown(point.specificity, "specificity"), "Precision": shown(point.precision, "precision"),
                "ROC-AUC": shown(found.curves[0].roc_auc, "roc_auc"), "Brier score": brier, "ECE": ece}
    m = found.metrics
    return {"Accuracy": shown(m.accuracy, "accuracy"), "Balanced accuracy": shown(m.balanced_accuracy, "balanced_accuracy"),
            "Macro-F1": shown(m.macro_f1, "macro_f1"), "Macro ROC-AUC": shown(m.roc_auc, "roc_auc"),
            "Cohen's κ": shown(m.kappa, "kappa"), "Brier score": brier, "Top-label ECE": ece}


def class_table(found: Diagnostics, ci: dict[str, Interval]) -> pd.DataFrame:
    """Per class: its test images, sensitivity and precision of the predictions, one-vs-rest ROC-AUC
    and average precision, each '0.812 [0.750, 0.870]' where the record has the interval."""
    curves = {c.index: c for c in found.curves}
    m = found.metrics
    rows = [{"Class": name, "Test images": sum(found.confusion_matrix[i]),
             "Sensitivity": with_interval(m.class_sensitivity[i], ci, class_key("class_sensitivity", i)),
             "Precision": with_interval(m.class_precision[i], ci, class_key("class_precision", i)),
             "ROC-AUC (one vs rest)": with_interval(m.class_roc_auc[i], ci, class_key("class_roc_auc", i)),
             "Average precision": f"{curves[i].average_precision:.3f}" if i in curves else "n/a"}
            for i, name in enumerate(found.classes)]
    return pd.DataFrame(rows)


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
