"""Widgets several pages draw: Resume, a run's charts, X-ray thumbnails and their enlarged view."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from alcore import plots
from alcore.config import ConfigError
from alcore.executors import QueueFull
from alcore.runs import RunStore
from alcore.viewmodels import figures, image_view
from ui.state import jobs, store

TEXT_COLORS = ("green", "red", "blue", "orange", "violet")  # Markdown's colours, in figures.CLASS_PALETTE's order


def resume_button(run_id: str, key: str, help: str | None = None) -> None:
    """Resume: the run goes on from its last finished round; a config it can no longer run is reported."""
    if st.button("Resume", key=key, icon=":material/play_arrow:", help=help):
        try:
            jobs().resume(run_id)
        except (ConfigError, QueueFull) as exc:
            st.error(f"This run cannot be resumed: {exc}")
        else:
            st.rerun()


@st.cache_resource(max_entries=32, show_spinner=False)
def run_charts(root: str, run_id: str, n_rounds: int) -> tuple[go.Figure, go.Figure]:
    """The learning curves and the last confusion matrix of a run's first `n_rounds` rounds: built once
    per new round for every session following the run (a class of browsers), read-only afterwards."""
    runs = RunStore(root)
    records, classes = runs.load_rounds(run_id)[:n_rounds], runs.classes(run_id)
    last = records[-1]
    title = f"Confusion matrix, test set, {plots.at_labels(last)}"
    confusion = figures.confusion_matrix_figure(last.metrics.confusion_matrix, title, classes)
    return figures.learning_curves_figure(records, figures.live_metrics(len(classes))), confusion


def thumbnails(run_id: str, samples: pd.DataFrame, key: str, per_row: int = 6, enlarge: bool = False) -> None:
    """A grid of X-rays (columns id, label, prob, score, secret), each with its id, true label and scores;
    one waiting for a person shows neither its id (a file name) nor its label."""
    try:
        images = image_view.thumbnail_uris(store(), run_id, samples.id.tolist())
    except (OSError, KeyError, ValueError) as exc:  # DataError is a ValueError
        st.warning(f"The images of this run cannot be shown: {exc}")
        return
    several_rounds = "labels" in samples and samples["labels"].nunique() > 1
    classes = store().classes(run_id)
    with st.container(key=key):
        for start in range(0, len(samples), per_row):
            for column, sample, image in zip(st.columns(per_row), samples.iloc[start:start + per_row].itertuples(),
                                             images[start:start + per_row]):
                with column:
                    name = figures.WAITING if sample.secret else image_view.short_id(sample.id)
                    st.image(image, caption=name, width="stretch", alt=f"X-ray {name}")
                    st.markdown(describe(sample, classes)
                                + (f" · picked at {sample.labels} labels" if several_rounds else ""))
                    # the row, not the id, in the key: a widget key reaches the browser, an id may be a file name
                    if enlarge and st.button("Enlarge", key=f"{key}-{sample.Index}", icon=":material/zoom_in:"):
                        large_image(run_id, sample)


def describe(sample, classes: tuple[str, ...]) -> str:
    """True label in its class's colour, then the predicted class with its probability and the strategy
    score (a dash where hidden or none)."""
    score = "–" if pd.isna(sample.score) else f"{sample.score:.3g}"
    label = "label hidden until it is labeled" if sample.secret else sample.label
    color = TEXT_COLORS[classes.index(sample.label) % len(TEXT_COLORS)] if sample.label in classes else "gray"
    return f":{color}[**{label}**] · {figures.prediction_text(sample.predicted, sample.confidence)} · score {score}"


@st.dialog("X-ray", width="large")
def large_image(run_id: str, sample) -> None:
    original = image_view.original_file(store(), run_id, sample.id)
    image = str(original) if original else image_view.images_by_id(store(), run_id, [sample.id])[0]
    name = figures.WAITING if sample.secret else sample.id
    st.image(image, width="stretch", alt=f"X-ray {name}, large")
    st.markdown(f"`{name}` · {describe(sample, store().classes(run_id))}")
    if original and not sample.secret:
        st.caption(f"original file: {original}")
    else:
        st.caption("shown at the resolution the model used" if not original else "its file name stays hidden "
                   "until it is labeled")
    if st.toggle("Where the model looked (Grad-CAM)", key="large_image_looked"):
        from alcore.viewmodels import predict_view  # torch: only when asked
        looked = predict_view.looked_at(store(), run_id, sample.id, getattr(sample, "labels", None))
        if looked is None:
            st.caption("This run kept no model to ask.")
        else:
            st.image(looked[0], width="stretch",
                     caption=f"Grad-CAM of the model at {looked[1]} labels, for the class it predicts")
