"""Figures as PNG / SVG files: the dashboard's downloads and `python -m alcore figures RUN_ID`.

plotly's static export (kaleido 1.x) renders in a headless Chrome or Chromium it finds on the
machine (Debian: `apt-get install chromium`); nothing is downloaded, so it works offline.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from alcore.runs import RunStore
from alcore.viewmodels import figures, views

WIDTH, HEIGHT = 640, 620  # pixels of an exported picture (SVG: its view box)
FORMATS = ("png", "svg")
KINDS = {"roc": figures.roc_figure, "pr": figures.pr_figure, "reliability": figures.reliability_figure}


@lru_cache(maxsize=1)
def export_problem() -> str | None:
    """Why figures cannot be exported to files here, or None when they can."""
    try:
        from choreographer.browsers.chromium import Chromium
        import kaleido  # noqa: F401  (plotly's exporter)
    except ImportError:
        return "PNG / SVG export needs the 'kaleido' package (pip install -r requirements.txt)"
    if Chromium.find_browser(skip_local=False) is None:
        return ("PNG / SVG export needs Chrome or Chromium on this machine (Debian: apt-get install chromium; "
                "or set BROWSER_PATH to one)")
    return None


def figure_bytes(fig: go.Figure, fmt: str) -> bytes:
    """One figure as PNG or SVG bytes."""
    problem = export_problem()
    if problem:
        raise RuntimeError(problem)
    return pio.to_image(fig, format=fmt, width=WIDTH, height=HEIGHT)


def round_figures(store: RunStore, run_id: str) -> dict[str, go.Figure]:
    """{file stem: figure}: one ROC, one precision-recall and one reliability diagram per round
    that stores test probabilities."""
    config = store.load_config(run_id)
    out = {}
    for record in store.load_rounds(run_id):
        found = views.round_diagnostics(store, run_id, record)
        if found is None:
            continue
        series = [figures.CurveSeries(views.strategy_label(config), found, record.get("ci") or {})]
        where = views.at_labels(record)
        for kind, build in KINDS.items():
            title = {"roc": "ROC curve", "pr": "Precision-recall curve", "reliability": "Reliability diagram"}[kind]
            out[f"round_{record['round']:03d}_{kind}"] = build(series, f"{title}, test set, {where}")
    return out


def write_run_figures(store: RunStore, run_id: str, svg: bool = False) -> list[Path]:
    """Write the run's round figures into <run>/figures/ as PNG (and SVG); returns the files written."""
    problem = export_problem()
    if problem:
        raise RuntimeError(problem)
    drawn = round_figures(store, run_id)
    if not drawn:
        raise ValueError(f"run {run_id} has no round with test-set probabilities to draw (runs recorded before "
                         "they were kept, or a test set of one class)")
    folder = store.run_dir(run_id) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.{fmt}" for fmt in (FORMATS if svg else ("png",)) for stem in drawn]
    pio.write_images([drawn[p.stem] for p in paths], paths, width=WIDTH, height=HEIGHT)  # one browser for all
    return paths
