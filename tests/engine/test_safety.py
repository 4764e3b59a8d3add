"""Nothing lost, nothing doubled: unique ids, NaN loss and out of memory said plainly, an honest feature cache."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch

from alcore.config import ConfigError, ExperimentConfig, experiment_configs, new_experiment_name, validate
from alcore.learners import FinetuneLearner, FrozenLearner
from alcore.loop import round_seed
from alcore.models import WeightsInfo
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore


def tiny(**changes) -> ExperimentConfig:
    values = dict(model="tiny_cnn", regime="finetune", resolution=32, synthetic_size=200, init_size=20,
                  budget=10, rounds=2, epochs=1, batch_size=16, sampler="entropy", seed=0)
    return ExperimentConfig(**{**values, **changes})


def test_a_thousand_run_ids_created_at_once_never_clash(tmp_path):
    store = RunStore(tmp_path)
    start = threading.Barrier(50)

    def create(_: int) -> str:
        if _ < 50:
            start.wait()  # the first 50 start together
        return store.create_run_dir("entropy", 0)

    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = list(pool.map(create, range(1000)))
    assert len(set(ids)) == 1000 and len(list(tmp_path.iterdir())) == 1000
    assert all(len(run_id.rsplit("-", 1)[1]) == 12 for run_id in ids)  # 48 random bits each


def test_two_launches_in_the_same_second_are_two_experiments():
    names = {new_experiment_name() for _ in range(200)}
    assert len(names) == 200
    first = experiment_configs(ExperimentConfig(), {"random": {}, "entropy": {}}, 1, False)
    second = experiment_configs(ExperimentConfig(), {"random": {}, "entropy": {}}, 1, False)
    assert first[0].experiment != second[0].experiment


def test_a_nan_loss_fails_the_run_at_that_round_and_keeps_the_rounds_before(tmp_path, monkeypatch):
    real_fit = FinetuneLearner.fit

    def fit(self, rows, labels, seed):  # round 1 trains with a learning rate that blows up
        self.settings.lr = 1e12 if seed == round_seed(0, 1) else 1e-3
        real_fit(self, rows, labels, seed)

    monkeypatch.setattr(FinetuneLearner, "fit", fit)
    store = RunStore(tmp_path)
    run_id = create_run(tiny(), store)
    status = execute_run(store, run_id)
    assert status.state == "failed"
    assert status.error == "the loss became NaN at round 1: lower the learning rate (it was 0.001)"
    assert [r.round for r in store.load_rounds(run_id)] == [0]
    assert store.round_path(run_id, 0).is_file() and not store.round_path(run_id, 1).exists()


def test_out_of_memory_says_how_big_the_pool_is_and_what_to_lower(tmp_path, monkeypatch):
    def fit(self, rows, labels, seed):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(FinetuneLearner, "fit", fit)
    store = RunStore(tmp_path)
    status = execute_run(store, create_run(tiny(), store))
    assert status.state == "failed" and "Error" not in status.error
    assert status.error.startswith("out of memory with a train pool of 200 images at 32 px")
    assert "lower the batch size, the resolution or the pool size" in status.error


def test_the_full_data_baseline_is_refused_in_human_mode():
    problems = validate(ExperimentConfig(oracle="human", full_data=True))
    assert "nobody has labeled in human mode" in problems["full_data"]
    assert "full_data" not in validate(ExperimentConfig(oracle="simulated", full_data=True))


def cache_name(device: str, weights: WeightsInfo, seed: int = 0, size: int | None = None) -> str:
    learner = SimpleNamespace(device=torch.device(device), dataset=SimpleNamespace(fingerprint="data-1"))
    return FrozenLearner._cache_path(learner, "train", weights, "resnet18", seed, size).name


def test_the_feature_cache_is_keyed_by_device_precision_and_weights_content(tmp_path):
    imagenet = WeightsInfo("imagenet", "")
    assert cache_name("cpu", imagenet) == cache_name("cpu", imagenet)
    assert cache_name("cpu", imagenet) != cache_name("cuda", imagenet)  # bfloat16 features on CUDA
    assert cache_name("cpu", imagenet, size=288) != cache_name("cpu", imagenet)  # --second-resolution's features
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"first weights")
    first = cache_name("cpu", WeightsInfo(f"file:{weights}", ""))
    weights.write_bytes(b"other weights")
    assert cache_name("cpu", WeightsInfo(f"file:{weights}", "")) != first
    weights.write_bytes(b"first weights")
    copy = tmp_path / "copy.pth"
    copy.write_bytes(b"first weights")
    assert cache_name("cpu", WeightsInfo(f"file:{copy}", "")) == first  # the content, not the name
    assert cache_name("cpu", WeightsInfo("random", ""), seed=1) != cache_name("cpu", WeightsInfo("random", ""))


@pytest.mark.parametrize("bad", [dict(budget=500), dict(init_size=300)])
def test_a_synthetic_pool_too_small_is_refused_before_the_folder_is_written(tmp_path, bad):
    with pytest.raises(ConfigError, match="pool of 200 images"):
        create_run(tiny(**bad), RunStore(tmp_path))
    assert not list(tmp_path.iterdir())
