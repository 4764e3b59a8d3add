"""Exporting a person's labels as a Kaggle-style tree: PNGs of arrays, copies or symlinks of files, refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alcore.data import load_dataset
from alcore.export import ExportError, export_tree

TWO = ("NORMAL", "PNEUMONIA")
THREE = ("NORMAL", "BACTERIAL", "VIRAL")


def row(sample_id: str, file: str, label: str) -> dict:
    return {"sample_id": sample_id, "file": file, "label": label, "who": "me", "time": "t", "round": "0"}


def listing(root: Path, classes: tuple[str, ...] = TWO) -> dict[str, list[str]]:
    return {c: sorted(p.name for p in (root / c).iterdir()) for c in classes}


def test_synthetic_images_are_written_as_png_and_only_the_latest_class_answer_counts(tmp_path):
    data = load_dataset("synthetic", 32, synthetic_size=200)
    ids, files = data.train.ids[:4].tolist(), data.train.sources[:4].tolist()
    rows = [row(ids[0], files[0], "NORMAL"), row(ids[1], files[1], "PNEUMONIA"), row(ids[2], files[2], "skip"),
            row(ids[3], files[3], "NORMAL"), row(ids[3], files[3], "PNEUMONIA")]
    image_of = dict(zip(ids, data.train.images[:4])).__getitem__

    done = export_tree(rows, tmp_path / "out", image_of, TWO)

    assert done.counts == {"NORMAL": 1, "PNEUMONIA": 2} and done.from_files == 0
    assert listing(tmp_path / "out") == {"NORMAL": [f"{ids[0]}.png"],
                                         "PNEUMONIA": sorted(f"{i}.png" for i in ids[1::2])}
    written = np.asarray(Image.open(tmp_path / "out" / "NORMAL" / f"{ids[0]}.png"))
    assert np.array_equal(written, data.train.images[0])


@pytest.fixture
def folder_rows(tmp_path) -> list[dict]:
    """Originals in a source folder, two of them with the same file name."""
    rows = []
    for sample_id, label in (("a/x.png", "NORMAL"), ("b/x.png", "NORMAL"), ("b/y.png", "PNEUMONIA")):
        path = tmp_path / "source" / sample_id
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (20, 10), len(rows) * 40).save(path)
        rows.append(row(sample_id, str(path), label))
    return rows


def no_arrays(sample_id: str) -> np.ndarray:
    raise AssertionError(f"{sample_id} has a file; its array is not needed")


def test_folder_sources_are_copied_with_clashing_names_made_unique(tmp_path, folder_rows):
    done = export_tree(folder_rows, tmp_path / "copy", no_arrays, TWO, mode="copy")
    assert done.from_files == 3 and listing(tmp_path / "copy") == {"NORMAL": ["b_x.png", "x.png"],
                                                                   "PNEUMONIA": ["y.png"]}
    copy = tmp_path / "copy" / "PNEUMONIA" / "y.png"
    assert not copy.is_symlink() and copy.read_bytes() == Path(folder_rows[2]["file"]).read_bytes()


def test_folder_sources_can_be_symlinked(tmp_path, folder_rows):
    export_tree(folder_rows, tmp_path / "links", no_arrays, TWO, mode="symlink")
    link = tmp_path / "links" / "NORMAL" / "x.png"
    assert link.is_symlink() and link.resolve() == Path(folder_rows[0]["file"]).resolve()


def test_an_existing_empty_folder_is_used_and_a_non_empty_one_refused(tmp_path, folder_rows):
    (tmp_path / "empty").mkdir()
    assert export_tree(folder_rows, tmp_path / "empty", no_arrays, TWO).counts == {"NORMAL": 2, "PNEUMONIA": 1}
    with pytest.raises(ExportError, match="already exists and is not empty"):
        export_tree(folder_rows, tmp_path / "empty", no_arrays, TWO)
    assert listing(tmp_path / "empty")["NORMAL"] == ["b_x.png", "x.png"]  # untouched


def test_unwritable_or_empty_destinations_and_no_labels_are_refused_leaving_nothing(tmp_path, folder_rows):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ExportError, match="cannot create"):
        export_tree(folder_rows, tmp_path / "a-file" / "out", no_arrays, TWO)
    with pytest.raises(ExportError, match="is a file"):
        export_tree(folder_rows, tmp_path / "a-file", no_arrays, TWO)
    with pytest.raises(ExportError, match="give a destination folder"):
        export_tree(folder_rows, "  ", no_arrays, TWO)
    with pytest.raises(ExportError, match="nothing to export"):
        export_tree([row("z", "f", "skip")], tmp_path / "out", no_arrays, TWO)
    Path(folder_rows[1]["file"]).unlink()  # a vanished original with no array: fails midway
    with pytest.raises(AssertionError):
        export_tree(folder_rows, tmp_path / "out", no_arrays, TWO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "source"]  # no half-written tree


def test_three_classes_get_a_folder_each_and_answers_outside_the_runs_classes_are_left_out(tmp_path, folder_rows):
    rows = [{**folder_rows[0], "label": "BACTERIAL"}, {**folder_rows[1], "label": "VIRAL"},
            {**folder_rows[2], "label": "PNEUMONIA"}]  # not a class of this run
    done = export_tree(rows, tmp_path / "three", no_arrays, THREE)
    assert done.counts == {"NORMAL": 0, "BACTERIAL": 1, "VIRAL": 1}
    assert listing(tmp_path / "three", THREE) == {"NORMAL": [], "BACTERIAL": ["x.png"], "VIRAL": ["x.png"]}
    with pytest.raises(ExportError, match=r"NORMAL / BACTERIAL / VIRAL"):
        export_tree([row("z", "f", "skip")], tmp_path / "none", no_arrays, THREE)
