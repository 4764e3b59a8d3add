"""Setup: every field present, invalid values flagged next to their field, save / load, launch."""
from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest

from alcore.config import ExperimentConfig

# Every field of ExperimentConfig is a setting with a widget "setup_<field>", except these, whose widgets
# have other names (the reason in each comment). A new field without a widget fails the first test.
WIDGETS_OF = {
    "data": ("setup_source", "setup_path"),  # a source (synthetic, folder, .npz), then the folder's or file's path
    "sampler": ("setup_samplers",),  # several samplers make an experiment, one run each
    "sampler_options": (),  # one widget per option of each chosen sampler: checked in the test itself
    "full_data": ("setup_baseline",),  # the full-data baseline is one more run beside the samplers' runs
}
NOT_SETTINGS: dict[str, str] = {}  # {field: why it has no widget}; every field is a setting today
WIDGET_KINDS = ("slider", "selectbox", "radio", "text_input", "checkbox", "multiselect")


def widget_labels(at) -> dict[str, str]:
    return {w.key: w.label for kind in WIDGET_KINDS for w in getattr(at, kind)}


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def set_tiny_run(at, **numbers) -> None:
    """A tiny_cnn finetune run, small enough for a test; `numbers` set further number fields (typed as text)."""
    for key, value in numbers.items():
        at.text_input(key=f"setup_{key}").set_value(str(value))
    at.selectbox(key="setup_model").set_value("tiny_cnn")
    at.radio(key="setup_regime").set_value("finetune")


def checked_summary(at, classes: str, **numbers) -> str:
    """Setup's *Check data* with these classes on a tiny run: no error, the data summary's text."""
    at.text_input(key="setup_classes").set_value(classes)
    set_tiny_run(at, **numbers)
    at.run()
    at.button(key="setup_check").click().run()
    assert not at.exception and not errors(at), errors(at)
    return at.code[0].value


def test_every_setting_has_a_labelled_widget_and_the_default_is_valid(open_page):
    """The settings come from ExperimentConfig's fields: a field added to the engine without a widget here fails."""
    from alcore.strategies import registry

    at = open_page("pages/setup.py")
    assert at.multiselect(key="setup_samplers").value == ["entropy"]
    assert at.button(key="setup_launch").label == "Launch" and not at.button(key="setup_launch").disabled
    assert not errors(at)
    assert any("100 + 90 × 10 = 1000 labels" in c.value for c in at.caption)
    shown = widget_labels(at)  # synthetic data: its size, share and preset
    at.multiselect(key="setup_samplers").set_value(registry.names()).run()
    shown |= widget_labels(at)  # every sampler's options
    at.radio(key="setup_source").set_value("folder").run()
    shown |= widget_labels(at)  # a folder: its path, classes, patients
    at.radio(key="setup_source").set_value("table").run()
    shown |= widget_labels(at)  # a label table: its columns and the -1 rule
    assert set(NOT_SETTINGS) | set(WIDGETS_OF) <= {f.name for f in fields(ExperimentConfig)}
    wanted = {f.name: WIDGETS_OF.get(f.name, (f"setup_{f.name}",)) for f in fields(ExperimentConfig)
              if f.name not in NOT_SETTINGS}
    wanted["sampler_options"] = tuple(f"setup_opt_{info.name}_{option.name}" for info in registry.all_strategies()
                                      for option in info.options)
    missing = {name: [k for k in keys if k not in shown] for name, keys in wanted.items()}
    assert {name: keys for name, keys in missing.items() if keys} == {}
    assert all(shown[k].strip() for keys in wanted.values() for k in keys)  # each with a label


def test_the_cores_per_run_default_to_the_runs_share_and_go_down_to_zero(open_page):
    at = open_page("pages/setup.py")
    cores = at.text_input(key="setup_threads")
    assert cores.value == str(ExperimentConfig().threads) == "0"  # 0: the run's share of the machine
    cores.set_value("2").run()
    assert not errors(at) and not at.button(key="setup_launch").disabled
    at.text_input(key="setup_threads").set_value("-1").run()
    assert errors(at) and at.button(key="setup_launch").disabled  # the engine's range check, next to the field


