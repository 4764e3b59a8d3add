"""Sweeps: one launch over samplers x seeds x initial sizes x (budget, rounds) schedules x models x
resolutions. Each (model, resolution, initial size, schedule) cell is an experiment of its own (its
samplers x seeds, expanded by config.experiment_configs), so Compare and `summary` read each as
today; with a single cell the experiment keeps the sweep's name.

A sweep file is JSON: the axes below, and any run setting (the base every run starts from), e.g.

    {"samplers": ["random", "entropy", "bald"], "seeds": 5, "schedules": [[90, 10], [30, 30]],
     "init_sizes": [100], "models": ["resnet18"], "resolutions": [224], "regime": "finetune",
     "with_baseline": true, "experiment": "report"}
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path

from alcore.config import ConfigError, ExperimentConfig, experiment_configs, new_experiment_name, read_json_object

AXES = ("samplers", "seeds", "init_sizes", "schedules", "models", "resolutions", "with_baseline", "experiment")


@dataclass
class Sweep:
    base: ExperimentConfig = field(default_factory=ExperimentConfig)
    samplers: dict[str, dict] = field(default_factory=dict)  # sampler -> its options; empty: base.sampler
    seeds: int = 1  # seeds base.seed .. base.seed + seeds - 1
    init_sizes: list[int] = field(default_factory=list)  # empty: [base.init_size]
    schedules: list[tuple[int, int]] = field(default_factory=list)  # (budget, rounds); empty: the base's
    models: list[str] = field(default_factory=list)
    resolutions: list[int] = field(default_factory=list)
    with_baseline: bool = False  # one full-data baseline per (model, resolution), in its first cell
    experiment: str = ""

    @classmethod
    def from_dict(cls, values: dict) -> "Sweep":
        axes = {k: v for k, v in values.items() if k in AXES}
        base = ExperimentConfig.from_dict({k: v for k, v in values.items() if k not in AXES})
        samplers = axes.pop("samplers", {})
        if isinstance(samplers, str):
            samplers = [s.strip() for s in samplers.split(",") if s.strip()]
        if isinstance(samplers, list):
            samplers = {name: dict(base.sampler_options) for name in samplers}
        if not isinstance(samplers, dict):
            raise ConfigError({"samplers": "samplers must be a list of names or an object of name -> options"})
        try:
            schedules = [(int(budget), int(rounds)) for budget, rounds in axes.pop("schedules", [])]
        except (TypeError, ValueError):
            raise ConfigError({"schedules": "schedules must be [budget, rounds] pairs, e.g. [[90, 10], [30, 30]]"})
        return cls(base=base, samplers=samplers, schedules=schedules, **axes)

    @classmethod
    def from_json(cls, path: str | Path) -> "Sweep":
        return cls.from_dict(read_json_object(path, "sweep"))

    def cells(self) -> list[tuple[str, int, int, tuple[int, int]]]:
        """(model, resolution, initial size, (budget, rounds)) of each experiment of the sweep."""
        b = self.base
        return list(product(self.models or [b.model], self.resolutions or [b.resolution],
                            self.init_sizes or [b.init_size], self.schedules or [(b.budget, b.rounds)]))

    def configs(self) -> list[ExperimentConfig]:
        if self.seeds < 1:
            raise ConfigError({"seeds": f"seeds must be 1 or more (got {self.seeds})"})
        cells = self.cells()
        name = self.experiment or self.base.experiment or new_experiment_name()
        samplers = self.samplers or {self.base.sampler: self.base.sampler_options}
        configs, with_baseline = [], set()
        for model, resolution, init_size, (budget, rounds) in cells:
            cell_name = name if len(cells) == 1 else f"{name}-{model}-{resolution}px-{init_size}+{budget}x{rounds}"
            base = replace(self.base, model=model, resolution=resolution, init_size=init_size, budget=budget,
                           rounds=rounds)
            baseline = self.with_baseline and (model, resolution) not in with_baseline
            with_baseline.add((model, resolution))
            configs += experiment_configs(base, samplers, self.seeds, baseline, cell_name)
        return configs
