"""Runs outlive the dashboard: a run launched from the Setup page lives on while its server is stopped,
and a new server's Live page follows it to its end. The run is launched in step mode, so it waits after
its first round whatever the machine's speed: the server stops while the run is certainly not done."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest

from alcore.runs import RunStore, pid_alive
from tests.e2e.conftest import (CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, TINY_RUN, require_chromium, start_dashboard,
                                stop_runs)
from tests.e2e.test_browser import WAIT_FOR_POINTS

pytestmark = pytest.mark.e2e
RUN = {**TINY_RUN, "rounds": 4}


def test_a_run_goes_on_through_a_server_restart_and_the_new_server_follows_it(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    store = RunStore(tmp_path / "results")
    first, url = start_dashboard(tmp_path)
    second = None
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/setup")
            page.get_by_role("button", name="Launch").wait_for()
            page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(
                str(tmp_path / "run.json"))
            page.wait_for_function(
                "r => [...document.querySelectorAll('input[aria-label=\"Resolution (px)\"]')].some(i => i.value === r)",
                arg=str(RUN["resolution"]))
            page.get_by_text("Pause after each round").click()  # step mode: it waits after each round
            page.get_by_role("button", name="Launch").click()
            page.wait_for_url("**/live?*run=*")
            run_id = parse_qs(urlparse(page.url).query)["run"][0]
            deadline = time.monotonic() + 600
            while store.load_status(run_id).state != "paused":
                assert store.load_status(run_id).active and time.monotonic() < deadline, store.read_log(run_id)
                time.sleep(0.1)

            worker = store.load_status(run_id).pid
            first.terminate()
            first.wait(timeout=30)
            status = store.load_status(run_id)
            assert status.state == "paused" and status.pid == worker and pid_alive(worker)
            assert len(store.load_rounds(run_id)) == 1

            second, url = start_dashboard(tmp_path)
            page.goto(f"{url}/live?run={run_id}")
            page.locator(".st-key-live_step_pause").get_by_text("Pause after each round").click()  # step mode off
            page.wait_for_function(WAIT_FOR_POINTS, arg=RUN["rounds"] + 1, timeout=600_000)
            page.wait_for_function("() => document.body.innerText.includes('State: done')", timeout=600_000)
            browser.close()
        assert store.load_status(run_id).state == "done"
        assert [r.round for r in store.load_rounds(run_id)] == list(range(RUN["rounds"] + 1))
    finally:
        stop_runs(tmp_path / "results")
        for server in (first, second):
            if server is not None and server.poll() is None:
                server.terminate()
                server.wait(timeout=30)
