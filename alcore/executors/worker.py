"""`python -m alcore worker RUN_ID`: compute one created run in this (fresh) process, then exit."""
from __future__ import annotations

import sys

import traceback

from alcore.runs import RunBusy, RunState, RunStore, now_iso


def work(store: RunStore, run_id: str) -> int:
    from alcore.runner import execute_run  # torch: only in the worker, after the launcher has moved on
    try:
        status = execute_run(store, run_id)
    except RunBusy as exc:
        print(f"{exc}; this worker leaves it alone", file=sys.stderr)
        return 3
    except Exception as exc:  # before the run could record it (an unreadable config.json): record it here
        traceback.print_exc()
        status = store.stored_status(run_id)
        status.state, status.message, status.ended_at = RunState.FAILED, "failed", now_iso()
        status.error = f"{type(exc).__name__}: {exc}"
        store.write_status(run_id, status)
    return 0 if status.state == RunState.DONE else 1
