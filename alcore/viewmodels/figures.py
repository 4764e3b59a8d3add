"""Plotly figures of the dashboard, built from plain data (round records, frames). No streamlit."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from alcore.metrics import METRIC_LABELS
from alcore.records import RoundRecord
from alcore.plots import PALETTE, STRATEGY_COLORS, layout, run_styles, transparent
from alcore.viewmodels import round_view

CLASS_PALETTE = ("#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037")
NO_CLASS_COLOR = "#9e9e9e"  # unknown, hidden, not inferred
WAITING = "waiting for a person's label"  # in place of the id (a file name) of an image a person has not labeled
STATUS_COLORS = {"unlabeled": "#c8c8c8", "labeled": "#1f77b4", "queried": "#ff7f0e"}
CONTINUOUS = ("prob", "confidence", "score")  # the colourings by a number (a colour bar, not a legend)
LABELED_X = "Labeled images (count)"
MISSING_SCORE_COLOR = "#dddddd"


def live_metrics(n_classes: int) -> tuple[str, ...]:
    """The Live page's curves: the positive class's F1 with two classes, macro-F1 with more (ROC-AUC is the
    macro one-vs-rest mean there)."""
    return "accuracy", "f1" if n_classes == 2 else "macro_f1", "roc_auc", "balanced_accuracy"


def learning_curves_figure(rounds: Sequence[RoundRecord], metrics: Sequence[str]) -> go.Figure:
    """Test metrics of one run against its labeled count, one line per metric."""
    fig = go.Figure()
    x = [r.n_labeled for r in rounds]
    for k, metric in enumerate(metrics):
        y = [r.metric(metric) for r in rounds]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=METRIC_LABELS[metric],
                                 line=dict(color=PALETTE[k % len(PALETTE)]),
                                 hovertemplate="%{x} labels: %{y:.3f}<extra>" + METRIC_LABELS[metric] + "</extra>"))
    fig.update_yaxes(range=[0, 1.02])
    return layout(fig, "Test-set metrics vs labeled images", LABELED_X, "Score (0–1)")


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """A colour per class, by label index (green, red for the two-class case, then blue, orange, ...);
    grey for images without a class to show."""
    grey = dict.fromkeys((round_view.UNKNOWN, round_view.HIDDEN, round_view.NOT_INFERRED), NO_CLASS_COLOR)
    return {**{name: CLASS_PALETTE[k % len(CLASS_PALETTE)] for k, name in enumerate(classes)}, **grey}


def color_options(classes: Sequence[str]) -> dict[str, str]:
    """The Embeddings colourings of a run's pool -> their names: p(positive) with two classes, the
    predicted class's probability (confidence) with more."""
    chance = ({"prob": f"Predicted p({classes[-1]})"} if len(classes) == 2
              else {"confidence": "Confidence (p of the predicted class)"})
    return {"cluster": "K-Means cluster", "label": "True label", "predicted": "Predicted class", **chance,
            "score": "Strategy score", "status": "Labeled / unlabeled / queried"}


