"""The user's class names: guessed only when unambiguous, never Normal as the positive class."""
from __future__ import annotations

import os

import numpy as np
import pytest

from alcore.data import DataError, load_dataset
from alcore.data.classes import ClassRule, parse_classes, reads_normal


def make_tree(root, make_image, folders, per_class=6):
    for name in folders:
        for i in range(per_class):
            make_image(root / name / f"{name.replace(' ', '_')}-{i}.png", "L", (20, 20), value=i)
    return root


def positives(data) -> set[str]:
    return {i.split("/")[0] for s in data.splits.values() for i in s.ids[s.labels == 1]}


@pytest.mark.parametrize("folders, positive", [
    (("Lung Opacity", "Normal"), "Lung Opacity"),
    (("COVID", "Normal"), "COVID"),
    (("disease", "healthy"), "disease"),
    (("NORMAL", "PNEUMONIA"), "PNEUMONIA"),
])
def test_the_normal_folder_is_never_positive_when_guessed(tmp_path, make_image, folders, positive):
    data = load_dataset(str(make_tree(tmp_path, make_image, folders)), 16)
    assert data.classes[-1] == positive and positives(data) == {positive}


@pytest.mark.parametrize("classes", ["Normal,Lung Opacity", "normal=Normal,opacity=Lung Opacity"])
def test_classes_flag_names_and_orders_them(tmp_path, make_image, classes):
    data = load_dataset(str(make_tree(tmp_path, make_image, ("Lung Opacity", "Normal"))), 16, classes=classes)
    assert data.classes == tuple(r.name for r in parse_classes(classes))
    assert positives(data) == {"Lung Opacity"}


@pytest.mark.parametrize("folders, given, message", [
    (("COVID", "Pneumonia"), "", "neither reads as normal"),
    (("Normal", "Healthy"), "", "both read as normal"),
    (("COVID", "Normal"), "COVID,Normal", "put it first"),
    (("COVID", "Normal"), "COVID", "one class (COVID) is not enough"),
])
def test_refusals_name_the_folders_and_the_flag(tmp_path, make_image, folders, given, message):
    with pytest.raises(DataError) as err:
        load_dataset(str(make_tree(tmp_path, make_image, folders)), 16, classes=given)
    assert message in str(err.value) and "--classes" in str(err.value)
    assert all(name in str(err.value) for name in folders)


def test_three_class_folders_are_guessed_normal_first_and_any_order_can_be_given(tmp_path, make_image):
    root = make_tree(tmp_path, make_image, ("COVID", "Normal", "Lung Opacity"))
    data = load_dataset(str(root), 16)
    assert data.classes == ("Normal", "COVID", "Lung Opacity")  # the normal-reading one first, then alphabetical
    assert any("3 class folders, labels in this order: Normal, COVID, Lung Opacity" in n for n in data.notes)
    labels = np.concatenate([s.labels for s in data.splits.values()])
    assert np.bincount(labels).tolist() == [6, 6, 6]
    ids = np.concatenate([s.ids for s in data.splits.values()])
    assert {i.split("/")[0] for i in ids[labels == 2]} == {"Lung Opacity"}
    given = load_dataset(str(root), 16, classes="Lung Opacity,COVID,Normal")  # no positive class to protect
    assert given.classes == ("Lung Opacity", "COVID", "Normal")


def test_a_human_run_on_a_three_class_tree_keeps_its_labels(tmp_path, make_image):
    root = make_tree(tmp_path, make_image, ("COVID", "Normal", "Lung Opacity"))
    data = load_dataset(str(root), 16, allow_unlabeled=True)
    assert data.classes == ("Normal", "COVID", "Lung Opacity") and (data.train.labels >= 0).all()
    data = load_dataset(str(root), 16, allow_unlabeled=True, classes="Normal,COVID")
    assert len(data.test) and {d.reason: d.count for d in data.dropped} == {
        "images in folders that match no class": 6}


def test_globs_pick_images_below_the_split_folder(tmp_path, make_image):
    for name in ("person1_bacteria_1", "person2_virus_1", "person3_bacteria_2"):
        make_image(tmp_path / "PNEUMONIA" / f"{name}.jpeg", "L", (20, 20))
    make_tree(tmp_path, make_image, ("NORMAL",), per_class=3)
    data = load_dataset(str(tmp_path), 16, classes="NORMAL,BACTERIAL=PNEUMONIA/*bacteria*")
    assert data.classes == ("NORMAL", "BACTERIAL") and positives(data) == {"PNEUMONIA"}
    assert sum(len(s) for s in data.splits.values()) == 5
    assert {d.reason: d.count for d in data.dropped} == {"images in folders that match no class": 1}


def test_patient_folders_stay_together_and_symlinked_class_folders_are_followed(tmp_path, make_image):
    store = tmp_path / "store"
    for cls in ("NORMAL", "PNEUMONIA"):
        for patient in range(10):
            for study in range(3):
                make_image(store / cls / f"pat{cls[0]}{patient}" / f"study{study}" / "1.png", "L", (20, 20))
    tree = tmp_path / "tree"
    tree.mkdir()
    for cls in ("NORMAL", "PNEUMONIA"):
        os.symlink(store / cls, tree / cls)
    os.symlink(tree, store / "NORMAL" / "loop")  # a link back up: no endless walk
    for seed in range(3):
        data = load_dataset(str(tree), 16, seed=seed, patient_from="folder")
        assert sum(len(s) for s in data.splits.values()) == 60
        owners = [set(s.patients.tolist()) for s in data.splits.values()]
        assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
        assert all(len(s) % 3 == 0 for s in data.splits.values())  # whole patients


def test_rules_parse_and_normal_words():
    assert parse_classes("NORMAL=No Finding|Normal, PNEUMONIA=Pneumonia") == (
        ClassRule("NORMAL", ("No Finding", "Normal")), ClassRule("PNEUMONIA", ("Pneumonia",)))
    assert [reads_normal(n) for n in ("NORMAL", "No Finding", "healthy_controls", "0", "Abnormal", "COVID")] == \
        [True, True, True, True, False, False]
    with pytest.raises(DataError, match="twice"):
        parse_classes("A,a")
    assert np.all([r.values for r in parse_classes("A")] == [("A",)])


def test_a_class_that_matches_no_image_is_reported(tmp_path, make_image):
    for name in ("person1_bacteria_1", "person2_virus_1"):
        make_image(tmp_path / "PNEUMONIA" / f"{name}.jpeg", "L", (20, 20))
    make_tree(tmp_path, make_image, ("NORMAL",), per_class=3)
    data = load_dataset(str(tmp_path), 16, classes="NORMAL,BACTERIAL=PNEUMONIA/*bacteria*,VIRAL=PNEUMONIA/*viral*")
    assert "no image is labeled VIRAL (it matches PNEUMONIA/*viral*): check --classes" in data.notes