def test_invalid_values_are_flagged_and_block_the_launch(open_page):
    at = open_page("pages/setup.py")
    at.radio(key="setup_regime").set_value("finetune").run()  # the frozen logistic head has no learning rate
    at.text_input(key="setup_lr").set_value("0")
    at.text_input(key="setup_budget").set_value("500")
    at.multiselect(key="setup_samplers").set_value([])
    at.run()
    messages = errors(at)
    assert any("Initial labeled images 100 + Budget per round 500 × Rounds 10 = 5,100 labels: more than the "
               "pool's 2,000 images" in m for m in messages)  # the fields' names, not the config's (item 9)
    assert any("Learning rate must be a number above 0" in m for m in messages)
    assert any("Choose at least one sampler" in m for m in messages)
    assert any("Fix the 3 settings" in m for m in messages)
    assert at.button(key="setup_launch").disabled
    assert not at.exception


@pytest.mark.parametrize("field, text, message, number", [
    ("budget", "abc", "Budget per round must be a whole number, e.g. 90 (got 'abc')", "30"),
    ("rounds", "1e3", "Rounds must be a whole number, e.g. 10 (got '1e3')", " 3 "),
    ("seeds", "2.5", "Seeds per sampler must be a whole number, e.g. 1 (got '2.5')", "2"),
    ("lr", "fast", "Learning rate must be a number, e.g. 0.001 (got 'fast')", "1e-3"),
    ("stop_kappa", "", "Stable at κ is empty: give a number, e.g. 0.99", "0.95"),
    ("opt_bald_mc_passes", "ten", "bald: mc_passes must be a whole number, e.g. 20 (got 'ten')", "10"),
])
def test_text_that_is_not_a_number_is_refused_next_to_its_field(open_page, field, text, message, number):
    """Issue 29, item 8: st.number_input turned 'abc' into 0 and '1e3' into 1 without a word."""
    at = open_page("pages/setup.py")
    at.radio(key="setup_regime").set_value("finetune")  # the learning rate applies
    at.multiselect(key="setup_samplers").set_value(["entropy", "bald"]).run()
    at.text_input(key=f"setup_{field}").set_value(text).run()
    assert message in errors(at), errors(at)
    assert at.button(key="setup_launch").disabled and not at.exception
    at.text_input(key=f"setup_{field}").set_value(number).run()  # a number of the field's kind is taken
    assert not errors(at) and not at.button(key="setup_launch").disabled


@pytest.mark.parametrize("text, message", [("two", "Runs at once must be a whole number, e.g. 2 (got 'two')"),
                                           ("0", "Runs at once must be 1 or more (got 0)")])
def test_runs_at_once_is_a_whole_number_of_one_or_more(open_page, text, message):
    at = open_page("pages/setup.py")
    at.text_input(key="setup_parallel").set_value(text).run()
    assert message in errors(at) and "Fix the 1 setting marked above to launch." in errors(at)
    assert at.button(key="setup_launch").disabled
    at.text_input(key="setup_parallel").set_value("2").run()
    assert not errors(at) and not at.button(key="setup_launch").disabled


def test_a_field_that_cannot_be_edited_does_not_block_the_launch(open_page):
    """Text left in the learning rate once the logistic head disables it, or in an unchosen sampler's option."""
    at = open_page("pages/setup.py")
    at.radio(key="setup_regime").set_value("finetune")
    at.multiselect(key="setup_samplers").set_value(["entropy", "bald"]).run()
    at.text_input(key="setup_lr").set_value("fast")
    at.text_input(key="setup_opt_bald_mc_passes").set_value("ten").run()
    assert len(errors(at)) == 3  # the two fields and "Fix the 2 settings"
    at.radio(key="setup_regime").set_value("frozen")
    at.multiselect(key="setup_samplers").set_value(["entropy"]).run()
    assert not errors(at) and not at.button(key="setup_launch").disabled


