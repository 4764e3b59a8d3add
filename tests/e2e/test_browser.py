"""The real-browser test: launch a tiny run from the Setup page, see curve points and a queried
thumbnail appear on the Live page without touching it, then open Embeddings and see the scatter; the
one-click demo race in step mode; Compare overlaying runs."""
from __future__ import annotations

import re

import pytest

from alcore.config import DEMO_CONFIG
from tests.e2e.conftest import wait_for_script_idle

pytestmark = pytest.mark.e2e


SLOW_MS = 900_000  # the real demo: four strategies on the synthetic set, on whatever machine runs the test

CURVES_WITH_POINTS = ("([k, n]) => [...document.querySelectorAll('.st-key-race_curves .scatterlayer .trace')]"
                      ".filter(t => t.querySelectorAll('path.point').length >= n).length >= k")
NEXT_ENABLED = ("() => { const b = [...document.querySelectorAll('.st-key-race_next button')];"
                " return b.length > 0 && b.every(x => !x.disabled); }")
PICKS_TITLE = "() => document.querySelector('.st-key-race_picks .gtitle')?.textContent || ''"
WAIT_FOR_POINTS = ("n => { const t = document.querySelector('.st-key-live_curves .scatterlayer .trace');"
                   " return t && t.querySelectorAll('path.point').length >= n; }")


def _curve_points(page) -> int:
    """Markers of the first learning-curve trace on the Live page."""
    return page.locator(".st-key-live_curves .scatterlayer .trace").first.locator("path.point").count()


def test_launch_watch_live_and_explore(dashboard, page, shoot, network):
    url, config = dashboard.url, dashboard.config
    page.goto(f"{url}/setup")
    page.get_by_role("button", name="Launch").wait_for()
    shoot(page, "setup")

    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(dashboard.work / "run.json"))
    page.wait_for_function(  # the loaded config reached the form
        "r => [...document.querySelectorAll('input[aria-label=\"Resolution (px)\"]')].some(i => i.value === r)",
        arg=str(config["resolution"]))
    page.get_by_role("button", name="Launch").click()

    page.wait_for_url("**/live?*run=*")
    wanted = config["rounds"] + 1 if dashboard.screenshots else 2  # the docs show a finished run
    page.wait_for_function(WAIT_FOR_POINTS, arg=wanted, timeout=600_000)
    assert _curve_points(page) >= 2
    page.locator(".st-key-live_queried img").first.wait_for(state="visible")
    shoot(page, "live")
    # issue 14, defect 11: thumbnails are inline, so a refresh cannot lose them (it gave 404s)
    sources = page.locator(".st-key-live_queried img").evaluate_all("images => images.map(i => i.src)")
    assert sources and all(src.startswith("data:image/png") for src in sources)
    page.reload()
    page.locator(".st-key-live_queried img").first.wait_for(state="visible")
    see_diagnostics(page, shoot)

    page.get_by_role("link", name="Embeddings").click()
    page.wait_for_url("**/embeddings**")
    scatter = page.locator("[class*='st-key-emb_chart'] .js-plotly-plot")
    scatter.wait_for(state="visible")
    assert scatter.locator("canvas, .scatterlayer").count() > 0
    shoot(page, "embeddings")

    for link, name, drawn in (("Queried samples", "queried", page.get_by_role("button", name="Enlarge").first),
                              ("Compare", "compare", page.locator(".st-key-compare_chart .js-plotly-plot")),
                              ("Home", "home", page.locator(".st-key-home_runs canvas").first)):
        page.get_by_role("link", name=link).click()
        page.wait_for_load_state("networkidle")
        drawn.wait_for(state="visible")
        page.wait_for_timeout(2000)
        shoot(page, name)
    assert not network.external, network.external  # issue 14, defect 11: the page icon came from a font server
    assert not network.media_not_found, network.media_not_found


def test_home_has_no_deploy_button_and_opens_a_run_in_the_same_tab(dashboard, page):
    """Issue 14, defect 8: Streamlit's Deploy button showed; 'Live page' links opened a new tab; the
    Experiment column was cut off."""
    page.goto(dashboard.url)
    page.get_by_role("button", name="Start the demo race").wait_for()
    grid = page.locator(".st-key-home_runs")
    grid.locator("canvas").first.wait_for()
    assert page.get_by_role("button", name="Deploy").count() == 0
    scroller = grid.locator(".dvn-scroller").first
    assert scroller.evaluate("s => s.scrollWidth <= s.clientWidth + 1"), "the runs table needs a horizontal scroll"
    box = grid.locator("canvas").first.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box, under the header
    page.wait_for_url("**/live?*run=*")
    assert len(page.context.pages) == 1
    page.get_by_role("link", name="Home").click()  # back on Home, the old pick does not open Live again
    page.get_by_role("button", name="Start the demo race").wait_for()
    wait_for_script_idle(page)  # Home's run has ended: a switch to Live would have happened in it
    assert "/live" not in page.url


