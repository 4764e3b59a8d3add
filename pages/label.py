"""Label: a human-oracle run's queued X-rays, one at a time; every answer is written to labels.csv at once.

The run's worker waits until each queued image has an answer, then trains by itself; meanwhile this
page polls for the next batch (a fragment that ticks only while it waits). One button per class of the
run and Skip, each with a key (label_view.answer_keys: N / P / S for NORMAL / PNEUMONIA, else 1..C and S).
File names stay hidden: in a labeled folder they can give the class away.
"""
from __future__ import annotations

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore import export, plots
from alcore.oracle import SKIP, LabelBook, LabelQueue
from alcore.paths import PathRefused, allowed_path
from alcore.summary import strategy_curves
from alcore.viewmodels import compare_view, figures, image_view, label_view, round_view, run_list
from ui import navigation
from ui.state import REFRESH_S, SHOW_PREDICTION, path_roots, require_run, reveal_prediction, rounds, store
from ui.widgets import resume_button

page_frame()

CURVE_METRIC = "accuracy"

run_id = require_run()
config = store().load_config(run_id)
classes = store().classes(run_id)
book = LabelBook(store(), run_id)
progress = store().load_status(run_id)

st.title("Label X-rays")
st.caption(f"`{run_id}` · {plots.strategy_label(config)} on {run_list.data_label(config)} · "
           f"{config.init_size} initial images + {config.budget} × {config.rounds} rounds")
if config.oracle != "human":
    st.info("The true labels answer this run's queries (simulated oracle). To label X-rays yourself, "
            "launch a run with the human oracle on Setup.")
    st.page_link(navigation.SETUP, label="Go to Setup", icon=":material/tune:")
    st.stop()


def answer(sample_id: str, file: str, label: str, round_index: int) -> None:
    try:
        book.add(sample_id, file, label, st.session_state["labeler"], round_index)
    except OSError as exc:  # disk full, no permission: the answer is not saved, and the page says so
        st.error(f"Your answer was not saved: {book.path} cannot be written ({exc.strerror or exc}). Free some "
                 "disk space or fix the folder's permissions, then answer again.", icon=":material/error:")


def labeler() -> str | None:
    """Who answers: this session's name, else (a reload, a new tab) the last one saved in labels.csv."""
    if "labeler" not in st.session_state:
        saved = [row["who"] for row in book.rows() if row["who"] != "anonymous"]
        if saved:
            st.session_state["labeler"] = saved[-1]
    return st.session_state.get("labeler")


def set_labeler() -> None:
    st.session_state["labeler"] = st.session_state["label_who"].strip() or "anonymous"


def ask_name() -> None:
    """Before the first answer: a name for labels.csv. Enter starts; the field then goes away, so the
    answer keys answer instead of typing into it."""
    with st.form("label_name", border=False):
        st.text_input("Your name", key="label_who", placeholder="e.g. Dr. Lee",
                      help="Saved with each label (the 'who' column of labels.csv). Leave it empty to label "
                           "anonymously.")
        st.form_submit_button("Start labeling", key="label_start", type="primary", on_click=set_labeler,
                              icon=":material/play_arrow:")


def label_one(queue: LabelQueue, pending: list[str]) -> None:
    sample_id = pending[0]
    done = len(queue.ids) - len(pending)
    st.progress(done / len(queue.ids),
                text=f"{label_view.batch_name(queue.round, rounds(run_id))} · image {done + 1} of {len(queue.ids)}")
    picture, controls = st.columns([3, 2])
    with controls:
        who = labeler()
        if who is None:
            ask_name()
        else:
            answers = list(label_view.answer_keys(classes).items())
            per_row = len(answers) if len(answers) <= 3 else 2  # class names stay readable with more classes
            columns = [column for start in range(0, len(answers), per_row) for column in st.columns(per_row)]
            for column, (label, key) in zip(columns, answers):
                column.button(label.capitalize() if label == SKIP else label, key=f"label_{label.lower()}",
                              shortcut=key, width="stretch", type="secondary" if label == SKIP else "primary",
                              on_click=answer, args=(sample_id, queue.files[queue.ids.index(sample_id)], label,
                                                     queue.round))
            name, change = st.columns([3, 1], vertical_alignment="center")
            name.caption(f"Labeling as **{who}**", help="Saved with each label: the 'who' column of labels.csv.")
            change.button("Change", key="label_change_name", on_click=st.session_state.pop, args=("labeler",))
        zoom = st.slider("Zoom", 1.0, 4.0, 1.0, 0.25, key="label_zoom", help="Shows 1/zoom of each side.")
        centre = (0.5, 0.5)
        if zoom > 1:
            centre = (st.slider("Left ↔ right", 0.0, 1.0, 0.5, 0.05, key="label_x"),
                      st.slider("Top ↕ bottom", 0.0, 1.0, 0.5, 0.05, key="label_y"))
        level = st.slider("Window level", 0, 255, 128, key="label_level",
                          help="The grey value shown as mid-grey: lower makes the image brighter.")
        width = st.slider("Window width", 16, 256, 256, key="label_width",
                          help="The grey values spread over black..white: narrower gives more contrast.")
        st.session_state.setdefault("label_show_prediction", reveal_prediction())
        shown = st.toggle("Show model prediction", key="label_show_prediction",
                          help="Hidden by default, so that the model does not sway your answer (here and on "
                               "the other pages).")
        st.session_state[SHOW_PREDICTION] = shown  # widget state ends with the page visit
        if shown:
            view = label_view.model_view(store(), run_id, queue.round, sample_id)
            st.markdown("No model yet: the initial images are labeled before the first training." if view is None
                        else f"{view.text} · {config.sampler} score **{view.score:.3g}**")
    image = label_view.adjust_image(label_view.label_image(store(), run_id, sample_id), zoom, centre, level, width)
    picture.image(image, width=720, alt="X-ray to label")