def test_a_missing_folder_is_flagged(open_page, tmp_path):
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    at.text_input(key="setup_path").set_value(str(tmp_path / "nowhere")).run()
    assert any(f"Nothing at {tmp_path / 'nowhere'}: give the path of a folder of X-rays" in m for m in errors(at))
    assert at.button(key="setup_check").disabled


def test_check_data_reports_a_folder_with_one_class(open_page, tmp_path):
    from PIL import Image
    folder = tmp_path / "xrays" / "NORMAL"
    folder.mkdir(parents=True)
    for i in range(6):
        Image.new("L", (40, 40), 30 * i).save(folder / f"n{i}.png")
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    at.text_input(key="setup_path").set_value(str(tmp_path / "xrays")).run()
    at.button(key="setup_check").click().run()
    assert not at.exception
    assert any("PNEUMONIA" in m for m in errors(at)), errors(at)


def test_check_data_on_a_label_table_shows_the_summary_and_one_image_per_class(open_page, tmp_path, texts):
    from PIL import Image
    lines = ["file,finding,subject"]
    for i in range(40):
        Image.new("L", (40, 40), 20 + 5 * i).save(tmp_path / f"x{i}.png")
        lines.append(f"x{i}.png,{'No Finding' if i % 2 else 'Pneumonia|Effusion'},s{i // 2}")
    lines.append("gone.png,Pneumonia,s99")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("table").run()
    at.text_input(key="setup_path").set_value(str(tmp_path / "labels.csv")).run()
    assert at.selectbox(key="setup_pick_label").options[1:] == ["file", "finding", "subject"]  # from the header
    at.selectbox(key="setup_pick_label").set_value("finding").run()
    assert at.text_input(key="setup_columns").value == "label=finding"
    summary = checked_summary(at, "NORMAL=No Finding,PNEUMONIA=Pneumonia", init_size=10, budget=2, rounds=2)
    assert "1 PNEUMONIA (positive)" in summary and "1 rows whose image file is missing" in summary
    images = [line.strip() for line in texts(at).splitlines() if line.strip().startswith("caption:")]
    assert images == ['caption: "NORMAL"', 'caption: "PNEUMONIA"']  # one image per class, as the model sees it


def test_check_data_on_three_classes_by_glob_shows_each_class_its_match_and_image(open_page, tmp_path, texts):
    from PIL import Image
    for i in range(12):
        for folder, name in (("NORMAL", f"IM-{i:04d}-0001"), ("PNEUMONIA", f"person{i}_bacteria_1"),
                             ("PNEUMONIA", f"person{50 + i}_virus_1")):
            (tmp_path / "xrays" / folder).mkdir(parents=True, exist_ok=True)
            Image.new("L", (40, 40), 10 * i).save(tmp_path / "xrays" / folder / f"{name}.jpeg")
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    at.text_input(key="setup_path").set_value(str(tmp_path / "xrays"))
    summary = checked_summary(at, "NORMAL=NORMAL/*,BACTERIAL=PNEUMONIA/*bacteria*,VIRAL=PNEUMONIA/*virus*",
                              init_size=5, budget=2, rounds=2)
    assert "classes: 0 NORMAL <- NORMAL/*, 1 BACTERIAL <- PNEUMONIA/*bacteria*, 2 VIRAL <- PNEUMONIA/*virus*" in summary
    assert "(positive)" not in summary and re.search(r"train\s+\d+\s+\d+\s+\d+\s+\d+", summary)
    images = [line.strip() for line in texts(at).splitlines() if line.strip().startswith("caption:")]
    assert images == ['caption: "NORMAL"', 'caption: "BACTERIAL"', 'caption: "VIRAL"']


def test_sampler_options_and_their_help_follow_the_chosen_samplers(open_page):
    at = open_page("pages/setup.py")
    at.multiselect(key="setup_samplers").set_value(["entropy", "bald"]).run()
    assert any(c.value.startswith("**bald**: Prefers images on which MC-dropout") for c in at.caption)
    at.text_input(key="setup_opt_bald_mc_passes").set_value("1").run()
    assert any("mc_passes must be a number >= 2" in m for m in errors(at))
    assert any("Launching starts 2 runs" in c.value for c in at.caption)


