"""The browser test of human labeling: launch a human run from Setup, answer its first batch on the
Label page with the buttons and with the keyboard (N / P; 1..3 for a three-class run), and see the next
round's batch arrive by itself."""
from __future__ import annotations

import csv
import json

import pytest

from tests.e2e.conftest import stop_runs

pytestmark = pytest.mark.e2e

HUMAN = {"oracle": "human", "init_size": 6, "budget": 4, "rounds": 2, "batch_size": 8}  # on the fixture's run config


def test_label_a_batch_in_the_browser_and_see_the_next_round_arrive(dashboard, page, shoot):
    url, work = dashboard.url, dashboard.work
    (work / "human.json").write_text(json.dumps({**dashboard.config, **HUMAN}))
    page.goto(f"{url}/setup")
    page.get_by_role("button", name="Launch").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(work / "human.json"))
    page.get_by_text("Also run a simulated twin with the true labels").wait_for()  # the human oracle reached the form
    page.get_by_role("button", name="Launch").click()

    page.wait_for_url("**/label?*run=*")
    run_id = page.url.split("run=")[1].split("&")[0]
    name = page.get_by_role("textbox", name="Your name")
    name.fill("Dr. Lee")
    name.press("Enter")  # starts labeling: the N key now answers (it typed into the name field: issue 14, defect 2)
    page.get_by_text("Labeling as Dr. Lee").wait_for()
    for number, answer in enumerate(["NORMAL", "PNEUMONIA", "skip", "NORMAL", "PNEUMONIA", "NORMAL"], start=1):
        page.get_by_text(f"Initial set · image {number} of 6").wait_for()
        if number == 3:  # a reload keeps the name
            page.reload()
            page.get_by_text("Labeling as Dr. Lee").wait_for()
        if number in (2, 3):
            page.locator(f".st-key-label_{answer.lower()} button").click()
        else:  # the keyboard shortcuts; the first right after the name's Enter
            if number > 1:
                page.locator("h1").first.click()
            page.keyboard.press(answer[0].lower())

    page.get_by_text("Picked by the model trained on 5 labels · image 1 of 4").wait_for()  # trained by itself
    page.get_by_text("Show model prediction").click()
    page.get_by_text("p(PNEUMONIA) =").wait_for()
    shoot(page, "label")
    rows = list(csv.DictReader(open(work / "results" / run_id / "labels.csv")))
    assert [r["label"] for r in rows] == ["NORMAL", "PNEUMONIA", "skip", "NORMAL", "PNEUMONIA", "NORMAL"]
    assert {r["who"] for r in rows} == {"Dr. Lee"}


THREE = ("NORMAL", "BACTERIAL", "VIRAL")


def test_label_three_classes_with_a_button_and_a_digit_key_each(dashboard, page, shoot):
    """Issue 26: a three-class synthetic run (NORMAL / BACTERIAL / VIRAL) has a button per class, keys 1..3
    and S, and its answers train the next round."""
    url, work = dashboard.url, dashboard.work
    stop_runs(work / "results")  # the two-class test's run would keep a worker slot waiting for labels
    (work / "three.json").write_text(json.dumps({**dashboard.config, **HUMAN, "synthetic_classes": 3}))
    page.goto(f"{url}/setup")
    page.get_by_role("button", name="Launch").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(work / "three.json"))
    page.get_by_text("Also run a simulated twin with the true labels").wait_for()
    page.get_by_role("button", name="Launch").click()

    page.wait_for_url("**/label?*run=*")
    run_id = page.url.split("run=")[1].split("&")[0]
    name = page.get_by_role("textbox", name="Your name")
    name.fill("Dr. Lee")
    name.press("Enter")
    page.get_by_text("Labeling as Dr. Lee").wait_for()
    for name in (*THREE, "skip"):
        page.locator(f".st-key-label_{name.lower()} button").wait_for()
    answers = ["BACTERIAL", "VIRAL", "NORMAL", "skip", "VIRAL", "NORMAL"]
    for number, answer in enumerate(answers, start=1):
        page.get_by_text(f"Initial set · image {number} of 6").wait_for()
        if number in (2, 5):
            page.locator(f".st-key-label_{answer.lower()} button").click()
        else:  # the keys: 1..3 for the classes in label order, S to skip
            if number > 1:
                page.locator("h1").first.click()
            page.keyboard.press("s" if answer == "skip" else str(THREE.index(answer) + 1))

    page.get_by_text("Picked by the model trained on 5 labels · image 1 of 4").wait_for()  # trained by itself
    page.get_by_text("Show model prediction").click()
    for name in THREE:
        page.get_by_text(f"p({name}) =").first.wait_for()
    shoot(page, "label_three_classes")
    rows = list(csv.DictReader(open(work / "results" / run_id / "labels.csv")))
    assert [r["label"] for r in rows] == answers
