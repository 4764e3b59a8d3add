"""Label tables: one row per image, as NIH ChestX-ray14, CheXpert, VinDr or MIMIC-CXR ship them.

`--data labels.csv` (or .tsv). Columns are found by name, case-insensitively (`Image Index`,
`Path`, `Finding Labels`, `Patient ID`, `split`, ...) or set with `--columns image=..,label=..`.
A label cell may hold several findings (`Pneumonia|Effusion`): a row becomes the one class its
findings match (a row matching two classes is dropped: multi-label is not supported); a column of
text values gives any number of classes through `--classes` (two are guessed when one reads as
normal). A column of 1 / 0 / -1 / blank (CheXpert) is a two-class label column too, -1 resolved by
`--uncertain`. Rows that cannot be used are dropped and counted by reason. Image paths: relative to
the table's folder (or its parent), absolute, or a bare file name found anywhere below the table's folder.
"""
from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from alcore.data import cache
from alcore.data.base import SPLITS, DataError, Dataset, Dropped
from alcore.data.classes import ClassRule, match_findings, matches_text, resolve
from alcore.data.decode import SHOWN, Entry, decode_entries
from alcore.data.folder import SPLIT_ALIASES, carve, patient_id, walk

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
ROLES = ("image", "label", "patient", "split")
# the usual public names of each column (compared lower-case, '_' / '-' read as spaces)
KNOWN_COLUMNS = {
    "image": ("path", "image", "image index", "image path", "image id", "imageid", "filename", "file name", "file",
              "dicom", "dicom id", "dicom path"),
    "label": ("label", "labels", "finding labels", "finding", "findings", "class", "target", "diagnosis"),
    "patient": ("patient", "patient id", "patientid", "subject id", "subject"),
    "split": ("split", "set", "subset", "fold"),
}
UNCERTAIN_POLICIES = ("drop", "positive", "negative")  # U-Ignore, U-Ones, U-Zeros (Irvin et al., CheXpert)
BINARY_VALUES = {"1": "1", "1.0": "1", "0": "0", "0.0": "0", "-1": "-1", "-1.0": "-1", "": ""}
FINDING_SEPARATOR = re.compile(r"[|;]")
CHEXPERT_PATIENT = re.compile(r"patient\d+", re.IGNORECASE)  # CheXpert paths: train/patient00001/study1/...
EXTRA_SPLITS = {"training": "train", "validate": "val", "dev": "val", "testing": "test"}


