"""What every page reads: the results store, the job manager, the current run and its rounds.

Runs compute in their own processes (or Ray tasks); this server's job manager only launches them and
its executor's thread follows them, and every page reads a run's state from its folder, so a
restarted server shows the runs of the previous one as they go on.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from alcore.jobs import JobManager, manager_for
from alcore.paths import allowed_roots
from alcore.runs import RoundsReader, RunStore
from alcore.viewmodels import run_list
from ui import navigation

REFRESH_S = 2.0  # how often a page following a live run re-reads it
RUN_KEY = "run"  # session-state key of the current run (the sidebar picker); also its URL query parameter
RACE_KEY = "race"  # URL query parameter of the race the Live page shows
SHOW_PREDICTION = "show_model_prediction"  # session key: Label's "Show model prediction", kept across pages


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
        st.page_link(navigation.HOME, label="Go to Home", icon=":material/home:")
        st.stop()
    return run_id


def rounds(run_id: str) -> list[dict]:
    """The run's round records; each call parses only the lines added since this session's last."""
    readers: dict[str, RoundsReader] = st.session_state.setdefault("_rounds_readers", {})
    if run_id not in readers:
        readers[run_id] = RoundsReader(store(), run_id)
    return readers[run_id].refresh()


def open_race(race_id: str) -> None:
    """The Live page of a race just launched, its first racer the current run (sidebar and URL alike)."""
    from alcore.race import racers
    st.switch_page(navigation.LIVE, query_params={RACE_KEY: race_id, RUN_KEY: racers(store(), race_id)[0]})
