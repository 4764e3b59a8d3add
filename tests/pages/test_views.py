"""The pages' view models (run list, progress, round, images, comparison) on runs written by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alcore.viewmodels import (compare_view, diagnostics_view, image_view, label_view, progress_view, projections,
                               round_view, run_list, setup_form)
from alcore.summary import final_table
from alcore.config import ConfigError, ExperimentConfig, experiment_configs
from alcore.runs import RunStatus

EVERYWHERE = (Path("/"),)  # allowed roots that refuse no path


def test_runs_table_lists_each_run_with_its_best_metrics(store, make_run):
    done = make_run(sampler="entropy")
    failed = make_run(sampler="random", rounds=1, state="failed", error="boom")
    table = run_list.runs_table(store).set_index("run_id")
    assert table.loc[done, "state"] == "done" and table.loc[failed, "state"] == "failed"
    assert table.loc[done, "labels"] == 30 and table.loc[done, "best_accuracy"] == 0.8
    assert table.loc[done, "data"] == "synthetic (60)" and table.loc[done, "strategy"] == "entropy"


def test_the_progress_of_a_stopped_run_comes_from_its_status(store, make_run):
    run_id = make_run(state="cancelled")
    progress = store.load_status(run_id)
    assert (progress.state, progress.round, progress.rounds_total, progress.n_labeled) == ("cancelled", 2, 3, 30)
    assert progress.resumable and not progress.active and progress.eta_seconds is None
    assert progress.text.startswith("30 labels used · 2 of 2 rounds done")


def test_round_frame_marks_labeled_unlabeled_and_queried(store, make_run):
    run_id = make_run()
    frame = round_view.round_frame(store, run_id, store.load_rounds(run_id)[0])
    assert frame.status.value_counts().to_dict() == {"unlabeled": 40, "labeled": 10, "queried": 10}
    assert set(frame.label) == {"NORMAL", "PNEUMONIA"}
    assert frame.loc[frame.status == "labeled", "score"].isna().all()


def test_queried_frame_holds_every_round_that_queried(store, make_run):
    run_id = make_run(rounds=3)
    records = store.load_rounds(run_id)
    frame = round_view.queried_frame(store, run_id, records[:2])
    assert len(frame) == 20 and list(frame.columns) == ["round", "labels", "id", "label", "predicted", "confidence",
                                                 "score", "secret"]
    assert frame[frame["round"] == 0].score.is_monotonic_decreasing
    assert frame.groupby("round").labels.first().to_dict() == {0: 10, 1: 20}
    assert round_view.latest_queried_round(records) == records[1]


def test_umap_is_computed_once_and_cached_in_the_run_folder(store, make_run):
    run_id = make_run(rounds=1)
    layout = projections.projection(store, run_id, 0, "UMAP")
    cached = store.run_dir(run_id) / "rounds" / "umap_000.npy"
    assert layout.shape == (60, 2) and cached.is_file()
    np.testing.assert_array_equal(projections.projection(store, run_id, 0, "UMAP"), np.load(cached))
    assert projections.projection(store, run_id, 0, "PCA").shape == (60, 2)


def test_thumbnails_come_from_the_decoded_cache_by_id(store, make_run):
    run_id = make_run(rounds=1)
    images = image_view.images_by_id(store, run_id, ["fake-train-003", "fake-test-001"])
    assert [image.shape for image in images] == [(16, 16), (16, 16)]
    assert image_view.original_file(store, run_id, "fake-train-003") is None  # a synthetic sample has no file


def test_experiment_configs_cross_samplers_and_seeds_and_add_the_baseline():
    configs = experiment_configs(ExperimentConfig(seed=5), {"entropy": {}, "bald": {"mc_passes": 4}},
                                       seeds=2, baseline=True)
    assert [(c.sampler, c.seed, c.full_data) for c in configs] == [
        ("entropy", 5, False), ("entropy", 6, False), ("bald", 5, False), ("bald", 6, False), ("random", 5, True)]
    assert configs[2].sampler_options == {"mc_passes": 4}
    assert len({c.experiment for c in configs}) == 1 and configs[0].experiment
    assert experiment_configs(ExperimentConfig(), {"entropy": {}}, 1, False)[0].experiment == ""


def test_comparison_series_average_only_runs_that_differ_in_seed(store, make_run):
    """Recording embeddings or not changes no result, so it does not split a series either."""
    seeds = [make_run(sampler="entropy", seed=s, experiment="e", record_embeddings=s == 0) for s in (0, 1)]
    other = make_run(sampler="entropy", seed=0, rounds=2, experiment="e")
    baseline = make_run(sampler="random", full_data=True, rounds=1, experiment="e")
    frame = compare_view.comparison_frame(store, [*seeds, other, baseline])
    series = frame.groupby("run_id").strategy.first()
    assert series[seeds[0]] == series[seeds[1]] == "entropy (rounds=2)"
    assert series[other] == "entropy (rounds=1)" and series[baseline] == "full-data baseline"
    assert run_list.experiments(store) == {"e": sorted([*seeds, other, baseline], reverse=True)}


def test_the_setup_form_shows_a_config_and_gives_it_back():
    cfg = ExperimentConfig(data="/data/xrays", sampler="bald", sampler_options={"mc_passes": 8}, budget=7, lr=0.01,
                           experiment="mine")
    form = setup_form.form_values(cfg)
    assert (form["source"], form["path"], form["samplers"], form["opt_bald_mc_passes"]) == \
        ("folder", "/data/xrays", ["bald"], "8")
    base, configs = setup_form.form_configs(form)
    assert base == cfg and configs == [cfg]


def test_the_setup_form_refuses_values_no_widget_can_hold():
    for bad in (ExperimentConfig(budget="ten"), ExperimentConfig(model="vgg"), ExperimentConfig(sampler="nope"),
                ExperimentConfig(sampler_options={"colour": 1}), ExperimentConfig(init_size=2.5)):
        with pytest.raises(ConfigError):
            setup_form.form_values(bad)
    assert setup_form.form_values(ExperimentConfig(lr=1))["lr"] == "1.0"  # an int where a float goes is fine


def test_form_problems_check_the_pool_and_every_run_of_the_experiment():
    form = {**setup_form.form_values(ExperimentConfig()), "samplers": ["entropy", "bald"], "opt_bald_mc_passes": "1",
            "budget": "500", "seeds": "0"}
    base, configs = setup_form.form_configs(form)
    problems = setup_form.form_problems(form, base, configs, None, EVERYWHERE)
    assert set(problems) == {"seeds", "budget", "sampler_options.bald"}
    folder = {**setup_form.form_values(ExperimentConfig(data="/nowhere/folder"))}
    base, configs = setup_form.form_configs(folder)
    assert setup_form.form_problems(folder, base, configs, None, EVERYWHERE)["data"] == (
        "Nothing at /nowhere/folder: give the path of a folder of X-rays, a label table or an .npz file")
    assert setup_form.form_problems(folder, base, configs, "only NORMAL images", EVERYWHERE)["data"] == "Only NORMAL images"
    refused = setup_form.form_problems(folder, base, configs, None, (Path("/srv/xrays"),))["data"]
    assert "outside the folders this dashboard may use. Allowed: /srv/xrays" in refused


def test_rounds_are_counted_as_the_user_set_them():
    """Issue 29, item 7: 'Rounds 3' read '4 of 4 rounds done' (the initial model counted as a round)."""
    def text(last_round: int) -> str:
        return RunStatus("running", round=last_round, rounds_total=4, n_labeled=30).text

    assert [text(r).split(" · ")[1] for r in (-1, 0, 1, 3)] == [
        "0 of 3 rounds done", "0 of 3 rounds done", "1 of 3 rounds done", "3 of 3 rounds done"]


def test_compare_names_its_rounds_by_labels_and_its_table_columns_in_words(store, make_run):
    """Issue 29, items 7 and 10: the round slider ran 'last, 0, 1, 2' with titles 'ROC, round 0'; the
    final table's headers were snake_case ('final_speci…' cut at 1440 px)."""
    short, longer = make_run(rounds=2), make_run(rounds=3, seed=1)
    assert diagnostics_view.round_choices(store, [short, longer]) == {
        "at 10 labels": 0, "at 20 labels": 1, "at 30 labels": 2}
    titles = [compare_view.column_title(c) for c in ("strategy", "final_specificity", "final_roc_auc",
                                                     "aulc_balanced_accuracy", "aulc_roc_auc_vs_random",
                                                     "labels_to_target")]
    assert titles == ["Series", "Final specificity", "Final ROC-AUC", "AULC of balanced accuracy",
                      "AULC of ROC-AUC − random [95 % CI]",
                      "Labels to 95 % of the baseline's accuracy (seeds reaching it)"]
    table = compare_view.readable_table(final_table(compare_view.comparison_frame(store, [short, longer])))
    assert not [c for c in table.columns if "_" in c]


