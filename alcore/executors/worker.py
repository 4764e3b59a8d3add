"""`python -m alcore worker RUN_ID`: compute one created run in this (fresh) process, then exit."""
from __future__ import annotations

import sys

from alcore.runs import RunBusy, RunStore


def work(store: RunStore, run_id: str) -> int:
    from alcore.runner import execute_run  # torch: only in the worker, after the launcher has moved on
    try:
        status = execute_run(store, run_id)
    except RunBusy as exc:
        print(f"{exc}; this worker leaves it alone", file=sys.stderr)
        return 3
    return 0 if status.state == "done" else 1
