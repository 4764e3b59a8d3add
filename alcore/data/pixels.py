"""High-bit-depth pixels to 8 bits: resize in floating point, then window (DICOM's VOI window, or
robust percentiles when a file has none) so one burned-in marker cannot turn the lungs black."""
from __future__ import annotations

import numpy as np
from PIL import Image

ROBUST_PERCENTILES = (0.5, 99.5)  # a marker or a collimator edge covers less than 0.5 % of an X-ray


def resize_float(values: np.ndarray, resolution: int) -> np.ndarray:
    """(h, w) values as float32 at resolution x resolution (Lanczos, as the 8-bit path)."""
    image = Image.fromarray(np.ascontiguousarray(values, np.float32), mode="F")
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image, np.float32)


def robust_unit(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Values scaled to 0..1 between their 0.5th and 99.5th percentiles (of the pixels in `mask`)."""
    sample = values[mask] if mask is not None else values
    if sample.size == 0:
        return np.zeros_like(values, np.float32)
    lo, hi = np.percentile(sample, ROBUST_PERCENTILES)
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        return np.zeros_like(values, np.float32)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def unit_to_uint8(unit: np.ndarray) -> np.ndarray:
    """0..1 floats to 0..255 uint8 (rounded)."""
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def high_bit_to_uint8(values: np.ndarray, resolution: int) -> np.ndarray:
    """A 16-bit (or float) grayscale image without a window: resized, then robust percentiles."""
    return unit_to_uint8(robust_unit(resize_float(values, resolution)))
