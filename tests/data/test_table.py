"""Label tables as public data sets ship them: NIH ChestX-ray14 and CheXpert style."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.data import DataError, load_dataset, summarize

NIH_ROWS = [  # Image Index, Finding Labels, Patient ID
    *[(f"{i:08d}_000.png", "No Finding", f"{i}") for i in range(30)],
    *[(f"{i:08d}_001.png", "No Finding", f"{i}") for i in range(10)],  # a second image of patients 0..9
    *[(f"{100 + i:08d}_000.png", "Pneumonia", f"{100 + i}") for i in range(16)],
    *[(f"{100 + i:08d}_001.png", "Pneumonia|Effusion", f"{100 + i}") for i in range(8)],  # multi-finding
    *[(f"{200 + i:08d}_000.png", "Effusion", f"{200 + i}") for i in range(5)],  # no class
    *[(f"{300 + i:08d}_000.png", "Pneumonia|No Finding", f"{300 + i}") for i in range(2)],  # two classes
]


def write_nih(root, make_image):
    """The NIH layout: Data_Entry.csv next to images_001/images/*.png (bare file names in the table)."""
    lines = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    for k, (name, finding, patient) in enumerate(NIH_ROWS):
        lines.append(f"{name},{finding},0,{patient}")
        make_image(root / f"images_00{1 + k % 2}" / "images" / name, "L", (32, 32), value=k)
    lines.append("99999999_000.png,Pneumonia,0,99999")  # listed, but the file is missing
    (root / "Data_Entry.csv").write_text("\n".join(lines) + "\n")
    return root / "Data_Entry.csv"


def test_nih_table_multi_findings_missing_files_and_patients(tmp_path, make_image):
    table = write_nih(tmp_path / "nih", make_image)

    with pytest.raises(DataError, match="--classes"):  # many findings: no guess
        load_dataset(str(table), 16)
    data = load_dataset(str(table), 16, seed=3, classes="NORMAL=No Finding,PNEUMONIA=Pneumonia")

    assert data.classes == ("NORMAL", "PNEUMONIA") and data.kind == "table"
    counts = {s: len(split) for s, split in data.splits.items()}
    assert sum(counts.values()) == 40 + 24 and counts["test"] > 0 and counts["val"] > 0
    labels = np.concatenate([s.labels for s in data.splits.values()])
    assert (labels == 1).sum() == 24 and (labels == 0).sum() == 40
    dropped = {d.reason: d.count for d in data.dropped}
    assert dropped == {"rows whose label matches no class": 5, "rows whose label matches two classes": 2,
                       "rows whose image file is missing": 1}
    owners = [set(split.patients.tolist()) for split in data.splits.values()]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    summary = summarize(data, str(table))
    assert summary.positive == "PNEUMONIA" and set(summary.carved) == {"val", "test"}
    assert summary.splits["train"].patients == len(owners[0])
    assert "rows whose label matches no class" in summary.text()


def write_chexpert(root, make_image):
    """CheXpert: Path relative to the data set's parent folder, a Pneumonia column of 1 / 0 / -1 / blank."""
    values = ["1"] * 12 + ["0"] * 12 + ["-1"] * 4 + [""] * 6 + ["1.0"] * 2
    lines = ["Path,Sex,Age,Frontal/Lateral,Pneumonia"]
    for k, value in enumerate(values):
        rel = f"CheXpert-v1.0-small/train/patient{k // 2:05d}/study1/view{k % 2 + 1}_frontal.jpg"
        make_image(root.parent / rel, "L", (32, 32), value=k)
        lines.append(f"{rel},Female,{40 + k},Frontal,{value}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root / "train.csv"


@pytest.mark.parametrize("uncertain, positives, negatives", [
    ("drop", 14, 18), ("positive", 18, 18), ("negative", 14, 22)])
def test_chexpert_table_and_the_uncertain_policy(tmp_path, make_image, uncertain, positives, negatives):
    table = write_chexpert(tmp_path / "CheXpert-v1.0-small", make_image)

    data = load_dataset(str(table), 16, uncertain=uncertain)

    labels = np.concatenate([s.labels for s in data.splits.values()])
    assert data.classes == ("no Pneumonia", "Pneumonia")
    assert ((labels == 1).sum(), (labels == 0).sum()) == (positives, negatives)
    assert {d.reason: d.count for d in data.dropped} == (
        {"rows with an uncertain label (-1; --uncertain drop)": 4} if uncertain == "drop" else {})
    assert any("6 blank cells of 'Pneumonia' read as 0" in n for n in data.notes)
    owners = [set(split.patients.tolist()) for split in data.splits.values()]
    assert all(p.startswith("patient") for p in owners[0]) and not (owners[0] & owners[2] or owners[0] & owners[1])


def test_chexpert_class_names_and_columns_flags(tmp_path, make_image):
    table = write_chexpert(tmp_path / "CheXpert-v1.0-small", make_image)
    data = load_dataset(str(table), 16, classes="NORMAL,PNEUMONIA", columns="image=Path,label=pneumonia")
    assert data.classes == ("NORMAL", "PNEUMONIA")
    with pytest.raises(DataError, match="no such column; its columns: Path, Sex"):
        load_dataset(str(table), 16, columns="label=Effusion")
    with pytest.raises(DataError, match="put it first"):
        load_dataset(str(table), 16, classes="PNEUMONIA,NORMAL")
    with pytest.raises(DataError, match="patient column"):
        load_dataset(str(table), 16, patient_from="folder")


def test_split_column_shared_patients_and_a_small_test_split_are_reported(tmp_path, make_image):
    lines = ["image,label,patient,split"]
    for k in range(40):
        make_image(tmp_path / "png" / f"{k}.png", "L", (20, 20), value=k)
        split = "test" if k % 5 == 0 else "train"
        lines.append(f"png/{k}.png,{'healthy' if k % 2 else 'sick'},p{k % 12},{split}")
    (tmp_path / "labels.tsv").write_text("\n".join(lines).replace(",", "\t") + "\n")

    data = load_dataset(str(tmp_path / "labels.tsv"), 16)

    assert data.classes == ("healthy", "sick")
    assert len(data.test) == 8 and data.carved == ("val",)
    assert any("patients are in both train and test by their identifiers" in n for n in data.notes)
    assert any("the test split is small" in n for n in data.notes)


def test_a_text_label_column_with_three_classes(tmp_path, make_image):
    """A 'class' column of normal / bacterial / viral: three classes in the order --classes gives; never
    guessed (a table's values are often a finding vocabulary)."""
    lines = ["image,class,patient"]
    for k in range(36):
        make_image(tmp_path / "png" / f"{k}.png", "L", (20, 20), value=k)
        lines.append(f"png/{k}.png,{('normal', 'bacterial', 'viral')[k % 3]},p{k}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="3 values found: which are classes, and in which order, is not guessed"):
        load_dataset(str(tmp_path / "labels.csv"), 16)
    data = load_dataset(str(tmp_path / "labels.csv"), 16, classes="NORMAL=normal,BACTERIAL=bacterial|bacteria,VIRAL=viral")
    assert data.classes == ("NORMAL", "BACTERIAL", "VIRAL")
    labels = np.concatenate([s.labels for s in data.splits.values()])
    assert np.bincount(labels).tolist() == [12, 12, 12]
    summary = summarize(data, str(tmp_path / "labels.csv"))
    assert summary.positive is None and summary.matches == ("normal", "bacterial | bacteria", "viral")
    assert "classes: 0 NORMAL, 1 BACTERIAL <- bacterial | bacteria, 2 VIRAL" in summary.text()


def test_nih_multi_finding_cells_map_to_one_class_per_row(tmp_path, make_image):
    """Three classes from NIH findings: a 'Pneumonia|Effusion' row matches two classes and is dropped
    (multi-label is not supported); with Effusion folded into PNEUMONIA it is one class again."""
    table = write_nih(tmp_path / "nih", make_image)
    data = load_dataset(str(table), 16, classes="NORMAL=No Finding,PNEUMONIA=Pneumonia,EFFUSION=Effusion")
    labels = np.concatenate([s.labels for s in data.splits.values()])
    assert data.classes == ("NORMAL", "PNEUMONIA", "EFFUSION") and np.bincount(labels).tolist() == [40, 16, 5]
    assert {d.reason: d.count for d in data.dropped}["rows whose label matches two classes"] == 8 + 2
    with pytest.raises(DataError, match="two classes, not 3"):
        load_dataset(str(write_chexpert(tmp_path / "CheXpert-v1.0-small", make_image)), 16, classes="A,B,C")
