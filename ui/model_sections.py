"""The Live page's "Take the model" section: this run's last kept model as a zip, and pre-labels of its
unlabeled pool as CSV. Each is built on a click (an export takes seconds), then offered for download."""
from __future__ import annotations

import streamlit as st

from alcore.modelio import ModelError, kept_rounds
from alcore.viewmodels import predict_view
from ui.state import store

BUILDERS = {"model": ("Prepare this round's model (zip)", predict_view.model_zip, "application/zip"),
            "prelabels": ("Prepare pre-labels for the pool (CSV)", predict_view.prelabels_csv, "text/csv")}


def model_downloads(run_id: str, n_rounds: int) -> None:
    """Buttons that build the downloads of the run as it is after `n_rounds` rounds."""
    if not kept_rounds(store().run_dir(run_id)):
        return
    st.subheader("Take the model")
    st.caption("The model folder loads without this tool (README, use the model). Research only: not a medical "
               "device.")
    for column, (name, (label, build, mime)) in zip(st.columns(len(BUILDERS)), BUILDERS.items()):
        ready = f"download_{name}_{run_id}_{n_rounds}"
        if column.button(label, key=f"live_prepare_{name}"):
            try:
                with st.spinner("Preparing..."):
                    st.session_state[ready] = build(store(), run_id)
            except ModelError as exc:
                column.error(str(exc))
        if ready in st.session_state:
            file_name, data = st.session_state[ready]
            column.download_button(f"Download {file_name}", data, file_name=file_name, mime=mime,
                                   key=f"live_download_{name}")
