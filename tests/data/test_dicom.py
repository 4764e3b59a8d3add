"""DICOM as hospitals export it: every variant decoded and compared with the image it was made from."""
from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset as DicomDataset
from pydicom.sequence import Sequence

from alcore.data import DataError, class_thumbnails, load_dataset
from alcore.data.dicom import NoPixels, looks_like_dicom, read_dicom
from alcore.data.pixels import resize_float
from tests.conftest import SHARED_DATA
from tests.data.dicom_files import (CR_STORAGE, JPEG2000Lossless, JPEGLosslessSV1, RLELossless,
                                    SecondaryCaptureImageStorage, source_image, write_dicom, write_report)

RES = 64


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    """A real-looking X-ray (floats 0..1, 256 px): a real one when ../shared/data is there."""
    return source_image(SHARED_DATA if SHARED_DATA.is_dir() else None)


def _voi_lut_sequence(bits_in: int) -> Sequence:
    """A gamma-shaped VOI LUT (monotone), 12-bit output, over the whole stored range."""
    item = DicomDataset()
    entries = 1 << bits_in
    item.LUTDescriptor = [entries if entries < 65536 else 0, 0, 12]
    item.LUTData = np.round(4095 * (np.arange(entries) / (entries - 1)) ** 0.8).astype("<u2").tobytes()
    return Sequence([item])


def variants(source: np.ndarray) -> dict[str, tuple[dict, np.ndarray, dict]]:
    """name -> (write_dicom arguments, stored pixels, extra tags); every one shows `source` the right way up."""
    u8, u12, u14 = (np.round(source * m).astype(np.uint8 if m == 255 else np.uint16) for m in (255, 4095, 16383))
    marker = u14.copy()
    marker[8:16, 8:32] = 65535  # a burned-in marker (0.3 % of the image) at the maximum of 16 bits
    padded = u12.copy()
    padded[:, :24] = 0  # a padded border, PixelPaddingValue 0 (inside the image, 0 is never stored)
    padded[:, 24:] = np.maximum(padded[:, 24:], 1)
    sc = {"sop_class": SecondaryCaptureImageStorage, "modality": "OT"}
    return {
        "sc-8bit": (dict(bits=8, **sc), u8, {}),
        "dx-12bit-window": (dict(bits=12), u12, {"WindowCenter": 2048, "WindowWidth": 4096}),
        "cr-14bit-rescale": (dict(bits=14, sop_class=CR_STORAGE, modality="CR"), u14,
                             {"RescaleSlope": 0.5, "RescaleIntercept": -1024}),
        "dx-14bit-monochrome1": (dict(bits=14, photometric="MONOCHROME1"), (16383 - u14).astype(np.uint16), {}),
        "dx-16bit-marker": (dict(bits=16), marker, {}),
        "dx-12bit-padding": (dict(bits=12), padded, {"PixelPaddingValue": 0}),
        "dx-12bit-voi-lut": (dict(bits=12), u12, {"VOILUTSequence": _voi_lut_sequence(12)}),
        "dx-12bit-jpeg2000": (dict(bits=12, compress=JPEG2000Lossless), u12, {}),
        "dx-12bit-jpeg-lossless": (dict(bits=12, compress=JPEGLosslessSV1), u12, {}),
        "dx-16bit-rle": (dict(bits=16, compress=RLELossless), marker, {}),
    }


def _corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    keep = np.ones(a.shape, bool) if mask is None else mask
    return float(np.corrcoef(a[keep].astype(float), b[keep].astype(float))[0, 1])


@pytest.mark.parametrize("name", list(variants(np.zeros((256, 256)))))
def test_each_variant_decodes_to_its_source_image(tmp_path, source, name):
    args, stored, tags = variants(source)[name]
    path = write_dicom(tmp_path / f"{name}.dcm", stored, **args, **tags)
    decoded = read_dicom(path, RES)
    expected = resize_float(source, RES)
    mask = np.ones((RES, RES), bool)
    if "marker" in name or "rle" in name:
        mask[:6, :10] = False  # the marker's own pixels (at 64 of 256 px)
    if "padding" in name:
        mask[:, :7] = False
        assert decoded.image[:, :5].max() == 0  # the padding is black, not a bright bar
    assert decoded.image.dtype == np.uint8 and decoded.image.shape == (RES, RES)
    assert _corr(decoded.image, expected, mask) > 0.98, name  # > 0: MONOCHROME1 inverted exactly once
    assert decoded.image[mask].std() > 25  # the lungs keep their contrast (a marker cannot flatten them)
    assert decoded.patient == "P001" and decoded.frames == 1


