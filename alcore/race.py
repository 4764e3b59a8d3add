"""A race: several strategies on the same data, initial set and seed, started together and watched
side by side (one Live view, the random baseline among them; step mode pauses them all).

A race is an experiment whose id starts with `race-`: its runs are ordinary runs (each gives exactly
the numbers its config gives alone), grouped by their config's `experiment`, so Compare and
`python -m alcore summary` read a race like any experiment.
"""
from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

from alcore.config import ExperimentConfig
from alcore.runs import RunStore

RACE_PREFIX = "race-"
DEFAULT_RACERS = ("random", "entropy", "pca_kmeans", "coreset")
BASELINE = "random"  # drawn as the line to beat


def new_race_id() -> str:
    """Time plus 24 random bits, like an experiment name."""
    return datetime.now().strftime(f"{RACE_PREFIX}%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def is_race(experiment: str) -> bool:
    return experiment.startswith(RACE_PREFIX)


def race_configs(base: ExperimentConfig, samplers: tuple[str, ...] = DEFAULT_RACERS,
                 race_id: str | None = None) -> list[ExperimentConfig]:
    """One run per sampler on `base`'s data, initial set and seed, all in one race."""
    race_id = race_id or new_race_id()
    return [replace(base, sampler=sampler, sampler_options={}, experiment=race_id) for sampler in samplers]


def as_race(configs: list[ExperimentConfig], race_id: str | None = None) -> list[ExperimentConfig]:
    """Any set of runs (Setup's samplers x seeds) as one race."""
    race_id = race_id or new_race_id()
    return [replace(cfg, experiment=race_id) for cfg in configs]


def racers(store: RunStore, race_id: str) -> list[str]:
    """The race's run ids: random first, then the default racers' order, then the others by name."""
    found = [(store.load_config(run_id), run_id) for run_id in store.run_ids()]
    members = [(config, run_id) for config, run_id in found if config.experiment == race_id]
    order = {name: k for k, name in enumerate(DEFAULT_RACERS)}

    def rank(item: tuple[ExperimentConfig, str]) -> tuple:
        config, run_id = item
        return (order.get(config.sampler, len(order)), config.sampler, config.seed, run_id)
    return [run_id for _, run_id in sorted(members, key=rank)]
