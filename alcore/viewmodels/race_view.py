"""What the Live page shows of a race (alcore.race) and of step mode: each racer's progress, the
racers' learning curves over the random baseline's interval, and the side-by-side picks of a round
on one shared map of the pool, with each pick's score, predicted class and the strategy's reason.
No streamlit."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alcore.metrics import METRIC_LABELS
from alcore.race import BASELINE, racers
from alcore.records import RoundRecord
from alcore.runs import RunState, RunStatus, RunStore
from alcore.strategies import registry
from alcore.viewmodels import image_view, round_view
from alcore.plots import layout, run_styles, strategy_label, transparent
from alcore.viewmodels.figures import LABELED_X, STATUS_COLORS, WAITING, prediction_text


PICKED = "picked this round"


@dataclass(frozen=True)
class Racer:
    run_id: str
    name: str  # the strategy, with its seed when the race has several
    sampler: str
    progress: RunStatus | None  # None: a racer drawn from records alone
    records: tuple[RoundRecord, ...]
    pool_class_counts: dict[str, int] | None = None  # class name -> images in the train pool (once the run read it)

    @property
    def is_baseline(self) -> bool:
        return self.sampler == BASELINE


def race_racers(store: RunStore, race_id: str) -> list[Racer]:
    """The race's runs, random first, each with its progress and finished rounds."""
    run_ids = racers(store, race_id)
    configs = {run_id: store.load_config(run_id) for run_id in run_ids}
    several_seeds = len({c.seed for c in configs.values()}) > 1
    return [Racer(run_id, strategy_label(c) + (f" s{c.seed}" if several_seeds else ""),
                  c.sampler, store.load_status(run_id), tuple(store.load_rounds(run_id)),
                  _pool_class_counts(store.load_resolved(run_id), store.classes(run_id)))
            for run_id, c in configs.items()]


def _pool_class_counts(resolved: dict, classes: tuple[str, ...]) -> dict[str, int] | None:
    counts = resolved.get("train_class_counts")
    return dict(zip(classes, map(int, counts))) if counts and len(counts) == len(classes) else None


@dataclass(frozen=True)
class StepState:
    """Step mode across a set of runs (one run, or a race's racers): pause and Next apply to all."""

    pausing: bool  # step mode is on for every live run
    live: int
    paused: int

    @property
    def all_paused(self) -> bool:
        """Next round is for when every live run waits for it."""
        return self.live > 0 and self.paused == self.live

    @property
    def text(self) -> str:
        if not self.live:
            return "Finished."
        if self.all_paused:
            return "Paused after the query: explain the picks, then **Next round**."
        if self.paused:
            return f"{self.paused} of {self.live} paused; the others pause when their query is done."
        return "Pauses after the next query." if self.pausing else "Running."


def step_state(store: RunStore, run_ids: list[str]) -> StepState:
    states = [store.load_status(run_id).state for run_id in run_ids]
    live = [run_id for run_id, state in zip(run_ids, states) if state.active]
    return StepState(bool(live) and all(store.step_control(run_id).pause for run_id in live), len(live),
                     states.count(RunState.PAUSED))


# --- curves ------------------------------------------------------------------------------------
def race_curves_figure(racers: list[Racer], metric: str = "roc_auc", final_labels: int = 0) -> go.Figure:
    """Each racer's test metric against its labels; random drawn first, dark grey and dashed, over its 95 %
    bootstrap interval in grey: a curve above the grey band beats random at that many labels. With
    `final_labels` the x axis spans the whole race from the start, so the curves grow across it."""
    fig = go.Figure()
    label = METRIC_LABELS[metric]
    ordered = sorted(racers, key=lambda r: not r.is_baseline)
    for racer, line in zip(ordered, run_styles([r.name for r in ordered])):
        x = [r.n_labeled for r in racer.records]
        y = [r.metric(metric) for r in racer.records]
        if racer.is_baseline:
            bounds = [r.interval(metric) for r in racer.records]
            if x and any(not math.isnan(b[0]) for b in bounds):
                fig.add_trace(go.Scatter(x=x + x[::-1], y=[b[1] for b in bounds] + [b[0] for b in bounds][::-1],
                                         mode="lines", fill="toself", fillcolor=transparent(line["color"], 0.15),
                                         line=dict(width=0), hoverinfo="skip", legendgroup=racer.run_id,
                                         name=f"{racer.name}: 95 % interval"))
            line = dict(line, dash="dash")
        line = dict(line, width=3)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=racer.name + (" (baseline)" if racer.is_baseline
                                                                                     else ""),
                                 line=line, legendgroup=racer.run_id,
                                 hovertemplate="%{x} labels: %{y:.3f}<extra>" + racer.name + "</extra>"))
    fig = layout(fig, f"Test {label} vs labeled images: above the grey band = better than random", LABELED_X, label,
                 legend_below=-0.18)
    fig.update_layout(margin=dict(b=110))
    if final_labels:
        fig.update_xaxes(range=[0, final_labels * 1.03])
    if not any(racer.records for racer in racers):
        fig.update_yaxes(range=[0, 1])
        fig.add_annotation(text="waiting for the first round", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=16, color="#888"))
    return fig


