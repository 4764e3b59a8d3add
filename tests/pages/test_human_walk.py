"""Issue 29, item 1, walked as a person lives it: a human run labeled, reloaded, stopped, resumed and
finished. While it may still ask for labels no page shows anything of the truth (a true class, the
agreement, the simulated twin); once done, the pages show the person's labels and the agreement is an
opt-in view. The person answers every image against its truth, so a true class shown anywhere differs
from what the person said."""
from __future__ import annotations

import re

from alcore.oracle import LabelBook
from alcore.viewmodels import image_view, setup_form
from tests.pages.conftest import dashboard_page, page_text
from tests.pages.test_label import HUMAN, queued, start_labeling

PAGES = ("dashboard.py", "pages/live.py", "pages/label.py", "pages/embeddings.py", "pages/queried.py",
         "pages/compare.py")
TRUTH_WORDS = ("Agreement with the true labels", "true NORMAL", "true PNEUMONIA", "oracle=simulated")
SHOWN_LABEL = re.compile(r"\*\*(NORMAL|PNEUMONIA)\*\*")


def answer_against_the_truth(at, store, run_id: str, book: LabelBook, count: int) -> None:
    images = image_view.run_images(store, run_id)
    for _ in range(count):
        wrong = ("PNEUMONIA", "NORMAL")[images.label(book.pending()[0])]
        at.button(key=f"label_{wrong.lower()}").click().run()
        assert not at.exception, [e.value for e in at.exception]


def queried_labels(run_id: str) -> dict[str, str]:
    """The Queried page (every batch): each thumbnail's id and the class label shown under it."""
    at = dashboard_page("pages/queried.py", run=run_id)
    at.selectbox(key="queried_round").set_value("all").run()
    shown = {}
    for column in at.get("column"):
        images, texts = column.get("image"), column.get("markdown")
        if images and texts:
            found = SHOWN_LABEL.search(texts[0].value)
            if found:
                shown[images[0].captions[0]] = found.group(1)
    return shown


def assert_no_truth_shown(store, run_id: str, twin: str, book: LabelBook, answered_queries: int) -> None:
    for page in PAGES:
        text = page_text(dashboard_page(page, run=run_id))
        assert twin not in text, page
        assert not [w for w in TRUTH_WORDS if w in text], page
    answers = {image_view.short_id(i): label for i, (label, _) in book.answers().items()}
    shown = queried_labels(run_id)
    assert len(shown) == answered_queries and all(answers[i] == label for i, label in shown.items())


def test_a_human_run_keeps_the_truth_hidden_until_it_is_done(jobs, store, tiny_config, waiter):
    human, twin_config = setup_form.with_twins([tiny_config(**HUMAN)])
    run_id, twin = jobs.launch(human), jobs.launch(twin_config)
    book = LabelBook(store, run_id)
    waiter(queued(book, 0))
    at = dashboard_page("pages/label.py", run=run_id)
    start_labeling(at)
    answer_against_the_truth(at, store, run_id, book, 6)
    assert jobs.wait(twin, timeout=120).state == "done"
    waiter(queued(book, 1))
    assert_no_truth_shown(store, run_id, twin, book, 0)  # labeled once, every page reloaded; the queries wait

    at = dashboard_page("pages/label.py", run=run_id)
    answer_against_the_truth(at, store, run_id, book, 2)
    jobs.cancel(run_id)  # Stop
    assert jobs.wait(run_id, timeout=60).state == "cancelled"
    assert_no_truth_shown(store, run_id, twin, book, 2)  # stopped: it can be resumed, so it may still ask

    at = dashboard_page("pages/label.py", run=run_id)
    assert any("paused because it was stopped" in w.value for w in at.warning)
    at.button(key="label_resume").click().run()
    answer_against_the_truth(at, store, run_id, book, 2)
    waiter(queued(book, 2))
    at.run()
    answer_against_the_truth(at, store, run_id, book, 4)
    assert jobs.wait(run_id, timeout=120).state == "done", store.read_log(run_id)

    answers = {image_view.short_id(i): label for i, (label, _) in book.answers().items()}
    shown = queried_labels(run_id)
    assert len(shown) == 8 and all(answers[i] == label for i, label in shown.items())  # the person's labels
    at = dashboard_page("pages/label.py", run=run_id)
    assert not at.metric  # the agreement is opt-in
    at.toggle(key="label_show_truth").set_value(True).run()
    assert at.metric[0].value == "0%"  # every answer was against the truth
    assert twin in page_text(dashboard_page("dashboard.py"))
