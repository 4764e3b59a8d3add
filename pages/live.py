"""Live run: progress, learning curves, the latest confusion matrix, queried X-rays and the log; stop / resume;
step mode (pause after each round, Next round). With ?race=<id> in the URL: the whole race (ui/race_sections.py).

Only the progress fragment ticks, and only while the run is live; it reruns the page when a round
lands. The run id in the URL brings a reloaded page back to the same run.
"""
from __future__ import annotations

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore import plots, race
from alcore.viewmodels import progress_view, round_view, run_list
from ui import navigation
from ui.diagnostic_sections import round_section, stopping_section
from ui.model_sections import model_downloads
from ui.race_sections import race_section, step_controls
from ui.state import RACE_KEY, REFRESH_S, RUN_KEY, jobs, require_run, reveal_prediction, rounds, store
from ui.widgets import resume_button, run_charts, thumbnails

page_frame()

LIVE_THUMBNAILS = 24
if st.query_params.get(RACE_KEY):
    race_section(st.query_params[RACE_KEY])
    st.stop()
run_id = require_run()
config = store().load_config(run_id)
progress = store().load_status(run_id)

st.title("Live run")
labels = ("every label of the train pool" if config.full_data else
          f"{config.init_size} initial labels + {config.budget} × {config.rounds} rounds")
st.caption(f"`{run_id}` · {plots.strategy_label(config)} on {run_list.data_label(config)} · {config.model} "
           f"({config.regime}, {config.resolution} px) · {labels} · seed {config.seed}"
           + (f" · experiment {config.experiment}" if config.experiment else ""))

if progress.active:
    if st.button("Stop", key="live_stop", icon=":material/stop:", disabled=not progress.active,
                 help="Stops after the current step; finished rounds are kept and the run can be resumed."
                 if progress.active else "Another process runs this job; stop it there."):
        jobs().cancel(run_id)
        st.toast("Stopping after the current step; finished rounds are kept.")
elif progress.resumable:
    resume_button(run_id, "live_resume", help="Continues from the last finished round.")
if race.is_race(config.experiment):
    st.page_link(navigation.LIVE, label="This run is part of a race: watch all racers", icon=":material/sprint:",
                 query_params={RACE_KEY: config.experiment, RUN_KEY: run_id})
step_controls([run_id], "live_step")


records = list(rounds(run_id))


@st.fragment(run_every=REFRESH_S if progress.active else None)
def live_progress() -> None:
    """Ticks while the run is live; a new round or a new state reruns the page (charts redraw per round)."""
    now = store().load_status(run_id)
    if now.state != progress.state or len(rounds(run_id)) != len(records):
        st.rerun()
    st.progress(now.progress, text=now.text)
    if (phase := progress_view.phase_bar(store(), run_id, now)) is not None:  # minutes of feature extraction
        st.progress(phase.fraction, text=phase.text)  # on real data: a bar of its own, with its ETA
    st.caption(f"State: **{now.state}** · {now.detail}")
    if now.state == "waiting_for_labels":
        st.page_link(navigation.LABEL, label="Label the waiting X-rays", icon=":material/label:",
                     query_params={RUN_KEY: run_id})


live_progress()
if progress.error:
    st.error(f"The run failed: {progress.error}")
if not records:
    st.info("Waiting for the first round: loading data, preparing the model, training." if progress.active
            else "This run has no finished round.")
else:
    curves, confusion = st.columns([3, 2])
    curves_figure, confusion_figure = run_charts(str(run_list.results_root()), run_id, len(records))
    curves.plotly_chart(curves_figure, key="live_curves", width="stretch")
    confusion.plotly_chart(confusion_figure, key="live_confusion", width="stretch")
    stopping_section(run_id, records, config)
    last_query = round_view.latest_queried_round(records)
    if last_query is not None:
        queried = round_view.queried_frame(store(), run_id, [last_query], reveal_prediction())
        st.subheader(f"Queried by the model trained on {last_query.n_labeled} labels")
        st.caption(f"{len(queried)} images picked for labeling, highest score first"
                   + (f"; the first {LIVE_THUMBNAILS} shown (all on Queried samples)."
                      if len(queried) > LIVE_THUMBNAILS else "."))
        thumbnails(run_id, queried.head(LIVE_THUMBNAILS), key="live_queried", per_row=8)
    round_section(run_id, records)
    model_downloads(run_id, len(records))
with st.expander("Log", expanded=bool(progress.error)):
    # st.text, not st.code: the code block's highlighter is a 1.5 MB script the browser would fetch
    # while the first curve is drawn
    st.text("\n".join(store().read_log(run_id, last=60)) or "(empty)")
