"""The Compare page's rounds: each run named by the series it belongs to. No streamlit."""
from __future__ import annotations

from typing import Callable

import pandas as pd

from alcore.config import ExperimentConfig
from alcore.metrics import METRIC_LABELS, METRIC_NAMES
from alcore.plots import strategy_label
from alcore.runs import RunStore
from alcore.summary import rounds_frame, text_table
from alcore.viewmodels.run_list import data_label

IGNORED_IN_SERIES = {"seed", "experiment", "sampler", "full_data", "record_embeddings",
                     "stop_set_size", "stop_kappa", "stop_window"}  # the stopping signal changes no metric
APPLIES: dict[str, Callable[[ExperimentConfig], bool]] = {  # settings that matter only to some runs: a series
    "synthetic_size": lambda c: c.data == "synthetic",       # name lists them only there
    "synthetic_pneumonia_share": lambda c: c.data == "synthetic",
    "synthetic_preset": lambda c: c.data == "synthetic",
    "epochs": lambda c: c.regime == "finetune",
    "head_steps": lambda c: c.regime == "frozen",
}


def comparison_frame(store: RunStore, run_ids: list[str]) -> pd.DataFrame:
    """summary.rounds_frame whose 'strategy' names a series: the sampler, plus the settings that
    differ between the compared runs and apply to it, so only runs differing in seed alone are averaged."""
    frame = rounds_frame(store, run_ids)
    configs = {run_id: store.load_config(run_id) for run_id in run_ids}
    al = [c.to_dict() for c in configs.values() if not c.full_data]
    varying = sorted({k for c in al for k, v in c.items() if k not in IGNORED_IN_SERIES
                      and any(other[k] != v for other in al)})
    if "data" in varying:  # the data's label already says which synthetic set
        varying = [k for k in varying if k not in ("synthetic_size", "synthetic_pneumonia_share", "synthetic_preset")]

    def series(config: ExperimentConfig) -> str:
        shown = [k for k in varying if APPLIES.get(k, lambda c: True)(config)]
        extra = ", ".join(f"{k}={data_label(config) if k == 'data' else getattr(config, k)}" for k in shown)
        return strategy_label(config) + (f" ({extra})" if extra and not config.full_data else "")

    frame["strategy"] = frame.run_id.map({run_id: series(c) for run_id, c in configs.items()})
    return frame


COLUMN_TITLES = {"strategy": "Series", "seeds": "Seeds", "final_labels": "Labels",
                 "labels_to_target": "Labels to 95 % of the baseline's accuracy (seeds reaching it)",
                 "wall_seconds": "Seconds per run"}


def column_title(column: str) -> str:
    """A final-table column in words: 'final_roc_auc' -> 'Final ROC-AUC', 'aulc_accuracy_vs_random' ->
    'AULC of accuracy − random [95 % CI]'."""
    if column in COLUMN_TITLES:
        return COLUMN_TITLES[column]
    kind, _, rest = column.partition("_")
    metric, vs_random = rest.removesuffix("_vs_random"), rest.endswith("_vs_random")
    label = METRIC_LABELS.get(metric, metric.replace("_", " "))
    label = label if label[1:2].isupper() else label[:1].lower() + label[1:]  # 'ROC-AUC' stays, 'Accuracy' not
    if kind == "final" and metric in METRIC_LABELS:
        return f"Final {label}"
    if kind == "aulc" and metric in METRIC_LABELS:
        return f"AULC of {label}" + (" − random [95 % CI]" if vs_random else "")
    return column.replace("_", " ").capitalize()


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    """summary.final_table as Compare shows it: text cells, headers in words."""
    return text_table(table).rename(columns=column_title)


def metric_choices(frame: pd.DataFrame) -> list[str]:
    """The metrics some compared round recorded (runs with more than two classes have no positive-class
    sensitivity or F1; older runs no macro-F1): all of them when nothing is compared yet."""
    recorded = [m for m in METRIC_NAMES if m in frame and frame[m].notna().any()]
    return recorded or list(METRIC_NAMES)
