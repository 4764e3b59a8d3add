from __future__ import annotations

import os

import numpy as np
import pytest

from alcore.data import UNKNOWN_LABEL, DataError, load_dataset, open_cached, summarize
from alcore.data.decode import decode_image
from alcore.data.folder import patient_id


def test_mixed_modes_sizes_corrupt_and_non_image_files(two_class_folder, make_image, make_truncated_jpeg):
    root = two_class_folder
    make_image(root / "NORMAL" / "rgb.jpg", "RGB", (90, 60))
    make_image(root / "NORMAL" / "rgba.png", "RGBA", (17, 33))
    make_image(root / "PNEUMONIA" / "deep.png", "I;16", (50, 50))
    make_image(root / "PNEUMONIA" / "big.jpeg", "L", (1200, 900))
    make_truncated_jpeg(root / "PNEUMONIA" / "cut.jpeg")
    (root / "NORMAL" / "fake.png").write_text("not an image")
    (root / "NORMAL" / "notes.txt").write_text("hello")
    (root / "NORMAL" / ".DS_Store").write_bytes(b"\0\1")

    data = load_dataset(str(root), 24)

    counts = {name: len(split) for name, split in data.splits.items()}
    assert sum(counts.values()) == 24  # 20 + 4 good files; 2 undecodable skipped
    skipped = next(d.describe() for d in data.dropped)
    assert "2 files" in skipped and "NORMAL/fake.png" in skipped and "PNEUMONIA/cut.jpeg" in skipped
    assert any("NORMAL/notes.txt" in n for n in data.notes)
    assert any(d.count == 2 and "could not be decoded" in d.reason for d in data.dropped)
    assert not any(".DS_Store" in n for n in data.notes)
    all_ids = np.concatenate([s.ids for s in data.splits.values()])
    assert len(set(all_ids)) == 24 and "PNEUMONIA/deep.png" in all_ids
    for split in data.splits.values():
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (24, 24)
        assert split.sources.size == 0 or os.path.isabs(split.sources[0])


def test_16_bit_images_are_scaled_to_the_full_8_bit_range(tmp_path, make_image):
    path = make_image(tmp_path / "deep.png", "I;16", (64, 64))
    image = decode_image(path, 32)
    assert image.dtype == np.uint8 and image.shape == (32, 32)
    assert image.min() < 10 and image.max() > 245


def test_a_burned_in_marker_does_not_darken_a_16_bit_png(tmp_path):
    from PIL import Image
    ramp = np.add.outer(np.arange(200), np.arange(200)).astype(np.uint16) * 5 + 1000  # 1000..2990
    ramp[:6, :6] = 65535  # a marker at the maximum
    Image.fromarray(ramp).save(tmp_path / "marked.png")
    image = decode_image(tmp_path / "marked.png", 100).astype(float)
    expected = np.add.outer(np.arange(0, 200, 2), np.arange(0, 200, 2)).astype(float)
    assert np.corrcoef(image[10:, 10:].ravel(), expected[10:, 10:].ravel())[0, 1] > 0.99
    assert image[50:, 50:].mean() > 100  # min..max stretching would leave it near 0


