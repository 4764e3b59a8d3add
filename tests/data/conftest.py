"""Helpers for the data-source tests: tiny image files of every kind a user may have."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, mode: str = "L", size: tuple[int, int] = (40, 30), value: int = 0) -> Path:
    """A small gradient image in `mode` (L, RGB, RGBA, I;16, ...), format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    ramp = (np.add.outer(np.arange(h), np.arange(w)) * 255 // (w + h - 2) + value) % 256
    if mode == "I;16":
        image = Image.fromarray((ramp.astype(np.uint16) * 257))  # full 16-bit range
    else:
        image = Image.fromarray(ramp.astype(np.uint8)).convert(mode)
    image.save(path)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    full = write_image(path.with_name("full-" + path.name), "L", (64, 64))
    path.write_bytes(full.read_bytes()[:300])
    full.unlink()
    return path


@pytest.fixture
def two_class_folder(tmp_path: Path) -> Path:
    """root/{NORMAL,PNEUMONIA}/ with 10 + 10 small PNG/JPEG files."""
    root = tmp_path / "xrays"
    for label in ("NORMAL", "PNEUMONIA"):
        for i in range(10):
            suffix = ".png" if i % 2 else ".jpeg"
            write_image(root / label / f"{label.lower()}-{i}{suffix}", "L", (30 + i, 20 + i), value=i * 7)
    return root


@pytest.fixture
def make_image():
    return write_image


@pytest.fixture
def make_truncated_jpeg():
    return write_truncated_jpeg
