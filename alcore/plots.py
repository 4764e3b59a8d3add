"""A round's diagnostic figures - ROC, precision-recall and reliability, with their intervals - and
their export to PNG / SVG files. Drawn with plotly; `python -m alcore figures RUN_ID` writes them and
the dashboard's Diagnostics page shows them (its other figures are the view models').

plotly's static export (kaleido 1.x) renders in a headless Chrome or Chromium it finds on the
machine (Debian: `apt-get install chromium`); nothing is downloaded, so it works offline.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

from alcore.config import ExperimentConfig
from alcore.diagnostics import ClassCurves, Diagnostics, diagnostics
from alcore.metrics import class_key
from alcore.records import RoundRecord
from alcore.runs import RunStore, probs_from_file

PALETTE = qualitative.Plotly
# One colour per strategy in every chart of the product (learning curves, race, ROC / PR / reliability):
# random is the race's grey baseline; the uncertainty family blues and purples, diversity warm colours.
STRATEGY_COLORS = {"random": "#444444", "full-data baseline": "#000000",
                   "entropy": "#636efa", "least_confidence": "#19d3f3", "margin": "#ab63fa", "bald": "#1f3a93",
                   "pca_kmeans": "#ef553b", "coreset": "#00cc96", "typiclust": "#ffa15a", "badge": "#b6e880",
                   "uncertain_kmeans": "#ff6692"}
OTHER_COLORS = [c.lower() for c in qualitative.Dark24 if c.lower() not in STRATEGY_COLORS.values()]
RUN_DASHES = ("solid", "dot", "dash", "dashdot", "longdash", "longdashdot")  # runs of one strategy in one chart


def layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 420,
           legend_below: float | None = None) -> go.Figure:
    """Title, axis titles, height and the legend: every figure's frame. The legend goes on top, or
    under the plot with its top at `legend_below` (plot heights) where long names would cover the title."""
    on_top = legend_below is None
    legend = dict(orientation="h", xanchor="left", x=0, yanchor="bottom" if on_top else "top",
                  y=1.0 if on_top else legend_below)
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=60, b=50), legend=legend,
                      font=dict(size=13), hovermode="closest")
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def strategy_color(strategy: str) -> str:
    """The strategy's colour; a strategy without one gets a fixed colour from its name."""
    known = STRATEGY_COLORS.get(strategy)
    return known or OTHER_COLORS[zlib.crc32(strategy.encode()) % len(OTHER_COLORS)]


def strategy_of(series_name: str) -> str:
    """The strategy a series or run name starts with: strategy_label, then ' (' settings or ' s' seed."""
    name = series_name.split(" (")[0].split(" · ")[0]
    return next((known for known in STRATEGY_COLORS if name == known or name.startswith(known + " ")),
                name.split(" ")[0])


def run_styles(names: Sequence[str]) -> list[dict]:
    """A line style per series: its strategy's colour; runs of one strategy told apart by their dashes."""
    seen: dict[str, int] = {}
    styles = []
    for name in names:
        strategy = strategy_of(name)
        repeat = seen.get(strategy, 0)
        seen[strategy] = repeat + 1
        styles.append(dict(color=strategy_color(strategy), dash=RUN_DASHES[repeat % len(RUN_DASHES)]))
    return styles


