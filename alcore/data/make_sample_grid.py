"""Draw labelled synthetic samples into a PNG: `python -m alcore.data.make_sample_grid [out.png]`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from alcore.data.synthetic import render

OUT = Path(__file__).resolve().parents[2] / "docs" / "synthetic_samples.png"


def sample_grid(per_row: int = 6, resolution: int = 192, seed: int = 7) -> Image.Image:
    """Row 1: NORMAL, row 2: PNEUMONIA; about a fifth of the images come from the ambiguous share."""
    rng = np.random.default_rng(seed)
    rows = [render(np.full(per_row, label), resolution, rng) for label in (0, 1)]
    pad, top = 4, 18
    grid = Image.new("L", (per_row * (resolution + pad) + pad, 2 * (resolution + top + pad) + pad), 0)
    draw = ImageDraw.Draw(grid)
    for r, (label, images) in enumerate(zip(("NORMAL", "PNEUMONIA"), rows)):
        y = pad + r * (resolution + top + pad)
        for c, image in enumerate(images):
            x = pad + c * (resolution + pad)
            draw.text((x + 2, y + 2), label, fill=255)
            grid.paste(Image.fromarray(image), (x, y + top))
    return grid


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    sample_grid().save(out)
    print(f"wrote {out}")
