"""Issue 29, item 1: a human run's views show nothing of the truth while it may still ask for labels
(agreement, true classes, its simulated twin); once done, they show the person's labels, and the
agreement with the truth is a separate view. On runs written by hand."""
from __future__ import annotations

from alcore.oracle import LabelBook
from alcore.runs import RunStatus
from alcore.viewmodels import label_view, round_view, run_list

# the hand-written runs' truth: every fourth image NORMAL, the others PNEUMONIA (tests/pages/conftest.py)
TRUTH = {f"fake-train-{i:03d}": "NORMAL" if i % 4 == 0 else "PNEUMONIA" for i in range(60)}


def human_run_with_twin(make_run, store, state: str) -> tuple[str, str]:
    human = make_run(experiment="human-vs-twin", oracle="human", state=state)
    twin = make_run(experiment="human-vs-twin")
    book = LabelBook(store, human)
    for sample_id in round_view.round_frame(store, human, store.load_rounds(human)[1]).query("status == 'labeled'").id:
        wrong = "PNEUMONIA" if TRUTH[sample_id] == "NORMAL" else "NORMAL"  # the person disagrees with the truth
        book.add(sample_id, "", wrong, "Dr. Lee", 0)
    return human, twin


def given(frame) -> dict[str, str]:
    return dict(zip(frame.id, frame.label))


def test_while_a_human_run_may_ask_for_labels_no_view_shows_the_truth(make_run, store):
    for state in ("waiting_for_labels", "cancelled", "interrupted", "failed"):  # the last three can be resumed
        human, twin = human_run_with_twin(make_run, store, state)
        answers = LabelBook(store, human).answers()
        assert round_view.asks_for_labels(store, human)
        person = {i: label for i, (label, _) in answers.items()}
        for record in store.load_rounds(human):  # the person's labels, 'hidden' where none was given: never the truth
            assert given(round_view.round_frame(store, human, record)) == {i: person.get(i, round_view.HIDDEN)
                                                                          for i in TRUTH}
        queried = round_view.queried_frame(store, human, store.load_rounds(human))
        assert given(queried) == {i: person.get(i, round_view.HIDDEN) for i in queried.id}
        assert label_view.label_agreement(store, human, answers) is None
        assert label_view.simulated_twin(store, human) is None
        assert twin not in set(run_list.runs_table(store).run_id)
        assert twin not in run_list.experiments(store).get("human-vs-twin", [])
        store.write_status(human, RunStatus("done", round=2, rounds_total=3, n_labeled=30))  # for the next state


def test_a_finished_human_run_shows_the_persons_labels_and_the_truth_only_in_the_agreement(make_run, store):
    human, twin = human_run_with_twin(make_run, store, "done")
    frame = round_view.round_frame(store, human, store.load_rounds(human)[1])
    labeled = given(frame[frame.status == "labeled"])
    assert len(labeled) == 20 and all(label != TRUTH[i] for i, label in labeled.items())
    agreement = label_view.label_agreement(store, human, LabelBook(store, human).answers())
    assert (agreement.n, agreement.agreeing) == (20, 0)
    assert label_view.simulated_twin(store, human) == twin
    assert twin in set(run_list.runs_table(store).run_id)
