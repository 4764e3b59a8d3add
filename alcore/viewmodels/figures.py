"""Plotly figures of the dashboard, built from plain data (round records, frames). No streamlit."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from alcore.diagnostics import Diagnostics
from alcore.metrics import METRIC_LABELS

LIVE_METRICS = ("accuracy", "f1", "roc_auc", "balanced_accuracy")
CLASS_COLORS = {"NORMAL": "#2e7d32", "PNEUMONIA": "#c62828", "unknown": "#9e9e9e", "hidden": "#9e9e9e"}
WAITING = "waiting for a person's label"  # in place of the id (a file name) of an image a person has not labeled
STATUS_COLORS = {"unlabeled": "#c8c8c8", "labeled": "#1f77b4", "queried": "#ff7f0e"}
COLOR_BY = {"cluster": "K-Means cluster", "label": "True label", "prob": "Predicted p(PNEUMONIA)",
            "score": "Strategy score", "status": "Labeled / unlabeled / queried"}
PALETTE = qualitative.Plotly
LABELED_X = "Labeled images (count)"
MISSING_SCORE_COLOR = "#dddddd"


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=60, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
                      font=dict(size=13), hovermode="closest")
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def learning_curves_figure(rounds: Sequence[dict], metrics: Sequence[str] = LIVE_METRICS) -> go.Figure:
    """Test metrics of one run against its labeled count, one line per metric."""
    fig = go.Figure()
    x = [r["n_labeled"] for r in rounds]
    for k, metric in enumerate(metrics):
        y = [math.nan if r.get(metric) is None else r[metric] for r in rounds]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=METRIC_LABELS[metric],
                                 line=dict(color=PALETTE[k % len(PALETTE)]),
                                 hovertemplate="%{x} labels: %{y:.3f}<extra>" + METRIC_LABELS[metric] + "</extra>"))
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, "Test-set metrics vs labeled images", LABELED_X, "Score (0–1)")


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], title: str) -> go.Figure:
    """Counts with the share of each true class; NORMAL first, PNEUMONIA second."""
    counts = np.asarray(matrix, dtype=int)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    names = ["NORMAL", "PNEUMONIA"]
    text = [[f"{counts[i, j]}<br>({shares[i, j]:.0%})" for j in range(2)] for i in range(2)]
    fig = go.Figure(go.Heatmap(z=counts, x=names, y=names, text=text, texttemplate="%{text}",
                               colorscale="Blues", showscale=False, textfont=dict(size=15),
                               hovertemplate="true %{y}, predicted %{x}: %{z} images<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, "Predicted class", "True class", height=360)


def embedding_figure(frame: pd.DataFrame, xy: np.ndarray, color_by: str, projection: str) -> go.Figure:
    """The train pool in 2-D (WebGL). Each point's customdata is its row in `frame`; the images
    queried this round are drawn last (on top) as outlined diamonds."""
    fig = go.Figure()
    queried = (frame.status == "queried").to_numpy()
    rows = np.arange(len(frame))
    names = frame.id.where(~frame.secret, WAITING) if "secret" in frame else frame.id
    hover = (names + "<br>" + frame.label + " · p=" + frame.prob.map(_hover_number("{:.2f}"))
             + " · score " + frame.score.map(_hover_number("{:.3g}")) + " · " + frame.status).to_numpy()

    def add(mask: np.ndarray, name: str, marker: dict, on_top: bool = False) -> None:
        if not mask.any():
            return
        if on_top:
            marker = {**marker, "symbol": "diamond", "size": 10, "line": dict(color="black", width=1)}
        fig.add_trace(go.Scattergl(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=name, customdata=rows[mask],
                                   text=hover[mask], hovertemplate="%{text}<extra></extra>",
                                   marker={"size": 5, "opacity": 0.85, **marker}))

    if color_by in ("prob", "score"):
        values = frame[color_by].to_numpy(dtype=float)
        scored = np.isfinite(values)
        low, high = (0.0, 1.0) if color_by == "prob" else (
            (float(values[scored].min()), float(values[scored].max())) if scored.any() else (0.0, 1.0))
        scale = dict(colorscale="RdBu_r" if color_by == "prob" else "Viridis", cmin=low, cmax=high)
        add(~scored, "no score" if color_by == "score" else "not inferred", dict(color=MISSING_SCORE_COLOR))
        add(scored & ~queried, COLOR_BY[color_by],
            dict(color=values[scored & ~queried], colorbar=dict(title=dict(text=COLOR_BY[color_by])), **scale))
        add(scored & queried, "queried this round", dict(color=values[scored & queried], **scale), on_top=True)
        add(~scored & queried, "queried this round", dict(color=MISSING_SCORE_COLOR), on_top=True)
    else:
        categories = frame[color_by].to_numpy()
        colors = _category_colors(color_by, categories)
        order = list(STATUS_COLORS) if color_by == "status" else sorted(set(categories.tolist()))
        for category in order:
            add((categories == category) & ~queried, _category_name(color_by, category), dict(color=colors[category]))
        add(queried, "queried this round", dict(color=[colors[c] for c in categories[queried]]), on_top=True)
    fig.update_layout(dragmode="lasso", legend=dict(itemsizing="constant"))
    return _layout(fig, f"Train pool, {projection} of the model's features, coloured by {COLOR_BY[color_by].lower()}",
                   f"{projection} 1 (a.u.)", f"{projection} 2 (a.u.)", height=560)


def has_scores(frame: pd.DataFrame) -> bool:
    """Whether the strategy scored any image of this round (the last round queries nothing)."""
    return bool(np.isfinite(frame.score.to_numpy(dtype=float)).any())


def _hover_number(template: str):
    return lambda value: "–" if pd.isna(value) else template.format(value)


def _category_colors(color_by: str, categories: np.ndarray) -> dict:
    if color_by == "label":
        return CLASS_COLORS
    if color_by == "status":
        return STATUS_COLORS
    return {c: PALETTE[int(c) % len(PALETTE)] for c in set(categories.tolist())}


def _category_name(color_by: str, category: object) -> str:
    if color_by != "cluster":
        return str(category)
    return f"cluster {category}" if int(category) >= 0 else "no cluster (labeled)"


def selected_rows(fig: go.Figure, points: Sequence[dict]) -> list[int]:
    """Rows of the embedding frame behind the points of a plotly selection event."""
    return sorted({int(fig.data[p["curve_number"]].customdata[p["point_index"]]) for p in points})


def compare_figure(curves: pd.DataFrame, metric: str, baseline: float = math.nan) -> go.Figure:
    """One line per series (summary.strategy_curves): a mean with a +-1 std band where several seeds
    were averaged; the full-data baseline as a dashed horizontal line."""
    fig = go.Figure()
    label = METRIC_LABELS[metric]
    for k, (series, group) in enumerate(curves.groupby("strategy", sort=True)):
        group = group.sort_values("n_labeled")
        color = PALETTE[k % len(PALETTE)]
        seeds = int(group["count"].max())
        if seeds > 1:
            upper, lower = group["mean"] + group["std"], group["mean"] - group["std"]
            fig.add_trace(go.Scatter(x=[*group.n_labeled, *group.n_labeled[::-1]], y=[*upper, *lower[::-1]],
                                     mode="lines", fill="toself", fillcolor=_transparent(color, 0.18),
                                     line=dict(width=0),
                                     hoverinfo="skip", legendgroup=series, showlegend=False))
        name = f"{series} (mean ± std of {seeds} seeds)" if seeds > 1 else series
        fig.add_trace(go.Scatter(x=group.n_labeled, y=group["mean"], mode="lines+markers", name=name,
                                 legendgroup=series, line=dict(color=color),
                                 hovertemplate="%{x} labels: %{y:.3f}<extra>" + series + "</extra>"))
    if not math.isnan(baseline):
        fig.add_hline(y=baseline, line=dict(dash="dash", color="#444"),
                      annotation_text=f"full-data baseline {baseline:.3f}", annotation_position="bottom right")
    _layout(fig, f"{label} on the test set vs labeled images", LABELED_X, f"{label} (0–1)", height=520)
    # series names can be long: the legend goes under the plot, where it cannot cover the title
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0),
                      margin=dict(b=60 + 22 * curves.strategy.nunique()))
    return fig


def _transparent(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# --- one round's diagnostics: ROC, precision-recall, reliability ---------------------------------
@dataclass(frozen=True)
class CurveSeries:
    """One run's round as the diagnostic figures draw it; `ci` holds the round record's bootstrap
    intervals ({metric: [low, high]}) when the run has them."""

    name: str
    diagnostics: Diagnostics
    ci: dict = field(default_factory=dict)


def _interval(ci: dict, *metrics: str) -> tuple[float, float] | None:
    for metric in metrics:
        bounds = ci.get(metric)
        if bounds and len(bounds) == 2 and None not in bounds:
            return float(bounds[0]), float(bounds[1])
    return None


def _with_interval(text: str, value: float, ci: dict, *metrics: str) -> str:
    bounds = _interval(ci, *metrics)
    return f"{text} {value:.3f}" + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")


def _error_bars(value: float, bounds: tuple[float, float] | None) -> dict:
    """Plotly error bars around `value` reaching an interval's ends (none without an interval)."""
    if bounds is None:
        return dict(visible=False)
    return dict(type="data", symmetric=False, array=[max(0.0, bounds[1] - value)],
                arrayminus=[max(0.0, value - bounds[0])], thickness=1.5, width=6)


