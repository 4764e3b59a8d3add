"""DICOM files (pydicom 3; compressed transfer syntaxes through the pylibjpeg plugins) as 8-bit
grayscale: the Modality LUT (rescale slope / intercept, or a LUT), the VOI LUT (the first window
centre / width, or the VOI LUT sequence; robust percentiles when there is neither), MONOCHROME1
inverted, PixelPaddingValue black. Multi-frame files give their first frame.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alcore.data.pixels import resize_float, robust_range, scale_unit, shrink, unit_to_uint8

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
JPEG2000_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"})  # lossless, lossy
EXACT_VALUES_NEEDED = ("ModalityLUTSequence", "VOILUTSequence", "PixelPaddingValue")
PREAMBLE = 128  # the DICM magic follows a 128-byte preamble (DICOM part 10)
HEADER = ("PatientID", "Modality", "PhotometricInterpretation", "NumberOfFrames", "BitsStored", "PixelRepresentation",
          "RescaleSlope", "RescaleIntercept", "ModalityLUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction",
          "VOILUTSequence", "PixelPaddingValue", "PixelPaddingRangeLimit")  # what read_dicom uses


class NoPixels(Exception):
    """A DICOM object without an image (a report, a structured report, a presentation state)."""


@dataclass(frozen=True)
class DicomImage:
    image: np.ndarray  # (resolution, resolution) uint8
    patient: str  # PatientID, "" when absent
    frames: int  # frames in the file (the first one is used)


def looks_like_dicom(path: Path) -> bool:
    """True for a .dcm-like suffix or the DICM magic at byte 128 (files without an extension)."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(PREAMBLE + 4)
    except OSError:
        return False
    return head[PREAMBLE:] == b"DICM"