def see_diagnostics(page, shoot) -> None:
    """The Live page's stopping signal and one round's ROC / PR / reliability with sensitivity and specificity."""
    page.locator(".st-key-live_stability .js-plotly-plot").wait_for()
    scroll_to_heading(page, "When can labeling stop?")
    shoot(page, "live_stopping")
    page.locator(".st-key-live_roc .js-plotly-plot .scatterlayer .trace").first.wait_for()
    for key in ("live_pr", "live_reliability", "live_round_confusion"):
        chart = page.locator(f".st-key-{key} .js-plotly-plot")
        chart.first.wait_for()  # each chart draws on its own: the ROC's traces say nothing of the others
        assert chart.count() == 1
    for label in ("Sensitivity", "Specificity", "Brier score", "ECE"):
        page.locator("[data-testid='stMetricLabel']", has_text=label).first.wait_for()
    tall_shot(page, shoot, "What a radiologist reads", "live_diagnostics")
    with page.expect_download() as download:  # rendered on the click, by kaleido in the machine's Chromium
        page.locator(".st-key-live_roc_png button").first.click()
    assert download.value.suggested_filename.endswith("_roc.png")
    assert open(download.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_demo_race_grows_four_curves_pauses_explains_a_pick_and_finishes(dashboard, page, shoot):
    """Home's demo button (step mode ticked) starts the race; four curves grow, every racer pauses after its
    query, hovering a pick explains it (score, p, the strategy's reason), 'Next round' goes on, and with step
    mode off the race finishes. Screenshots race_picks.png and race.png for the README."""
    page.goto(dashboard.url)
    demo = page.get_by_role("button", name="Start the demo race")
    demo.wait_for()  # a fresh server's first page imports torch & co before it shows the button
    page.get_by_text("Pause after each round").click()
    demo.click()
    page.wait_for_url("**/live?*race=*")
    page.wait_for_function(CURVES_WITH_POINTS, arg=[4, 1], timeout=SLOW_MS)
    page.wait_for_function(NEXT_ENABLED, timeout=SLOW_MS)  # every racer paused after its first query

    picks = page.locator(".st-key-race_picks .js-plotly-plot")
    picks.wait_for()
    scroll_to_heading(page, "What each strategy picked")
    first_title = page.evaluate(PICKS_TITLE)
    # the entropy panel (second: random, entropy, pca_kmeans, coreset), its third trace: the picks
    pick = page.locator(".st-key-race_picks .subplot.x2y2 .scatterlayer .trace").nth(2).locator("path.point").first
    box = pick.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = page.locator(".st-key-race_picks .hoverlayer .hovertext")
    tooltip.wait_for()
    text = tooltip.text_content()
    assert "score" in text and "predicted " in text, text  # the predicted class and its probability
    assert re.search(r"the model is least sure: p\((NORMAL|PNEUMONIA)\) = ", text), text
    shoot(page, "race_picks")

    page.locator(".st-key-race_next button").first.click()
    page.wait_for_function(CURVES_WITH_POINTS, arg=[4, 2], timeout=SLOW_MS)  # the curves grow
    page.wait_for_function(NEXT_ENABLED, timeout=SLOW_MS)  # and every racer paused again
    page.wait_for_function(f"() => ({PICKS_TITLE})() !== {first_title!r}")  # the picks follow the newest round

    page.locator(".st-key-race_pause").get_by_text("Pause after each round").click()  # step mode off
    page.wait_for_function(CURVES_WITH_POINTS, arg=[4, DEMO_CONFIG.rounds + 1], timeout=SLOW_MS)
    page.wait_for_function("() => (document.body.innerText.match(/· done/g) || []).length >= 4", timeout=SLOW_MS)
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, "race")


TAGS = ".st-key-compare_runs .react-aria-ComboBox [data-tag]"


def test_compare_overlays_the_runs_roc_pr_and_reliability(dashboard, page, shoot):
    """After the runs above: Compare with both selected overlays their curves at the last round."""
    page.goto(f"{dashboard.url}/compare")
    runs = page.locator(".st-key-compare_runs")
    runs.wait_for()
    tags = page.locator(TAGS)
    wait_for_script_idle(page)  # the page has picked its runs (the newest experiment's, else the current run)
    for _ in range(3):  # add runs not picked yet until two are
        if tags.count() >= 2:
            break
        picked = tags.count()
        page.get_by_role("combobox", name="Runs").click()
        page.get_by_role("option").first.click()
        page.keyboard.press("Escape")
        page.wait_for_function(f"n => document.querySelectorAll({TAGS!r}).length > n", arg=picked)
    assert tags.count() >= 2
    page.wait_for_function("() => document.querySelectorAll('.st-key-compare_roc .scatterlayer .trace').length >= 5")  # chance + 2 x (curve, point)
    for key in ("compare_pr", "compare_reliability"):
        chart = page.locator(f".st-key-{key} .js-plotly-plot")
        chart.first.wait_for()  # each chart draws on its own: the ROC's traces say nothing of the others
        assert chart.count() == 1
    tall_shot(page, shoot, "ROC, precision-recall and calibration, overlaid", "compare_diagnostics")


def tall_shot(page, shoot, heading: str, name: str) -> None:
    """A screenshot of a section taller than the window: a taller window, the heading at its top."""
    page.set_viewport_size({"width": 1440, "height": 1900})
    scroll_to_heading(page, heading)
    shoot(page, name)
    page.set_viewport_size({"width": 1440, "height": 1000})


def scroll_to_heading(page, text: str) -> None:
    """Scroll a heading to the top in one step in the page: a live page redraws its elements, so a
    handle found first may be gone when the scroll comes."""
    find = "t => [...document.querySelectorAll('h1, h2, h3')].find(h => h.textContent.includes(t))"
    page.wait_for_function(find, arg=text)
    page.evaluate(f"t => ({find})(t).scrollIntoView({{block: 'start'}})", text)
