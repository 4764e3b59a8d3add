"""The Embeddings scatter of a large pool, thinned on the server so the browser's first draw stays quick.

Every labeled and queried image is drawn; the others are a random sample, stratified so that each
(true label, cluster) group keeps its share of the pool (and at least one point), capped at
MAX_DRAWN points in all. Each drawn point remembers its pool row, so a lasso or box selection on
the figure maps back to the right images. Deterministic for a seed. No streamlit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from alcore.viewmodels import figures

MAX_DRAWN = 20_000  # WebGL draws this many points in well under a second
ALWAYS_DRAWN = ("labeled", "queried")  # statuses never thinned out
STRATA = ("label", "cluster")  # the frame columns whose groups keep their share


@dataclass(frozen=True)
class ThinnedScatter:
    """The drawn part of a round frame: point i of the figure is pool row `pool_rows[i]`."""

    frame: pd.DataFrame  # the drawn rows of the round frame, renumbered 0..m-1 (the figure's customdata)
    xy: np.ndarray  # (m, 2) their positions
    pool_rows: np.ndarray  # (m,) ascending pool rows of the drawn points
    pool_size: int

    @property
    def thinned(self) -> bool:
        return len(self.pool_rows) < self.pool_size


def drawn_rows(keep: np.ndarray, strata: np.ndarray, max_drawn: int, seed: int) -> np.ndarray:
    """Ascending rows to draw: every row where `keep`, and of the others a random sample per stratum,
    in proportion to the stratum's size, filling up to `max_drawn` rows (all kept rows even beyond)."""
    keep = np.asarray(keep, dtype=bool)
    others = np.flatnonzero(~keep)
    room = max(max_drawn - int(keep.sum()), 0)
    if room >= len(others):
        return np.arange(len(keep))
    groups, group_of = np.unique(np.asarray(strata)[others], return_inverse=True)
    quotas = _quotas(np.bincount(group_of, minlength=len(groups)), room)
    rng = np.random.default_rng([seed, 7333])
    sampled = [rng.choice(others[group_of == g], size=quota, replace=False) for g, quota in enumerate(quotas)]
    return np.sort(np.concatenate([np.flatnonzero(keep), *sampled]))


def _quotas(sizes: np.ndarray, room: int) -> np.ndarray:
    """Rows to take from each group (0 < room < sizes.sum()): in proportion to its size (largest
    remainders, ties to the first group); a group left with none takes one from the largest quota."""
    exact = sizes * room / sizes.sum()
    quotas = np.floor(exact).astype(np.int64)
    quotas[np.argsort(-(exact - quotas), kind="stable")[: room - int(quotas.sum())]] += 1
    if room >= len(sizes):
        for group in np.flatnonzero(quotas == 0):
            quotas[np.argmax(quotas)] -= 1
            quotas[group] = 1
    return quotas


def thin(frame: pd.DataFrame, xy: np.ndarray, max_drawn: int = MAX_DRAWN, seed: int = 0,
         strata: Sequence[str] = STRATA) -> ThinnedScatter:
    """The points to draw of a round frame (round_view.round_frame) laid out at `xy` (n, 2)."""
    keep = frame.status.isin(ALWAYS_DRAWN).to_numpy()
    groups = frame.groupby(list(strata), sort=True, dropna=False).ngroup().to_numpy() if strata \
        else np.zeros(len(frame), dtype=np.int64)
    rows = drawn_rows(keep, groups, max_drawn, seed)
    return ThinnedScatter(frame.iloc[rows].reset_index(drop=True), np.asarray(xy)[rows], rows, len(frame))


def thinned_figure(scatter: ThinnedScatter, color_by: str, projection: str, classes: Sequence[str]) -> go.Figure:
    """figures.embedding_figure of the drawn points; the title says how many of the pool are drawn."""
    fig = figures.embedding_figure(scatter.frame, scatter.xy, color_by, projection, classes)
    if scatter.thinned:
        fig.update_layout(title_text=f"{fig.layout.title.text}: {len(scatter.pool_rows):,} of "
                                     f"{scatter.pool_size:,} images drawn (every labeled and queried one)")
    return fig


def selected_pool_rows(scatter: ThinnedScatter, fig: go.Figure, points: Sequence[dict]) -> np.ndarray:
    """The pool rows behind the points of a plotly selection event on `thinned_figure`'s figure."""
    return scatter.pool_rows[figures.selected_rows(fig, points)]
