"""Two class folders plus loose images: with allow_unlabeled the loose ones join the train pool unlabeled."""
from __future__ import annotations

import numpy as np

from alcore.data import UNKNOWN_LABEL, load_dataset


def test_loose_images_join_the_train_pool_unlabeled_and_the_class_folders_keep_their_labels(
        two_class_folder, make_image):
    for i in range(5):
        make_image(two_class_folder / f"loose-{i}.png", value=i)

    data = load_dataset(str(two_class_folder), 16, allow_unlabeled=True)

    train = data.train
    loose = np.char.startswith(train.ids.astype(str), "loose-")
    assert loose.sum() == 5 and np.all(train.labels[loose] == UNKNOWN_LABEL)
    assert set(train.labels[~loose].tolist()) == {0, 1}
    held_out = np.concatenate([data.val.ids, data.test.ids])
    assert len(held_out) and not any(i.startswith("loose-") for i in held_out)  # carved from labeled images only
    assert np.all(np.concatenate([data.val.labels, data.test.labels]) >= 0)
    assert sum(len(s) for s in data.splits.values()) == 25
    assert any("5 images outside the class folders join the train pool unlabeled" in n for n in data.notes)


def test_without_allow_unlabeled_loose_images_are_still_ignored(two_class_folder, make_image):
    make_image(two_class_folder / "loose.png")
    data = load_dataset(str(two_class_folder), 16)
    assert sum(len(s) for s in data.splits.values()) == 20 and np.all(data.train.labels >= 0)
    assert any(d.describe() == "1 images outside the class folders: loose.png" for d in data.dropped)