def transparent(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# --- one round's diagnostics: ROC, precision-recall, reliability ---------------------------------
@dataclass(frozen=True)
class CurveSeries:
    """One run's round as the diagnostic figures draw it; `ci` holds the round record's bootstrap
    intervals ({metric: (low, high)}) when the run has them; `only` draws one class's one-vs-rest
    curves (Compare: one class across runs) instead of every class's."""

    name: str
    diagnostics: Diagnostics
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    only: int | None = None

    def curves(self) -> tuple[ClassCurves, ...]:
        return tuple(c for c in self.diagnostics.curves if self.only is None or c.index == self.only)


@dataclass(frozen=True)
class _Line:
    """One drawn curve: a series' class (two classes: the positive one, named by the series alone)."""

    series: CurveSeries
    curve: ClassCurves
    name: str
    style: dict

    @property
    def auc_keys(self) -> tuple[str, ...]:  # where the record keeps this curve's AUC interval
        if self.series.diagnostics.argmax:
            return (class_key("class_roc_auc", self.curve.index),)
        return ("roc_auc",)


def _lines(series: Sequence[CurveSeries]) -> list[_Line]:
    """Every curve to draw: one run's several classes in class colours, several runs in their styles."""
    by_class = len(series) == 1 and len(series[0].curves()) > 1
    lines = []
    for s, style in zip(series, run_styles([s.name for s in series])):
        for curve in s.curves():
            name = f"{s.name} · {curve.name}" if s.diagnostics.argmax else s.name
            lines.append(_Line(s, curve, name, dict(color=class_color(curve.index), dash="solid") if by_class else style))
    return lines


def class_color(index: int) -> str:
    """The colour of a class's one-vs-rest curves, by its label."""
    return PALETTE[index % len(PALETTE)]


def interval(ci: dict[str, tuple[float, float]], *metrics: str) -> tuple[float, float] | None:
    """The first of `metrics` whose 95 % interval the round recorded (defined at both ends), or None."""
    for metric in metrics:
        bounds = ci.get(metric)
        if bounds and not any(math.isnan(b) for b in bounds):
            return float(bounds[0]), float(bounds[1])
    return None


def with_interval(value: float, ci: dict, *metrics: str) -> str:
    """'0.812 [0.750, 0.870]': a value with its interval when the round recorded one; 'n/a' for NaN."""
    if math.isnan(value):
        return "n/a"
    bounds = interval(ci, *metrics)
    return f"{value:.3f}" + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")


def _error_bars(value: float, bounds: tuple[float, float] | None) -> dict:
    """Plotly error bars around `value` reaching an interval's ends (none without an interval)."""
    if bounds is None:
        return dict(visible=False)
    return dict(type="data", symmetric=False, array=[max(0.0, bounds[1] - value)],
                arrayminus=[max(0.0, value - bounds[0])], thickness=1.5, width=6)


def _unit_square(fig: go.Figure) -> go.Figure:
    """Equal axes on [0, 1]."""
    fig.update_xaxes(range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(range=[-0.01, 1.02], scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(margin=dict(l=60, r=20, t=50, b=40))
    return fig


def _reference_line(fig: go.Figure, x: list[float], y: list[float], name: str, color: str = "#888") -> None:
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, hoverinfo="skip",
                             line=dict(dash="dash", color=color, width=1)))


def _operating_point(fig: go.Figure, x: float, y: float, color: str, group: str, hover: str,
                     error_x: dict, error_y: dict) -> None:
    fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", legendgroup=group, showlegend=False,
                             marker=dict(symbol="circle", size=12, color=color, line=dict(color="black", width=1.5)),
                             error_x={**error_x, "color": color}, error_y={**error_y, "color": color},
                             hovertemplate=hover + "<extra>" + group + "</extra>"))


def roc_figure(series: Sequence[CurveSeries], title: str) -> go.Figure:
    """ROC curves (more than two classes: one class against the rest each); with two classes the dot
    is each model's operating point at its threshold, its whiskers the sensitivity / specificity
    intervals when the round has them."""
    fig = go.Figure()
    _reference_line(fig, [0, 1], [0, 1], "chance")
    for line in _lines(series):
        c, s, color = line.curve, line.series, line.style["color"]
        fig.add_trace(go.Scatter(x=c.roc_fpr, y=c.roc_tpr, mode="lines", legendgroup=line.name, line=line.style,
                                 name=f"{line.name} · AUC " + with_interval(c.roc_auc, s.ci, *line.auc_keys),
                                 hovertemplate="FPR %{x:.3f}, TPR %{y:.3f}<extra>" + line.name + "</extra>"))
        p = s.diagnostics.point
        if p is None:
            continue
        specificity = interval(s.ci, "specificity")
        _operating_point(fig, p.false_positive_rate, p.sensitivity, color, line.name,
                         f"threshold {p.threshold:.2f}: sensitivity {p.sensitivity:.3f}, specificity {p.specificity:.3f}",
                         _error_bars(p.false_positive_rate, None if specificity is None else
                                     (1 - specificity[1], 1 - specificity[0])),
                         _error_bars(p.sensitivity, interval(s.ci, "sensitivity", "recall")))
    return _unit_square(layout(fig, title, "False-positive rate (1 − specificity)", "True-positive rate (sensitivity)",
                                height=540, legend_below=-0.16))