def prediction_text(predicted: str, confidence: float) -> str:
    """The model's guess in a line: its class and that class's probability; 'p=–' where hidden or none."""
    return "p=–" if pd.isna(confidence) else f"predicted {predicted} p={confidence:.2f}"


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], title: str, classes: Sequence[str]) -> go.Figure:
    """C x C counts with the share of each true class, classes in label order."""
    counts = np.asarray(matrix, dtype=int)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    names = list(classes)
    text = [[f"{counts[i, j]}<br>({shares[i, j]:.0%})" for j in range(len(names))] for i in range(len(names))]
    fig = go.Figure(go.Heatmap(z=counts, x=names, y=names, text=text, texttemplate="%{text}",
                               colorscale="Blues", showscale=False, textfont=dict(size=15),
                               hovertemplate="true %{y}, predicted %{x}: %{z} images<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return layout(fig, title, "Predicted class", "True class", height=360 + 40 * max(0, len(names) - 2))


def embedding_figure(frame: pd.DataFrame, xy: np.ndarray, color_by: str, projection: str,
                     classes: Sequence[str]) -> go.Figure:
    """The train pool in 2-D (WebGL), coloured by one of `color_options(classes)`. Each point's customdata
    is its row in `frame`; the images queried this round are drawn last (on top) as outlined diamonds."""
    fig = go.Figure()
    queried = (frame.status == "queried").to_numpy()
    rows = np.arange(len(frame))
    names = frame.id.where(~frame.secret, WAITING) if "secret" in frame else frame.id
    guesses = [prediction_text(c, p) for c, p in zip(frame.predicted, frame.confidence)]
    hover = (names + "<br>" + frame.label + " · " + pd.Series(guesses, index=frame.index)
             + " · score " + frame.score.map(_hover_number("{:.3g}")) + " · " + frame.status).to_numpy()

    def add(mask: np.ndarray, name: str, marker: dict, on_top: bool = False) -> None:
        if not mask.any():
            return
        if on_top:
            marker = {**marker, "symbol": "diamond", "size": 10, "line": dict(color="black", width=1)}
        fig.add_trace(go.Scattergl(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=name, customdata=rows[mask],
                                   text=hover[mask], hovertemplate="%{text}<extra></extra>",
                                   marker={"size": 5, "opacity": 0.85, **marker}))

    title = color_options(classes)[color_by]
    if color_by in CONTINUOUS:
        values = frame[color_by].to_numpy(dtype=float)
        scored = np.isfinite(values)
        scale = _color_scale(color_by, values[scored], len(classes))
        add(~scored, "no score" if color_by == "score" else "not inferred", dict(color=MISSING_SCORE_COLOR))
        add(scored & ~queried, title, dict(color=values[scored & ~queried], colorbar=dict(title=dict(text=title)),
                                           **scale))
        add(scored & queried, "queried this round", dict(color=values[scored & queried], **scale), on_top=True)
        add(~scored & queried, "queried this round", dict(color=MISSING_SCORE_COLOR), on_top=True)
    else:
        categories = frame[color_by].to_numpy()
        colors = _category_colors(color_by, categories, classes)
        for category in _category_order(color_by, categories, colors):
            add((categories == category) & ~queried, _category_name(color_by, category), dict(color=colors[category]))
        add(queried, "queried this round", dict(color=[colors[c] for c in categories[queried]]), on_top=True)
    fig.update_layout(dragmode="lasso", legend=dict(itemsizing="constant"))
    return layout(fig, f"Train pool, {projection} of the model's features, coloured by {title.lower()}",
                  f"{projection} 1 (a.u.)", f"{projection} 2 (a.u.)", height=560)


def _color_scale(color_by: str, values: np.ndarray, n_classes: int) -> dict:
    """p(positive) on 0..1 red-blue; confidence on 1/C..1 and strategy scores on their range, Viridis."""
    if color_by == "prob":
        return dict(colorscale="RdBu_r", cmin=0.0, cmax=1.0)
    if color_by == "confidence":
        return dict(colorscale="Viridis", cmin=1 / n_classes, cmax=1.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    return dict(colorscale="Viridis", cmin=low, cmax=high)


def has_scores(frame: pd.DataFrame) -> bool:
    """Whether the strategy scored any image of this round (the last round queries nothing)."""
    return bool(np.isfinite(frame.score.to_numpy(dtype=float)).any())


def representative_selection(selected: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, str]:
    """At most `limit` rows of a lasso selection and what they are: with strategy scores, the highest
    first; else each label in its share of the selection, spread evenly over the model's confidence (the
    probability of the class it predicts) and sorted by it (the first rows in file order were often all one class)."""
    if len(selected) <= limit:
        return selected, ""
    if has_scores(selected):
        shown = selected.sort_values("score", ascending=False, na_position="last").head(limit)
        return shown, f"Showing the {limit} with the highest strategy score."
    counts = selected.label.value_counts()
    quota = np.maximum(1, np.floor(counts / counts.sum() * limit)).astype(int)
    for label in counts.index[: max(0, limit - int(quota.sum()))]:  # what flooring left over, largest first
        quota[label] += 1
    picks = []
    for label, take in quota.items():
        group = selected[selected.label == label].sort_values("confidence", na_position="last")
        picks.append(group.iloc[np.unique(np.linspace(0, len(group) - 1, min(take, len(group))).round().astype(int))])
    shown = pd.concat(picks).sort_values("confidence", na_position="last")
    shares = ", ".join(f"{label} {int((shown.label == label).sum())}" for label in counts.index)
    return shown, (f"Showing {len(shown)} of {len(selected)}: each label in its share of the selection ({shares}), "
                   "spread evenly over the model's confidence and sorted by it.")


def _hover_number(template: str):
    return lambda value: "–" if pd.isna(value) else template.format(value)


def _category_colors(color_by: str, categories: np.ndarray, classes: Sequence[str]) -> dict:
    if color_by in ("label", "predicted"):
        return class_colors(classes)
    if color_by == "status":
        return STATUS_COLORS
    return {c: PALETTE[int(c) % len(PALETTE)] for c in set(categories.tolist())}


def _category_order(color_by: str, categories: np.ndarray, colors: dict) -> list:
    """Legend order: classes by label index (then unknown / hidden), statuses as listed, clusters by number."""
    present = set(categories.tolist())
    return [c for c in colors if c in present] if color_by != "cluster" else sorted(present)


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
    grouped = list(curves.groupby("strategy", sort=True))
    for (series, group), line in zip(grouped, run_styles([series for series, _ in grouped])):
        group = group.sort_values("n_labeled")
        color = line["color"]
        seeds = int(group["count"].max())
        if seeds > 1:
            upper, lower = group["mean"] + group["std"], group["mean"] - group["std"]
            fig.add_trace(go.Scatter(x=[*group.n_labeled, *group.n_labeled[::-1]], y=[*upper, *lower[::-1]],
                                     mode="lines", fill="toself", fillcolor=transparent(color, 0.18),
                                     line=dict(width=0),
                                     hoverinfo="skip", legendgroup=series, showlegend=False))
        name = f"{series} (mean ± std of {seeds} seeds)" if seeds > 1 else series
        fig.add_trace(go.Scatter(x=group.n_labeled, y=group["mean"], mode="lines+markers", name=name,
                                 legendgroup=series, line=line,
                                 hovertemplate="%{x} labels: %{y:.3f}<extra>" + series + "</extra>"))
    if not math.isnan(baseline):
        fig.add_hline(y=baseline, line=dict(dash="dash", color=STRATEGY_COLORS["full-data baseline"]),
                      annotation_text=f"full-data baseline {baseline:.3f}", annotation_position="bottom right")
    # series names can be long: the legend goes under the plot, where it cannot cover the title
    layout(fig, f"{label} on the test set vs labeled images", LABELED_X, f"{label} (0–1)", height=520,
           legend_below=-0.16)
    fig.update_layout(margin=dict(b=60 + 22 * curves.strategy.nunique()))
    return fig


def stability_figure(rounds: Sequence[RoundRecord], threshold: float) -> go.Figure:
    """The stopping signal: Cohen's kappa between successive rounds' predictions on the stop set;
    at or above the dashed line for `window` rounds, the model has stopped changing."""
    kept = [r for r in rounds if r.stop_kappa is not None]
    fig = go.Figure(go.Scatter(x=[r.n_labeled for r in kept], y=[r.stop_kappa for r in kept],
                               mode="lines+markers", name="κ vs previous round",
                               marker=dict(color=["#2e7d32" if r.predictions_stable else PALETTE[0] for r in kept]),
                               hovertemplate="%{x} labels: κ = %{y:.4f}<extra></extra>"))
    fig.add_hline(y=threshold, line=dict(dash="dash", color="#444"), annotation_text=f"stop at κ ≥ {threshold}",
                  annotation_position="bottom right")
    return layout(fig, "Stopping signal: agreement with the previous round on the stop set", LABELED_X,
                   "Cohen's κ", height=360)
