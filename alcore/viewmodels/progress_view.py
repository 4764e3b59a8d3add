"""What the pages add to a run's status (runs.RunStatus: state, progress, ETA, text): the feature
extraction's own bar. No streamlit."""
from __future__ import annotations

import time
from dataclasses import dataclass

from alcore.runs import RunStatus, RunStore, format_duration

FEATURES = "features "  # the frozen regime's first phase, one split after the other: "features train", ...


@dataclass(frozen=True)
class PhaseProgress:
    """A long phase before the first round (the frozen regime's feature extraction: minutes on real
    data) as a bar of its own: how far, what, and how long it has left once it can tell."""

    fraction: float
    text: str


def phase_bar(store: RunStore, run_id: str, status: RunStatus) -> PhaseProgress | None:
    """The feature extraction's own bar while the run is in it (status.json says how far; the run's
    resolved split sizes how many images); None otherwise."""
    if not status.active:
        return None
    return feature_progress(run_id, status.phase, status.phase_done, status.phase_total,
                            store.load_resolved(run_id).get("split_sizes", {}))


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
