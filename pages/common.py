"""What the pages share: the results store, the job manager, the current run, rounds, thumbnails.

Runs compute in their own processes (or Ray tasks); this server's job manager only launches them and
its executor's thread follows them, and every page reads a run's state from its folder, so a
restarted server shows the runs of the previous one as they go on.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from alcore import plots
from alcore.viewmodels import figures, image_view, round_view, run_list
from alcore.config import ConfigError
from alcore.executors import QueueFull
from alcore.jobs import JobManager, manager_for
from alcore.paths import allowed_roots
from alcore.runs import RoundsReader, RunStore

REFRESH_S = 2.0  # how often a page following a live run re-reads it
RUN_KEY = "run"  # session-state key of the current run (the sidebar picker); also its URL query parameter
LIVE_PAGE = "pages/live.py"
CLASS_COLOR = {"NORMAL": "green", "PNEUMONIA": "red", "unknown": "gray", round_view.HIDDEN: "gray"}
SHOW_PREDICTION = "show_model_prediction"  # session key: Label's "Show model prediction", kept across pages
ENTRYPOINT = Path(__file__).resolve().parents[1] / "dashboard.py"


def via_entrypoint() -> None:
    """Make sure this page runs inside dashboard.py (its sidebar, its current run).

    Because a folder named pages/ exists, Streamlit starts in its legacy mode, which runs a page
    file alone when the first URL a fresh server (or every AppTest page switch) serves is that
    page's. The entrypoint's st.navigation leaves that mode and runs the requested page again.
    """
    if PagesManager.uses_pages_directory:
        runpy.run_path(str(ENTRYPOINT))
        st.stop()


def store() -> RunStore:
    return RunStore(run_list.results_root())


def jobs() -> JobManager:
    # one per results folder per process: one launch queue for every session
    return manager_for(run_list.results_root())


def path_roots() -> tuple[Path, ...]:
    """The folders under which a path typed in the browser is accepted (alcore.paths)."""
    return allowed_roots(st.get_option("server.address"))


def reveal_prediction() -> bool:
    """Whether the model's guess of an image waiting for a person may be shown (Label's toggle)."""
    return bool(st.session_state.get(SHOW_PREDICTION, False))


def current_run() -> str | None:
    return st.session_state.get(RUN_KEY)


def require_run() -> str:
    """The current run, or a pointer to where runs are started (and the page stops)."""
    run_id = current_run()
    wanted = st.query_params.get(RUN_KEY)
    if run_id is None and wanted:  # the sidebar picked none: the URL names a run that is not there
        st.warning(f"There is no run '{wanted}' in {run_list.results_root()}/: pick one under **Current run** in "
                   "the sidebar, or start one on Home.", icon=":material/search_off:")
        st.stop()
    if run_id is None:
        st.info("No run yet: start the demo on Home, or configure a run on Setup.")
        st.page_link("pages/home.py", label="Go to Home", icon=":material/home:")
        st.stop()
    return run_id


def resume_button(run_id: str, key: str, help: str | None = None) -> None:
    """Resume: the run goes on from its last finished round; a config it can no longer run is reported."""
    if st.button("Resume", key=key, icon=":material/play_arrow:", help=help):
        try:
            jobs().resume(run_id)
        except (ConfigError, QueueFull) as exc:
            st.error(f"This run cannot be resumed: {exc}")
        else:
            st.rerun()


def rounds(run_id: str) -> list[dict]:
    """The run's round records; each call parses only the lines added since this session's last."""
    readers: dict[str, RoundsReader] = st.session_state.setdefault("_rounds_readers", {})
    if run_id not in readers:
        readers[run_id] = RoundsReader(store(), run_id)
    return readers[run_id].refresh()


@st.cache_resource(max_entries=32, show_spinner=False)
def run_charts(root: str, run_id: str, n_rounds: int) -> tuple[go.Figure, go.Figure]:
    """The learning curves and the last confusion matrix of a run's first `n_rounds` rounds: built once
    per new round for every session following the run (a class of browsers), read-only afterwards."""
    records = RunStore(root).load_rounds(run_id)[:n_rounds]
    last = records[-1]
    title = f"Confusion matrix, test set, {plots.at_labels(last)}"
    return figures.learning_curves_figure(records), figures.confusion_matrix_figure(last["confusion_matrix"], title)


def thumbnails(run_id: str, samples: pd.DataFrame, key: str, per_row: int = 6, enlarge: bool = False) -> None:
    """A grid of X-rays (columns id, label, prob, score, secret), each with its id, true label and scores;
    one waiting for a person shows neither its id (a file name) nor its label."""
    try:
        images = image_view.thumbnail_uris(store(), run_id, samples.id.tolist())
    except (OSError, KeyError, ValueError) as exc:  # DataError is a ValueError
        st.warning(f"The images of this run cannot be shown: {exc}")
        return
    several_rounds = "labels" in samples and samples["labels"].nunique() > 1
    with st.container(key=key):
        for start in range(0, len(samples), per_row):
            for column, sample, image in zip(st.columns(per_row), samples.iloc[start:start + per_row].itertuples(),
                                             images[start:start + per_row]):
                with column:
                    name = figures.WAITING if sample.secret else image_view.short_id(sample.id)
                    st.image(image, caption=name, width="stretch", alt=f"X-ray {name}")
                    st.markdown(describe(sample) + (f" · picked at {sample.labels} labels" if several_rounds else ""))
                    # the row, not the id, in the key: a widget key reaches the browser, an id may be a file name
                    if enlarge and st.button("Enlarge", key=f"{key}-{sample.Index}", icon=":material/zoom_in:"):
                        large_image(run_id, sample)


def describe(sample) -> str:
    """True label in its colour, then p(PNEUMONIA) and the strategy score (a dash where hidden or none)."""
    score = "–" if pd.isna(sample.score) else f"{sample.score:.3g}"
    prob = "–" if pd.isna(sample.prob) else f"{sample.prob:.2f}"
    label = "label hidden until it is labeled" if sample.secret else sample.label
    return f":{CLASS_COLOR[sample.label]}[**{label}**] · p={prob} · score {score}"


@st.dialog("X-ray", width="large")
def large_image(run_id: str, sample) -> None:
    original = image_view.original_file(store(), run_id, sample.id)
    image = str(original) if original else image_view.images_by_id(store(), run_id, [sample.id])[0]
    name = figures.WAITING if sample.secret else sample.id
    st.image(image, width="stretch", alt=f"X-ray {name}, large")
    st.markdown(f"`{name}` · {describe(sample)}")
    if original and not sample.secret:
        st.caption(f"original file: {original}")
    else:
        st.caption("shown at the resolution the model used" if not original else "its file name stays hidden "
                   "until it is labeled")
