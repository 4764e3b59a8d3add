from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from alcore.data import load_dataset
from alcore.data.synthetic import render, split_sizes


def test_shapes_sizes_ids_and_exact_class_share():
    data = load_dataset("synthetic", 32, synthetic_size=200, pneumonia_share=0.75)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 200, "val": 20, "test": 100}
    assert split_sizes(2000) == {"train": 2000, "val": 200, "test": 500}
    for name, split in data.splits.items():
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (32, 32)
        assert split.labels.dtype == np.int64 and set(np.unique(split.labels)) == {0, 1}
        assert split.ids[3] == f"syn-{name}-00003" and split.sources[3] == f"synthetic:{name}:3"
    assert data.train.labels.sum() == 150
    assert data.test.labels.sum() == 75
    assert load_dataset("synthetic", 32, synthetic_size=200, pneumonia_share=0.5).train.labels.sum() == 100


def test_generation_is_deterministic_and_ignores_the_run_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "a"))
    first = load_dataset("synthetic", 48, seed=0, synthetic_size=100)
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "b"))  # generate again, not from the cache
    second = load_dataset("synthetic", 48, seed=7, synthetic_size=100)
    assert first.fingerprint == second.fingerprint
    for name in first.splits:
        np.testing.assert_array_equal(first.splits[name].images, second.splits[name].images)
        np.testing.assert_array_equal(first.splits[name].labels, second.splits[name].labels)


def test_images_vary_and_use_the_grey_range():
    images = render(np.array([0, 0, 1, 1]), 64, np.random.default_rng(0))
    assert images.shape == (4, 64, 64)
    assert images.min() < 30 and images.max() > 200  # dark background, bright bone
    assert not np.array_equal(images[0], images[1])


def test_generation_is_fast():
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    render(np.ones(256, np.int64), 64, rng)
    assert time.perf_counter() - start < 5  # about 0.2 s on 2 idle cores


def test_classes_are_learnable_but_not_trivially():
    data = load_dataset("synthetic", 32, synthetic_size=600)

    def pixels(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), 16, 2, 16, 2).mean(axis=(2, 4)).reshape(len(images), -1) / 255

    train, test = pixels(data.train.images), pixels(data.test.images)
    mean, std = train.mean(0), train.std(0) + 1e-3
    model = LogisticRegression(C=0.01, max_iter=2000).fit((train - mean) / std, data.train.labels)
    auc = roc_auc_score(data.test.labels, model.predict_proba((test - mean) / std)[:, 1])
    assert 0.6 < auc < 0.95