def _unit_square(fig: go.Figure) -> go.Figure:
    """Equal axes on [0, 1]; the legend under the plot, where one line per run of an overlay fits."""
    fig.update_xaxes(range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(range=[-0.01, 1.02], scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0),
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def _reference_line(fig: go.Figure, x: list[float], y: list[float], name: str) -> None:
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, hoverinfo="skip",
                             line=dict(dash="dash", color="#888", width=1)))


def _operating_point(fig: go.Figure, x: float, y: float, color: str, group: str, hover: str,
                     error_x: dict, error_y: dict) -> None:
    fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", legendgroup=group, showlegend=False,
                             marker=dict(symbol="circle", size=12, color=color, line=dict(color="black", width=1.5)),
                             error_x={**error_x, "color": color}, error_y={**error_y, "color": color},
                             hovertemplate=hover + "<extra>" + group + "</extra>"))


def roc_figure(series: Sequence[CurveSeries], title: str) -> go.Figure:
    """ROC curves; the dot is each model's operating point at its threshold, its whiskers the
    sensitivity / specificity intervals when the round has them."""
    fig = go.Figure()
    _reference_line(fig, [0, 1], [0, 1], "chance")
    for k, s in enumerate(series):
        d, color = s.diagnostics, PALETTE[k % len(PALETTE)]
        fig.add_trace(go.Scatter(x=d.roc_fpr, y=d.roc_tpr, mode="lines", legendgroup=s.name, line=dict(color=color),
                                 name=_with_interval(f"{s.name} · AUC", d.roc_auc, s.ci, "roc_auc"),
                                 hovertemplate="FPR %{x:.3f}, TPR %{y:.3f}<extra>" + s.name + "</extra>"))
        p = d.point
        specificity = _interval(s.ci, "specificity")
        _operating_point(fig, p.false_positive_rate, p.sensitivity, color, s.name,
                         f"threshold {p.threshold:.2f}: sensitivity {p.sensitivity:.3f}, specificity {p.specificity:.3f}",
                         _error_bars(p.false_positive_rate, None if specificity is None else
                                     (1 - specificity[1], 1 - specificity[0])),
                         _error_bars(p.sensitivity, _interval(s.ci, "sensitivity", "recall")))
    return _unit_square(_layout(fig, title, "False-positive rate (1 − specificity)", "True-positive rate (sensitivity)",
                                height=540))


