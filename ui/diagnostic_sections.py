"""Page sections shared by Live and Compare: what a radiologist reads off a round (ROC and
precision-recall with the operating point, sensitivity / specificity, the confusion matrix, the
reliability diagram), the stopping signal, and PNG / SVG downloads of each figure."""
from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from alcore import plots
from alcore.config import ExperimentConfig
from alcore.diagnostics import Diagnostics
from alcore.records import RoundRecord
from alcore.viewmodels import diagnostics_view, figures
from ui.state import store

NO_CURVES = ("This round stores no test-set probabilities (runs recorded before they were kept), or its test set "
             "holds one class only: no curves to draw.")


def figure_downloads(fig: go.Figure, stem: str, key: str) -> None:
    """PNG and SVG buttons under a figure; the file is rendered only when clicked."""
    problem = plots.export_problem()
    for column, fmt in zip(st.columns(2), plots.FORMATS):
        column.download_button(f"{fmt.upper()}", data=lambda fmt=fmt: plots.figure_bytes(fig, fmt),
                               file_name=f"{stem}.{fmt}", mime="image/png" if fmt == "png" else "image/svg+xml",
                               key=f"{key}_{fmt}", on_click="ignore", disabled=problem is not None,
                               help=problem or f"Download this figure as {fmt.upper()}", icon=":material/download:",
                               width="stretch")


def chart(container, fig: go.Figure, key: str, stem: str) -> None:
    with container:
        st.plotly_chart(fig, key=key, width="stretch")
        figure_downloads(fig, stem, key)


def _tile(value: float, bounds: tuple[float, float] | None) -> tuple[str, str]:
    """The value for st.metric, and its 95 % interval for a caption under it (a metric tile cuts long text)."""
    if math.isnan(value):
        return "n/a", ""
    return f"{value:.3f}", (f"95 % CI [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")


def stopping_section(run_id: str, records: list[RoundRecord], config: ExperimentConfig) -> None:
    """'When can I stop labeling?': the stabilizing-predictions signal, in a sentence and a chart."""
    st.subheader("When can labeling stop?")
    st.markdown(diagnostics_view.stopping_summary(records, config))
    if any(r.stop_kappa is not None for r in records):
        st.plotly_chart(figures.stability_figure(records, diagnostics_view.stability_rule(config).threshold),
                        key="live_stability", width="stretch")
        st.caption("Bloodgood & Vijay-Shanker (2009), stabilizing predictions: Cohen's κ between each round's "
                   f"predicted classes and the previous round's on a fixed set of {config.stop_set_size} "
                   "unlabeled pool images (no labels needed). Green dots: the signal holds.")


def follow_latest(key: str, rounds: list[int]) -> None:
    """Keep the round slider on the newest round while it sits at the end, so a live run's section follows it."""
    newest, seen = rounds[-1], st.session_state.get(f"{key}_newest")
    if seen != newest:
        if st.session_state.get(key) in (None, seen) or st.session_state.get(key) not in rounds:
            st.session_state[key] = newest
        st.session_state[f"{key}_newest"] = newest


def round_section(run_id: str, records: list[RoundRecord]) -> None:
    """One round's test-set diagnostics (the latest by default, any through the slider)."""
    st.subheader("What a radiologist reads: one round on the test set")
    rounds = [r.round for r in records]
    key = f"live_diag_round_{run_id}"
    follow_latest(key, rounds)
    labels = {r.round: r.n_labeled for r in records}
    chosen = (st.select_slider("Labels used", rounds, key=key, format_func=lambda r: f"{labels[r]} labels")
              if len(rounds) > 1 else rounds[0])
    record = diagnostics_view.record_at(records, chosen)
    found = diagnostics_view.stored_round_diagnostics(store(), run_id, record)
    if found is None:
        st.info(NO_CURVES)
        return
    ci, classes = record.ci, found.classes
    rule = ("each image called its most probable class (argmax, no threshold)" if found.argmax else
            f"{classes[1]} positive, operating threshold {found.point.threshold:.2f}"
            + ("" if record.threshold is not None else " (the default: this run chose none)"))
    st.caption(f"The model trained on {record.n_labeled} labels: {found.n} test images, {rule}"
               + (" · [low, high]: bootstrap intervals" if ci else ""))
    tiles = diagnostics_view.round_tiles(found, ci)
    for column, (label, (value, bounds)) in zip(st.columns(len(tiles)), tiles.items()):
        shown, interval = _tile(value, bounds)
        column.metric(label, shown)
        if interval:
            column.caption(interval)
    if found.argmax:
        st.dataframe(diagnostics_view.class_table(found, ci), key="live_class_table", hide_index=True, width="stretch")
    round_charts(run_id, record, found)


