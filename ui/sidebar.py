"""The frame of every page: its browser tab, the navigation and the current run in the sidebar.

Every page imports this module before its other imports and calls page_frame() first, so a page is
whole whichever URL a fresh server serves first: Streamlit's pages/ directory mode runs a page's file
alone, without dashboard.py around it.
"""
from __future__ import annotations

import streamlit as st

from alcore.executors.zygote import zygote

# Pages import this module before anything heavy: on a fresh server the worker launcher's own imports
# (torch & co, ~5 CPU s) then run while the page's imports and its first render go on.
zygote().start()

from alcore.viewmodels import run_list  # noqa: E402
from ui.navigation import NAVIGATION  # noqa: E402
from ui.state import REFRESH_S, RUN_KEY, jobs, store  # noqa: E402

# Inline: a material icon as page icon made every page ask a font server for it (offline: an error).
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
        'fill="#1e2a3a"/><path d="M30 12v40M34 12v40" stroke="#e8eef5" stroke-width="3"/><path d="M27 20c-9 '
        '2-15 14-15 26 0 4 3 6 7 5l8-3zM37 20c9 2 15 14 15 26 0 4-3 6-7 5l-8-3z" fill="#9fb3c8"/></svg>')


def page_frame() -> None:
    """The page's tab title and layout, then the sidebar: the pages, and the run picker with its progress."""
    st.set_page_config(page_title="Active learning · chest X-rays", page_icon=ICON, layout="wide")
    jobs()  # created once per process: it marks runs a previous process left 'running' as interrupted
    with st.sidebar:
        for entry in NAVIGATION:
            st.page_link(entry.path, label=entry.label, icon=entry.icon)
        st.divider()
        run_picker()


def follow_url() -> None:
    st.query_params[RUN_KEY] = st.session_state[RUN_KEY]


def run_picker() -> None:
    """Pick the current run: the URL's, else this session's, else the newest. An unknown run in the
    URL picks none (the pages say so) and the URL keeps it: a typo is shown, not replaced."""
    withheld = run_list.withheld_runs(store())  # a human run's simulated twin, while the human run may ask
    run_ids = [run_id for run_id in store().run_ids() if run_id not in withheld]
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
    live = store().load_status(run_id).active

    @st.fragment(run_every=REFRESH_S if live else None)
    def show() -> None:
        progress = store().load_status(run_id)
        if progress.active != live:  # started or ended: a full rerun turns the timer on or off
            st.rerun()
        st.progress(progress.progress, text=f"{progress.state} · {progress.text}")
    show()
