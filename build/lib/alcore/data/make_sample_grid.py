"""Draw labelled synthetic samples into a PNG: `python -m alcore.data.make_sample_grid [out.png]`,
or the teaching preset's: `python -m alcore.data.make_sample_grid --teaching [out.png]`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from alcore.data.synthetic import GROUPS, render, render_teaching

DOCS = Path(__file__).resolve().parents[2] / "docs"
TEACHING_KINDS = ((0, False, "NORMAL"), (0, True, "NORMAL, border"), (1, True, "PNEUM., border"),
                  (1, False, "PNEUMONIA"))


def sample_grid(per_row: int = 6, resolution: int = 192, seed: int = 7) -> Image.Image:
    """Row 1: NORMAL, row 2: PNEUMONIA; about a fifth of the images come from the ambiguous share."""
    rng = np.random.default_rng(seed)
    rows = [render(np.full(per_row, label), resolution, rng) for label in (0, 1)]
    return _grid([[(label, image) for image in images] for label, images in zip(("NORMAL", "PNEUMONIA"), rows)],
                 resolution)


def teaching_grid(resolution: int = 180, seed: int = 7) -> Image.Image:
    """The teaching preset: one row per sub-population; NORMAL, borderline NORMAL, borderline
    PNEUMONIA, PNEUMONIA."""
    labels = np.repeat([0, 1], 200)
    images, traits = render_teaching(labels, resolution, np.random.default_rng(seed))
    rows = []
    for g, group in enumerate(GROUPS):
        row = []
        for label, borderline, text in TEACHING_KINDS:
            first = np.flatnonzero((labels == label) & (traits.group == g) & (traits.borderline == borderline))[0]
            row.append((f"{group}: {text}", images[first]))
        rows.append(row)
    return _grid(rows, resolution)


def _grid(rows: list[list[tuple[str, np.ndarray]]], resolution: int) -> Image.Image:
    pad, top = 4, 18
    grid = Image.new("L", (len(rows[0]) * (resolution + pad) + pad, len(rows) * (resolution + top + pad) + pad), 0)
    draw = ImageDraw.Draw(grid)
    for r, row in enumerate(rows):
        y = pad + r * (resolution + top + pad)
        for c, (text, image) in enumerate(row):
            x = pad + c * (resolution + pad)
            draw.text((x + 2, y + 2), text, fill=255)
            grid.paste(Image.fromarray(image), (x, y + top))
    return grid


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--teaching"]
    teaching = "--teaching" in sys.argv[1:]
    out = Path(args[0]) if args else DOCS / ("teaching_samples.png" if teaching else "synthetic_samples.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    (teaching_grid() if teaching else sample_grid()).save(out)
    print(f"wrote {out}")
