"""A fresh server whose first request is a page's URL shows that page whole: its sidebar (every page of the
navigation, the current run) around it. In Streamlit's pages-directory mode that request runs the page's
file alone, without dashboard.py: the page draws its frame itself (ui.sidebar.page_frame)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from alcore.runs import RunStore
from tests.e2e.conftest import wait_for_script_idle
from tests.pages.conftest import write_run
from ui.navigation import NAVIGATION

pytestmark = pytest.mark.e2e


def test_a_fresh_servers_first_request_to_a_page_shows_it_with_the_sidebar(dashboard, page, monkeypatch, shoot):
    # this module's server has served nothing yet (the `dashboard` fixture is per module)
    monkeypatch.setenv("ALCORE_CACHE", str(dashboard.work / "cache"))  # the server's cache: the run's images
    run_id = write_run(RunStore(dashboard.work / "results"))
    page.goto(f"{dashboard.url}/live?run={run_id}")

    page.get_by_role("heading", name="Live run").wait_for()
    page.locator(".st-key-live_curves .js-plotly-plot").wait_for()
    sidebar = page.get_by_test_id("stSidebar")
    for entry in NAVIGATION:
        sidebar.get_by_role("link", name=entry.label, exact=True).wait_for()
    expect(sidebar.get_by_role("combobox", name="Current run")).to_have_value(run_id)  # the URL's run
    wait_for_script_idle(page)
    assert page.get_by_test_id("stException").count() == 0
    assert sidebar.get_by_test_id("stSidebarNav").count() == 0  # Streamlit's own file-named list stays hidden
    shoot(page, "first_request_live")

    sidebar.get_by_role("link", name="Queried samples", exact=True).click()  # the next page keeps the run
    page.wait_for_url("**/queried**")
    page.get_by_role("heading", name="Queried samples").wait_for()
    page.get_by_role("button", name="Enlarge").first.wait_for()
    expect(sidebar.get_by_role("combobox", name="Current run")).to_have_value(run_id)