def pr_figure(series: Sequence[CurveSeries], title: str) -> go.Figure:
    """Precision-recall curves (steps, as average precision sums them); the dashed line is the
    precision of guessing (the PNEUMONIA share); the dot is the operating point."""
    fig = go.Figure()
    if series:
        prevalence = series[0].diagnostics.prevalence
        _reference_line(fig, [0, 1], [prevalence, prevalence], f"guessing (PNEUMONIA share {prevalence:.2f})")
    for k, s in enumerate(series):
        d, color = s.diagnostics, PALETTE[k % len(PALETTE)]
        fig.add_trace(go.Scatter(x=d.pr_recall, y=d.pr_precision, mode="lines", line=dict(color=color, shape="hv"),
                                 legendgroup=s.name, name=f"{s.name} · AP {d.average_precision:.3f}",
                                 hovertemplate="recall %{x:.3f}, precision %{y:.3f}<extra>" + s.name + "</extra>"))
        p = d.point
        _operating_point(fig, p.sensitivity, p.precision, color, s.name,
                         f"threshold {p.threshold:.2f}: recall {p.sensitivity:.3f}, precision {p.precision:.3f}",
                         _error_bars(p.sensitivity, _interval(s.ci, "sensitivity", "recall")),
                         _error_bars(p.precision, _interval(s.ci, "precision")))
    return _unit_square(_layout(fig, title, "Recall (sensitivity)", "Precision (positive predictive value)", height=540))


