"""Sweeps: the file format, the CLI flags over it, and the expansion into experiments."""
from __future__ import annotations

import json

import pytest

from alcore.cli import build_parser, sweep_from_args
from alcore.config import ConfigError
from alcore.sweep import Sweep


def parse(*argv: str):
    return sweep_from_args(build_parser().parse_args(["sweep", *argv]))


def test_the_report_grid_is_one_sweep_file(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"experiment": "report", "samplers": ["random", "bald"], "seeds": 5,
                                "init_sizes": [100], "schedules": [[90, 10], [30, 30]], "models": ["resnet18"],
                                "resolutions": [224], "regime": "finetune", "with_baseline": True}))
    configs = parse(str(path)).configs()
    runs = [c for c in configs if not c.full_data]
    assert len(runs) == 2 * 5 * 2 and {c.final_labeled for c in runs} == {1000}
    assert {c.regime for c in configs} == {"finetune"} and {c.model for c in configs} == {"resnet18"}
    assert sorted({c.experiment for c in configs}) == ["report-resnet18-224px-100+30x30", "report-resnet18-224px-100+90x10"]
    baselines = [c for c in configs if c.full_data]
    assert len(baselines) == 1  # one per model and resolution
    assert {c.seed for c in runs} == set(range(5))


def test_flags_override_the_file_axes(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"samplers": ["random"], "seeds": 3, "rounds": 4}))
    sweep = parse(str(path), "--sampler", "entropy,margin", "--seeds", "1", "--schedule", "20x2,10x4",
                  "--resolution", "64,128", "--experiment", "grid")
    configs = sweep.configs()
    assert len(configs) == 2 * 1 * 2 * 2
    assert {(c.budget, c.rounds) for c in configs} == {(20, 2), (10, 4)} and {c.resolution for c in configs} == {64, 128}
    assert len({c.experiment for c in configs}) == 4 and all(c.experiment.startswith("grid-") for c in configs)


def test_a_single_cell_keeps_the_sweep_name():
    configs = parse("--sampler", "random,entropy", "--seeds", "2", "--experiment", "small").configs()
    assert {c.experiment for c in configs} == {"small"} and len(configs) == 4


def test_bad_sweeps_are_refused_with_a_message(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"samplers": ["random"], "learning_rate": 0.1}))
    with pytest.raises(ConfigError, match="unknown setting 'learning_rate'"):
        Sweep.from_json(path)
    with pytest.raises(SystemExit):
        parse("--schedule", "90by10")
    with pytest.raises(ConfigError, match="schedules must be"):
        Sweep.from_dict({"schedules": [90, 10]})
