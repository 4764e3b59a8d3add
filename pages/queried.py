"""Queried samples: what each round asked to label, as a filterable grid; Enlarge opens an image large."""
from __future__ import annotations

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore.viewmodels import round_view
from ui.state import require_run, reveal_prediction, rounds, store
from ui.widgets import thumbnails

page_frame()

PAGE_SIZE = 48
ALL_ROUNDS = "all"
run_id = require_run()
st.title("Queried samples")
queried_rounds = {r.round: r for r in rounds(run_id) if r.queried_ids}
if not queried_rounds:
    st.info("No round of this run has queried images yet.")
    st.stop()

pick_round, pick_class = st.columns([1, 2])
chosen = pick_round.selectbox("Picked by the model trained on", [*reversed(queried_rounds), ALL_ROUNDS],
                              key="queried_round", format_func=lambda r: "any number of labels" if r == ALL_ROUNDS
                              else f"{queried_rounds[r].n_labeled} labels")
human = store().load_config(run_id).oracle == "human"  # its labels are the person's, never the truth
run_classes = store().classes(run_id)
classes = pick_class.multiselect("Your label" if human else "True class", run_classes, default=list(run_classes),
                                 key="queried_classes")
samples = round_view.queried_frame(store(), run_id, list(queried_rounds.values()) if chosen == ALL_ROUNDS
                              else [queried_rounds[chosen]], reveal_prediction())
samples = samples[samples.label.isin(classes) | samples.secret]  # a hidden label is in no class: always shown
counts = samples.label.value_counts()
st.caption(f"{len(samples)} images · " + " · ".join(f"{name} {counts.get(name, 0)}" for name in run_classes)
           + " · highest strategy score first within a batch · predicted: the class the model gave it when it "
           "was queried, p its probability")
if samples.empty:
    st.info("No queried image matches these filters.")
    st.stop()
pages = (len(samples) - 1) // PAGE_SIZE + 1
st.session_state["queried_page"] = min(st.session_state.get("queried_page", 1), pages)  # filters shrink it
page = st.number_input(f"Page (of {pages})", 1, pages, key="queried_page") if pages > 1 else 1
thumbnails(run_id, samples.iloc[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], key="queried_grid", per_row=8,
           enlarge=True)