def read_dicom(path: Path, resolution: int) -> DicomImage:
    """One DICOM file as a windowed (resolution, resolution) uint8 image. Raises NoPixels for a file
    without pixel data; any other failure is pydicom's exception."""
    ds, stored = _read_reduced_jpeg2000(path, resolution) or _read(path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if stored.ndim == 3:  # colour (RGB after pydicom's YBR conversion): its luminance
        stored = stored[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    windowed = "WindowCenter" in ds and "WindowWidth" in ds
    lut = "VOILUTSequence" in ds and not windowed
    if lut or "ModalityLUTSequence" in ds:  # table look-ups: on the stored integers, full size
        values = resize_float(shrink(_lut_values(ds, stored, lut), resolution), resolution)
    else:  # linear: on the shrunk image (it commutes with resampling)
        values = _rescale(ds, resize_float(shrink(stored, resolution), resolution))
    padding = _padding_mask(ds, stored)
    padded = None if padding is None else resize_float(shrink(padding, resolution), resolution) >= 0.5
    unit = _window(values, ds) if windowed else np.clip(values, 0.0, 1.0) if lut else \
        scale_unit(values, *robust_range(values, None if padded is None else ~padded))
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        unit = 1.0 - unit  # high values are dark: inverted once, here, so dark lungs stay dark
    if padded is not None:
        unit[padded] = 0.0
    return DicomImage(unit_to_uint8(unit), str(ds.get("PatientID", "") or "").strip(), frames)


def _read(path: Path):
    """(the header elements the decoding needs, the first frame's stored values). pydicom reads only
    those elements and one frame; a file without a file meta header is read whole instead."""
    import pydicom
    from pydicom.datadict import tag_for_keyword
    from pydicom.pixels import pixel_array

    header = pydicom.Dataset()
    try:
        stored = pixel_array(str(path), index=0, ds_out=header, specific_tags=[tag_for_keyword(k) for k in HEADER])
        return header, stored
    except AttributeError as exc:
        if "no 'Pixel Data'" in str(exc):
            raise NoPixels("a DICOM object without pixel data") from None
    ds = pydicom.dcmread(path, force=True)
    if "PixelData" not in ds:
        raise NoPixels(f"{ds.get('Modality', 'no modality')} object without pixel data")
    return ds, pixel_array(ds, index=0)


def _read_reduced_jpeg2000(path: Path, resolution: int):
    """(header, stored values) of a large grayscale JPEG 2000 DICOM decoded at a coarser wavelet level
    (each level halves the size; the coarsest still twice `resolution`): a 2048² image wanted at 224 px
    decodes at 512 px, a tenth of the work. None where that does not apply: another transfer syntax,
    colour, signed or over 16-bit values, table look-ups or padding (they need exact stored values)."""
    import pydicom
    from pydicom.encaps import generate_frames
    from PIL import Image

    try:
        syntax = str(pydicom.filereader.read_file_meta_info(path).get("TransferSyntaxUID", ""))
    except Exception:  # noqa: BLE001 - no file meta header: the whole-file path reads it
        return None
    if syntax not in JPEG2000_SYNTAXES:
        return None
    ds = pydicom.dcmread(path)
    levels = int(np.log2(max(min(int(ds.Rows), int(ds.Columns)) / (2 * resolution), 1.0)))
    if (levels == 0 or int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.get("PixelRepresentation", 0)) != 0
            or int(ds.BitsAllocated) not in (8, 16) or any(k in ds for k in EXACT_VALUES_NEEDED)):
        return None
    frame = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
    with Image.open(io.BytesIO(frame)) as image:
        image.reduce = levels
        stored = np.asarray(image).astype(np.float32)
    if image.mode == "I;16" and int(ds.BitsStored) < 16:  # Pillow scales a p-bit image up to 16 bits
        stored = stored / 2 ** (16 - int(ds.BitsStored))
    return ds, _centre_on_blocks(stored, 2 ** levels)


def _centre_on_blocks(low: np.ndarray, factor: int) -> np.ndarray:
    """A wavelet low-pass sample sits on the first pixel of its block, an average at its centre:
    shift by (factor - 1) / 2 original pixels (linear interpolation, edges repeated)."""
    a = (1.0 - 1.0 / factor) / 2.0
    for axis in (0, 1):
        ahead = np.concatenate([np.take(low, np.arange(1, low.shape[axis]), axis=axis),
                                np.take(low, [-1], axis=axis)], axis=axis)
        low = (1.0 - a) * low + a * ahead
    return low


def _rescale(ds, values: np.ndarray) -> np.ndarray:
    """Stored values to modality values: rescale slope and intercept."""
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    return values if (slope, intercept) == (1.0, 0.0) else values * slope + intercept


def _lut_values(ds, stored: np.ndarray, voi: bool) -> np.ndarray:
    """The Modality LUT (or rescale), then with `voi` the VOI LUT sequence scaled to 0..1."""
    from pydicom.pixels import apply_modality_lut, apply_voi
    values = apply_modality_lut(stored, ds) if "ModalityLUTSequence" in ds else _rescale(ds, stored)
    if not voi:
        return np.asarray(values, np.float32)
    bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    return apply_voi(np.rint(values).astype(np.int64), ds, 0).astype(np.float32) / float(2 ** bits - 1)


def _window(values: np.ndarray, ds) -> np.ndarray:
    """The first VOI window (LINEAR, LINEAR_EXACT or SIGMOID, DICOM part 3 C.11.2.1.2) as 0..1."""
    center, width = (_first(ds.WindowCenter), _first(ds.WindowWidth))
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if function == "SIGMOID":
        return (1.0 / (1.0 + np.exp(-4.0 * (values - center) / max(width, 1e-6)))).astype(np.float32)
    if function == "LINEAR":
        center, width = center - 0.5, max(width - 1.0, 1.0)
    return np.clip((values - center) / max(width, 1e-6) + 0.5, 0.0, 1.0).astype(np.float32)


def _first(value) -> float:
    """A window value: the first of several (alternative views), as a number."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _padding_mask(ds, stored: np.ndarray) -> np.ndarray | None:
    """1 where the stored value is PixelPaddingValue (up to PixelPaddingRangeLimit); None without padding."""
    if "PixelPaddingValue" not in ds or stored.ndim != 2:
        return None
    lo = float(ds.PixelPaddingValue)
    hi = float(ds.get("PixelPaddingRangeLimit", lo))
    lo, hi = min(lo, hi), max(lo, hi)
    mask = (stored >= lo) & (stored <= hi)
    return mask.astype(np.uint8) if mask.any() else None
