"""The registry: names, aliases, help texts and option validation."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from alcore.config import ExperimentConfig, validate
from alcore.strategies import Pool, registry

EXPECTED = {"random": "baseline", "least_confidence": "uncertainty", "margin": "uncertainty",
            "entropy": "uncertainty", "bald": "uncertainty", "pca_kmeans": "diversity",
            "coreset": "diversity", "typiclust": "diversity", "badge": "hybrid", "uncertain_kmeans": "hybrid"}


def test_every_strategy_is_registered_with_its_family():
    assert {info.name: info.family for info in registry.all_strategies()} == EXPECTED
    assert registry.names()[0] == "random"


def test_only_bald_asks_for_mc_dropout():
    assert [info.name for info in registry.all_strategies() if info.needs_mc] == ["bald"]


def test_alias_resolves_everywhere():
    assert registry.canonical("uncertainty") == "least_confidence"
    assert registry.is_known("uncertainty") and registry.get("uncertainty").name == "least_confidence"
    assert registry.validate_options("uncertainty", {}) == {}


def test_unknown_name_lists_the_choices():
    assert not registry.is_known("entropyy")
    with pytest.raises(KeyError, match="unknown sampler 'entropyy'; choose one of: random, "):
        registry.get("entropyy")


@pytest.mark.parametrize("info", registry.all_strategies(), ids=lambda info: info.name)
def test_help_is_one_sentence_and_defaults_are_valid(info):
    assert info.help and "\n" not in info.help and info.help.endswith(".") and len(info.help) < 250
    defaults = {o.name: o.default for o in info.options}
    assert registry.validate_options(info.name, defaults) == {}
    assert all(o.help for o in info.options)


def test_option_defaults():
    def defaults(name):
        return {o.name: o.default for o in registry.get(name).options}
    assert defaults("bald") == {"mc_passes": 20}
    assert defaults("pca_kmeans") == {"pca_components": 10, "subsample": 20_000}
    assert defaults("typiclust") == {"max_clusters": 500, "subsample": 20_000}
    assert defaults("uncertain_kmeans") == {"factor": 5}


@pytest.mark.parametrize("name, given, message", [
    ("pca_kmeans", {"pca_components": 0}, "pca_components must be a number >= 1 (got 0)"),
    ("pca_kmeans", {"n_clusters": 3},
     "'n_clusters' is not an option of pca_kmeans (options: pca_components, subsample)"),
    ("bald", {"mc_passes": 1}, "mc_passes must be a number >= 2 (got 1)"),
    ("coreset", {"subsample": "all"}, "subsample must be a number >= 0 (got 'all')"),
    ("entropy", {"factor": 2}, "'factor' is not an option of entropy (it takes none)"),
])
def test_validate_options_messages(name, given, message):
    assert registry.validate_options(name, given) == {"sampler_options": message}


def test_config_validation_reaches_the_strategy_options():
    problems = validate(ExperimentConfig(sampler="uncertain_kmeans", sampler_options={"factor": 0}))
    assert problems == {"sampler_options": "factor must be a number >= 1 (got 0)"}


def test_query_refuses_a_budget_above_the_pool():
    pool = Pool(np.full((3, 2), 0.5), np.zeros((3, 1), np.float32), np.zeros((0, 1), np.float32),
                np.random.default_rng(0))
    with pytest.raises(ValueError, match="budget 4 is larger than the unlabeled pool"):
        registry.query("entropy", pool, 4)


@pytest.mark.parametrize("info", registry.all_strategies(), ids=lambda info: info.name)
def test_docstring_names_the_source_in_its_first_line(info):
    first_line = (info.fn.__doc__ or "").strip().split("\n")[0]
    assert re.search(r"\b(19|20)\d\d\b|the reference report", first_line), (info.name, first_line)


def test_options_are_a_frozen_dataclass_filled_from_the_config_dict():
    info = registry.get("typiclust")
    options = info.parse_options({"max_clusters": 40.0, "not_an_option": 1})
    assert options == info.options_type(max_clusters=40, subsample=20_000)
    assert type(options.max_clusters) is int  # a JSON 40.0 becomes the count it means
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_clusters = 3
    assert registry.get("entropy").parse_options({}) is None and registry.get("entropy").options == ()


def test_a_count_option_must_be_whole():
    assert registry.validate_options("coreset", {"subsample": 0.5}) == {
        "sampler_options": "subsample must be a whole number (got 0.5)"}
    assert registry.validate_options("coreset", {"subsample": 2e4}) == {}
    assert registry.validate_options("uncertain_kmeans", {"factor": 2.5}) == {}  # a ratio, not a count
