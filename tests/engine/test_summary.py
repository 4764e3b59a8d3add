"""Experiment summaries: the paired AULC difference against random with its interval across seeds,
and "labels to target" counting the seeds that reached it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alcore.metrics import METRIC_NAMES
from alcore.summary import final_table, markdown_table, paired_interval, text_table


def _frame(curves: dict[tuple[str, int], list[float]], baseline_accuracy: float = 0.9) -> pd.DataFrame:
    """Runs whose every metric follows the given curve at 100, 200, 300 labels, plus a baseline."""
    rows = []
    for (strategy, seed), values in curves.items():
        for r, value in enumerate(values):
            rows.append({"run_id": f"{strategy}-{seed}", "strategy": strategy, "seed": seed, "experiment": "e",
                         "full_data": False, "wall_seconds": 1.0, "round": r, "n_labeled": 100 * (r + 1),
                         **{m: value for m in METRIC_NAMES}})
    rows.append({"run_id": "base", "strategy": "random", "seed": 0, "experiment": "e", "full_data": True,
                 "wall_seconds": 1.0, "round": 0, "n_labeled": 1000, **{m: baseline_accuracy for m in METRIC_NAMES}})
    return pd.DataFrame(rows)


def test_paired_interval_is_the_student_t_one():
    mean, low, high = paired_interval(np.array([0.01, 0.02, 0.03]))
    half = 4.302653 * 0.01 / math.sqrt(3)  # t(0.975, 2 degrees of freedom) x sd / sqrt(n)
    assert mean == pytest.approx(0.02) and low == pytest.approx(0.02 - half) and high == pytest.approx(0.02 + half)
    assert math.isnan(paired_interval(np.array([0.5]))[1])


def test_final_table_pairs_each_strategy_with_random_seed_by_seed():
    random_curves = {("random", s): [0.6 + 0.1 * s, 0.7 + 0.1 * s, 0.8 + 0.1 * s] for s in range(3)}
    # better than random by 0.018, 0.020, 0.022 on seeds 0, 1, 2, while the seeds themselves differ by
    # 0.1: unpaired, the gain drowns in the spread; paired, it is clear
    better = {("better", s): [v + 0.02 + 0.002 * (s - 1) for v in random_curves[("random", s)]] for s in range(3)}
    table = final_table(_frame({**random_curves, **better})).set_index("strategy")
    row = table.loc["better"]
    assert row.aulc_roc_auc_vs_random_mean == pytest.approx(0.02)
    assert row.aulc_roc_auc_vs_random_low == pytest.approx(0.02 - 4.302653 * 0.002 / math.sqrt(3))
    assert row.aulc_roc_auc_vs_random_low > 0
    assert row.paired_seeds == 3
    assert "aulc_roc_auc_vs_random_mean" not in table.columns or pd.isna(table.loc["random"].aulc_roc_auc_vs_random_mean)


def test_labels_to_target_counts_the_seeds_that_reach_it():
    curves = {("random", 0): [0.80, 0.86, 0.90], ("random", 1): [0.70, 0.80, 0.85],  # target 0.855
              ("random", 2): [0.86, 0.90, 0.91]}
    table = final_table(_frame(curves)).set_index("strategy")
    assert table.loc["random"].labels_to_target_reached == 2
    assert table.loc["random"].labels_to_target_mean == pytest.approx(150)  # seeds 0 and 2: 200 and 100
    assert "150 ± 71 (2/3)" in markdown_table(table.reset_index())


def test_three_class_tables_report_the_macro_metrics_and_leave_out_the_positive_class_ones():
    """Runs of three classes record no sensitivity / specificity / F1 (two classes only): the tables show
    the macro metrics and macro-F1's paired AULC difference against random, without n/a columns."""
    curves = {**{("random", s): [0.5, 0.6, 0.7] for s in range(2)},
              **{("entropy", s): [0.55 + 0.01 * s, 0.65, 0.75] for s in range(2)}}
    frame = _frame(curves)
    frame[["sensitivity", "specificity", "precision", "recall", "f1"]] = math.nan
    table = final_table(frame)
    markdown = markdown_table(table)
    header = markdown.splitlines()[0]
    assert "macro-F1" in header and "AULC macro-F1 - random [95 % CI]" in header and "ROC-AUC" in header
    assert "sensitivity" not in header and "specificity" not in header
    entropy = table.set_index("strategy").loc["entropy"]
    # differences 0.05 + 0.01 s, 0.05, 0.05 at 100, 200, 300 labels: AULC 0.05 + 0.0025 s, mean over seeds 0, 1
    assert entropy.aulc_macro_f1_vs_random_mean == pytest.approx(0.05125)
    shown = text_table(table)
    assert "final_macro_f1" in shown.columns and "final_sensitivity" not in shown.columns
