"""Bad configs are refused before anything runs, with one message per offending field."""
import json

import pytest

from alcore.config import ConfigError, ExperimentConfig, check, validate


def test_default_config_is_valid():
    assert validate(ExperimentConfig()) == {}


@pytest.mark.parametrize("changes, field, words", [
    ({"budget": 0}, "budget", "above 0"),
    ({"rounds": -1}, "rounds", "above 0"),
    ({"init_size": 0}, "init_size", "above 0"),
    ({"epochs": 2.5}, "epochs", "whole number"),
    ({"lr": 0, "regime": "finetune"}, "lr", "above 0"),
    ({"lr": "fast", "head": "adamw"}, "lr", "above 0"),
    ({"weight_decay": -1, "regime": "finetune"}, "weight_decay", "0 or more"),
    ({"sampler": "clairvoyant"}, "sampler", "unknown sampler 'clairvoyant'"),
    ({"model": "vgg"}, "model", "unknown model 'vgg'"),
    ({"regime": "half"}, "regime", "unknown regime"),
    ({"device": "tpu"}, "device", "unknown device"),
    ({"resolution": 8}, "resolution", "between 16 and 1024"),
    ({"threshold_rule": "youden"}, "threshold_rule", "unknown threshold_rule 'youden'; choose one of: cv, prior"),
    ({"second_resolution": 8}, "second_resolution", "0 (off) or between 16 and 1024"),
    ({"second_resolution": 288, "regime": "finetune"}, "second_resolution", "for the frozen regime"),
    ({"second_resolution": 288, "head": "adamw"}, "second_resolution", "needs the logistic head"),
    ({"data": "/no/such/folder"}, "data", "not found"),
    ({"weights": "/no/such.pth"}, "weights", "was not found"),
    ({"sampler": "pca_kmeans", "sampler_options": {"bogus": 1}}, "sampler_options", "'bogus' is not an option"),
    ({"synthetic_pneumonia_share": 1.5}, "synthetic_pneumonia_share", "between 0.05 and 0.95"),
    ({"synthetic_preset": "easy"}, "synthetic_preset",
     "unknown synthetic_preset 'easy'; choose one of: standard, teaching"),
    ({"record_embeddings": "no"}, "record_embeddings", "true or false"),
    ({"synthetic_classes": 1}, "synthetic_classes", "a whole number from 2 to 8"),
    ({"synthetic_classes": 9}, "synthetic_classes", "a whole number from 2 to 8"),
    ({"synthetic_classes": 3.0}, "synthetic_classes", "a whole number from 2 to 8"),
    ({"synthetic_classes": 3, "synthetic_preset": "teaching"}, "synthetic_classes",
     "the teaching preset draws two classes; use the standard preset"),
    ({"synthetic_classes": 3, "synthetic_pneumonia_share": 0.99}, "synthetic_pneumonia_share",
     "share of non-normal images (all findings together) must be between 0.05 and 0.95"),
    ({"synthetic_classes": 8, "synthetic_size": 100, "synthetic_pneumonia_share": 0.2}, "synthetic_pneumonia_share",
     "with 8 classes and a share of 0.2, the val split of 16 images gets no FINDING_4 image"),
])
def test_each_bad_field_has_its_message(changes, field, words):
    problems = validate(ExperimentConfig(**changes))
    assert field in problems, problems
    assert words in problems[field]


def test_synthetic_classes_default_to_two_and_old_configs_read_back(tmp_path):
    assert ExperimentConfig().synthetic_classes == 2
    old = ExperimentConfig().to_dict()
    del old["synthetic_classes"]  # a config.json written before the setting existed
    assert ExperimentConfig.from_dict(old).synthetic_classes == 2
    three = ExperimentConfig(synthetic_classes=3)
    assert validate(three) == {} and three.to_dict()["synthetic_classes"] == 3
    assert ExperimentConfig.from_dict(three.to_dict()) == three
    # on other data the synthetic settings only need to be in range (a saved config keeps them)
    assert validate(ExperimentConfig(data="/", synthetic_classes=3, synthetic_preset="teaching")) == {}


def test_the_config_presets_are_valid_and_one_has_three_classes():
    from alcore.config import CONFIG_PRESETS, THREE_CLASS_DEMO_CONFIG
    assert all(validate(cfg) == {} for cfg in CONFIG_PRESETS.values())
    assert CONFIG_PRESETS["three-class demo"] is THREE_CLASS_DEMO_CONFIG
    assert THREE_CLASS_DEMO_CONFIG.synthetic_classes == 3 and THREE_CLASS_DEMO_CONFIG.synthetic_preset == "standard"


def test_only_the_settings_that_apply_are_checked():
    """Issue 29, item 9: Learning rate was flagged for the frozen logistic head, which has no optimiser."""
    assert validate(ExperimentConfig(regime="frozen", head="logistic", lr=0, weight_decay=-1)) == {}


def test_several_problems_are_all_reported():
    problems = validate(ExperimentConfig(budget=0, rounds=0, sampler="nope"))
    assert {"budget", "rounds", "sampler"} <= set(problems)


def test_pool_size_checks():
    assert "init_size" in validate(ExperimentConfig(init_size=500), pool_size=400)
    problems = validate(ExperimentConfig(init_size=100, budget=90, rounds=10), pool_size=900)
    assert "1000 labels, more than the pool of 900" in problems["budget"]
    assert validate(ExperimentConfig(init_size=100, budget=90, rounds=10), pool_size=1000) == {}


def test_check_raises_with_all_problems():
    with pytest.raises(ConfigError) as err:
        check(ExperimentConfig(budget=-3))
    assert "budget" in err.value.problems


def test_json_round_trip_and_unknown_keys(tmp_path):
    path = tmp_path / "c.json"
    cfg = ExperimentConfig(sampler="margin", budget=7)
    path.write_text(json.dumps(cfg.to_dict()))
    assert ExperimentConfig.from_json(path) == cfg
    path.write_text(json.dumps({"budgett": 7}))
    with pytest.raises(ConfigError, match="unknown setting 'budgett'"):
        ExperimentConfig.from_json(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ExperimentConfig.from_json(path)