def pr_figure(series: Sequence[CurveSeries], title: str) -> go.Figure:
    """Precision-recall curves (steps, as average precision sums them; more than two classes: one
    class against the rest each); the dashed line is the precision of guessing (the class's share);
    with two classes the dot is the operating point."""
    fig = go.Figure()
    lines = _lines(series)
    per_class: dict[int, _Line] = {}
    for line in lines:
        per_class.setdefault(line.curve.index, line)
    for line in per_class.values():  # guessing: precision = the class's share
        share = line.curve.prevalence
        _reference_line(fig, [0, 1], [share, share], f"guessing ({line.curve.name} share {share:.2f})",
                        line.style["color"] if len(per_class) > 1 else "#888")
    for line in lines:
        c, s, color = line.curve, line.series, line.style["color"]
        fig.add_trace(go.Scatter(x=c.pr_recall, y=c.pr_precision, mode="lines", line=dict(line.style, shape="hv"),
                                 legendgroup=line.name, name=f"{line.name} · AP {c.average_precision:.3f}",
                                 hovertemplate="recall %{x:.3f}, precision %{y:.3f}<extra>" + line.name + "</extra>"))
        p = s.diagnostics.point
        if p is None:
            continue
        _operating_point(fig, p.sensitivity, p.precision, color, line.name,
                         f"threshold {p.threshold:.2f}: recall {p.sensitivity:.3f}, precision {p.precision:.3f}",
                         _error_bars(p.sensitivity, interval(s.ci, "sensitivity", "recall")),
                         _error_bars(p.precision, interval(s.ci, "precision")))
    return _unit_square(layout(fig, title, "Recall (sensitivity)", "Precision (positive predictive value)", height=540,
                                legend_below=-0.16))


def _reliability_words(d: Diagnostics) -> tuple[str, str, str]:
    """The reliability diagram's x title, y title and hover outcome: of p(positive), or top-label."""
    if d.reliability.top_label:
        return ("Mean probability of the predicted class in the bin", "Observed share predicted right", "right")
    positive = d.classes[1]
    return f"Mean predicted p({positive}) in the bin", f"Observed share of {positive}", positive


def reliability_figure(series: Sequence[CurveSeries], title: str) -> go.Figure:
    """Reliability diagram: per bin (tenths) of p(positive) - more than two classes: of the predicted
    class's probability (top-label) - the observed share of the positive class (of right predictions)
    against the mean probability; on the diagonal the probabilities mean what they say. Dot area ~ images."""
    fig = go.Figure()
    _reference_line(fig, [0, 1], [0, 1], "perfectly calibrated")
    x_title, y_title, outcome = _reliability_words(series[0].diagnostics) if series else ("", "", "")
    for s, line in zip(series, run_styles([s.name for s in series])):
        r, color = s.diagnostics.reliability, line["color"]
        name = (f"{s.name} · Brier {s.diagnostics.brier:.3f} · "
                + "ECE " + with_interval(r.ece, s.ci if r.top_label else {}, "top_label_ece"))
        size = 6 + 22 * np.sqrt(r.counts / max(int(r.counts.max()), 1))
        fig.add_trace(go.Scatter(x=r.mean_predicted, y=r.fraction_positive, mode="lines+markers", name=name,
                                 legendgroup=s.name, line=line, marker=dict(size=size, color=color),
                                 customdata=r.counts, hovertemplate=f"mean p %{{x:.2f}}: %{{y:.2f}} {outcome} "
                                 "(%{customdata} images)<extra>" + s.name + "</extra>"))
    return _unit_square(layout(fig, title, x_title, y_title, height=540, legend_below=-0.16))


def strategy_label(config: ExperimentConfig) -> str:
    """A run's strategy as figures and tables name it."""
    return "full-data baseline" if config.full_data else config.sampler


def at_labels(record: RoundRecord) -> str:
    """The name of a round everywhere: the labels its model trained on."""
    return f"at {record.n_labeled} labels"


def diagnostics_from_arrays(record: RoundRecord, arrays: dict[str, np.ndarray],
                            classes: Sequence[str]) -> Diagnostics | None:
    """The round's test-set curves at its operating threshold (two classes: the record's, else 0.5;
    more: argmax), from its arrays; None when the round stores no test probabilities (runs from
    before they were kept) or one class only."""
    if "test_prob" not in arrays:
        return None
    threshold = 0.5 if record.threshold is None else record.threshold
    try:
        return diagnostics(arrays["test_label"], probs_from_file(arrays["test_prob"]), threshold, classes)
    except ValueError:
        return None


# --- files ---------------------------------------------------------------------------------------
WIDTH, HEIGHT = 640, 620  # pixels of an exported picture (SVG: its view box)
FORMATS = ("png", "svg")
KINDS = {"roc": ("ROC curve", roc_figure), "pr": ("Precision-recall curve", pr_figure),
         "reliability": ("Reliability diagram", reliability_figure)}  # file stem suffix: (title, figure)


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
        found = diagnostics_from_arrays(record, store.load_round_arrays(run_id, record.round), store.classes(run_id))
        if found is None:
            continue
        series = [CurveSeries(strategy_label(config), found, record.ci)]
        for kind, (title, build) in KINDS.items():
            out[f"round_{record.round:03d}_{kind}"] = build(series, f"{title}, test set, {at_labels(record)}")
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
