"""Embeddings: the train pool of one round in 2-D (PCA or UMAP); a lasso or box selection shows its X-rays."""
from __future__ import annotations

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore.viewmodels import figures, projections, round_view, scatter
from ui.state import REFRESH_S, require_run, reveal_prediction, rounds, store
from ui.widgets import thumbnails

page_frame()

MAX_SELECTED_SHOWN = 48
run_id = require_run()
st.title("Embeddings")
live = store().load_status(run_id).active


def follow_latest(latest: int) -> None:
    """Keep the round slider on the latest round (following a live run) unless the user moved off it."""
    seen = st.session_state.get("emb_seen")  # (run, latest round) at the last refresh
    chosen = st.session_state.get("emb_round")
    following = chosen is None or seen is None or seen[0] != run_id or chosen == seen[1] or chosen > latest
    st.session_state["emb_round"] = latest if following else chosen
    st.session_state["emb_seen"] = (run_id, latest)


records = list(rounds(run_id))


@st.fragment(run_every=REFRESH_S if live else None)
def watch() -> None:
    """Draws nothing: ticks while the run is live and reruns the page when a round lands or it ends."""
    if len(rounds(run_id)) != len(records) or store().load_status(run_id).active != live:
        st.rerun()


@st.fragment  # a selection reruns only this
def embedding_view() -> None:
    if not records:
        st.info("No finished round yet; the pool appears here after the first one.")
        return
    if not round_view.records_embeddings(store(), run_id):
        st.info("This run was recorded without embeddings (`record_embeddings` off, `--no-embeddings` on the "
                "command line), which skips the passes only this page needs. Its curves, queried images and "
                "labels are on the other pages; to see its pool here, launch it again with "
                "**Record embeddings** ticked on Setup.", icon=":material/visibility_off:")
        return
    projections.warm_up_umap()  # in the background while the PCA view is looked at
    latest = records[-1].round
    follow_latest(latest)
    by_round = {r.round: r for r in records}
    labels_at = {r.round: r.n_labeled for r in records}
    pick_round, pick_projection, pick_color = st.columns([3, 1, 2])
    with pick_round:
        if latest > 0:
            round_index = st.select_slider("Labels used", list(labels_at), key="emb_round",
                                           format_func=lambda r: f"{labels_at[r]} labels",
                                           help="The pool as the model trained on this many labels saw it. "
                                                "Defaults to the latest round and follows a running job.")
        else:
            round_index = 0
            st.markdown(f"**{labels_at[0]} labels** (the only round so far)")
    projection = pick_projection.radio("Projection", projections.PROJECTIONS, key="emb_projection", horizontal=True,
                                       help="PCA is stored with each round; UMAP is computed once per round "
                                            "and cached in the run folder.")
    classes = store().classes(run_id)
    options = figures.color_options(classes)
    color_by = pick_color.selectbox("Colour by", list(options), format_func=options.get, key="emb_color")
    frame = round_view.round_frame(store(), run_id, by_round[round_index], reveal_prediction())
    if color_by == "score" and not figures.has_scores(frame):
        st.info(f"The model trained on {labels_at[round_index]} labels queried nothing (the last round only "
                "tests), so no image has a strategy score: coloured by status instead.", icon=":material/info:")
        color_by = "status"
    first_umap = projection == "UMAP" and not projections.umap_compiled()
    with st.spinner(f"Computing the {projection} layout at {labels_at[round_index]} labels…" + (
            " The first UMAP since the server started compiles its code first: up to a minute on a small CPU; "
            "the next ones take seconds." if first_umap else "")):
        xy = projections.projection(store(), run_id, round_index, projection)
    drawn = scatter.thin(frame, xy, scatter.MAX_DRAWN)  # a 100k pool: every labeled and queried image, a stratified sample of the rest
    fig = scatter.thinned_figure(drawn, color_by, projection, classes)
    event = st.plotly_chart(fig, key=f"emb_chart_{round_index}_{projection}_{color_by}", on_select="rerun",
                            selection_mode=("box", "lasso"), width="stretch")
    counts = frame.status.value_counts()
    st.caption(f"At {labels_at[round_index]} labels: {len(frame)} pool images · {counts.get('labeled', 0)} labeled · "
               f"{counts.get('queried', 0)} queried next (diamonds). Draw a lasso or a box to see images.")
    selected = frame.iloc[scatter.selected_pool_rows(drawn, fig, event.selection.points)]
    if len(selected):
        st.subheader(f"{len(selected)} selected")
        shown, how = figures.representative_selection(selected, MAX_SELECTED_SHOWN)
        if how:
            st.caption(how)
        thumbnails(run_id, shown, key="emb_selected", per_row=8)


watch()
embedding_view()
