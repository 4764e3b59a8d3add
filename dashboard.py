"""The dashboard: `streamlit run dashboard.py`. One file per page in pages/; the sidebar holds the current run.

The current run lives in the session and in the URL (?run=<id>), so a reload or a shared link
re-attaches to it. Results are read from $ALCORE_RESULTS (default: results/).
"""
from __future__ import annotations

import streamlit as st

from alcore.viewmodels import views
from pages.common import REFRESH_S, RUN_KEY, jobs, store

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/setup.py", title="Setup", icon=":material/tune:", url_path="setup"),
    st.Page("pages/live.py", title="Live run", icon=":material/monitoring:", url_path="live"),
    st.Page("pages/label.py", title="Label", icon=":material/label:", url_path="label"),
    st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
    st.Page("pages/queried.py", title="Queried samples", icon=":material/grid_view:", url_path="queried"),
    st.Page("pages/compare.py", title="Compare", icon=":material/stacked_line_chart:", url_path="compare"),
]


def follow_url() -> None:
    st.query_params[RUN_KEY] = st.session_state[RUN_KEY]


def run_picker() -> None:
    """Pick the current run: the URL's, else this session's, else the newest."""
    run_ids = store().run_ids()
    wanted = st.query_params.get(RUN_KEY)
    if wanted and wanted not in run_ids:
        st.warning(f"There is no run '{wanted}' in {views.results_root()}/.")
    current = wanted if wanted in run_ids else st.session_state.get(RUN_KEY)
    st.session_state[RUN_KEY] = current if current in run_ids else (run_ids[0] if run_ids else None)
    if not run_ids:
        st.caption("No runs yet.")
        return
    st.selectbox("Current run", run_ids, key=RUN_KEY, on_change=follow_url,
                 help="The run the Live, Embeddings and Queried pages show. Newest first.")
    if st.query_params.get(RUN_KEY) != st.session_state[RUN_KEY]:
        follow_url()
    run_state(st.session_state[RUN_KEY])


def run_state(run_id: str) -> None:
    live = views.run_progress(store(), jobs(), run_id).live

    @st.fragment(run_every=REFRESH_S if live else None)
    def show() -> None:
        progress = views.run_progress(store(), jobs(), run_id)
        if progress.live != live:  # started or ended: a full rerun turns the timer on or off
            st.rerun()
        st.progress(progress.fraction, text=f"{progress.state} · {progress.text}")
    show()


st.set_page_config(page_title="Active learning · chest X-rays", page_icon=":material/radiology:", layout="wide")
jobs()  # created once per process: it marks runs a previous process left 'running' as interrupted
page = st.navigation(PAGES)
with st.sidebar:
    run_picker()
page.run()
