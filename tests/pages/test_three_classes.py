"""Every page on a three-class run (NORMAL / BACTERIAL / VIRAL, written by hand as the engine writes it:
(n, 3) probabilities in the round files, the class names in config.json): the run's own class names
everywhere, a colour per class, the predicted class and its probability under each thumbnail."""
from __future__ import annotations

import json
import re
from dataclasses import replace

from alcore.oracle import LabelBook
from alcore.viewmodels import figures
from tests.pages.conftest import THREE

RACE = "race-20250101-100000-three"
PREDICTED = re.compile(r"predicted (NORMAL|BACTERIAL|VIRAL) p=[01]\.\d\d")


def described(at) -> list[str]:
    """The lines under the thumbnails: true label, predicted class and probability, score."""
    return [m.value for m in at.markdown if "p=" in m.value]


def test_home_lists_a_three_class_run(open_page, make_run):
    run_id = make_run(classes=THREE)
    at = open_page("dashboard.py")
    assert run_id in list(at.dataframe[0].value.run_id)


def test_live_draws_the_three_by_three_confusion_matrix_and_the_predicted_classes(open_page, make_run):
    at = open_page("pages/live.py", run=make_run(classes=THREE))
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    matrix = charts["live_confusion"]["data"][0]
    assert matrix["x"] == matrix["y"] == list(THREE) and len(matrix["z"]) == 3
    assert [t["name"] for t in charts["live_curves"]["data"]] == ["Accuracy", "Macro-F1", "ROC-AUC", "Balanced accuracy"]
    lines = described(at)
    assert len(lines) == 10 and all(PREDICTED.search(line) for line in lines)


def test_queried_filters_by_the_runs_class_names_each_in_its_colour(open_page, make_run):
    at = open_page("pages/queried.py", run=make_run(classes=THREE))
    assert at.multiselect(key="queried_classes").options == list(THREE)
    assert all(name in at.caption[0].value for name in THREE)
    at.multiselect(key="queried_classes").set_value(["VIRAL"]).run()
    lines = described(at)
    assert lines and all(line.startswith(":blue[**VIRAL**] · predicted ") for line in lines)
    at.multiselect(key="queried_classes").set_value(["NORMAL", "BACTERIAL"]).run()
    assert {line.split("**")[1] for line in described(at)} == {"NORMAL", "BACTERIAL"}


def test_embeddings_offer_confidence_instead_of_a_positive_class(open_page, make_run):
    at = open_page("pages/embeddings.py", run=make_run(classes=THREE))
    options = at.selectbox(key="emb_color").options
    assert "Confidence (p of the predicted class)" in options and not [o for o in options if "p(" in o]
    at.selectbox(key="emb_color").set_value("confidence").run()
    assert not at.exception and at.get("plotly_chart")[0].key == "emb_chart_2_PCA_confidence"


def test_compare_takes_three_class_runs(open_page, make_run):
    for seed in (0, 1):
        make_run(sampler="entropy", seed=seed, experiment="three", classes=THREE)
    at = open_page("pages/compare.py")
    assert at.get("plotly_chart")[0].key == "compare_chart" and list(at.dataframe[0].value.Series) == ["entropy"]


def test_a_three_class_race_shows_predicted_classes_and_no_rare_finding(open_page, make_run, store):
    for sampler in ("random", "entropy", "margin"):
        run_id = make_run(sampler=sampler, experiment=RACE, classes=THREE)
        resolved = {**store.load_resolved(run_id), "train_class_counts": [54, 3, 3]}
        store.write_config(run_id, store.load_config(run_id), resolved)
    at = open_page("pages/live.py")
    at.query_params["race"] = RACE
    at.run()
    assert not at.exception and at.title[0].value == "Live race"
    assert "rare" not in " ".join(m.value for m in at.markdown)  # the lesson counts a finding of two classes only
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert "race_found" not in charts
    picked = [text for t in charts["race_picks"]["data"] if t["name"] == "picked this round" for text in t["text"]]
    assert len(picked) == 30 and all(re.search(r"p\((NORMAL|BACTERIAL|VIRAL)\) = 0\.\d\d", t) for t in picked[10:20])
    strips = at.get("image")
    assert len(strips) == 3 and all(caption.split()[0] in THREE for strip in strips for caption in strip.captions)