def test_feature_extraction_has_a_bar_of_its_own_with_an_eta():
    """Issue 29, item 11: a real-data run spent ~110 s extracting features while the bar stayed at 0."""
    sizes = {"train": 5000, "val": 100, "test": 900}
    first = progress_view.feature_progress("run-a", "features train", 10, 100, sizes, now=100.0)
    assert first.fraction == pytest.approx(500 / 6000) and first.text.endswith("500 of 6,000 images")
    later = progress_view.feature_progress("run-a", "features test", 1, 2, sizes, now=200.0)  # 5,100 + 450 done
    assert later.fraction == pytest.approx(5550 / 6000)
    assert later.text.endswith("5,550 of 6,000 images · about 9 s left")  # 5,050 images in 100 s, 450 to go
    assert progress_view.feature_progress("run-a", "train", 1, 2, sizes) is None
    assert progress_view.feature_progress("run-b", "features train", 0, 0, sizes) is None


def test_the_folder_placeholder_is_a_path_the_dashboard_accepts(tmp_path):
    """Issue 29, item 6: the placeholder was a path the dashboard then refused ('outside the folders ...')."""
    home, shared = tmp_path / "home", tmp_path / "shared"
    (shared / "chest_xray" / "train").mkdir(parents=True)
    roots = (home, shared)
    example = setup_form.example_folder(roots)
    assert example == str(shared / "chest_xray") and setup_form.allowed_path(example, roots)
    assert setup_form.example_folder((home,)) == str(home / "chest_xray")  # where the download would go


