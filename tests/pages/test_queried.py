"""Queried samples: the grid, its filters, the large view."""
from __future__ import annotations


def test_grid_defaults_to_the_latest_round_and_filters_by_round_and_class(open_page, make_run, captions):
    run_id = make_run(rounds=3)
    at = open_page("pages/queried.py", run=run_id)
    assert at.selectbox(key="queried_round").value == 1 and len(captions(at)) == 10
    at.selectbox(key="queried_round").set_value("all").run()
    assert len(captions(at)) == 20 and captions(at)[0].endswith("round 0")
    at.multiselect(key="queried_classes").set_value(["NORMAL"]).run()
    shown = captions(at)
    assert 0 < len(shown) < 20
    assert all(":green[**NORMAL**]" in m.value for m in at.markdown if "p=" in m.value)


def test_enlarge_opens_the_image_in_a_dialog(open_page, make_run, captions):
    run_id = make_run(rounds=2)
    at = open_page("pages/queried.py", run=run_id)
    before = len(captions(at))
    at.button[0].click().run()
    assert not at.exception and len(captions(at)) == before + 1


def test_a_run_without_queries_says_so(open_page, make_run):
    at = open_page("pages/queried.py", run=make_run(rounds=1))
    assert "No round of this run has queried images yet." in at.info[0].value