def three_class_human_run(store, make_run, pending: list[str]) -> str:
    """A finished fake three-class run turned into a human one: 'fake-train-000' labeled NORMAL (its truth),
    `pending` waiting in the queue of round 1."""
    run_id = make_run(rounds=2, classes=THREE)
    store.write_config(run_id, replace(store.load_config(run_id), oracle="human"), store.load_resolved(run_id))
    LabelBook(store, run_id).add("fake-train-000", "synthetic:train:0", "NORMAL", "test", 0)
    (store.run_dir(run_id) / "queue.json").write_text(json.dumps(
        {"round": 1, "ids": pending, "files": [f"synthetic:train:{i[-3:]}" for i in pending]}))
    return run_id


def test_the_label_page_has_a_button_and_a_digit_key_per_class(open_page, make_run, store, tmp_path):
    run_id = three_class_human_run(store, make_run, ["fake-train-012", "fake-train-013"])
    at = open_page("pages/label.py", run=run_id)  # labeling as 'test', the name saved in labels.csv
    buttons = {b.key: b for b in at.button if b.key.startswith("label_") and b.key != "label_change_name"}
    assert [b.label for b in buttons.values() if b.key != "label_export"] == [*THREE, "Skip"]
    assert [buttons[f"label_{c.lower()}"].proto.shortcut for c in (*THREE, "skip")] == ["1", "2", "3", "s"]
    at.toggle(key="label_show_prediction").set_value(True).run()
    view = next(m.value for m in at.markdown if "p(NORMAL) = **" in m.value)
    assert "p(BACTERIAL) = **" in view and "p(VIRAL) = **" in view and "entropy score" in view
    at.button(key="label_bacterial").click().run()  # the truth of image 12 is NORMAL
    at.button(key="label_viral").click().run()  # image 13: BACTERIAL
    assert [(r["sample_id"], r["label"]) for r in LabelBook(store, run_id).rows()][1:] == [
        ("fake-train-012", "BACTERIAL"), ("fake-train-013", "VIRAL")]

    at.toggle(key="label_show_truth").set_value(True).run()  # the fake run is done: the truth may show
    table = at.dataframe[0].value
    assert list(table.index) == [f"true {c}" for c in THREE] and list(table.columns) == [f"labeled {c}" for c in THREE]
    assert table.loc["true NORMAL", "labeled BACTERIAL"] == 1 and at.metric[0].value == "33%"
    at.text_input(key="label_dest").set_value(str(tmp_path / "export")).run()
    at.button(key="label_export").click().run()
    assert any("Wrote 1 NORMAL, 1 BACTERIAL and 1 VIRAL images" in s.value for s in at.success)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == sorted(THREE)


def test_a_three_class_run_waiting_for_labels_shows_no_true_class(open_page, make_run, store):
    run_id = three_class_human_run(store, make_run, ["fake-train-012"])
    status = store.load_status(run_id)
    status.state = "waiting_for_labels"
    store.write_status(run_id, status)
    for page in ("pages/queried.py", "pages/live.py"):
        lines = described(open_page(page, run=run_id))
        assert len(lines) == 10 and not [line for line in lines if re.search(r"\*\*(BACTERIAL|VIRAL)\*\*", line)]
    at = open_page("pages/label.py", run=run_id)
    assert not at.metric and not at.dataframe and not at.get("toggle")[-1].key == "label_show_truth"


def test_a_three_class_synthetic_run_through_the_engine_on_every_page_that_reads_it(open_page, store):
    from alcore.config import ExperimentConfig
    from alcore.runner import create_run, execute_run
    from tests.pages.test_predict import TINY, png

    run_id = create_run(ExperimentConfig(**TINY, synthetic_classes=3), store)
    assert execute_run(store, run_id).state == "done", store.read_log(run_id)
    assert store.classes(run_id) == THREE
    at = open_page("pages/live.py", run=run_id)
    matrix = json.loads(next(c for c in at.get("plotly_chart") if c.key == "live_confusion").proto.spec)["data"][0]
    assert matrix["x"] == list(THREE) and all(PREDICTED.search(line) for line in described(at))
    at.switch_page("pages/queried.py").run()
    assert at.multiselect(key="queried_classes").options == list(THREE) and len(described(at)) == 10
    at.switch_page("pages/embeddings.py").run()
    at.selectbox(key="emb_color").set_value("predicted").run()
    assert not at.exception
    at.switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_files").set_value([("chest.png", png(1), "image/png")]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert [f"p({c})" for c in THREE] == [c for c in table.columns if c.startswith("p(")]
    assert table["predicted"][0] in THREE and any("most probable class (argmax)" in c.value for c in at.caption)
