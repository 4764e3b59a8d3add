"""Compare: curves of several runs with mean ± std, the baseline, the final table and its downloads."""
from __future__ import annotations

import json


def test_compare_defaults_to_the_newest_experiment_and_tables_it(open_page, make_run):
    make_run(sampler="margin")  # not in the experiment
    runs = [make_run(sampler="entropy", seed=s, experiment="exp-1") for s in (0, 1)]
    runs.append(make_run(sampler="random", full_data=True, rounds=1, experiment="exp-1"))
    at = open_page("pages/compare.py")
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(runs)
    assert at.get("plotly_chart")[0].key == "compare_chart"
    table = at.dataframe[0].value
    assert list(table.Series) == ["entropy"] and table.Seeds[0] == 2
    assert {"Final accuracy", "AULC of accuracy"} <= set(table.columns)  # in words, not snake_case (issue 29)
    assert table["Final accuracy"][0] == "0.805 ± 0.007"  # the mean of 0.80 and 0.81 with its std
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[:2] == ["Download table (CSV)", "Download per-round metrics (CSV)"]
    at.selectbox(key="compare_metric").set_value("roc_auc").run()
    assert not at.exception


def test_picking_an_experiment_selects_its_runs(open_page, make_run):
    first = make_run(sampler="entropy", experiment="a")
    make_run(sampler="random", experiment="b")
    at = open_page("pages/compare.py")
    at.selectbox(key="compare_experiment").set_value("a").run()
    assert at.multiselect(key="compare_runs").value == [first]
    at.multiselect(key="compare_runs").set_value([]).run()
    assert "Pick one or more runs" in at.info[0].value


def chart_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_std_bands_are_areas_without_markers(open_page, make_run):
    """Issue 14, defect 3: every corner of a ± std band was drawn as a marker."""
    for seed in (0, 1):
        make_run(sampler="entropy", seed=seed, experiment="exp-1")
    at = open_page("pages/compare.py")
    bands = [trace for trace in chart_spec(at)["data"] if trace.get("fill") == "toself"]
    assert len(bands) == 1 and bands[0].get("mode") == "lines"


def test_runs_of_different_settings_have_short_names_a_clear_table_and_a_legend_off_the_title(open_page, make_run):
    """Issue 14, defect 4: the legend covered the title, series names listed settings that do not
    apply, single-seed std cells read None, and an experiment's new run stayed out."""
    make_run(sampler="entropy", seed=0, experiment="mixed")
    make_run(sampler="entropy", seed=0, experiment="mixed", data="/data/chest_xray", resolution=224,
             synthetic_size=2000)
    at = open_page("pages/compare.py")
    spec = chart_spec(at)
    names = sorted(trace["name"] for trace in spec["data"])
    assert names == ["entropy (data=chest_xray, resolution=224)", "entropy (data=synthetic (60), resolution=16)"]
    assert spec["layout"]["legend"]["y"] < 0 and spec["layout"]["legend"]["yanchor"] == "top"  # under the plot
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["Series", "Seeds", "Labels"]
    cells = table.drop(columns=["Series"]).astype(str).to_numpy().ravel().tolist()
    assert not [c for c in cells if c in ("None", "nan", "NaN") or "±" in c]  # one seed: no std to show
    assert json.loads(at.dataframe[0].proto.columns)["Series"]["width"] == "large"
    headers = {c: v.get("label") for c, v in json.loads(at.dataframe[0].proto.columns).items()}
    assert headers["Final balanced accuracy"] == "Balanced accuracy"  # fits its column at 1440 px (item 10)

    added = make_run(sampler="entropy", seed=1, experiment="mixed")  # a third run of the experiment lands
    at.run()
    assert added in at.multiselect(key="compare_runs").value
    assert "mixed (3 runs)" in at.selectbox(key="compare_experiment").options


def test_compare_overlays_roc_pr_and_reliability_of_the_selected_runs_at_a_round(open_page, make_run):
    runs = [make_run(sampler="entropy", seed=s, experiment="exp-2") for s in (0, 1)]
    at = open_page("pages/compare.py")
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert {"compare_roc", "compare_pr", "compare_reliability"} <= set(charts)
    table = at.dataframe[1].value
    assert len(table) == 2 and {"Sensitivity", "Specificity", "Brier", "ECE"} <= set(table.columns)
    assert not any("_" in column for column in table.columns)  # headers in words (issue 29, item 10)
    assert sorted(table.Model) == ["entropy s0 · 30 labels", "entropy s1 · 30 labels"]  # each run's last round
    slider = at.select_slider(key="compare_diag_round")  # rounds by labels, the last first (issue 29, item 7)
    assert slider.options == ["at 10 labels", "at 20 labels", "at 30 labels"] and slider.value == "at 30 labels"
    assert "ROC, at 30 labels" in json.loads(next(c for c in at.get("plotly_chart")
                                                  if c.key == "compare_roc").proto.spec)["layout"]["title"]["text"]
    slider.set_value("at 10 labels").run()
    assert sorted(at.dataframe[1].value.Model) == ["entropy s0 · 10 labels",
                                                                          "entropy s1 · 10 labels"]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads.count("PNG") == 3 and downloads.count("SVG") == 3
    assert sorted(runs) == sorted(at.multiselect(key="compare_runs").value)


def test_a_strategy_has_one_colour_in_every_chart_of_compare(open_page, make_run):
    """Issue 29, item 2: entropy was blue and random red on the learning curves, the reverse on ROC / PR /
    reliability: each chart coloured its series by position."""
    for sampler in ("random", "entropy", "margin"):
        make_run(sampler=sampler, experiment="exp-3")
    at = open_page("pages/compare.py")
    colours: dict[str, set[str]] = {}
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            strategy = (trace.get("name") or "").split(" ")[0]
            if strategy in ("random", "entropy", "margin") and trace.get("line", {}).get("color"):
                colours.setdefault(strategy, set()).add(trace["line"]["color"])
    assert len(at.get("plotly_chart")) == 4
    assert all(len(found) == 1 for found in colours.values()), colours
    assert len(set.union(*colours.values())) == 3  # three strategies, three colours