def test_predicted_labels_use_the_rounds_threshold_with_two_classes_and_argmax_with_more():
    two = np.array([[0.6, 0.4], [0.8, 0.2], [np.nan, np.nan]], dtype=np.float32)
    assert round_view.predicted_labels(two, 0.3).tolist() == [1, 0, -1]
    assert round_view.predicted_labels(two, None).tolist() == [0, 0, -1]  # before thresholds: 0.5
    three = np.array([[0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [np.nan] * 3], dtype=np.float32)
    assert round_view.predicted_labels(three, None).tolist() == [1, 2, -1]


def test_answer_keys_are_n_and_p_for_two_classes_and_digits_beyond():
    assert label_view.answer_keys(("NORMAL", "PNEUMONIA")) == {"NORMAL": "N", "PNEUMONIA": "P", "skip": "S"}
    assert label_view.answer_keys(("NORMAL", "BACTERIAL", "VIRAL")) == {"NORMAL": "1", "BACTERIAL": "2", "VIRAL": "3",
                                                                        "skip": "S"}
    assert label_view.answer_keys(("NO", "NODULE")) == {"NO": "1", "NODULE": "2", "skip": "S"}  # one initial
    assert label_view.answer_keys(("CLEAR", "SPOT")) == {"CLEAR": "1", "SPOT": "2", "skip": "S"}  # C and S are taken
    many = label_view.answer_keys(tuple(f"F{k}" for k in range(10)))
    assert many["F8"] == "9" and many["F9"] is None