# --- the lesson -----------------------------------------------------------------------------------
RARE_SHARE = 0.15  # a positive class below this share of the pool is a rare finding: the lesson counts it


@dataclass(frozen=True)
class RareFinding:
    """A two-class pool's positive class when it is rare (under RARE_SHARE)."""

    name: str
    count: int  # its images in the train pool
    pool: int  # the train pool's images

    @property
    def share(self) -> float:
        return self.count / self.pool


def race_lesson(racers: list[Racer], metric: str = "roc_auc") -> str:
    """What the race shows so far, in the page's words, from its rounds at the labels every racer has
    reached: when the positive class of a two-class pool is rare, how many of them each strategy has
    found; and which curves are above random's 95 % band (or that none is)."""
    started = [r for r in racers if r.records]
    if not started:
        return ""
    n = min(r.records[-1].n_labeled for r in started)
    at = {r.name: next(x for x in reversed(r.records) if x.n_labeled <= n) for r in started}
    return " ".join(text for text in (_found_lesson(started, at, n), _band_lesson(started, at, n, metric)) if text)


def rare_finding(racers: list[Racer]) -> RareFinding | None:
    """The positive class of a two-class pool when it is rare in it (under RARE_SHARE), else None (with
    more classes there is no one finding to count)."""
    counts = next((r.pool_class_counts for r in racers if r.pool_class_counts), None)
    if not counts or len(counts) != 2 or not sum(counts.values()):
        return None
    name = list(counts)[-1]
    found = RareFinding(name, counts[name], sum(counts.values()))
    return found if found.share < RARE_SHARE else None


def _found_lesson(racers: list[Racer], at: dict[str, RoundRecord], n: int) -> str:
    rare = rare_finding(racers)
    if rare is None:
        return ""
    found = {r.name: at[r.name].n_labeled_per_class.get(rare.name) for r in racers}
    if None in found.values():
        return ""
    ranked = sorted(found.items(), key=lambda item: -item[1])
    text = (f"**{rare.name} is rare here** ({rare.share:.0%} of the pool: {rare.count} of {rare.pool} images). "
            f"Found among the first {n} labels: " + ", ".join(f"{name} {k}" for name, k in ranked) + ".")
    baseline = next((r.name for r in racers if r.is_baseline), None)
    best, most = ranked[0]
    if baseline is not None and best != baseline and most > found[baseline]:
        text += (f" Random sampling finds them at their {rare.share:.0%} rate; {best} has found "
                 f"{most - found[baseline]} more by asking the model: a strategy that looks at the model finds a "
                 "rare finding sooner.")
    return text


def _band_lesson(racers: list[Racer], at: dict[str, RoundRecord], n: int, metric: str) -> str:
    baseline = next((r for r in racers if r.is_baseline), None)
    low, high = (math.nan, math.nan) if baseline is None else at[baseline.name].interval(metric)
    if math.isnan(low) or math.isnan(high):
        return ""
    label = METRIC_LABELS[metric]
    above = [r.name for r in racers if not r.is_baseline and at[r.name].metric(metric) > high]
    if above:
        names = " and ".join([", ".join(above[:-1]), above[-1]] if len(above) > 1 else above)
        return (f"At {n} labels {names} {'is' if len(above) == 1 else 'are'} above random's grey band "
                f"(its 95 % interval of test {label}: {low:.3f}-{high:.3f}): better than random there.")
    return (f"At {n} labels no strategy is above random's grey band (test {label} {low:.3f}-{high:.3f}, "
            f"{high - low:.3f} wide): by this measure random is hard to beat here; a difference inside the band "
            "is within what the test set can tell apart.")


def race_found_figure(racers: list[Racer], final_labels: int = 0) -> go.Figure | None:
    """When the positive class of a two-class pool is rare: its images each racer has found against its
    labels, under the line of all of them; None otherwise (every strategy finds a common class soon)."""
    rare = rare_finding(racers)
    if rare is None:
        return None
    fig = go.Figure()
    ordered = sorted(racers, key=lambda r: not r.is_baseline)
    for racer, line in zip(ordered, run_styles([r.name for r in ordered])):
        x = [r.n_labeled for r in racer.records]
        y = [r.n_labeled_per_class.get(rare.name, math.nan) for r in racer.records]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=racer.name, legendgroup=racer.run_id,
                                 line=dict(line, width=3, dash="dash" if racer.is_baseline else line["dash"]),
                                 hovertemplate=f"%{{x}} labels: %{{y}} {rare.name} found<extra>{racer.name}</extra>"))
    fig.add_hline(y=rare.count, line=dict(dash="dot", color="#888"), annotation_position="bottom right",
                  annotation_text=f"all {rare.count} {rare.name} images of the pool")
    fig = layout(fig, f"{rare.name} images found (a rare finding: {rare.share:.0%} of the pool)",
                 LABELED_X, f"{rare.name} among the labels", legend_below=-0.18)
    fig.update_layout(margin=dict(b=110))
    fig.update_yaxes(range=[0, rare.count * 1.05])
    if final_labels:
        fig.update_xaxes(range=[0, final_labels * 1.03])
    return fig


