"""A run's progress as the pages show it, from its status.json (runs.RunStatus). No streamlit."""
from __future__ import annotations

import time
from dataclasses import dataclass

from alcore.runs import RunState, RunStore

FEATURES = "features "  # the frozen regime's first phase, one split after the other: "features train", ...


@dataclass(frozen=True)
class PhaseProgress:
    """A long phase before the first round (the frozen regime's feature extraction: minutes on real
    data) as a bar of its own: how far, what, and how long it has left once it can tell."""

    fraction: float
    text: str


@dataclass(frozen=True)
class RunProgress:
    """A run's progress from its live job (any process's: the run folder says), else from status.json."""

    state: RunState
    round: int  # last finished round, -1 before the first
    rounds_total: int
    n_labeled: int
    fraction: float
    eta_seconds: float | None
    detail: str  # what it is doing now
    error: str
    attached: bool  # a live worker (of any process, here or on Ray) computes it, so Stop reaches it
    phase: PhaseProgress | None = None  # the feature extraction while it runs

    @property
    def live(self) -> bool:
        return self.state.active

    @property
    def resumable(self) -> bool:
        return self.state.resumable

    @property
    def text(self) -> str:
        """Rounds counted as the user set them (Setup's *Rounds*: the query rounds after the initial model)."""
        parts = [f"{self.n_labeled} labels used", f"{max(self.round, 0)} of {self.rounds_total - 1} rounds done"]
        if self.state == RunState.WAITING_FOR_LABELS:
            parts.append("waiting for your labels")
        elif self.state == RunState.PAUSED:
            parts.append("paused after its query: Next round goes on")
        elif self.eta_seconds is not None:
            parts.append(f"about {format_duration(self.eta_seconds)} left")
        return " · ".join(parts)


def run_progress(store: RunStore, run_id: str) -> RunProgress:
    """The run's status.json as every reader sees it (runs.RunStatus: progress and ETA are computed there),
    with what the pages add: what it does now, and the feature extraction's own bar."""
    status = store.load_status(run_id)
    if not status.active:
        return RunProgress(status.state, status.round, status.rounds_total, status.n_labeled, status.progress,
                           None, status.message, status.error, attached=False)
    detail = f"{status.phase} {status.phase_done}/{status.phase_total}" if status.phase_total else status.message
    return RunProgress(status.state, status.round, status.rounds_total, status.n_labeled, status.progress,
                       status.eta_seconds, detail, status.error, attached=True,
                       phase=feature_progress(run_id, status.phase, status.phase_done, status.phase_total,
                                              store.load_resolved(run_id).get("split_sizes", {})))


_FIRST_SEEN: dict[str, tuple[float, float]] = {}  # run id -> (when this process first saw its extraction, images)


def feature_progress(run_id: str, phase: str, done: int, total: int, split_sizes: dict[str, int],
                     now: float | None = None) -> PhaseProgress | None:
    """The feature extraction across every split (`phase` 'features <split>', `done` of `total` batches),
    with an ETA from the images per second this process has seen it extract; None in other phases."""
    split = phase.removeprefix(FEATURES)
    if not phase.startswith(FEATURES) or split not in split_sizes or not total:
        return None
    names = list(split_sizes)
    images = sum(split_sizes[n] for n in names[:names.index(split)]) + done / total * split_sizes[split]
    all_images = sum(split_sizes.values())
    now = time.monotonic() if now is None else now
    since, images_then = _FIRST_SEEN.setdefault(run_id, (now, images))
    text = f"Extracting the images' features (once per data set): {images:,.0f} of {all_images:,} images"
    if images > images_then and now > since:
        text += f" · about {format_duration((all_images - images) * (now - since) / (images - images_then))} left"
    return PhaseProgress(min(1.0, images / all_images), text)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