@st.fragment(run_every=REFRESH_S)
def wait_for_batch() -> None:
    """Ticks while the run trains; the next batch, or the run's end, reruns the page."""
    now = store().load_status(run_id)
    if book.pending() or not now.active:
        st.rerun()
    waiting = "Training on your labels…" if book.rows() else "Preparing the run (data, model)…"
    st.info(f"{waiting} The next images to label appear here by themselves.", icon=":material/hourglass_top:")
    st.caption(f"State: {now.state} · {now.detail}")


STOPPED = {"cancelled": "it was stopped", "interrupted": "the app stopped while it ran", "failed": "it failed"}


def resume_offer() -> None:
    st.warning(f"This run is paused because {STOPPED[progress.state]}. Your labels so far are kept: you may go on "
               "labeling, and **Resume** continues the run from its last finished round.")
    resume_button(run_id, "label_resume")


def agreement_and_curves() -> None:
    agreement = label_view.label_agreement(store(), run_id, book.answers())
    if agreement is not None:
        share, table = st.columns([1, 2])
        share.metric("Agreement with the true labels", f"{agreement.share:.0%}",
                     help=f"Over your {' / '.join(classes)} labels of images whose true label is known.")
        share.caption(f"{agreement.agreeing} of {agreement.n} labels match.")
        table.dataframe(agreement.table, key="label_agreement")
    twin = label_view.simulated_twin(store(), run_id)
    frame = compare_view.comparison_frame(store(), [run_id, twin]) if twin else None
    if frame is not None and frame.run_id.nunique() == 2:
        st.plotly_chart(figures.compare_figure(strategy_curves(frame, CURVE_METRIC), CURVE_METRIC),
                        key="label_curves", width="stretch")
        st.caption("oracle=human: your labels; oracle=simulated: the same run answered by the true labels.")
    elif agreement is None:
        st.caption("The true labels of these images are unknown.")


def export_section() -> None:
    rows = book.rows()
    st.download_button("Download labels.csv", book.path.read_bytes() if rows else b"", f"{run_id}-labels.csv",
                       "text/csv", key="label_download", disabled=not rows, icon=":material/download:")
    dest, mode = st.columns([3, 1])
    dest.text_input("Destination folder", key="label_dest", placeholder="/path/to/new/folder",
                    help=f"A new or empty folder; it gets a folder per class ({', '.join(c + '/' for c in classes)}) "
                         "with your labeled images.")
    mode.radio("Original files", export.MODES, key="label_export_mode", horizontal=True,
               help="Copied or symlinked. Synthetic and .npz images are written as PNG files.")
    if st.button("Write folder tree", key="label_export", disabled=not rows, icon=":material/folder_copy:"):
        try:
            dest = st.session_state["label_dest"]
            done = export.export_tree(rows, allowed_path(dest, path_roots()) if dest.strip() else dest,
                                      image_view.run_images(store(), run_id).image, classes,
                                      st.session_state["label_export_mode"])
        except (PathRefused, export.ExportError) as exc:
            st.error(f"Nothing was written: {exc}.")
        else:
            counts = [f"{n} {name}" for name, n in done.counts.items()]
            st.success(f"Wrote {', '.join(counts[:-1])} and {counts[-1]} images to {done.dest} "
                       f"({done.from_files} from the original files).")


queue, pending = book.queue(), book.pending()
if progress.resumable:
    resume_offer()
if progress.error:
    st.error(f"The run failed: {progress.error}")
if queue is not None and pending:
    label_one(queue, pending)
elif progress.active:
    wait_for_batch()
elif progress.state == "done":
    st.success(f"The run is finished: {progress.n_labeled} images labeled.", icon=":material/check:")
elif queue is not None:
    st.info("Every queued image has an answer: resume the run to train on them.")
st.subheader("Your labels against the true labels")
if round_view.asks_for_labels(store(), run_id):  # issue 29: nothing of the truth may bias the labels still to come
    st.caption("Shown once the run is done: while it may still ask for labels, nothing of the true labels is "
               "shown on any page.")
elif st.toggle("Show how my labels agree with the true labels", key="label_show_truth"):
    agreement_and_curves()
st.subheader("Export")
export_section()