def test_a_saved_config_loads_back_and_a_bad_file_is_refused(open_page):
    at = open_page("pages/setup.py")
    cfg = ExperimentConfig(sampler="margin", budget=7, rounds=3, lr=0.01, data="/tmp/some.npz",
                           record_embeddings=False)
    at.file_uploader(key="setup_upload").set_value(("c.json", json.dumps(cfg.to_dict()).encode(), "application/json"))
    at.run()
    assert at.multiselect(key="setup_samplers").value == ["margin"]
    assert at.checkbox(key="setup_record_embeddings").value is False
    assert at.text_input(key="setup_budget").value == "7" and at.text_input(key="setup_lr").value == "0.01"
    assert at.radio(key="setup_source").value == "npz" and at.text_input(key="setup_path").value == "/tmp/some.npz"
    at.file_uploader(key="setup_upload").set_value(("bad.json", b'{"budget": 5, "colour": 1}', "application/json"))
    at.run()
    assert any("unknown setting 'colour'" in m for m in errors(at))
    assert at.text_input(key="setup_budget").value == "7"  # nothing applied
    assert not at.exception


@pytest.mark.parametrize("upload, message", [
    ({"budget": "abc"}, "budget must be a whole number (got 'abc')"),
    ({"lr": True}, "lr must be a number (got True)"),
    ({"model": "alexnet"}, "unknown model 'alexnet'; choose one of:"),  # the engine's message
    ({"sampler": "bald", "sampler_options": {"mc_passes": "many"}}, "mc_passes must be a number >= 2 (got 'many')"),
])
def test_a_setting_no_widget_can_hold_is_refused_with_a_message(open_page, upload, message):
    at = open_page("pages/setup.py")
    at.file_uploader(key="setup_upload").set_value(("bad.json", json.dumps(upload).encode(), "application/json"))
    at.run()
    assert not at.exception
    assert any(message in m for m in errors(at)), errors(at)
    assert at.text_input(key="setup_budget").value == str(ExperimentConfig().budget)  # nothing applied


def test_the_synthetic_preset_loads_from_a_config_and_an_unknown_one_is_refused(open_page):
    at = open_page("pages/setup.py")
    assert at.selectbox(key="setup_synthetic_preset").value == "standard"
    teaching = ExperimentConfig(synthetic_preset="teaching").to_dict()
    at.file_uploader(key="setup_upload").set_value(("t.json", json.dumps(teaching).encode(), "application/json"))
    at.run()
    assert at.selectbox(key="setup_synthetic_preset").value == "teaching" and not errors(at)
    bad = json.dumps({**teaching, "synthetic_preset": "easy"}).encode()
    at.file_uploader(key="setup_upload").set_value(("bad.json", bad, "application/json"))
    at.run()
    assert any("unknown synthetic_preset 'easy'; choose one of: standard, teaching" in m for m in errors(at))
    assert at.selectbox(key="setup_synthetic_preset").value == "teaching"  # nothing applied
    assert not at.exception


def test_three_synthetic_classes_show_their_names_and_counts_and_reach_the_config(open_page):
    at = open_page("pages/setup.py")
    assert at.text_input(key="setup_synthetic_classes").value == "2"
    assert any(c.value == "Train pool: NORMAL 500 · PNEUMONIA 1,500." for c in at.caption)
    at.text_input(key="setup_synthetic_classes").set_value("3").run()
    assert not errors(at) and not at.button(key="setup_launch").disabled
    assert any(c.value == "Train pool: NORMAL 500 · BACTERIAL 750 · VIRAL 750." for c in at.caption)
    assert at.slider(key="setup_synthetic_pneumonia_share").label == "Non-normal share (the findings split evenly)"
    at.selectbox(key="setup_synthetic_preset").set_value("teaching").run()
    assert any(m.startswith("The teaching preset draws two classes; use the standard preset") for m in errors(at))
    assert at.button(key="setup_launch").disabled
    at.text_input(key="setup_synthetic_classes").set_value("9").run()
    assert any(m.startswith("Synthetic classes must be a whole number from 2 to 8") for m in errors(at))


