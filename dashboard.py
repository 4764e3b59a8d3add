"""The dashboard: `streamlit run dashboard.py`. One file per page in pages/; the sidebar holds the current run.

The current run lives in the session and in the URL (?run=<id>), so a reload or a shared link
re-attaches to it. Results are read from $ALCORE_RESULTS (default: results/).
"""
from __future__ import annotations

import streamlit as st

from alcore.executors.zygote import zygote

zygote().start()  # first thing on a fresh server: the worker launcher's imports (~5 CPU s) run while Home renders

from alcore.viewmodels import progress_view, run_list  # noqa: E402
from pages.common import REFRESH_S, RUN_KEY, jobs, store  # noqa: E402

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/setup.py", title="Setup", icon=":material/tune:", url_path="setup"),
    st.Page("pages/live.py", title="Live run", icon=":material/monitoring:", url_path="live"),
    st.Page("pages/label.py", title="Label", icon=":material/label:", url_path="label"),
    st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
    st.Page("pages/queried.py", title="Queried samples", icon=":material/grid_view:", url_path="queried"),
    st.Page("pages/compare.py", title="Compare", icon=":material/stacked_line_chart:", url_path="compare"),
]

# Inline: a material icon as page icon made every page ask a font server for it (offline: an error).
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
        'fill="#1e2a3a"/><path d="M30 12v40M34 12v40" stroke="#e8eef5" stroke-width="3"/><path d="M27 20c-9 '
        '2-15 14-15 26 0 4 3 6 7 5l8-3zM37 20c9 2 15 14 15 26 0 4-3 6-7 5l-8-3z" fill="#9fb3c8"/></svg>')


def follow_url() -> None:
    st.query_params[RUN_KEY] = st.session_state[RUN_KEY]


def run_picker() -> None:
    """Pick the current run: the URL's, else this session's, else the newest. An unknown run in the
    URL picks none (the pages say so) and the URL keeps it: a typo is shown, not replaced."""
    run_ids = store().run_ids()
    wanted = st.query_params.get(RUN_KEY)
    unknown = bool(wanted) and wanted not in run_ids
    if unknown:
        st.warning(f"There is no run '{wanted}' in {run_list.results_root()}/. Pick one below.")
        st.session_state[RUN_KEY] = None
    else:
        current = wanted or st.session_state.get(RUN_KEY)
        st.session_state[RUN_KEY] = current if current in run_ids else (run_ids[0] if run_ids else None)
    if not run_ids:
        st.caption("No runs yet.")
        return
    st.selectbox("Current run", run_ids, key=RUN_KEY, on_change=follow_url, placeholder="Pick a run",
                 help="The run the Live, Embeddings and Queried pages show. Newest first.")
    if st.session_state[RUN_KEY] is None:
        return
    if st.query_params.get(RUN_KEY) != st.session_state[RUN_KEY]:
        follow_url()
    run_state(st.session_state[RUN_KEY])


def run_state(run_id: str) -> None:
    live = progress_view.run_progress(store(), jobs(), run_id).live

    @st.fragment(run_every=REFRESH_S if live else None)
    def show() -> None:
        progress = progress_view.run_progress(store(), jobs(), run_id)
        if progress.live != live:  # started or ended: a full rerun turns the timer on or off
            st.rerun()
        st.progress(progress.fraction, text=f"{progress.state} · {progress.text}")
    show()


st.set_page_config(page_title="Active learning · chest X-rays", page_icon=ICON, layout="wide")
jobs()  # created once per process: it marks runs a previous process left 'running' as interrupted
page = st.navigation(PAGES)
with st.sidebar:
    run_picker()
page.run()