# --- side-by-side picks --------------------------------------------------------------------------
def pick_rounds(racers: list[Racer]) -> list[int]:
    """The rounds every racer has finished and queried in: the ones the side-by-side picks can show."""
    done = [{r.round for r in racer.records if r.queried_ids} for racer in racers]
    return sorted(set.intersection(*done)) if done else []


def shared_layout(store: RunStore, racers: list[Racer]) -> np.ndarray | None:
    """One 2-D map of the pool for every panel and round: the layout of round 0, whose model all racers
    share (same data, initial set and seed). None when the race recorded no embeddings."""
    for racer in racers:
        if racer.records and round_view.records_embeddings(store, racer.run_id):
            path = store.round_path(racer.run_id, 0)
            return _layout_of(str(path), path.stat().st_mtime_ns)
    return None


@lru_cache(maxsize=8)
def _layout_of(path: str, mtime_ns: int) -> np.ndarray | None:
    arrays = round_view.cached_npz(path, mtime_ns)
    return arrays["embedding"].astype(np.float32) if "embedding" in arrays else None


def picks_frame(store: RunStore, racer: Racer, round_index: int, reveal_prediction: bool = False) -> pd.DataFrame:
    """The pool at a racer's round: id, status, prediction, score, and for the picks the strategy's reason
    (with the probability of the class the model predicts)."""
    record = next(r for r in racer.records if r.round == round_index)  # pick_rounds: every racer has it
    frame = round_view.round_frame(store, racer.run_id, record, reveal_prediction)
    frame = frame.assign(reason="")
    picked = frame.status == "queried"
    frame.loc[picked, "reason"] = [
        registry.reason(racer.sampler, p, s, None if pd.isna(p) else c) if registry.is_known(racer.sampler) else ""
        for c, p, s in zip(frame.predicted[picked], frame.confidence[picked], frame.score[picked])]
    return frame


def picks_figure(frames: list[pd.DataFrame], names: list[str], xy: np.ndarray, title: str) -> go.Figure:
    """Small multiples: one panel per racer on the same map, labeled / unlabeled / picked this round.
    Hovering a pick shows its id, score, predicted class with its probability and the reason its strategy gives."""
    fig = make_subplots(rows=1, cols=len(frames), subplot_titles=names, shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.02)
    for col, frame in enumerate(frames, start=1):
        for status, name, size in (("unlabeled", "unlabeled", 4), ("labeled", "labeled", 5), ("queried", PICKED, 10)):
            mask = (frame.status == status).to_numpy()
            if not mask.any():
                continue
            marker = dict(color=STATUS_COLORS[status], size=size)
            if status == "queried":
                marker.update(symbol="diamond", line=dict(color="black", width=1))
                names_shown = frame.id.where(~frame.secret, WAITING)[mask]
                hover = (names_shown.map(image_view.short_id) + "<br>score " + frame.score[mask].map(_number("{:.3g}"))
                         + " · " + _predictions(frame[mask])
                         + "<br>" + frame.reason[mask]).to_numpy()
                extra = dict(text=hover, hovertemplate="%{text}<extra></extra>")
            else:
                extra = dict(hoverinfo="skip")
            fig.add_trace(go.Scatter(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=name, marker=marker,
                                     legendgroup=status, showlegend=col == 1, **extra), row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig = layout(fig, title, "", "", height=400, legend_below=-0.02)
    fig.update_layout(margin=dict(l=20, r=20, t=80, b=40))
    return fig


def _number(template: str):
    return lambda value: "–" if pd.isna(value) else template.format(value)


def _predictions(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([prediction_text(c, p) for c, p in zip(frame.predicted, frame.confidence)], index=frame.index)


def picked_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """A racer's picks of the round, highest score first (ties: pick order is the pool's)."""
    return frame[frame.status == "queried"].sort_values("score", ascending=False, na_position="last")


def short_prediction(predicted: str, confidence: float) -> str:
    """Under a small thumbnail: the predicted class and its probability ('p=–' where hidden or none)."""
    return "p=–" if pd.isna(confidence) else f"{predicted} {confidence:.2f}"
