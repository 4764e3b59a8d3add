from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from alcore.data import DataError, load_dataset


def write_npz(path, sizes=(12, 4, 6), drop: tuple[str, ...] = (), n_classes: int = 2):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in zip(("train", "val", "test"), sizes):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % n_classes
        arrays[f"{split}_labels"] = labels[:, None] if split == "train" else labels  # both shapes occur
    np.savez(path, **{k: v for k, v in arrays.items() if k not in drop})
    return path


def test_tiny_npz_is_resized_with_ids_and_sources(tmp_path):
    path = write_npz(tmp_path / "tiny.npz")
    data = load_dataset(str(path), 32)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 12, "val": 4, "test": 6}
    assert data.train.images.shape == (12, 32, 32) and data.train.images.dtype == np.uint8
    assert data.train.labels.dtype == np.int64 and list(data.val.labels) == [0, 1, 0, 1]
    assert data.test.ids[5] == "test-00005" and data.test.sources[5] == "npz:test:5"
    assert load_dataset(str(path), 28).train.images.shape == (12, 28, 28)


def test_an_npz_with_three_label_values_gives_three_classes(tmp_path):
    path = write_npz(tmp_path / "three.npz", n_classes=3)
    data = load_dataset(str(path), 28)
    assert data.classes == ("label 0", "label 1", "label 2")
    assert np.bincount(data.train.labels).tolist() == [4, 4, 4] and list(data.test.labels) == [0, 1, 2, 0, 1, 2]
    named = load_dataset(str(path), 28, classes="NORMAL,BACTERIAL,VIRAL")
    assert named.classes == ("NORMAL", "BACTERIAL", "VIRAL")
    np.testing.assert_array_equal(named.train.labels, data.train.labels)  # names only: the labels stay
    with pytest.raises(DataError, match=r"holds the labels 0, 1, 2: give --classes 3 names only"):
        load_dataset(str(path), 28, classes="NORMAL,PNEUMONIA")
    assert load_dataset(str(write_npz(tmp_path / "two.npz")), 28).classes == ("NORMAL", "PNEUMONIA")


def test_labels_that_are_not_class_indices_are_refused(tmp_path):
    path = write_npz(tmp_path / "bad.npz")
    arrays = dict(np.load(path))
    arrays["val_labels"] = np.array([0.0, 1.5, 1.0, 0.0])
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="val_labels must be one class index per image: 0, 1, 2"):
        load_dataset(str(path), 28)


def test_missing_keys_are_listed(tmp_path):
    path = write_npz(tmp_path / "partial.npz", drop=("val_images", "test_labels"))
    with pytest.raises(DataError) as err:
        load_dataset(str(path), 28)
    assert "val_images" in str(err.value) and "test_labels" in str(err.value)


def test_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_text("hello")
    with pytest.raises(DataError, match="could not read"):
        load_dataset(str(path), 28)


def test_missing_official_file_explains_the_download(tmp_path, monkeypatch):
    def offline(**kwargs):
        raise RuntimeError("no network")

    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(PneumoniaMNIST=offline))
    with pytest.raises(DataError) as err:
        load_dataset(str(tmp_path / "pneumoniamnist_64.npz"), 64)
    assert "https://zenodo.org/records/10519652/files/pneumoniamnist_64.npz" in str(err.value)
    assert str(tmp_path / "pneumoniamnist_64.npz") in str(err.value)
    with pytest.raises(DataError, match="not found"):
        load_dataset(str(tmp_path / "mine.npz"), 64)


@pytest.mark.realdata
def test_reduced_pneumoniamnist(shared_data):
    data = load_dataset(str(shared_data / "pneumoniamnist_28_reduced.npz"), 28)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 3882, "val": 524, "test": 624}
    assert int(data.train.labels.sum()) == 3494 and int(data.test.labels.sum()) == 390


def test_uint16_npz_is_windowed_not_clipped_and_takes_class_names(tmp_path):
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(28), np.arange(28)).astype(np.float64) / 54
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        images = np.stack([ramp * 3000 + 500 + rng.normal(0, 5, ramp.shape) for _ in range(n)]).astype(np.uint16)
        images[:, 0, 0] = 65535  # a marker pixel
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, np.arange(n) % 2
    np.savez(tmp_path / "deep.npz", **arrays)
    data = load_dataset(str(tmp_path / "deep.npz"), 28, classes="healthy,sick")
    image = data.train.images[0].astype(float)
    assert (image >= 255).mean() < 0.02  # clipping at 255 would saturate every pixel
    assert np.corrcoef(image[1:, 1:].ravel(), ramp[1:, 1:].ravel())[0, 1] > 0.98
    assert data.classes == ("healthy", "sick") and any("robust percentiles" in n for n in data.notes)
    with pytest.raises(DataError, match="names only"):
        load_dataset(str(tmp_path / "deep.npz"), 28, classes="healthy=0,sick=1")
    with pytest.raises(DataError, match="--columns is for a label table"):
        load_dataset(str(tmp_path / "deep.npz"), 28, columns="image=x")