@dataclass
class _Rows:
    """The table's rows, resolved to image entries, and what was dropped on the way."""

    files: dict[str, list[Entry]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    dropped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason -> row ids
    notes: list[str] = field(default_factory=list)


def is_table(path: Path) -> bool:
    return path.suffix.lower() in TABLE_SUFFIXES


def read_header(path: Path) -> list[str]:
    """The table's column names (for the Setup page's column pickers)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle, delimiter=TABLE_SUFFIXES[path.suffix.lower()]), [])


def parse_columns(text: str) -> dict[str, str]:
    """'image=Path,label=Pneumonia' -> {"image": "Path", "label": "Pneumonia"}; DataError when malformed."""
    columns = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        role, sep, name = (s.strip() for s in part.partition("="))
        if not sep or role.lower() not in ROLES or not name:
            raise DataError(f"--columns: '{part}' is not ROLE=COLUMN with ROLE one of {', '.join(ROLES)}")
        columns[role.lower()] = name
    return columns


def load_table(path: Path, resolution: int, seed: int = 0, progress: cache.Progress | None = None,
               classes: tuple[ClassRule, ...] = (), columns: dict[str, str] | None = None,
               uncertain: str = "drop") -> Dataset:
    """Decode (once) the images a label table lists; a missing val/test split is carved with `seed`,
    patients kept together."""
    path = Path(path).expanduser().resolve()
    header, records = _read(path)
    chosen = _columns(header, records, columns or {}, path.name)
    rules, notes = _rules(chosen, records, classes, path.name)
    rows = _rows(path, records, chosen, rules, uncertain)
    rows.notes[:0] = notes
    stats = [(split, e.id, e.label, e.patient, e.path.stat().st_size, e.path.stat().st_mtime_ns)
             for split, entries in rows.files.items() for e in entries]
    if not stats:
        raise DataError(f"no row of {path.name} gives a usable image: "
                        + "; ".join(f"{len(ids)} {reason}" for reason, ids in rows.dropped.items()))
    key = cache.fingerprint("table", str(path), resolution, [r.name for r in rules], matches_text(rules), stats)

    def build() -> Dataset:
        decoded = decode_entries(rows.files, resolution, progress, dicom_patients="patient" not in chosen)
        dropped = [Dropped(reason, len(ids), tuple(ids[:SHOWN])) for reason, ids in rows.dropped.items()]
        return Dataset(name=path.name, fingerprint=key, resolution=resolution, splits=decoded.splits,
                       notes=[*rows.notes, *decoded.notes], classes=tuple(r.name for r in rules), kind="table",
                       matches=matches_text(rules),
                       dropped=[*dropped, *decoded.dropped])

    return carve(cache.cached(key, build, progress), seed)


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise DataError(f"label table not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=TABLE_SUFFIXES[path.suffix.lower()])
            records = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"could not read the label table {path}: {exc}") from None
    if not header or not records:
        raise DataError(f"{path.name} has no rows; a label table has a header and one row per image")
    return header, records


def _normal(name: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", name.strip().lower()))


def _columns(header: list[str], records: list[dict[str, str]], given: dict[str, str], table: str) -> dict[str, str]:
    """Role -> column: the given ones (checked against the header), the rest by their usual names;
    without a label column, the one column holding only 1 / 0 / -1 / blank."""
    by_normal = {_normal(h): h for h in header}
    chosen = {}
    for role, name in given.items():
        if _normal(name) not in by_normal:
            raise DataError(f"--columns {role}={name}: {table} has no such column; its columns: {', '.join(header)}")
        chosen[role] = by_normal[_normal(name)]
    for role in ROLES:
        if role not in chosen:
            hit = next((by_normal[n] for n in KNOWN_COLUMNS[role] if n in by_normal), None)
            if hit is not None and hit not in chosen.values():
                chosen[role] = hit
    if "image" not in chosen:
        raise DataError(f"{table}: no image column found (columns: {', '.join(header)}); "
                        "name it with --columns image=COLUMN")
    if "label" not in chosen:
        binary = [h for h in header if h not in chosen.values()
                  and all(r.get(h, "") in BINARY_VALUES for r in records) and any(r.get(h) for r in records)]
        if len(binary) != 1:
            found = f"the 1/0/-1 columns {', '.join(binary)}" if binary else f"columns {', '.join(header)}"
            raise DataError(f"{table}: no label column found ({found}); name it with --columns label=COLUMN")
        chosen["label"] = binary[0]
    return chosen


def _is_binary(records: list[dict[str, str]], column: str) -> bool:
    return all(r[column] in BINARY_VALUES for r in records)


def _rules(chosen: dict[str, str], records: list[dict[str, str]], given: tuple[ClassRule, ...],
           table: str) -> tuple[tuple[ClassRule, ...], list[str]]:
    """The class rules for the label column: a 1/0/-1 column maps 0 and 1 (given names without
    values take them in order); a text column its findings, guessed only when unambiguous."""
    column = chosen["label"]
    if _is_binary(records, column):
        if len(given) > 2:
            raise DataError(f"'{column}' holds 1 / 0 / -1 / blank: two classes, not {len(given)}; give --classes two "
                            "names, or name a column of class values with --columns label=COLUMN")
        if not given:
            given = (ClassRule(f"no {column}", ("0",)), ClassRule(column, ("1",)))
        elif not any(r.matches for r in given) and len(given) == 2:
            given = (ClassRule(given[0].name, ("0",)), ClassRule(given[1].name, ("1",)))
        rules, _ = resolve(given, ["0", "1"], f"the values of {column} are")
        return rules, [f"label column '{column}' holds 1 / 0 / -1 / blank: 1 is '{rules[-1].name}', "
                       f"0 is '{rules[0].name}'"]
    counts = Counter(f for r in records for f in _findings(r[column]))
    found = [value for value, _ in counts.most_common()]
    rules, guessed = resolve(given, found, f"the values of '{column}' in {table} are")
    notes = [f"label column '{column}'" + (": classes guessed from its two values" if guessed else "")]
    return rules, notes


def _findings(cell: str) -> set[str]:
    return {f.strip() for f in FINDING_SEPARATOR.split(cell) if f.strip()}


def _rows(path: Path, records: list[dict[str, str]], chosen: dict[str, str], rules: tuple[ClassRule, ...],
          uncertain: str) -> _Rows:
    """Each row to an entry (split, label, patient, file) or to a counted reason for dropping it."""
    rows, locate, seen = _Rows(), _Locator(path.parent), set()
    binary = _is_binary(records, chosen["label"])
    blank = 0
    for number, record in enumerate(records, start=2):  # row 1 is the header
        cell = record[chosen["image"]]
        where = f"row {number}" + (f" ({cell})" if cell else "")
        label_cell = record[chosen["label"]]
        if binary:
            value = BINARY_VALUES[label_cell]
            blank += value == ""
            value = {"": "0", "-1": {"positive": "1", "negative": "0"}.get(uncertain, "-1")}.get(value, value)
            if value == "-1":
                rows.dropped["rows with an uncertain label (-1; --uncertain drop)"].append(where)
                continue
            findings = {value}
        else:
            findings = _findings(label_cell)
        split = _split(record.get(chosen.get("split", ""), "train") or "train")
        hits = match_findings(findings, rules)
        image = locate(cell) if cell else None
        reason = ("rows with an unknown split value (use train / val / test)" if split is None else
                  "rows whose label matches no class" if not hits else
                  "rows whose label matches two classes" if len(hits) > 1 else
                  "rows without an image path" if not cell else
                  "rows whose image file is missing" if image is None else
                  "rows that repeat an image listed before" if image in seen else "")
        if reason:
            rows.dropped[reason].append(where)
            continue
        seen.add(image)
        patient = record.get(chosen.get("patient", ""), "") or _path_patient(cell)
        rows.files[split].append(Entry(cell, image, hits[0], patient))
    if blank:
        rows.notes.append(f"{blank} blank cells of '{chosen['label']}' read as 0 (not mentioned)")
    if binary and uncertain != "drop":
        rows.notes.append(f"uncertain labels (-1) read as {uncertain} (--uncertain {uncertain})")
    return rows


def _split(value: str) -> str | None:
    value = value.strip().lower()
    return SPLIT_ALIASES.get(value) or EXTRA_SPLITS.get(value)


def _path_patient(cell: str) -> str:
    """Without a patient column: CheXpert's `patientNNNNN` folder, or a Kermany file name, or the
    image itself (a DICOM's PatientID replaces it when decoded)."""
    match = next((part for part in Path(cell).parts if CHEXPERT_PATIENT.fullmatch(part)), None)
    return match or patient_id(cell)


class _Locator:
    """Finds a table's image: absolute, relative to the table's folder or its parent, else a bare
    file name (with or without its extension) anywhere below the table's folder."""

    def __init__(self, folder: Path):
        self.folder, self._by_name = folder, None

    def __call__(self, cell: str) -> Path | None:
        path = Path(cell)
        for candidate in ([path] if path.is_absolute() else [self.folder / path, self.folder.parent / path]):
            if candidate.is_file():
                return candidate
        hits = self._index().get(path.name.lower(), [])
        return hits[0] if len(hits) == 1 else None

    def _index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = defaultdict(list)
            for dirpath, filenames in walk(self.folder):
                for name in filenames:
                    self._by_name[name.lower()].append(dirpath / name)
                    self._by_name[Path(name).stem.lower()].append(dirpath / name)
        return self._by_name