def test_missing_splits_are_carved_stratified_and_by_seed(two_class_folder):
    first = load_dataset(str(two_class_folder), 16, seed=1)
    again = load_dataset(str(two_class_folder), 16, seed=1)
    other = load_dataset(str(two_class_folder), 16, seed=2)
    assert {k: len(v) for k, v in first.splits.items()} == {"train": 14, "val": 2, "test": 4}
    assert set(first.test.labels) == {0, 1} and set(first.val.labels) == {0, 1}
    assert any("carved" in n and "seed 1" in n for n in first.notes)
    ids = [set(s.ids) for s in first.splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    np.testing.assert_array_equal(first.test.ids, again.test.ids)
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert set(first.test.ids) != set(other.test.ids)


def test_kaggle_layout_as_chest_xray_or_its_parent(tmp_path, make_image):
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for label in ("NORMAL", "PNEUMONIA"):
            for i in range(n):
                make_image(tmp_path / "download" / "chest_xray" / split / label / f"IM-{i}.jpeg", "L")
    make_image(tmp_path / "download" / "chest_xray" / "__MACOSX" / "train" / "NORMAL" / "x.jpeg", "L")

    direct = load_dataset(str(tmp_path / "download" / "chest_xray"), 16)
    parent = load_dataset(str(tmp_path / "download"), 16, seed=3)

    assert direct.fingerprint == parent.fingerprint
    assert {k: len(v) for k, v in direct.splits.items()} == {"train": 8, "val": 4, "test": 4}
    assert direct.train.ids[0] == "train/NORMAL/IM-0.jpeg"
    assert direct.train.sources[0] == str(tmp_path / "download" / "chest_xray" / "train/NORMAL/IM-0.jpeg")
    assert list(direct.train.labels) == [0] * 4 + [1] * 4
    assert not any("carved" in n for n in direct.notes)


def test_other_class_names_pick_the_positive_class(tmp_path, make_image):
    for name in ("Healthy", "Abnormal"):
        for i in range(5):
            make_image(tmp_path / name / f"{i}.png")
    data = load_dataset(str(tmp_path), 16)
    assert any("'Abnormal' is the positive class" in n for n in data.notes)
    assert data.classes == ("Healthy", "Abnormal")
    positives = np.concatenate([s.ids[s.labels == 1] for s in data.splits.values()])
    assert all(i.startswith("Abnormal/") for i in positives) and len(positives) == 5


@pytest.mark.parametrize("setup, message", [
    ("missing", "not found"),
    ("empty", "no images found"),
    ("one_class", "one class (NORMAL) found; two are needed"),
    ("no_class_folders", "no class folders (or label values) found"),
])
def test_unusable_folders_raise_a_clear_error(tmp_path, make_image, setup, message):
    root = tmp_path / "data"
    if setup != "missing":
        root.mkdir()
    if setup == "one_class":
        make_image(root / "NORMAL" / "a.png")
    if setup == "no_class_folders":
        make_image(root / "a.png")
    with pytest.raises(DataError) as err:
        load_dataset(str(root), 16)
    assert message in str(err.value)
    if setup not in ("missing", "empty", "no_class_folders"):
        assert "NORMAL" in str(err.value) and "--classes" in str(err.value)  # names the folders and the flag
    if setup == "empty":
        assert "NORMAL" in str(err.value)  # names the expected layout


def test_a_kaggle_style_tree_with_three_class_folders_and_missing_splits(tmp_path, make_image):
    """train/{NORMAL,BACTERIAL,VIRAL}: every class kept, val and test carved by patient from train."""
    for cls, kind in (("NORMAL", ""), ("BACTERIAL", "bacteria"), ("VIRAL", "virus")):
        for person in range(12):
            for k in range(2):
                number = person + 100 * (kind == "virus")
                name = f"IM-{person:04d}-{k:04d}.jpeg" if not kind else f"person{number}_{kind}_{k}.jpeg"
                make_image(tmp_path / "train" / cls / name, "L", (20, 20), value=person)
    data = load_dataset(str(tmp_path), 16, seed=1)
    assert data.classes == ("NORMAL", "BACTERIAL", "VIRAL") and set(data.carved) == {"val", "test"}
    for split in data.splits.values():
        assert set(np.unique(split.labels)) == {0, 1, 2}  # every class in every split
    owners = [set(s.patients.tolist()) for s in data.splits.values()]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    summary = summarize(data, str(tmp_path))
    assert summary.positive is None and sum(summary.splits["train"].per_class) == len(data.train)


def test_unlabeled_folder_only_when_allowed(tmp_path, make_image):
    for i in range(3):
        make_image(tmp_path / "scans" / f"{i}.png")
    make_image(tmp_path / "scans" / "more" / "x.jpg", "RGB")
    with pytest.raises(DataError):
        load_dataset(str(tmp_path / "scans"), 16)
    data = load_dataset(str(tmp_path / "scans"), 16, allow_unlabeled=True)
    assert len(data.train) == 4 and len(data.val) == len(data.test) == 0
    assert np.all(data.train.labels == UNKNOWN_LABEL)
    assert any("no labeled test split" in n for n in data.notes)  # the summary says so
    assert data.val.images.shape == (0, 16, 16)
    assert len(open_cached(data.fingerprint).train) == 4


@pytest.mark.realdata
def test_full_resolution_originals(shared_data):
    data = load_dataset(str(shared_data / "chest_xray_fullres_sample"), 64, seed=0)
    assert sum(len(s) for s in data.splits.values()) == 38  # 12 NORMAL + 26 PNEUMONIA, RGB ones included
    assert not any(n.startswith("skipped") for n in data.notes)
    assert any("carved" in n for n in data.notes)
    assert set(data.test.labels) == {0, 1}
    assert data.train.ids[0].startswith("train/NORMAL/")
    for split in data.splits.values():
        assert split.images.shape[1:] == (64, 64) and split.images.dtype == np.uint8
        assert split.images.std() > 20  # real content, not blank


@pytest.mark.parametrize("name, patient", [
    ("train/PNEUMONIA/person1000_bacteria_2931.jpeg", "person1000"),
    ("person1000_virus_1681.jpeg", "person1000"),
    ("train/NORMAL/IM-0115-0001.jpeg", "IM-0115"),
    ("IM-0629-0001-0002.jpeg", "IM-0629"),
    ("train/NORMAL/NORMAL2-IM-0007-0001.jpeg", "NORMAL2-IM-0007"),
    ("NORMAL/normal-3.png", "NORMAL/normal-3.png"),  # no patient in the name: its own
    ("syn-train-00012", "syn-train-00012"),
])
def test_patient_id_reads_kermany_file_names(name, patient):
    assert patient_id(name) == patient


def test_carved_splits_keep_each_patient_on_one_side(tmp_path, make_image):
    root = tmp_path / "kermany"
    for person in range(12):  # 1 to 4 images per PNEUMONIA patient
        for image in range(1 + person % 4):
            make_image(root / "PNEUMONIA" / f"person{person}_{'virus' if image % 2 else 'bacteria'}_{image}.jpeg",
                        value=person)
    for patient in range(10):
        for image in range(1 + patient % 3):
            prefix = "NORMAL2-" if patient % 2 else ""
            make_image(root / "NORMAL" / f"{prefix}IM-{patient:04d}-{image + 1:04d}.jpeg", value=patient)
    for seed in range(4):
        data = load_dataset(str(root), 16, seed=seed)
        owners = {name: {patient_id(i) for i in split.ids} for name, split in data.splits.items()}
        assert all(set(split.patients) == owners[name] for name, split in data.splits.items())
        assert not (owners["train"] & owners["test"] or owners["train"] & owners["val"]
                    or owners["val"] & owners["test"]), seed
        assert set(data.test.labels) == {0, 1} and len(data.val) > 0
        assert any("grouped by patient" in n for n in data.notes)


KAGGLE_THREE = "NORMAL=NORMAL/*,BACTERIAL=PNEUMONIA/*bacteria*,VIRAL=PNEUMONIA/*virus*"


@pytest.mark.realdata
@pytest.mark.slow  # decodes the 5,856 images of the Kaggle tree (at 32 px) twice
def test_the_kaggle_tree_as_three_classes_by_file_name(shared_data):
    """Kermany et al.'s PNEUMONIA images are bacterial or viral by file name: --classes globs make three
    classes; with val and test carved from train alone, each patient's images stay in one split."""
    data = load_dataset(str(shared_data / "chest_xray"), 32, classes=KAGGLE_THREE)
    summary = summarize(data, str(shared_data / "chest_xray"))
    assert summary.classes == ("NORMAL", "BACTERIAL", "VIRAL") and summary.positive is None
    assert summary.matches == ("NORMAL/*", "PNEUMONIA/*bacteria*", "PNEUMONIA/*virus*")
    assert {s: c.per_class for s, c in summary.splits.items()} == {
        "train": (1341, 2530, 1345), "val": (8, 8, 0), "test": (234, 242, 148)}
    assert not summary.dropped and "BACTERIAL <- PNEUMONIA/*bacteria*" in summary.text()
    carved = load_dataset(str(shared_data / "chest_xray" / "train"), 32, seed=2, classes=KAGGLE_THREE)
    assert set(carved.carved) == {"val", "test"} and sum(len(s) for s in carved.splits.values()) == 5216
    owners = [set(s.patients.tolist()) for s in carved.splits.values()]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    assert all(set(np.unique(s.labels)) == {0, 1, 2} for s in carved.splits.values())
