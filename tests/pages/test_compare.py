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
    assert labels == ["Download table (CSV)", "Download per-round metrics (CSV)"]
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
