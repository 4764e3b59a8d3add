"""Compare: curves of several runs with mean ± std, the baseline, the final table and its downloads."""
from __future__ import annotations


def test_compare_defaults_to_the_newest_experiment_and_tables_it(open_page, make_run):
    make_run(sampler="margin")  # not in the experiment
    runs = [make_run(sampler="entropy", seed=s, experiment="exp-1") for s in (0, 1)]
    runs.append(make_run(sampler="random", full_data=True, rounds=1, experiment="exp-1"))
    at = open_page("pages/compare.py")
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(runs)
    assert at.get("plotly_chart")[0].key == "compare_chart"
    table = at.dataframe[0].value
    assert list(table.strategy) == ["entropy"] and table.seeds[0] == 2
    assert {"final_accuracy_mean", "aulc_accuracy_mean"} <= set(table.columns)
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


def test_compare_overlays_roc_pr_and_reliability_of_the_selected_runs_at_a_round(open_page, make_run):
    runs = [make_run(sampler="entropy", seed=s, experiment="exp-2") for s in (0, 1)]
    at = open_page("pages/compare.py")
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert {"compare_roc", "compare_pr", "compare_reliability"} <= set(charts)
    table = at.dataframe[1].value
    assert len(table) == 2 and {"sensitivity", "specificity", "brier", "ece"} <= set(table.columns)
    assert sorted(table.model) == ["entropy s0 · 30 labels", "entropy s1 · 30 labels"]  # each run's last round
    at.select_slider(key="compare_diag_round").set_value(0).run()
    assert sorted(at.dataframe[1].value.model) == ["entropy s0 · 10 labels",
                                                                          "entropy s1 · 10 labels"]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads.count("PNG") == 3 and downloads.count("SVG") == 3
    assert sorted(runs) == sorted(at.multiselect(key="compare_runs").value)
