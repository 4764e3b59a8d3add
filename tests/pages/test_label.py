"""Label: a human run's batches answered with the buttons, resume after a restart, unlabeled folders, twins."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

import alcore.jobs
from alcore.viewmodels import label_view
from alcore.config import ExperimentConfig
from alcore.oracle import LabelBook
from alcore.runs import RunState, pid_alive

HUMAN = dict(oracle="human", init_size=6, budget=4, batch_size=8)  # with TINY: 6 + 4 x 2 rounds


def progress_text(at) -> str:
    return at.main.get("progress")[0].proto.text


def click(at, *labels: str) -> None:
    for label in labels:
        at.button(key=f"label_{label.lower()}").click().run()
        assert not at.exception, [e.value for e in at.exception]


def queued(book: LabelBook, round_index: int):
    """A condition: the run waits for labels of this round."""
    return lambda: (queue := book.queue()) is not None and queue.round == round_index and book.pending()


def start_labeling(at, name: str = "Dr. Lee") -> None:
    """The name step before the first answer."""
    at.text_input(key="label_who").set_value(name)
    at.button(key="label_start").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_batch_answered_with_the_buttons_lands_in_labels_csv_and_the_next_round_starts(
        open_page, jobs, tiny_config, waiter, tmp_path):
    run_id = jobs.launch(tiny_config(**HUMAN))
    book = LabelBook(jobs.store, run_id)
    waiter(queued(book, 0))
    queue = book.queue()
    at = open_page("pages/label.py", run=run_id)
    assert progress_text(at) == "Initial set · image 1 of 6"
    start_labeling(at)
    at.toggle(key="label_show_prediction").set_value(True).run()
    assert any("No model yet" in m.value for m in at.markdown)
    at.slider(key="label_zoom").set_value(2.0).run()
    assert at.slider(key="label_x").value == at.slider(key="label_y").value == 0.5  # where to look, once zoomed
    clicks = ["NORMAL", "PNEUMONIA", "skip", "PNEUMONIA", "NORMAL", "PNEUMONIA"]
    click(at, *clicks)

    rows = book.rows()  # the worker may have moved on already: the queue was read before
    assert [r["sample_id"] for r in rows] == list(queue.ids) and [r["label"] for r in rows] == clicks
    assert {(r["who"], r["round"]) for r in rows} == {("Dr. Lee", "0")}
    assert rows[0]["file"] == queue.files[0]
    waiter(queued(book, 1))
    at.run()
    assert progress_text(at) == "Picked by the model trained on 5 labels · image 1 of 4"
    assert jobs.store.load_rounds(run_id)[0].n_labeled == 5  # the skipped image is not labeled
    assert any("p(PNEUMONIA) = **" in m.value for m in at.markdown)
    assert not at.metric and not at.dataframe  # no agreement with the truth while the run may ask (issue 29)

    at.text_input(key="label_dest").set_value(str(tmp_path / "export")).run()
    at.button(key="label_export").click().run()
    assert "Wrote 2 NORMAL and 3 PNEUMONIA images" in at.success[0].value
    assert len(list((tmp_path / "export" / "PNEUMONIA").glob("*.png"))) == 3
    at.button(key="label_export").click().run()
    assert "already exists and is not empty" in at.error[0].value


def test_after_a_restart_only_the_unanswered_images_are_asked_and_resume_goes_on(
        open_page, jobs, tiny_config, waiter, monkeypatch):
    store = jobs.store
    run_id = jobs.launch(tiny_config(**HUMAN))
    book = LabelBook(store, run_id)
    waiter(queued(book, 0))
    at = open_page("pages/label.py", run=run_id)
    start_labeling(at)
    click(at, *["NORMAL", "PNEUMONIA"] * 3)
    waiter(queued(book, 1))
    at.run()
    queue = book.queue()
    click(at, "NORMAL", "PNEUMONIA")  # half of round 1's batch, then the app dies:
    jobs.cancel(run_id)
    jobs.wait(run_id, timeout=60)
    status = store.load_status(run_id)
    waiter(lambda: not pid_alive(status.pid))  # the worker process is gone
    status.state = RunState.WAITING_FOR_LABELS  # what a killed process leaves in status.json
    store.write_status(run_id, status)
    monkeypatch.setattr(alcore.jobs, "_MANAGERS", {})  # a new process: its job manager marks the run interrupted

    at = open_page("pages/label.py", run=run_id)
    assert store.load_status(run_id).state == "interrupted"
    assert book.pending() == list(queue.ids[2:])
    assert progress_text(at) == "Picked by the model trained on 6 labels · image 3 of 4"
    at.button(key="label_resume").click().run()
    fresh = alcore.jobs.manager_for(store.root)
    assert fresh.store.load_status(run_id).active
    click(at, "NORMAL", "PNEUMONIA")
    waiter(queued(book, 2))
    at.run()
    click(at, *["NORMAL", "PNEUMONIA"] * 2)
    assert fresh.wait(run_id, timeout=120).state == "done", store.read_log(run_id)
    assert [r.n_labeled for r in store.load_rounds(run_id)] == [6, 10, 14]
    assert len(book.rows()) == 14  # nothing asked twice
    at.run()
    assert "The run is finished: 14 images labeled." in at.success[0].value


def test_a_folder_without_class_folders_is_accepted_for_the_human_oracle_only(open_page, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(np.full((24, 24), 30 * i, np.uint8)).save(folder / f"scan-{i}.png")
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    at.text_input(key="setup_path").set_value(str(folder))
    for key, value in {"setup_init_size": "4", "setup_budget": "1", "setup_rounds": "2"}.items():
        at.text_input(key=key).set_value(value)
    at.run()
    at.button(key="setup_check").click().run()
    assert any("no class folders" in e.value.lower() for e in at.error)
    at.radio(key="setup_oracle").set_value("human").run()
    at.button(key="setup_check").click().run()
    assert not at.error and "8 images in the train pool." in at.success[0].value
    assert at.checkbox(key="setup_twin").disabled  # no truth to answer a twin
    assert any("Launching starts 1 run." in c.value for c in at.caption)


def test_launching_a_human_run_opens_the_label_page_with_a_simulated_twin_to_compare(
        open_page, jobs, store, tiny_config, waiter):
    at = open_page("pages/setup.py")
    upload = json.dumps(tiny_config(**HUMAN).to_dict()).encode()
    at.file_uploader(key="setup_upload").set_value(("human.json", upload, "application/json")).run()
    assert at.radio(key="setup_oracle").value == "human" and at.checkbox(key="setup_twin").value
    at.button(key="setup_launch").click().run()
    assert not at.exception and at.title[0].value == "Label X-rays"
    run_id = at.query_params["run"]
    assert label_view.simulated_twin(store, run_id) is None  # not while the human run may ask (issue 29)
    twin = next(r for r in store.run_ids() if r != run_id)
    configs = [ExperimentConfig.from_json(store.run_dir(r) / "config.json") for r in (run_id, twin)]
    assert [c.oracle for c in configs] == ["human", "simulated"] and configs[0].experiment == configs[1].experiment
    assert jobs.wait(twin, timeout=120).state == "done", store.read_log(twin)

    book = LabelBook(store, run_id)
    waiter(queued(book, 0))
    at.switch_page("pages/label.py").run()
    start_labeling(at)
    click(at, *["NORMAL", "PNEUMONIA"] * 3)
    waiter(lambda: store.load_rounds(run_id))
    at.run()
    assert not at.get("plotly_chart")  # the twin's curve waits for the human run to end (issue 29)


def test_a_simulated_run_has_nothing_to_label(open_page, make_run):
    at = open_page("pages/label.py", run=make_run())
    assert "simulated oracle" in at.info[0].value and not at.button


def test_zoom_crops_around_the_centre_and_the_window_stretches_the_grey_values():
    image = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert np.array_equal(label_view.adjust_image(image), image)  # the defaults change nothing
    assert np.array_equal(label_view.adjust_image(image, zoom=2), image[2:7, 2:7])
    assert np.array_equal(label_view.adjust_image(image, zoom=2, centre=(0, 1)), image[5:, :5])
    windowed = label_view.adjust_image(image, level=50, width=21)  # 40..60 -> 0..255
    assert windowed[0, 0] == 0 and windowed[5, 0] == 128 and windowed[9, 9] == 255


def test_an_original_file_is_shown_in_grayscale_and_at_most_1024_px(tmp_path, monkeypatch):
    Image.new("RGB", (2048, 1024), (200, 10, 10)).save(tmp_path / "wide.png")
    deep = (np.arange(300 * 400) * 7 % 65536).astype(np.uint16).reshape(300, 400)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    for name, shape in (("wide.png", (512, 1024)), ("deep.png", (300, 400))):
        monkeypatch.setattr(label_view, "original_file", lambda store, run_id, sample_id: tmp_path / name)
        image = label_view.label_image(None, "a-run", "an-image")
        assert image.shape == shape and image.dtype == np.uint8
    assert image.min() == 0 and image.max() == 255  # 16 bits: their own range spread over 0..255


def test_resume_after_stop_asks_only_for_the_images_not_labeled_yet(open_page, jobs, tiny_config, waiter):
    """Issue 14, defect 1: a resumed human run queued its initial images again (image 7 of 10)."""
    run_id = jobs.launch(tiny_config(**HUMAN))
    book = LabelBook(jobs.store, run_id)
    waiter(queued(book, 0))
    for k, (sample_id, file) in enumerate(zip(book.queue().ids, book.queue().files)):
        book.add(sample_id, file, ("NORMAL", "PNEUMONIA")[k % 2], "Dr. Lee", 0)
    waiter(queued(book, 1))
    at = open_page("pages/live.py", run=run_id)
    at.button(key="live_stop").click().run()
    assert jobs.wait(run_id, timeout=120).state == "cancelled"
    at.run()
    at.button(key="live_resume").click().run()
    waiter(lambda: jobs.store.load_status(run_id).state == "waiting_for_labels")
    assert len(book.queue().ids) == 4 and book.pending() == list(book.queue().ids)
    at.switch_page("pages/label.py").run()
    assert progress_text(at) == "Picked by the model trained on 6 labels · image 1 of 4"
    assert any("waiting for 4 labels" in line for line in jobs.store.read_log(run_id))


def test_the_labelers_name_survives_a_reload(open_page, jobs, tiny_config, waiter):
    """Issue 14, defect 2: after a reload "Your name" came back empty and answers were saved as anonymous."""
    run_id = jobs.launch(tiny_config(**HUMAN))
    book = LabelBook(jobs.store, run_id)
    waiter(queued(book, 0))
    queue = book.queue()
    book.add(queue.ids[0], queue.files[0], "NORMAL", "Dr. Test", 0)  # answered before the reload
    at = open_page("pages/label.py", run=run_id)  # the reload: a new session
    click(at, "PNEUMONIA")
    assert [r["who"] for r in book.rows()] == ["Dr. Test", "Dr. Test"]
    assert any("Labeling as **Dr. Test**" in c.value for c in at.caption)


def test_answers_wait_for_a_name_or_say_they_are_anonymous(open_page, jobs, tiny_config, waiter):
    """Issue 14, defect 2: answers were saved as who=anonymous without a word."""
    run_id = jobs.launch(tiny_config(**HUMAN))
    book = LabelBook(jobs.store, run_id)
    waiter(queued(book, 0))
    at = open_page("pages/label.py", run=run_id)
    assert "label_normal" not in [b.key for b in at.button]  # a name first
    start_labeling(at, "")
    assert any("Labeling as **anonymous**" in c.value for c in at.caption)
    click(at, "NORMAL")
    assert [r["who"] for r in book.rows()] == ["anonymous"]
