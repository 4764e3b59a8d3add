"""The README's Python API example runs as written (in a scratch folder), and the API's pieces."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from alcore import api
from alcore.config import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "the README lost its Python API example"
    return match.group(1)


def test_the_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    frame = scope["frame"]
    assert set(frame.strategy) == {"random", "entropy"} and set(frame.seed) == {0, 1}
    assert len(frame) == 4 * 3 and frame.accuracy.between(0, 1).all()
    assert len(api.rounds(scope["run_ids"][0])) == 3


def test_a_config_is_checked_when_built():
    with pytest.raises(ConfigError) as refused:
        api.config(budget=0, threads=-1)
    assert set(refused.value.problems) == {"budget", "threads"}


def test_a_sweep_expresses_the_two_schedules_of_the_report():
    sweep = api.sweep(api.config(init_size=100), samplers=["random", "bald"], seeds=5,
                      schedules=[(90, 10), (30, 30)], experiment="report")
    configs = sweep.configs()
    assert len(configs) == 2 * 5 * 2
    assert {(c.budget, c.rounds, c.experiment) for c in configs} == {
        (90, 10, "report-efficientnet_lite0-128px-100+90x10"), (30, 30, "report-efficientnet_lite0-128px-100+30x30")}
    assert {c.final_labeled for c in configs} == {1000}
