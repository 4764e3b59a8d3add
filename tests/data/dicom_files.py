"""Writing DICOM files for the tests (pydicom writes them; no data in the repository): every variant a
hospital export holds, and a JPEG Lossless (process 14, first-order prediction) encoder, which
pydicom lacks, so the lossless-JPEG decoding path is tested on a file made here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (JPEG2000Lossless, JPEGLosslessSV1, RLELossless, SecondaryCaptureImageStorage,
                         generate_uid)

DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
HUFFMAN_LENGTH = 5  # every category 0..16 gets a 5-bit code (17 of the 31 usable)


def source_image(shared: Path | None, size: int = 256) -> np.ndarray:
    """A real-looking chest X-ray as floats in 0..1: a real one from ../shared/data when present,
    else the synthetic generator's."""
    sample = next(iter(sorted((shared / "chest_xray_fullres_sample").rglob("*.jpeg"))), None) if shared else None
    if sample is not None:
        with Image.open(sample) as im:
            return np.asarray(im.convert("L").resize((size, size), Image.Resampling.LANCZOS), np.float64) / 255.0
    from alcore.data.synthetic import render
    return render(np.array([1]), size, np.random.default_rng(7))[0].astype(np.float64) / 255.0


def new_dataset(sop_class: str = DX_STORAGE, modality: str = "DX", patient: str = "P001") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientName = modality, patient, "Test^Patient"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    return ds


def write_dicom(path: Path, stored: np.ndarray, bits: int, photometric: str = "MONOCHROME2",
                sop_class: str = DX_STORAGE, modality: str = "DX", patient: str = "P001",
                compress: str | None = None, **tags) -> Path:
    """`stored` (uint8 / uint16, (h, w) or (frames, h, w)) as a DICOM file; `tags` set as given."""
    ds = new_dataset(sop_class, modality, patient)
    ds.set_pixel_data(stored, photometric, bits)
    for name, value in tags.items():
        setattr(ds, name, value)
    if compress == JPEGLosslessSV1:
        ds.PixelData = _encapsulated(jpeg_lossless(stored, bits))
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    elif compress is not None:
        ds.compress(compress)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_report(path: Path) -> Path:
    """A DICOM object without pixels (a basic text structured report)."""
    ds = new_dataset(BASIC_TEXT_SR, "SR")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.ContentDate = "20260101"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _encapsulated(frame: bytes) -> bytes:
    from pydicom.encaps import encapsulate
    return encapsulate([frame])


def jpeg_lossless(image: np.ndarray, precision: int) -> bytes:
    """A (h, w) unsigned image as a JPEG Lossless process 14 stream, selection value 1 (left neighbour)."""
    h, w = image.shape
    x = image.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred + 32768) % 65536 - 32768  # modulo 2^16, as the decoder reconstructs
    magnitude = np.abs(diff).ravel()
    category = np.where(magnitude == 0, 0, np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int64) + 1)
    category[magnitude == 32768] = 16
    flat = diff.ravel()
    extra = np.where(flat >= 0, flat, flat + (1 << category) - 1) & ((1 << category) - 1)
    extra[category == 16] = 0
    lengths = HUFFMAN_LENGTH + np.where(category == 16, 0, category)
    values = (category << (lengths - HUFFMAN_LENGTH)) | extra
    width = HUFFMAN_LENGTH + 16
    shifts = lengths[:, None] - 1 - np.arange(width)[None, :]
    bits = ((values[:, None] >> np.maximum(shifts, 0)) & 1).astype(np.uint8)
    stream = bits[shifts >= 0]
    stream = np.concatenate([stream, np.ones(-len(stream) % 8, np.uint8)])  # pad with 1 bits
    data = np.packbits(stream).tobytes().replace(b"\xff", b"\xff\x00")
    sof = b"\xff\xc3" + _u16(11) + bytes([precision]) + _u16(h) + _u16(w) + b"\x01\x01\x11\x00"
    counts = [0] * 16
    counts[HUFFMAN_LENGTH - 1] = 17
    dht = b"\xff\xc4" + _u16(2 + 1 + 16 + 17) + b"\x00" + bytes(counts) + bytes(range(17))
    sos = b"\xff\xda" + _u16(8) + b"\x01\x01\x00" + b"\x01\x00\x00"
    return b"\xff\xd8" + sof + dht + sos + data + b"\xff\xd9"


def _u16(value: int) -> bytes:
    return int(value).to_bytes(2, "big")


__all__ = ["CR_STORAGE", "DX_STORAGE", "JPEG2000Lossless", "JPEGLosslessSV1", "RLELossless",
           "SecondaryCaptureImageStorage", "jpeg_lossless", "source_image", "write_dicom", "write_report"]
