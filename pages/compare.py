"""Compare: learning curves of several runs (mean ± std over seeds), the full-data baseline, final metrics."""
from __future__ import annotations

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore.metrics import METRIC_LABELS
from alcore.summary import baseline_value, final_table, strategy_curves
from alcore.runs import RunState
from alcore.viewmodels import compare_view, figures, run_list
from ui.diagnostic_sections import compare_section
from ui.state import REFRESH_S, current_run, store

page_frame()

NO_EXPERIMENT = ""
st.title("Compare runs")
every_run = run_list.runs_table(store())
runs = every_run[every_run.labels > 0]
if runs.empty:
    st.info("No run has finished a round yet.")
    st.stop()
names = dict(zip(runs.run_id, runs.run_id + " · " + runs.strategy + " · " + runs.state))
members = run_list.experiments(store())  # every run of each experiment, finished a round or not
groups = {name: [r for r in ids if r in names] for name, ids in members.items()}
groups = {name: ids for name, ids in groups.items() if ids}


@st.fragment(run_every=REFRESH_S if any(RunState(s).active for s in every_run.state) else None)
def watch() -> None:
    """Draws nothing: while a run is live, reruns the page when a run or a round is added or a run ends."""
    now = run_list.runs_table(store())
    if now[["run_id", "state", "labels"]].values.tolist() != every_run[["run_id", "state", "labels"]].values.tolist():
        st.rerun()


def short_header(title: str) -> str:
    """A final-table header that fits its column: 'Final balanced accuracy' -> 'Balanced accuracy' (the section
    says final), "Labels to 95 % of the baseline's accuracy (seeds reaching it)" -> 'Labels to 95 % of baseline'."""
    if title.startswith("Labels to 95 %"):
        return "Labels to 95 % of baseline"
    return title.removeprefix("Final ")[:1].upper() + title.removeprefix("Final ")[1:]


def pick_experiment() -> None:
    st.session_state["compare_runs"] = groups.get(st.session_state["compare_experiment"], [])
    st.session_state["compare_synced"] = st.session_state["compare_runs"]


def experiment_name(name: str) -> str:
    if not name:
        return "— pick runs below —"
    ready, total = len(groups[name]), len(members[name])
    return f"{name} ({total} runs" + (f", {ready} with a finished round)" if ready < total else ")")


def sync_selection() -> None:
    """The runs picked: on a first visit the newest experiment (else the current run); an experiment's new
    runs join while the user has not changed its selection; runs that are gone leave it."""
    if "compare_runs" not in st.session_state:
        newest = next(iter(groups), NO_EXPERIMENT)
        st.session_state["compare_experiment"] = newest
        st.session_state["compare_runs"] = groups.get(newest, [current_run()] if current_run() in names else [])
        st.session_state["compare_synced"] = st.session_state["compare_runs"]
    chosen_group = groups.get(st.session_state.get("compare_experiment"), [])
    if chosen_group and st.session_state["compare_runs"] == st.session_state.get("compare_synced"):
        st.session_state["compare_runs"] = st.session_state["compare_synced"] = chosen_group
    st.session_state["compare_runs"] = [r for r in st.session_state["compare_runs"] if r in names]
    if st.session_state.get("compare_experiment") not in groups:
        st.session_state["compare_experiment"] = NO_EXPERIMENT


sync_selection()
watch()
frame = compare_view.comparison_frame(store(), st.session_state["compare_runs"])  # the multiselect's value below
pick_group, pick_metric = st.columns([2, 1])
pick_group.selectbox("Experiment", [NO_EXPERIMENT, *groups], key="compare_experiment", on_change=pick_experiment,
                     format_func=experiment_name,
                     help="Selects every run of an experiment (samplers × seeds, and its baseline).")
metric = pick_metric.selectbox("Metric", compare_view.metric_choices(frame), format_func=METRIC_LABELS.get,
                               key="compare_metric")
run_ids = st.multiselect("Runs", list(names), format_func=names.get, key="compare_runs")
if not run_ids:
    st.info("Pick one or more runs, or an experiment.")
    st.stop()

baseline = baseline_value(frame, metric)
st.plotly_chart(figures.compare_figure(strategy_curves(frame, metric), metric, baseline), key="compare_chart",
                width="stretch")
st.caption("Runs that differ only in their seed are averaged (line: mean, band: ± 1 std). "
           "AULC = area under the learning curve divided by its labeled range: the mean metric over the curve.")

st.subheader("Final metrics per strategy")
table = final_table(frame)
if table.empty:
    st.info("Only full-data baseline runs are selected; their metric is the dashed line.")
else:
    shown = compare_view.readable_table(table)  # headers short enough to show whole at 1440 px, in full as help
    st.dataframe(shown, key="compare_table", hide_index=True, width="stretch",
                 column_config={"Series": st.column_config.TextColumn(  # a series named by its settings is long
                     width="large" if shown.Series.str.len().max() > 24 else "medium", pinned=True),
                                **{title: st.column_config.Column(short_header(title), help=title)
                                   for title in shown.columns if short_header(title) != title}})
    st.caption("Metrics are at each round's threshold, chosen on its labeled images (never the test set); with "
               "more than two classes each image is called its most probable class (argmax) and ROC-AUC is the "
               "macro mean of the one-vs-rest AUCs. "
               "*AULC of … − random*: the strategy's AULC minus random's on the same seeds (the same initial "
               "labels), with its 95 % interval across seeds: a low end above 0 means it beats random. "
               "*Labels to 95 % of the baseline's accuracy*: the mean over the seeds that reached it "
               "(how many, in brackets).")
download_table, download_rounds = st.columns(2)
download_table.download_button("Download table (CSV)", table.to_csv(index=False), "final_metrics.csv", "text/csv",
                               key="compare_download_table", disabled=table.empty)
download_rounds.download_button("Download per-round metrics (CSV)", frame.to_csv(index=False), "rounds.csv",
                                "text/csv", key="compare_download_rounds")
compare_section(run_ids)
