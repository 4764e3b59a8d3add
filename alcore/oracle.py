"""Who labels the queried images: the known truth (simulated) or a person (human mode).

Human labels live in results/<run_id>/labels.csv (sample_id, file, label, who, time, round), one
row per answer (a class name of the run, or skip), rewritten atomically on each answer: closing a tab or a crash loses nothing. The
images waiting for a person are in queue.json; the run blocks until each has an answer.

Step mode waits for a person the same way (`wait_for`): `StepGate` holds a round's picks back from
the oracle until a person releases the round (the run folder's step.json, see runs.StepControl).
"""
from __future__ import annotations

import csv
import io
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from alcore.runs import RunStore, atomic_write_bytes, atomic_write_json
from alcore.train import Cancelled

LABEL_COLUMNS = ("sample_id", "file", "label", "who", "time", "round")
SKIP = "skip"  # the answer that leaves an image unlabeled: it may be queried again
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LabelQueue:
    round: int  # the round whose training waits for these labels (0: the initial set)
    ids: tuple[str, ...]
    files: tuple[str, ...]


class LabelBook:
    """Reads and appends the human labels of one run."""

    _lock = threading.Lock()  # one writer at a time within a process (pages of several sessions)

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.folder = store.run_dir(run_id)
        self.path = self.folder / "labels.csv"

    @property
    def classes(self) -> tuple[str, ...]:
        """The run's class names, the answers besides skip (read when asked: a run records them once it has
        read its data)."""
        return self.store.classes(self.run_id)

    def rows(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return list(csv.DictReader(io.StringIO(self.path.read_text(encoding="utf-8"))))

    def answers(self) -> dict[str, tuple[str, int]]:
        """sample id -> (its latest answer: a class name or skip, the round it was given in)."""
        return {row["sample_id"]: (row["label"], int(row["round"])) for row in self.rows()}

    def add(self, sample_id: str, file: str, label: str, who: str, round_index: int) -> None:
        answers = (*self.classes, SKIP)
        if label not in answers:
            raise ValueError(f"a label must be one of {', '.join(answers)}, not {label!r}")
        with self._lock:
            rows = self.rows()
            rows.append({"sample_id": sample_id, "file": file, "label": label, "who": who.strip() or "anonymous",
                         "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "round": round_index})
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=LABEL_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_bytes(self.path, buffer.getvalue().encode("utf-8"))

    def queue(self) -> LabelQueue | None:
        path = self.folder / "queue.json"
        if not path.is_file():
            return None
        values = json.loads(path.read_text())
        return LabelQueue(values["round"], tuple(values["ids"]), tuple(values["files"]))

    def set_queue(self, queue: LabelQueue | None) -> None:
        path = self.folder / "queue.json"
        if queue is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_json(path, {"round": queue.round, "ids": list(queue.ids), "files": list(queue.files)})

    def pending(self) -> list[str]:
        """Queued ids without an answer for the queue's round yet, in queue order."""
        queue, answers = self.queue(), self.answers()
        return [] if queue is None else [i for i in queue.ids if not answered(answers, i, queue.round)]


def answered(answers: dict[str, tuple[str, int]], sample_id: str, round_index: int) -> bool:
    """A class label counts for good; a skip only for the round it was given in."""
    answer = answers.get(sample_id)
    return answer is not None and (answer[0] != SKIP or answer[1] == round_index)


def answer_to_label(answer: tuple[str, int] | None, classes: tuple[str, ...]) -> int:
    """A class name's label index; -1 for a skip or no answer."""
    return classes.index(answer[0]) if answer is not None and answer[0] in classes else -1


def wait_for(ready: Callable[[], bool], cancel: threading.Event | None) -> None:
    """Block until `ready()` (polled); Cancelled as soon as the run is asked to stop."""
    while not ready():
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        time.sleep(POLL_SECONDS)


class HumanOracle:
    """Blocks the loop until a person has answered every queued image (or the run is cancelled)."""

    def __init__(self, book: LabelBook, ids: np.ndarray, files: np.ndarray, cancel: threading.Event | None,
                 on_wait=None):
        self.book, self.ids, self.files, self.cancel = book, ids, files, cancel
        self.on_wait = on_wait or (lambda round_index, n: None)

    def __call__(self, rows: np.ndarray, round_index: int) -> np.ndarray:
        answers = self.book.answers()
        waiting = lambda: [r for r in rows if not answered(answers, self.ids[r], round_index)]  # noqa: E731
        if waiting():
            # only what still needs an answer: on resume `rows` holds every image labeled so far
            asked = waiting()
            self.book.set_queue(LabelQueue(round_index, tuple(self.ids[asked]), tuple(self.files[asked])))
            self.on_wait(round_index, len(asked))

            def all_answered() -> bool:
                nonlocal answers
                answers = self.book.answers()
                return not waiting()
            wait_for(all_answered, self.cancel)
            self.book.set_queue(None)
        classes = self.book.classes
        return np.array([answer_to_label(answers.get(self.ids[r]), classes) for r in rows], dtype=np.int64)


class StepGate:
    """Step mode around any oracle: the picks of round r - 1 go to `oracle` only once round r is let
    through (step mode off, or a person clicked "Next round"); meanwhile `on_pause(r)` has said so.
    Round 0's initial set never waits. A resumed run asks again, so a pause outlives a Stop."""

    def __init__(self, oracle, store: RunStore, run_id: str, cancel: threading.Event | None,
                 on_pause: Callable[[int], None]):
        self.oracle, self.store, self.run_id, self.cancel, self.on_pause = oracle, store, run_id, cancel, on_pause

    def __call__(self, rows: np.ndarray, round_index: int) -> np.ndarray:
        let_through = lambda: self.store.step_control(self.run_id).lets_through(round_index)  # noqa: E731
        if round_index > 0 and not let_through():
            self.on_pause(round_index)
            wait_for(let_through, self.cancel)
        return self.oracle(rows, round_index)
