from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alcore.data import DataError, cache_dir, load_dataset, open_cached
from alcore.data import decode as folder_source


@pytest.fixture
def count_decodes(monkeypatch):
    calls = []
    real = folder_source.decode_image

    def counting(path, resolution):
        calls.append(path)
        return real(path, resolution)

    monkeypatch.setattr(folder_source, "decode_image", counting)
    return calls


def test_second_load_decodes_nothing(two_class_folder, count_decodes):
    first = load_dataset(str(two_class_folder), 20, seed=0)
    assert len(count_decodes) == 20
    second = load_dataset(str(two_class_folder), 20, seed=0)
    other_seed = load_dataset(str(two_class_folder), 20, seed=4)  # re-carved, not re-decoded
    assert len(count_decodes) == 20
    for name in first.splits:
        np.testing.assert_array_equal(first.splits[name].images, second.splits[name].images)
        np.testing.assert_array_equal(first.splits[name].ids, second.splits[name].ids)
        assert type(second.splits[name].images) is np.ndarray  # plain arrays, not memory maps
    assert second.notes == first.notes
    assert other_seed.fingerprint != first.fingerprint

    load_dataset(str(two_class_folder), 24, seed=0)  # another resolution: decoded again
    assert len(count_decodes) == 40
    changed = two_class_folder / "NORMAL" / "normal-0.jpeg"
    os.utime(changed, ns=(1, 1))  # a changed file changes the fingerprint
    load_dataset(str(two_class_folder), 20, seed=0)
    assert len(count_decodes) == 60


def test_cache_entries_are_complete_and_a_broken_one_is_rebuilt(two_class_folder, count_decodes):
    data = load_dataset(str(two_class_folder), 20)
    pool = cache_dir() / data.fingerprint.rsplit("-seed", 1)[0]
    assert (pool / "meta.json").is_file() and (pool / "train_images.npy").is_file()
    assert not [p for p in cache_dir().iterdir() if p.name.startswith(".tmp")]
    (pool / "train_labels.npy").unlink()
    load_dataset(str(two_class_folder), 20)
    assert len(count_decodes) == 40
    assert (pool / "train_labels.npy").is_file()


def test_open_cached(two_class_folder):
    data = load_dataset(str(two_class_folder), 20, seed=2)
    reopened = open_cached(data.fingerprint)
    np.testing.assert_array_equal(reopened.test.images, data.test.images)
    assert open_cached("folder-0000") is None

    synthetic = load_dataset("synthetic", 16, synthetic_size=20)
    mapped = open_cached(synthetic.fingerprint)
    assert isinstance(mapped.train.images, np.memmap)
    np.testing.assert_array_equal(mapped.val.images[3], synthetic.val.images[3])


def test_dispatch_errors(tmp_path):
    note = tmp_path / "notes.txt"
    note.write_text("x")
    with pytest.raises(DataError, match="not a label table or an .npz"):
        load_dataset(str(note), 16)
    with pytest.raises(DataError, match="data not found"):
        load_dataset(str(tmp_path / "nowhere"), 16)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALCORE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ALCORE_CACHE")
    assert cache_dir() == Path(__file__).resolve().parents[2] / ".cache" / "alcore"


def test_the_data_layer_never_imports_streamlit():
    code = "import sys, alcore.data; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2]).returncode == 0
