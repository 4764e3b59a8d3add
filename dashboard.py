"""The dashboard, `streamlit run dashboard.py`, and its Home page: what the tool does, the one-click demo
(a race of four strategies, on the two-class rare-finding data or on three classes), and every run in the
results folder.

The other pages are the files of pages/ (Streamlit's pages directory; ui/navigation.py lists them).
Every page draws the sidebar, which holds the current run: it lives in the session and in the URL
(?run=<id>), so a reload or a shared link re-attaches to it. Results are read from $ALCORE_RESULTS
(default: results/).
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore.config import CONFIG_PRESETS
from alcore.race import DEFAULT_RACERS, race_configs
from alcore.viewmodels import run_list
from ui import navigation
from ui.state import RUN_KEY, jobs, open_race, store

page_frame()

st.title("Active learning for chest X-rays")
st.markdown(
    "This tool trains a chest X-ray classifier (NORMAL vs PNEUMONIA, or as many classes as your data has, "
    "e.g. normal / bacterial / viral) from a few labeled X-rays and lets a query strategy "
    "pick which images to label next, round after round. "
    "It records test accuracy, F1 and ROC-AUC after every round, so you can see how many labels each "
    "strategy needs compared with random picks or a model trained on every label. "
    "Start with the synthetic demo below, or set up a run on your own images under **Setup**."
)

demo = CONFIG_PRESETS[st.radio("Demo data", list(CONFIG_PRESETS), key="home_demo_data", horizontal=True,
                               help="Two classes with a rare finding (PNEUMONIA 5 %), or NORMAL / BACTERIAL / "
                                    "VIRAL, where the uncertainty strategies pick different images.")]
pause = st.checkbox("Pause after each round", key="home_demo_pause",
                    help="Step mode: every racer waits after its query so the picks can be explained; "
                         "'Next round' on the Live page goes on.")
if st.button("Start the demo race", type="primary", key="home_demo", icon=":material/play_arrow:"):
    open_race(jobs().launch_race(race_configs(replace(demo)), pause=pause))
st.caption(f"Demo: {', '.join(DEFAULT_RACERS)} race on the same {demo.synthetic_size} synthetic X-rays of "
           f"{demo.synthetic_classes} classes, initial "
           f"set and seed, at once: {demo.model} ({demo.regime}, {demo.resolution} px), {demo.init_size} initial "
           f"labels + {demo.budget} × {demo.rounds} rounds; one Live view overlays their curves.")

st.subheader("Runs")
table = run_list.runs_table(store())
if table.empty:
    st.info(f"No runs in {run_list.results_root()}/ yet.")
else:
    picked = st.dataframe(
        table, key="home_runs", hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        column_order=["run_id", "state", "strategy", "oracle", "data", "labels", "best_accuracy", "best_auc",
                      "experiment"],  # the run id starts with the date and time
        column_config={  # short headers and widths: at 1440 px every column shows whole beside the sidebar
            "run_id": st.column_config.TextColumn("Run", width=270),
            "state": st.column_config.TextColumn("State", width=62),
            "strategy": st.column_config.TextColumn("Strategy", width=112),
            "oracle": st.column_config.TextColumn("Oracle", width=70, help="Who answered the queries: the true "
                                                  "labels (simulated) or a person (human)"),
            "data": st.column_config.TextColumn("Data", width=100),
            "labels": st.column_config.NumberColumn("Labels", format="%d", help="Labels used", width=52),
            "best_accuracy": st.column_config.NumberColumn("Acc.", format="%.3f", width=50,
                                                           help="The best test accuracy of its rounds"),
            "best_auc": st.column_config.NumberColumn("AUC", format="%.3f", width=50,
                                                      help="The best test ROC-AUC of its rounds"),
            "experiment": st.column_config.TextColumn("Experiment", width=180),
        })
    st.caption("Tick a row to open that run's Live page.")
    rows = picked.selection.rows
    if rows:
        st.switch_page(navigation.LIVE, query_params={RUN_KEY: table.run_id.iloc[rows[0]]})
