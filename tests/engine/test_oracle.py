"""Human mode in the engine: the loop waits for labels in labels.csv, resumes where it stopped."""
import csv
import threading
import time

import numpy as np
import pytest

from alcore.config import ExperimentConfig
from alcore.oracle import HumanOracle, LabelBook
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore


def human(**changes) -> ExperimentConfig:
    values = dict(model="tiny_cnn", regime="finetune", resolution=32, synthetic_size=200, init_size=6,
                  budget=4, rounds=2, epochs=1, batch_size=8, sampler="entropy", seed=1, oracle="human")
    values.update(changes)
    return ExperimentConfig(**values)


def wait_for_queue(book: LabelBook, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = book.queue()
        if queue is not None and book.pending():
            return queue
        time.sleep(0.1)
    raise AssertionError("no label queue appeared")


def answer(book: LabelBook, queue, truth: dict[str, int], only: int | None = None, skip: str | None = None):
    pending = set(book.pending())
    for sample_id, file in [(i, f) for i, f in zip(queue.ids, queue.files) if i in pending][:only]:
        label = "skip" if sample_id == skip else ("NORMAL", "PNEUMONIA")[truth[sample_id]]
        book.add(sample_id, file, label, "tester", queue.round)


def synthetic_truth() -> dict[str, int]:
    from alcore.data import load_dataset
    data = load_dataset("synthetic", 32, synthetic_size=200)
    return dict(zip(data.train.ids.tolist(), data.train.labels.tolist()))


def test_human_run_waits_for_each_batch_and_records_labels(tmp_path):
    store = RunStore(tmp_path)
    run_id = create_run(human(), store)
    worker = threading.Thread(target=execute_run, args=(store, run_id))
    worker.start()
    book, truth = LabelBook(store, run_id), synthetic_truth()
    queue = wait_for_queue(book)
    assert queue.round == 0 and len(queue.ids) == 6  # the initial set is labeled by the person too
    assert store.load_status(run_id).state == "waiting_for_labels"
    answer(book, queue, truth, skip=queue.ids[0])
    queue = wait_for_queue(book)
    assert queue.round == 1 and len(queue.ids) == 4
    assert store.load_rounds(run_id)[0].n_labeled == 5  # the skipped image is not labeled
    answer(book, queue, truth)
    answer(book, wait_for_queue(book), truth)
    worker.join(60)
    assert store.load_status(run_id).state == "done"
    assert [r.n_labeled for r in store.load_rounds(run_id)] == [5, 9, 13]
    rows = list(csv.DictReader(open(tmp_path / run_id / "labels.csv")))
    assert len(rows) == 14 and set(rows[0]) == {"sample_id", "file", "label", "who", "time", "round"}
    assert rows[0]["label"] == "skip" and rows[1]["who"] == "tester"


def test_restart_with_half_a_batch_labeled_loses_nothing(tmp_path):
    store = RunStore(tmp_path)
    run_id = create_run(human(), store)
    cancel = threading.Event()
    worker = threading.Thread(target=execute_run, args=(store, run_id, cancel))
    worker.start()
    book, truth = LabelBook(store, run_id), synthetic_truth()
    answer(book, wait_for_queue(book), truth)
    queue = wait_for_queue(book)
    answer(book, queue, truth, only=2)  # half of round 1's batch, then the app "dies"
    cancel.set()
    worker.join(30)
    store.mark_interrupted(live_run_ids=set())
    worker = threading.Thread(target=execute_run, args=(store, run_id))
    worker.start()
    again = wait_for_queue(book)
    assert again.round == 1 and book.pending() == list(queue.ids[2:])  # only the unanswered half is asked
    answer(book, again, truth)
    answer(book, wait_for_queue(book), truth)
    worker.join(60)
    assert store.load_status(run_id).state == "done"
    assert [r.n_labeled for r in store.load_rounds(run_id)] == [6, 10, 14]
    assert len(book.rows()) == 14


def test_labels_must_be_known_answers(tmp_path):
    store = RunStore(tmp_path)
    run_id = create_run(human(), store)
    book = LabelBook(store, run_id)
    with pytest.raises(ValueError, match="NORMAL, PNEUMONIA, skip"):
        book.add("x", "f", "maybe", "me", 0)


def test_a_three_class_run_takes_its_own_class_names_and_maps_them_to_their_indices(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.new_run_id("entropy", 0)
    store.run_dir(run_id).mkdir(parents=True)
    store.write_config(run_id, human(), {"data_summary": {"classes": ["NORMAL", "BACTERIAL", "VIRAL"]}})
    book = LabelBook(store, run_id)
    for sample_id, label in (("a", "VIRAL"), ("b", "NORMAL"), ("c", "skip"), ("d", "BACTERIAL")):
        book.add(sample_id, f"{sample_id}.png", label, "me", 0)
    with pytest.raises(ValueError, match="NORMAL, BACTERIAL, VIRAL, skip"):  # a class of another run
        book.add("e", "e.png", "PNEUMONIA", "me", 0)
    oracle = HumanOracle(book, np.array(["a", "b", "c", "d"]), np.array(["a.png", "b.png", "c.png", "d.png"]), None)
    assert oracle(np.arange(4), 0).tolist() == [2, 0, -1, 1]  # all answered: nothing waits
