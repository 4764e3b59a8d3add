"""Live run: progress, curves, confusion matrix, queried thumbnails, log, stop / resume."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def test_live_page_of_a_finished_run_shows_curves_matrix_thumbnails_and_log(open_page, make_run, captions):
    run_id = make_run()
    at = open_page("pages/live.py", run=run_id)
    assert at.title[0].value == "Live run"
    assert [c.key for c in at.get("plotly_chart")] == ["live_curves", "live_confusion", "live_stability", "live_roc",
                                                       "live_pr", "live_reliability", "live_round_confusion"]
    assert at.main.get("progress")[0].proto.text.startswith("30 labels used · 2 of 2 rounds done")
    shown = captions(at)
    assert len(shown) == 10 and all(c.startswith("fake-train-") for c in shown)
    assert "fake run" in at.text[0].value
    assert not at.button  # nothing to stop or resume


def test_a_stopped_run_can_be_resumed_and_a_failed_one_shows_its_error(open_page, make_run):
    stopped = make_run(state="cancelled")
    assert open_page("pages/live.py", run=stopped).button(key="live_resume").label == "Resume"
    failed = make_run(state="failed", error="DataError: no images in /nowhere")
    at = open_page("pages/live.py", run=failed)
    assert any("no images in /nowhere" in e.value for e in at.error)


def test_without_runs_the_page_points_to_home(open_page):
    at = open_page("pages/live.py")
    assert "No run yet" in at.info[0].value


def test_an_unknown_run_in_the_url_is_reported(open_page, make_run):
    make_run()
    at = open_page("dashboard.py", run="no-such-run")
    assert any("no-such-run" in w.value for w in at.sidebar.warning)


def paused_after_its_first_round(jobs, waiter, run_id: str) -> None:
    """Wait until a run launched in step mode waits after its first round: live, with a round, until stopped
    (no assumption on how long a run takes)."""
    waiter(lambda: jobs.store.load_status(run_id).state not in ("queued", "running"))
    assert jobs.store.load_status(run_id).state == "paused", jobs.store.read_log(run_id)


def test_a_running_job_shows_its_rounds_on_rerun_and_can_be_stopped(open_page, jobs, tiny_config, waiter):
    run_id = jobs.launch(tiny_config(), pause=True)
    at = open_page("pages/live.py", run=run_id)
    assert at.button(key="live_stop").label == "Stop"
    paused_after_its_first_round(jobs, waiter, run_id)
    at.run()
    assert at.get("plotly_chart")[0].key == "live_curves"
    at.button(key="live_stop").click().run()
    assert jobs.wait(run_id, timeout=120).state == "cancelled"
    at.run()
    assert at.button(key="live_resume").label == "Resume"
    assert jobs.store.load_rounds(run_id)  # the finished rounds are kept


def test_a_refresh_reads_only_the_run_files_that_changed(open_page, make_run, store, monkeypatch):
    import builtins
    import io

    run_id = make_run(state="running")
    at = open_page("pages/live.py", run=run_id)
    folder = store.run_dir(run_id).resolve()
    opened: list[str] = []
    real_open = io.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes)) or hasattr(file, "__fspath__"):
            path = Path(file).resolve()
            if folder in path.parents:
                opened.append(path.relative_to(folder).as_posix())
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    at.run()  # a refresh with nothing new
    assert not at.exception and opened == []

    status = store.load_status(run_id)
    status.message = "training round 3"
    store.write_status(run_id, status)
    at.run()
    assert sorted(set(opened)) == ["status.json"]


ROUND_INDEX = re.compile(r"\b[Rr]ound \d")  # a round named by its index instead of its labels


def test_rounds_are_named_by_their_labels_on_every_page_and_in_the_log(open_page, jobs, tiny_config, waiter, texts):
    """Issue 14, defect 5: "Round 4 of 11 finished" beside "round 3", "Queried in round 9", "stopped after round 0"."""
    cfg = tiny_config()
    run_id = jobs.launch(cfg, pause=True)
    paused_after_its_first_round(jobs, waiter, run_id)
    jobs.cancel(run_id)
    assert jobs.wait(run_id, timeout=120).state == "cancelled"
    records = jobs.store.load_rounds(run_id)
    labels = records[-1].n_labeled
    at = open_page("pages/live.py", run=run_id)
    assert at.main.get("progress")[0].proto.text.startswith(
        f"{labels} labels used · {len(records) - 1} of {cfg.rounds} rounds done")
    assert f"stopped at {labels} labels" in texts(at)
    for page in ("pages/live.py", "pages/queried.py", "pages/embeddings.py"):
        at.switch_page(page).run()
        assert not at.exception and not ROUND_INDEX.findall(texts(at)), (page, ROUND_INDEX.findall(texts(at)))
    log = "\n".join(jobs.store.read_log(run_id))
    assert not ROUND_INDEX.findall(log) and f"at {records[0].n_labeled} labels: threshold" in log, log


def test_a_run_waiting_for_a_person_shows_no_eta_and_feature_extraction_is_logged(
        open_page, jobs, tiny_config, waiter):
    """Issue 14, defect 6: "about 6 s left" while a run waited for labels; a silent log during feature extraction."""
    from alcore.oracle import LabelBook

    run_id = jobs.launch(tiny_config(oracle="human", regime="frozen", init_size=6, budget=4, batch_size=8))
    book = LabelBook(jobs.store, run_id)
    waiter(lambda: (queue := book.queue()) is not None and queue.round == 0)  # read once: the run rewrites it
    for k, (sample_id, file) in enumerate(zip(book.queue().ids, book.queue().files)):
        book.add(sample_id, file, ("NORMAL", "PNEUMONIA")[k % 2], "Dr. Lee", 0)
    waiter(lambda: (queue := book.queue()) is not None and queue.round == 1
           and jobs.store.load_status(run_id).state == "waiting_for_labels")
    at = open_page("pages/live.py", run=run_id)
    text = at.main.get("progress")[0].proto.text
    assert "waiting for your labels" in text and "left" not in text, text
    log = jobs.store.read_log(run_id)
    first_round = next(i for i, line in enumerate(log) if "labels: threshold" in line)
    assert any("extracting the features of the train images" in line for line in log[:first_round]), log


def test_an_unknown_run_in_the_url_stays_there_and_no_other_run_is_shown(open_page, make_run):
    """Issue 14, defect 9: an unknown ?run= warned, then showed the newest run and rewrote the URL."""
    make_run()
    at = open_page("pages/live.py", run="no-such-run")
    assert at.query_params["run"] == "no-such-run"
    assert any("no-such-run" in w.value for w in at.main.warning)
    assert not at.get("plotly_chart") and at.sidebar.selectbox(key="run").value is None


def test_live_diagnostics_follow_the_round_slider_and_say_whether_labeling_can_stop(open_page, make_run):
    run_id = make_run()
    at = open_page("pages/live.py", run=run_id)
    metrics = {m.label: m.value for m in at.metric}
    assert {"Sensitivity", "Specificity", "Precision", "ROC-AUC", "Brier score", "ECE"} <= set(metrics)
    assert any("The model trained on 30 labels: 20 test images" in c.value for c in at.caption)
    assert any("Still changing" in m.value for m in at.markdown)  # fake kappas 0.95, 1.0: window 3 not reached
    at.select_slider(key=f"live_diag_round_{run_id}").set_value(0).run()
    assert any("The model trained on 10 labels:" in c.value for c in at.caption)
    assert [b.proto.label for b in at.get("download_button")].count("PNG") == 4


def test_a_run_without_test_probabilities_says_it_has_no_curves(open_page, make_run, store):
    run_id = make_run()
    for r in range(3):  # as runs recorded before test probabilities were kept
        path = store.round_path(run_id, r)
        arrays = dict(np.load(path))
        del arrays["test_prob"], arrays["test_label"]
        np.savez(path, **arrays)
    at = open_page("pages/live.py", run=run_id)
    assert any("no test-set probabilities" in i.value for i in at.info)


def test_feature_extraction_shows_in_a_bar_of_its_own(open_page, make_run, store):
    """Issue 29, item 11: ~110 s of feature extraction while the bar stayed at 0 and small text counted batches."""
    from alcore.runs import RunStatus

    run_id = make_run(state="running", rounds=1)
    resolved = {**store.load_resolved(run_id), "split_sizes": {"train": 5000, "val": 100, "test": 900}}
    store.write_config(run_id, store.load_config(run_id), resolved)
    store.write_status(run_id, RunStatus("running", round=-1, rounds_total=11, phase="features train",
                                         phase_done=50, phase_total=100))
    at = open_page("pages/live.py", run=run_id)
    bars = [bar.proto for bar in at.main.get("progress")]
    assert len(bars) == 2 and bars[1].text.endswith("2,500 of 6,000 images") and "features" in bars[1].text
    assert bars[1].value == int(100 * 2500 / 6000)
