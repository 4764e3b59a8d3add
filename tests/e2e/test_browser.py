"""The real-browser test: Debian's Chromium, driven by Playwright, against `streamlit run dashboard.py`.

Launch a tiny run from the Setup page, see curve points and a queried thumbnail appear on the Live
page without touching it, then open Embeddings and see the scatter. With ALCORE_SCREENSHOTS=<dir>
it also saves a screenshot of every page there (that is how docs/ gets its pictures).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--use-gl=angle",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
TINY_RUN = {"data": "synthetic", "synthetic_size": 300, "model": "tiny_cnn", "regime": "finetune",
            "resolution": 48, "sampler": "entropy", "init_size": 30, "budget": 20, "rounds": 3, "epochs": 1,
            "batch_size": 32, "seed": 0}
SCREENSHOTS = os.environ.get("ALCORE_SCREENSHOTS")
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the browser test (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    work = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {**os.environ, "ALCORE_RESULTS": str(work / "results"), "ALCORE_CACHE": str(work / "cache")}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("the dashboard did not start:\n" + (work / "server.log").read_text()[-3000:])
    (work / "tiny.json").write_text(json.dumps(TINY_RUN))
    yield url, work
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def page(dashboard):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1440, "height": 1000})
        tab.set_default_timeout(TIMEOUT_MS)
        yield tab
        browser.close()


def _shoot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(1500)  # let plotly finish its transitions
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)


def _curve_points(page) -> int:
    """Markers of the first learning-curve trace on the Live page."""
    return page.locator(".st-key-live_curves .scatterlayer .trace").first.locator("path.point").count()


def test_launch_watch_live_and_explore(dashboard, page):
    url, work = dashboard
    page.goto(f"{url}/setup")
    page.get_by_role("button", name="Launch").wait_for()
    _shoot(page, "setup")

    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(work / "tiny.json"))
    page.get_by_text("tiny_cnn").first.wait_for()  # the loaded config reached the form
    page.get_by_role("button", name="Launch").click()

    page.wait_for_url("**/live?*run=*")
    page.wait_for_function(
        "() => { const t = document.querySelector('.st-key-live_curves .scatterlayer .trace');"
        " return t && t.querySelectorAll('path.point').length >= 2; }", timeout=TIMEOUT_MS)
    assert _curve_points(page) >= 2
    page.locator(".st-key-live_queried img").first.wait_for(state="visible")
    _shoot(page, "live")

    page.get_by_role("link", name="Embeddings").click()
    page.wait_for_url("**/embeddings**")
    scatter = page.locator("[class*='st-key-emb_chart'] .js-plotly-plot")
    scatter.wait_for(state="visible")
    assert scatter.locator("canvas, .scatterlayer").count() > 0
    _shoot(page, "embeddings")

    for link, name in (("Queried samples", "queried"), ("Compare", "compare"), ("Home", "home")):
        page.get_by_role("link", name=link).click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(2000)
        _shoot(page, name)