def test_a_three_class_synthetic_run_launches_and_records_its_classes(open_page, jobs, store):
    at = open_page("pages/setup.py")
    set_tiny_run(at, synthetic_size=200, synthetic_classes=3, resolution=32, init_size=20, budget=10, rounds=1,
                 epochs=1)
    at.run()
    at.button(key="setup_launch").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    assert jobs.wait(run_id, timeout=180).state == "done", jobs.store.read_log(run_id)
    assert store.load_config(run_id).synthetic_classes == 3
    assert store.classes(run_id) == ("NORMAL", "BACTERIAL", "VIRAL")
    assert store.load_resolved(run_id)["data_summary"]["splits"]["train"]["per_class"] == [50, 75, 75]


def test_the_three_class_preset_fills_the_form(open_page):
    from alcore.config import THREE_CLASS_DEMO_CONFIG
    at = open_page("pages/setup.py")
    at.selectbox(key="setup_preset").set_value("three-class demo").run()
    at.button(key="setup_load_preset").click().run()
    assert not at.exception and not errors(at)
    cfg = THREE_CLASS_DEMO_CONFIG
    assert at.text_input(key="setup_synthetic_classes").value == "3"
    assert at.text_input(key="setup_synthetic_size").value == str(cfg.synthetic_size)
    assert at.text_input(key="setup_resolution").value == str(cfg.resolution)
    assert any(c.value == "Train pool: NORMAL 150 · BACTERIAL 225 · VIRAL 225." for c in at.caption)


def test_launching_a_tiny_run_opens_its_live_page_which_shows_its_rounds(open_page, jobs, captions):
    at = open_page("pages/setup.py")
    set_tiny_run(at, synthetic_size=200, resolution=32, init_size=20, budget=10, rounds=2, epochs=1)
    at.run()
    at.button(key="setup_launch").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    assert at.title[0].value == "Live run"
    assert jobs.wait(run_id, timeout=120).state == "done", jobs.store.read_log(run_id)
    at.switch_page("pages/live.py").run()  # AppTest's own page stays Setup until told otherwise
    assert at.main.get("progress")[0].proto.text.startswith("40 labels used · 2 of 2 rounds done")  # Rounds 2, as set
    assert at.get("plotly_chart")[0].key == "live_curves"
    assert len(captions(at)) == 10


def test_a_run_launched_without_embeddings_records_none(open_page, jobs, store):
    at = open_page("pages/setup.py")
    assert at.checkbox(key="setup_record_embeddings").value is True
    set_tiny_run(at, synthetic_size=200, resolution=32, init_size=20, budget=10, rounds=1, epochs=1)
    at.checkbox(key="setup_record_embeddings").uncheck().run()
    at.button(key="setup_launch").click().run()
    run_id = at.query_params["run"]
    assert jobs.wait(run_id, timeout=120).state == "done", jobs.store.read_log(run_id)
    assert store.load_config(run_id).record_embeddings is False
    assert "embedding" not in store.load_round_arrays(run_id, 0)
    at.switch_page("pages/embeddings.py").run()
    assert "recorded without embeddings" in at.info[0].value


@pytest.mark.realdata
def test_the_real_folder_is_checked_and_a_run_on_it_shows_its_x_rays(open_page, jobs, captions, shared_data):
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    at.text_input(key="setup_path").set_value(str(shared_data / "chest_xray"))
    set_tiny_run(at, resolution=32, init_size=20, budget=10, rounds=1, epochs=1)
    at.run()
    at.button(key="setup_check").click().run()
    assert any("images in the train pool" in s.value for s in at.success) and not at.error
    at.button(key="setup_launch").click().run()
    run_id = at.query_params["run"]
    assert jobs.wait(run_id, timeout=300).state == "done", jobs.store.read_log(run_id)
    at.switch_page("pages/queried.py").run()
    assert len(captions(at)) == 10
    at.button[0].click().run()  # Enlarge: the original file, full size
    assert any("original file: " in c.value for c in at.caption)