def test_without_extension_by_the_dicm_magic_and_no_pixels_and_multi_frame(tmp_path, source):
    bare = write_dicom(tmp_path / "IMG0001", np.round(source * 255).astype(np.uint8), 8)
    report = write_report(tmp_path / "report.dcm")
    frames = np.stack([np.round(source * 4095), np.zeros_like(source)]).astype(np.uint16)
    multi = write_dicom(tmp_path / "multi.dcm", frames, 12)
    (tmp_path / "notes").write_text("not DICOM")
    assert looks_like_dicom(bare) and not looks_like_dicom(tmp_path / "notes")
    assert _corr(read_dicom(bare, RES).image, resize_float(source, RES)) > 0.98
    with pytest.raises(NoPixels):
        read_dicom(report, RES)
    first = read_dicom(multi, RES)
    assert first.frames == 2 and _corr(first.image, resize_float(source, RES)) > 0.98


def test_a_dicom_tree_of_every_variant_loads_with_notes_and_patients(tmp_path, source):
    root = tmp_path / "hospital"
    for i, (name, (args, stored, tags)) in enumerate(variants(source).items()):
        for split, cls in (("train", "NORMAL"), ("train", "PNEUMONIA"), ("test", "NORMAL"), ("test", "PNEUMONIA")):
            path = root / split / cls / f"{name}-{cls}.dcm"
            write_dicom(path, stored, patient=f"{split}-{cls}-{i}", **args, **tags)
    write_dicom(root / "train" / "NORMAL" / "IMG0001", np.round(source * 255).astype(np.uint8), 8, patient="bare")
    write_report(root / "train" / "PNEUMONIA" / "report.dcm")
    write_dicom(root / "train" / "PNEUMONIA" / "multi.dcm",
                np.stack([np.round(source * 4095)] * 3).astype(np.uint16), 12, patient="multi")
    _truncated(root / "test" / "NORMAL" / "broken.dcm", source)

    data = load_dataset(str(root), RES, seed=0)

    assert data.kind == "folder" and data.classes == ("NORMAL", "PNEUMONIA")
    assert "train/NORMAL/IMG0001" in data.train.ids.tolist() + data.val.ids.tolist()
    reasons = {d.reason: d for d in data.dropped}
    assert any("without pixel data" in r for r in reasons) and any("pydicom could not decode" in r for r in reasons)
    assert any("multi-frame" in n and "multi.dcm" in n for n in data.notes)
    all_patients = np.concatenate([s.patients for s in data.splits.values()])
    assert "multi" in all_patients and "bare" in all_patients  # PatientID is the patient
    assert len(data.test) == 20
    thumbnails = dict(class_thumbnails(data))  # Check data's: windowed, so MONOCHROME1 lungs are dark too
    assert list(thumbnails) == ["NORMAL", "PNEUMONIA"] and thumbnails["NORMAL"].shape == (RES, RES)


def _truncated(path, source):
    """A DICOM file cut in the middle of its pixel data (an interrupted copy)."""
    full = write_dicom(path, np.round(source * 4095).astype(np.uint16), 12)
    full.write_bytes(full.read_bytes()[:-len(full.read_bytes()) // 3])


def test_undecodable_dicom_is_named_as_such(tmp_path, source):
    for cls in ("NORMAL", "PNEUMONIA"):
        for i in range(3):
            _truncated(tmp_path / cls / f"{i}.dcm", source)
    with pytest.raises(DataError) as err:
        load_dataset(str(tmp_path), RES)
    assert "6 files look like DICOM but pydicom could not decode them: NORMAL/0.dcm" in str(err.value)


def test_a_large_jpeg2000_is_decoded_at_a_reduced_level_and_matches_the_full_decoding(tmp_path, source, monkeypatch):
    """bench_data: a 2048² JPEG 2000 DICOM decoded whole took as long as the plain loop; a wavelet level
    still at twice the resolution, centred on its blocks, gives the image of the full decoding (its filter
    differs from an area average at sharp edges only)."""
    from alcore.data import dicom
    big = np.round(np.clip(resize_float(source, 1024), 0, 1) * 4095).astype(np.uint16)
    path = write_dicom(tmp_path / "big.dcm", big, bits=12, compress=JPEG2000Lossless,
                       WindowCenter=2048, WindowWidth=4096)
    assert dicom._read_reduced_jpeg2000(path, RES)[1].shape == (128, 128)  # 1024 / 2**3: twice RES
    reduced = read_dicom(path, RES).image
    monkeypatch.setattr(dicom, "_read_reduced_jpeg2000", lambda path, resolution: None)
    full = read_dicom(path, RES).image
    difference = np.abs(reduced.astype(int) - full)
    assert _corr(reduced, full) > 0.998 and difference.mean() < 2.5  # grey levels: another low-pass filter
