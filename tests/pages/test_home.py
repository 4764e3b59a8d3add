"""Home: the explanation, the one-click demo, the list of runs."""
from __future__ import annotations

import json

from alcore.viewmodels import views
from alcore.config import validate


def test_home_explains_the_tool_and_lists_runs(open_page, make_run):
    run_id = make_run()
    at = open_page("pages/home.py")
    assert at.title[0].value == "Active learning for chest X-rays"
    assert at.button(key="home_demo").label == "Start a demo run"
    runs = at.dataframe[0].value
    row = runs[runs.run_id == run_id].iloc[0]
    assert (row.state, row.strategy, row.labels) == ("done", "entropy", 30)


def test_home_without_runs_says_so(open_page):
    at = open_page("pages/home.py")
    assert any("No runs in" in info.value for info in at.info)


def test_demo_button_launches_a_run_and_opens_its_live_page(open_page, jobs, tiny_config, monkeypatch):
    monkeypatch.setattr(views, "DEMO_CONFIG", tiny_config())
    at = open_page("pages/home.py")
    at.button(key="home_demo").click().run()
    run_id = at.query_params["run"]
    assert at.title[0].value == "Live run" and jobs.snapshot(run_id) is not None
    assert not at.exception
    assert jobs.wait(run_id, timeout=120).state == "done"


def test_the_demo_settings_are_valid_and_fit_the_synthetic_pool():
    demo = views.DEMO_CONFIG
    assert validate(demo, pool_size=demo.synthetic_size) == {} and demo.data == "synthetic"


def test_home_lists_the_oracle_shows_every_column_and_opens_a_run_in_the_same_tab(open_page, make_run, store):
    """Issue 14, defect 8: no oracle column, a cut-off Experiment column, 'Live page' links opening new tabs."""
    human = make_run(experiment="human-vs-twin", oracle="human")
    twin = make_run(experiment="human-vs-twin")
    at = open_page("pages/home.py")
    runs = at.dataframe[0].value.set_index("run_id")
    assert (runs.loc[human, "oracle"], runs.loc[twin, "oracle"]) == ("human", "simulated")
    columns = json.loads(at.dataframe[0].proto.columns)
    assert not any(c.get("type_config", {}).get("type") == "link" for c in columns.values())  # links open new tabs
    assert "started" not in at.dataframe[0].proto.column_order  # the run id starts with its date and time
    at.session_state["home_runs"] = {"selection": {"rows": [list(runs.index).index(twin)], "columns": [], "cells": []}}
    at.run()
    assert at.title[0].value == "Live run" and at.query_params["run"] == twin