def test_settings_survive_a_visit_to_another_page(open_page):
    at = open_page("pages/setup.py")
    at.text_input(key="setup_budget").set_value("42").run()
    at.switch_page("dashboard.py").run()
    at.switch_page("pages/setup.py").run()
    assert at.text_input(key="setup_budget").value == "42"


def test_several_samplers_and_a_baseline_launch_one_experiment_to_compare(open_page, jobs, store):
    at = open_page("pages/setup.py")
    set_tiny_run(at, synthetic_size=200, resolution=32, init_size=20, budget=10, rounds=1, epochs=1)
    at.multiselect(key="setup_samplers").set_value(["entropy", "random"])
    at.checkbox(key="setup_baseline").check().run()
    announced = next(re.search(r"in experiment '(exp-[^']+)'", c.value) for c in at.caption if "in experiment" in c.value)
    at.button(key="setup_launch").click().run()
    run_ids = store.run_ids()
    assert len(run_ids) == 3 and at.query_params["run"] in run_ids
    # issue 29, item 5: the caption announced one experiment, the runs got another
    assert {store.load_config(r).experiment for r in run_ids} == {announced.group(1)}
    assert all(jobs.wait(r, timeout=120).state == "done" for r in run_ids)
    at.switch_page("pages/compare.py").run()
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(run_ids)
    assert sorted(at.dataframe[0].value.Series) == ["entropy", "random"]
    assert "full-data baseline" in str(at.get("plotly_chart")[0].proto.spec)


def test_a_config_with_an_unknown_sampler_names_the_sampler_only(open_page):
    """Issue 14, defect 10: an unknown sampler was reported as "...; data must be text"."""
    at = open_page("pages/setup.py")
    upload = json.dumps({**ExperimentConfig().to_dict(), "sampler": "entropyy"}).encode()
    at.file_uploader(key="setup_upload").set_value(("typo.json", upload, "application/json")).run()
    message = " ".join(errors(at))
    assert "unknown sampler 'entropyy'" in message and "data" not in message, message


def test_several_samplers_can_be_raced_in_step_mode(open_page, jobs, store):
    at = open_page("pages/setup.py")
    assert at.checkbox(key="setup_race").disabled  # one sampler: nothing to race
    set_tiny_run(at, synthetic_size=200, resolution=32, init_size=20, budget=10, rounds=1, epochs=1)
    at.multiselect(key="setup_samplers").set_value(["entropy", "random"]).run()
    at.checkbox(key="setup_race").check()
    at.checkbox(key="setup_pause").check().run()
    assert any("Runs all at once, as a race. Each pauses after its query." in c.value for c in at.caption)
    at.button(key="setup_launch").click().run()
    race_id = at.query_params["race"]
    run_ids = store.run_ids()
    assert at.title[0].value == "Live race" and len(run_ids) == 2
    assert {store.load_config(r).experiment for r in run_ids} == {race_id}
    assert all(store.step_control(r).pause for r in run_ids)
    jobs.set_pause(run_ids, False)
    assert all(jobs.wait(r, timeout=120).state == "done" for r in run_ids)


def test_the_folder_field_says_where_the_data_comes_from_and_offers_a_path_it_accepts(open_page, tmp_path):
    """Issue 29, item 6: the placeholder was a path the dashboard refused; nothing said where X-rays come from."""
    (tmp_path / "chest_xray" / "train").mkdir(parents=True)
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    assert at.text_input(key="setup_path").placeholder == str(tmp_path / "chest_xray")
    assert any("Chest X-Ray Images (Pneumonia)" in c.value and "Kermany" in c.value for c in at.caption)
    at.text_input(key="setup_path").set_value(at.text_input(key="setup_path").placeholder).run()
    assert not any("outside the folders" in m for m in errors(at))


def test_learning_rate_is_offered_only_where_it_applies(open_page):
    """Issue 29, item 9: Learning rate was flagged although the frozen logistic head does not use it."""
    at = open_page("pages/setup.py")
    assert at.text_input(key="setup_lr").disabled and at.text_input(key="setup_weight_decay").disabled
    at.radio(key="setup_regime").set_value("finetune").run()
    assert not at.text_input(key="setup_lr").disabled
