from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import pytest

from alcore.data import DataError, cache, load_dataset, summarize
from alcore.data.synthetic import (BAND, BORDERLINE_SHARE, GROUP_SHARES, GROUPS, THRESHOLD, class_counts,
                                   class_names, render, render_teaching, split_sizes)


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


# --- more than two classes ----------------------------------------------------------------------
def test_three_classes_names_counts_and_labels():
    data = load_dataset("synthetic", 32, synthetic_size=200, pneumonia_share=0.75, synthetic_classes=3)
    assert data.classes == ("NORMAL", "BACTERIAL", "VIRAL") == class_names(3)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 200, "val": 20, "test": 100}
    # 75 % non-normal, split evenly (the first finding gets the odd one)
    assert np.bincount(data.train.labels).tolist() == [50, 75, 75]
    assert np.bincount(data.val.labels).tolist() == [5, 8, 7] == class_counts(20, 0.75, 3)
    assert np.bincount(data.test.labels).tolist() == [25, 38, 37]
    assert all(s.labels.dtype == np.int64 for s in data.splits.values())
    assert "75% BACTERIAL / VIRAL" in data.name and "split evenly" in data.notes[0]
    summary = summarize(data, "synthetic")
    assert summary.classes == data.classes and summary.positive is None
    assert summary.splits["train"].per_class == (50, 75, 75)
    assert class_names(5) == ("NORMAL", "FINDING_1", "FINDING_2", "FINDING_3", "FINDING_4")
    assert class_counts(100, 0.5, 8) == [50, 8, 7, 7, 7, 7, 7, 7]


def test_three_classes_are_deterministic_and_apart_from_the_binary_set(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "a"))
    first = load_dataset("synthetic", 32, synthetic_size=60, synthetic_classes=3)
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "b"))  # generate again, not from the cache
    second = load_dataset("synthetic", 32, seed=5, synthetic_size=60, synthetic_classes=3)
    binary = load_dataset("synthetic", 32, synthetic_size=60, synthetic_classes=2)
    assert first.fingerprint == second.fingerprint != binary.fingerprint
    assert binary.fingerprint == cache.fingerprint("synthetic", 4, 1234, 60, 0.75, 32)  # two classes: the key as before
    for name in first.splits:
        np.testing.assert_array_equal(first.splits[name].images, second.splits[name].images)
        np.testing.assert_array_equal(first.splits[name].labels, second.splits[name].labels)


def test_more_classes_are_refused_where_they_cannot_be_drawn():
    with pytest.raises(DataError, match="the standard preset draws 2 to 8 classes, the teaching preset 2"):
        load_dataset("synthetic", 32, synthetic_size=60, synthetic_classes=3, synthetic_preset="teaching")
    with pytest.raises(DataError, match="synthetic classes 9"):
        load_dataset("synthetic", 32, synthetic_size=60, synthetic_classes=9)


def test_each_finding_draws_its_own_pattern():
    """The same patients drawn NORMAL and with each finding (one generator seed: the same anatomy):
    BACTERIAL makes one lung denser, VIRAL both about alike. Medians over many images."""
    n = 120

    def lungs(label: int) -> tuple[np.ndarray, np.ndarray]:
        images = render(np.full(n, label), 64, np.random.default_rng(3), 3).astype(float)
        return images[:, 12:44, 10:26].mean(axis=(1, 2)), images[:, 12:44, 38:54].mean(axis=(1, 2))

    (left0, right0), (left1, right1), (left2, right2) = lungs(0), lungs(1), lungs(2)
    bacterial = np.stack([left1 - left0, right1 - right0])
    viral = np.stack([left2 - left0, right2 - right0])
    assert np.median(bacterial.max(0)) > 10 and np.median(bacterial.min(0)) < 3  # one side only
    assert np.median(viral.min(0)) > 5 and np.median(viral.max(0) - viral.min(0)) < np.median(viral.min(0))
    eight = render(np.arange(8).repeat(4), 32, np.random.default_rng(0), 8)
    assert eight.shape == (32, 32, 32) and eight.dtype == np.uint8