def reliability_figure(series: Sequence[CurveSeries], title: str) -> go.Figure:
    """Reliability diagram: per bin of p(PNEUMONIA) (tenths), the observed PNEUMONIA share against
    the mean prediction; on the diagonal the probabilities mean what they say. Dot area ~ images."""
    fig = go.Figure()
    _reference_line(fig, [0, 1], [0, 1], "perfectly calibrated")
    for k, s in enumerate(series):
        r, color = s.diagnostics.reliability, PALETTE[k % len(PALETTE)]
        name = (_with_interval(f"{s.name} · Brier", r.brier, s.ci, "brier")
                + " · " + _with_interval("ECE", r.ece, s.ci, "ece"))
        size = 6 + 22 * np.sqrt(r.counts / max(int(r.counts.max()), 1))
        fig.add_trace(go.Scatter(x=r.mean_predicted, y=r.fraction_positive, mode="lines+markers", name=name,
                                 legendgroup=s.name, line=dict(color=color), marker=dict(size=size, color=color),
                                 customdata=r.counts, hovertemplate="mean p %{x:.2f}: %{y:.2f} PNEUMONIA "
                                 "(%{customdata} images)<extra>" + s.name + "</extra>"))
    return _unit_square(_layout(fig, title, "Mean predicted p(PNEUMONIA) in the bin", "Observed share of PNEUMONIA",
                                height=540))


def stability_figure(rounds: Sequence[dict], threshold: float) -> go.Figure:
    """The stopping signal: Cohen's kappa between successive rounds' predictions on the stop set;
    at or above the dashed line for `window` rounds, the model has stopped changing."""
    kept = [r for r in rounds if r.get("stop_kappa") is not None]
    fig = go.Figure(go.Scatter(x=[r["n_labeled"] for r in kept], y=[r["stop_kappa"] for r in kept],
                               mode="lines+markers", name="κ vs previous round",
                               marker=dict(color=["#2e7d32" if r.get("predictions_stable") else PALETTE[0] for r in kept]),
                               hovertemplate="%{x} labels: κ = %{y:.4f}<extra></extra>"))
    fig.add_hline(y=threshold, line=dict(dash="dash", color="#444"), annotation_text=f"stop at κ ≥ {threshold}",
                  annotation_position="bottom right")
    return _layout(fig, "Stopping signal: agreement with the previous round on the stop set", LABELED_X,
                   "Cohen's κ", height=360)
