"""The browser test of human labeling: launch a human run from Setup, answer its first batch on the
Label page with the buttons and with the keyboard (N / P), and see the next round's batch arrive by itself."""
from __future__ import annotations

import csv
import json

import pytest

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
