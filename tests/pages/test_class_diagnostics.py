"""Diagnostics and Compare of runs with three classes (issue 26): one-vs-rest curves per class, the
3 x 3 confusion with the run's class names, the macro metrics, argmax instead of a threshold."""
from __future__ import annotations

import json

from alcore.metrics import round_metrics
from alcore.records import RoundRecord
from alcore.runs import RunStore, probs_from_file
from tests.pages.conftest import THREE


def three_class_run(store: RunStore, make_run, **settings) -> str:
    """conftest's three-class run with each round's record as the engine computes it from the round's
    test probabilities (macro metrics, per-class intervals, no threshold)."""
    run_id = make_run(classes=THREE, **settings)
    for record in store.load_rounds(run_id):
        arrays = store.load_round_arrays(run_id, record.round)
        metrics = round_metrics(arrays["test_label"], probs_from_file(arrays["test_prob"]), None, seed=record.round)
        line = {**record.to_dict(), **metrics.at_threshold.to_dict(), "threshold": None,
                "ci": {k: list(v) for k, v in metrics.ci.items()}}
        store.append_round(run_id, RoundRecord.from_dict(line), arrays)
    return run_id


def test_live_shows_macro_metrics_a_class_table_one_vs_rest_curves_and_the_named_confusion(open_page, make_run,
                                                                                            store):
    run_id = three_class_run(store, make_run)
    at = open_page("pages/live.py", run=run_id)
    assert not at.exception
    tiles = {m.label for m in at.metric}
    assert {"Accuracy", "Balanced accuracy", "Macro-F1", "Macro ROC-AUC", "Cohen's κ", "Top-label ECE"} <= tiles
    assert "Sensitivity" not in tiles
    assert any("most probable class (argmax, no threshold)" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if list(d.value.columns[:2]) == ["Class", "Test images"])
    assert list(table.Class) == list(THREE) and sum(table["Test images"]) == 20
    assert all("[" in cell for cell in table.Sensitivity)  # with its bootstrap interval
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    roc = [t["name"] for t in charts["live_roc"]["data"] if t["name"] != "chance"]
    assert [name.split(" · ")[1] for name in roc] == list(THREE)
    confusion = charts["live_round_confusion"]["data"][0]
    assert confusion["x"] == confusion["y"] == list(THREE) and confusion["z"]["shape"] == "3, 3"
    assert "by argmax" in charts["live_round_confusion"]["layout"]["title"]["text"]


def test_compare_of_three_class_runs_tables_macro_metrics_and_overlays_one_class(open_page, make_run, store):
    for sampler in ("random", "entropy"):
        for seed in (0, 1):
            three_class_run(store, make_run, sampler=sampler, seed=seed, experiment="three")
    at = open_page("pages/compare.py")
    assert not at.exception
    final = at.dataframe[0].value
    assert {"Final macro-F1", "Final ROC-AUC", "AULC of macro-F1 − random [95 % CI]",
            "AULC of ROC-AUC − random [95 % CI]"} <= set(final.columns)
    assert "Final sensitivity" not in final.columns  # two classes only: not a column of n/a
    assert "sensitivity" not in at.selectbox(key="compare_metric").options
    overlay = at.dataframe[1].value
    assert {"Balanced accuracy", "Macro-F1", "Macro ROC-AUC", "Top-label ECE"} <= set(overlay.columns)
    picker = at.selectbox(key="compare_diag_class")
    assert picker.options == list(THREE)
    picker.set_value(2).run()
    roc = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key == "compare_roc")
    names = [t["name"] for t in roc["data"] if t["name"] != "chance"]
    assert len(names) == 4 and all(" · VIRAL · AUC" in name for name in names)


def test_the_figures_command_draws_a_three_class_run_per_class(make_run, store):
    from alcore import plots
    run_id = three_class_run(store, make_run)
    drawn = plots.round_figures(store, run_id)
    assert set(drawn) == {f"round_{r:03d}_{kind}" for r in range(3) for kind in ("roc", "pr", "reliability")}
    roc = [t.name for t in drawn["round_002_roc"].data if t.name != "chance"]
    assert [name.split(" · ")[1] for name in roc] == list(THREE)
    assert drawn["round_002_reliability"].layout.yaxis.title.text == "Observed share predicted right"