def round_charts(run_id: str, record: RoundRecord, found: Diagnostics) -> None:
    """The round's ROC, precision-recall (one-vs-rest per class with more than two), reliability and confusion."""
    series = [plots.CurveSeries(plots.strategy_label(store().load_config(run_id)), found, record.ci)]
    where = plots.at_labels(record)
    stem = f"{run_id}_round_{record.round:03d}"
    kind = " (each class against the rest)" if found.argmax else ""
    decided = "by argmax" if found.argmax else f"at threshold {found.point.threshold:.2f}"
    top_left, top_right = st.columns(2)
    chart(top_left, plots.roc_figure(series, f"ROC curve{kind}, {where}"), "live_roc", f"{stem}_roc")
    chart(top_right, plots.pr_figure(series, f"Precision-recall curve{kind}, {where}"), "live_pr", f"{stem}_pr")
    bottom_left, bottom_right = st.columns(2)
    chart(bottom_left, plots.reliability_figure(series, f"Reliability diagram, {where}"), "live_reliability",
          f"{stem}_reliability")
    chart(bottom_right, figures.confusion_matrix_figure(found.confusion_matrix, f"Confusion matrix {decided}, {where}",
                                                        found.classes), "live_round_confusion", f"{stem}_confusion")


def compare_section(run_ids: list[str]) -> None:
    """The selected runs' ROC, precision-recall and reliability curves overlaid at one round."""
    st.subheader("ROC, precision-recall and calibration, overlaid")
    choices = diagnostics_view.round_choices(store(), run_ids)  # "at 30 labels": round index
    if not choices:
        return
    names, key = list(choices), "compare_diag_round"
    if st.session_state.get(key) not in names:  # first visit, or other runs picked: their last round
        st.session_state[key] = names[-1]
    where = st.select_slider("Round (by the labels its models trained on)", names, key=key,
                             help="Each run at this round; runs that ended earlier show their last round.") \
        if len(names) > 1 else names[0]
    series = diagnostics_view.curve_series(store(), run_ids, choices[where])
    if not series:
        st.info(NO_CURVES)
        return
    st.dataframe(diagnostics_view.diagnostics_table(series).round(4), key="compare_diag_table", hide_index=True, width="stretch")
    st.caption("Two classes: sensitivity, specificity and precision at each run's operating threshold (dots on the "
               "curves). More: each image called its most probable class (argmax). Brier score and ECE: lower is "
               "better calibrated.")
    classes = diagnostics_view.overlay_classes(series)
    if classes:
        shown = st.selectbox("Class (its curves against the rest)", range(len(classes)), format_func=classes.__getitem__,
                             key="compare_diag_class")
        series = diagnostics_view.one_class(series, shown)
    stem = f"compare_{where.replace(' ', '_')}"
    left, right = st.columns(2)
    chart(left, plots.roc_figure(series, f"ROC, {where}"), "compare_roc", f"{stem}_roc")
    chart(right, plots.pr_figure(series, f"Precision-recall, {where}"), "compare_pr", f"{stem}_pr")
    chart(st.columns(2)[0], plots.reliability_figure(series, f"Reliability, {where}"), "compare_reliability",
          f"{stem}_reliability")
