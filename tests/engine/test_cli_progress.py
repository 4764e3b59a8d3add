"""The CLI's progress bar names rounds as the dashboard and the log do: by the labels used."""
from __future__ import annotations

from alcore.cli import _progress_printer
from alcore.runner import RunEvent
from alcore.runs import RunStatus


def test_the_round_bar_shows_the_labels_used(capsys):
    on_event, close = _progress_printer(quiet=False)
    on_event(RunEvent("a-run", "status", status=RunStatus("running", rounds_total=3)))
    on_event(RunEvent("a-run", "round", round=0, record={"n_labeled": 30, "accuracy": 0.7, "roc_auc": 0.8}))
    close()
    assert "labels=30" in capsys.readouterr().err
