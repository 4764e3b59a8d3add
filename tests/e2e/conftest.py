"""Fixtures of the browser tests: `streamlit run dashboard.py` on a free port, Debian's Chromium via Playwright.

Results and caches go to a temp folder. With ALCORE_SCREENSHOTS=<dir> the tests save screenshots there.
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
from types import SimpleNamespace

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
# ALCORE_E2E_CONFIG=<file.json> runs something bigger than TINY_RUN (for the docs' screenshots)
RUN_CONFIG = json.loads(Path(os.environ["ALCORE_E2E_CONFIG"]).read_text()) if os.environ.get("ALCORE_E2E_CONFIG") \
    else TINY_RUN
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(work: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run dashboard.py` on a free port, results and caches under `work`; (server, url)."""
    port = free_port()
    env = {**os.environ, "ALCORE_RESULTS": str(work / "results"), "ALCORE_CACHE": str(work / "cache")}
    log = work / f"server-{port}.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    pytest.fail("the dashboard did not start:\n" + log.read_text()[-3000:])


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the browser test (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    require_chromium()
    work = tmp_path_factory.mktemp("e2e")
    server, url = start_dashboard(work)
    (work / "run.json").write_text(json.dumps(RUN_CONFIG))
    yield SimpleNamespace(url=url, work=work, config=RUN_CONFIG, screenshots=bool(SCREENSHOTS))
    stop_runs(work / "results")
    server.terminate()
    server.wait(timeout=20)


def stop_runs(results: Path, timeout: float = 60) -> None:
    """Ask every run under `results` to stop and wait for its worker: workers outlive the server by
    design, and a run waiting for a person's labels would otherwise wait after the tests forever."""
    from alcore.runs import RunStore

    store = RunStore(results)
    run_ids = [p.name for p in results.iterdir() if (p / "status.json").is_file()] if results.is_dir() else []
    for run_id in run_ids:
        store.request_cancel(run_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(store.load_status(run_id).active for run_id in run_ids):
        time.sleep(0.5)


@pytest.fixture(scope="module")
def page(dashboard):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1440, "height": 1000})
        tab.set_default_timeout(TIMEOUT_MS)
        yield tab
        browser.close()


@pytest.fixture(scope="module")
def network(page, dashboard):
    """What the browser asked of other hosts (nothing may leave the machine) and the media files (images)
    the server no longer had, recorded over every test of the module. (Streamlit's own probes of
    <page>/_stcore/health answer 404 before it finds the root: not ours.)"""
    seen = SimpleNamespace(external=[], media_not_found=[])
    page.on("request", lambda r: None if r.url.startswith((dashboard.url, "data:", "blob:", "about:"))
            else seen.external.append(r.url))
    page.on("response", lambda r: seen.media_not_found.append(r.url) if r.status == 404 and "/media/" in r.url
            else None)
    return seen


SCRIPT_IDLE = "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'"


def wait_for_script_idle(page) -> None:
    """Until the page's script run has ended (Streamlit marks its state on the app's root element): what a
    run was going to do - draw, switch pages - it has done."""
    page.wait_for_function(SCRIPT_IDLE)


@pytest.fixture
def shoot():
    """shoot(page, name): a screenshot into $ALCORE_SCREENSHOTS, when it is set."""
    return _shoot


def _shoot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(1500)  # let plotly finish its transitions
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)
