"""A tiny finished run to take the model from (seconds on a CPU)."""
from __future__ import annotations

import pytest

from alcore.config import ExperimentConfig
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore

TINY = dict(model="tiny_cnn", resolution=32, synthetic_size=200, init_size=20, budget=10, rounds=2, epochs=1,
            batch_size=16, sampler="entropy", seed=3)


def finished_run(store: RunStore, **changes) -> str:
    run_id = create_run(ExperimentConfig(**{**TINY, **changes}), store)
    status = execute_run(store, run_id)
    assert status.state == "done", status.error
    return run_id


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "results")
