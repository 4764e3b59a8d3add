"""The CLI's progress bar names rounds as the dashboard and the log do: by the labels used."""
from __future__ import annotations

import os
import threading

from alcore.cli import follow
from alcore.runs import RunStatus, RunStore


def test_the_round_bar_shows_the_labels_used(tmp_path, capsys):
    store = RunStore(tmp_path)
    run_id = store.create_run_dir("entropy", 0)
    store.write_status(run_id, RunStatus("running", round=0, n_labeled=30, rounds_total=3, pid=os.getpid()))
    store.beat(run_id)

    def finish() -> None:
        store.write_status(run_id, RunStatus("done", round=2, n_labeled=50, rounds_total=3, pid=os.getpid()))

    timer = threading.Timer(1.5, finish)
    timer.start()
    assert follow(store, [run_id], quiet=False)
    timer.join()
    assert "labels=30" in capsys.readouterr().err
