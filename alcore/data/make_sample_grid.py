"""Draw labelled synthetic samples into a PNG: `python -m alcore.data.make_sample_grid [out.png]`,
the teaching preset's: `python -m alcore.data.make_sample_grid --teaching [out.png]`, or those of
three classes (NORMAL / BACTERIAL / VIRAL): `python -m alcore.data.make_sample_grid --three [out.png]`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from alcore.data.synthetic import GROUPS, class_names, render, render_teaching

DOCS = Path(__file__).resolve().parents[2] / "docs"
TEACHING_KINDS = ((0, False, "NORMAL"), (0, True, "NORMAL, border"), (1, True, "PNEUM., border"),
                  (1, False, "PNEUMONIA"))


def sample_grid(per_row: int = 6, resolution: int = 192, seed: int = 7, n_classes: int = 2) -> Image.Image:
    """One row per class (NORMAL, PNEUMONIA; or NORMAL, BACTERIAL, VIRAL, ...); about a fifth of the
    images come from the ambiguous share."""
    rng = np.random.default_rng(seed)
    names = class_names(n_classes)
    rows = [render(np.full(per_row, label), resolution, rng, n_classes) for label in range(n_classes)]
    return _grid([[(name, image) for image in images] for name, images in zip(names, rows)], resolution)


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


GRIDS = {"--teaching": ("teaching_samples.png", teaching_grid),
         "--three": ("synthetic_three_classes.png", lambda: sample_grid(per_row=5, resolution=160, n_classes=3)),
         "": ("synthetic_samples.png", sample_grid)}

if __name__ == "__main__":
    kind = next((a for a in sys.argv[1:] if a in GRIDS), "")
    args = [a for a in sys.argv[1:] if a not in GRIDS]
    name, draw = GRIDS[kind]
    out = Path(args[0]) if args else DOCS / name
    out.parent.mkdir(parents=True, exist_ok=True)
    draw().save(out)
    print(f"wrote {out}")