def test_three_classes_are_learnable_but_not_trivially():
    from sklearn.metrics import balanced_accuracy_score
    data = load_dataset("synthetic", 32, synthetic_size=600, synthetic_classes=3)

    def pixels(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), 16, 2, 16, 2).mean(axis=(2, 4)).reshape(len(images), -1) / 255

    train, test = pixels(data.train.images), pixels(data.test.images)
    mean, std = train.mean(0), train.std(0) + 1e-3
    model = LogisticRegression(C=0.01, max_iter=2000).fit((train - mean) / std, data.train.labels)
    probs = model.predict_proba((test - mean) / std)
    auc = roc_auc_score(data.test.labels, probs, multi_class="ovr")
    assert 0.6 < auc < 0.95
    assert 0.4 < balanced_accuracy_score(data.test.labels, probs.argmax(1)) < 0.9


# --- the teaching preset -------------------------------------------------------------------------
def test_teaching_preset_is_deterministic_and_apart_from_the_standard_set(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "a"))
    first = load_dataset("synthetic", 32, synthetic_size=60, synthetic_preset="teaching")
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "b"))  # generate again, not from the cache
    second = load_dataset("synthetic", 32, seed=3, synthetic_size=60, synthetic_preset="teaching")
    standard = load_dataset("synthetic", 32, synthetic_size=60)
    assert first.fingerprint == second.fingerprint != standard.fingerprint
    # the standard set's cache key (and so its images) did not change with the preset's arrival
    assert standard.fingerprint == cache.fingerprint("synthetic", 4, 1234, 60, 0.75, 32)
    assert {k: len(v) for k, v in first.splits.items()} == {"train": 60, "val": 16, "test": 200}
    assert "teaching preset" in first.name
    for name in first.splits:
        np.testing.assert_array_equal(first.splits[name].images, second.splits[name].images)
        np.testing.assert_array_equal(first.splits[name].labels, second.splits[name].labels)
        np.testing.assert_array_equal(first.splits[name].sources, second.splits[name].sources)
    groups = {s.split(":")[3] for s in first.test.sources}
    assert groups == set(GROUPS) and first.test.sources[0].startswith("synthetic:test:0:")


def test_teaching_preset_draws_the_promised_sub_populations_and_borderline_band():
    labels = np.repeat([0, 1], 1000)
    _, traits = render_teaching(labels, 16, np.random.default_rng(0))
    shares = np.bincount(traits.group, minlength=len(GROUPS)) / len(labels)
    np.testing.assert_allclose(shares, GROUP_SHARES, atol=0.03)  # 2,000 draws: a few sigma
    for label in (0, 1):
        mine = labels == label
        assert abs(traits.borderline[mine].mean() - BORDERLINE_SHARE) < 0.04
        border = traits.density[mine & traits.borderline]
        assert np.all(traits.density[mine & ~traits.borderline] == 0)  # clear: no borderline opacity
        if label:  # borderline PNEUMONIA lies just above the threshold, borderline NORMAL just below
            assert border.min() >= THRESHOLD and border.max() <= THRESHOLD + BAND
        else:
            assert border.min() >= THRESHOLD - BAND and border.max() <= THRESHOLD
    assert traits.describe()[0] in {f"{g}:{k}" for g in GROUPS for k in ("clear", "borderline")}


def test_teaching_films_show_their_lesion_and_their_sub_population():
    labels = np.repeat([0, 1], 150)
    images, traits = render_teaching(labels, 64, np.random.default_rng(1))
    adult = traits.group == 0
    lower_lungs = images[:, 34:48, 10:54].mean(axis=(1, 2))  # consolidations fill the lower zones
    clear_normal = lower_lungs[adult & (labels == 0) & ~traits.borderline]
    clear_pneumonia = lower_lungs[adult & (labels == 1) & ~traits.borderline]
    assert np.median(clear_pneumonia) > np.median(clear_normal) + 10
    # bedside films carry ECG electrodes: near-white dots inside the chest, which no other film has
    brightest = images[:, 8:56, 8:56].max(axis=(1, 2))
    portable = traits.group == GROUPS.index("portable AP")
    assert np.median(brightest[portable]) > np.median(brightest[~portable])
    # a child's thorax is smaller in the field: more dark background around it
    background = (images < 40).mean(axis=(1, 2))
    child = traits.group == GROUPS.index("child")
    assert np.median(background[child]) > np.median(background[adult])
