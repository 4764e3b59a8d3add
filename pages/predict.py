"""Predict: the current run's model on X-rays you upload (PNG, JPEG, DICOM): p per class, the decision (at
the model's threshold with two classes, the most probable class with more), where it looked (Grad-CAM), and
the table as CSV."""
from __future__ import annotations

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore.modelio import ModelError
from alcore.viewmodels import predict_view
from ui.state import require_run, store

page_frame()

run_id = require_run()
st.title("Predict")
st.caption("Research only: not a medical device. The model sees each image as the run's data layer decodes it.")
kept = predict_view.kept_labels(store(), run_id)
if not kept:
    st.info("This run kept no model (it has no finished round yet, predates kept models, or ran with keep models "
            "'none'). Start a run to get one.")
    st.stop()
at_labels = st.selectbox("Model trained on", kept, key="predict_at", format_func=lambda n: f"{n} labels")
uploads = st.file_uploader("Chest X-rays (PNG, JPEG or DICOM)", accept_multiple_files=True, key="predict_files")
if not uploads:
    st.info("Upload one or more images to see the model's predictions and where it looked.")
    st.stop()
try:
    with st.spinner("Predicting..."):
        result = predict_view.predict_uploads(store(), run_id, at_labels, [(f.name, f.getvalue()) for f in uploads])
except ModelError as exc:
    st.error(str(exc))
    st.stop()

st.download_button("Download predictions (CSV)", result.csv, file_name="predictions.csv", mime="text/csv",
                   key="predict_csv")
st.dataframe(predict_view.table(result), hide_index=True, width="stretch", key="predict_table")
for row in result.rows:
    if row.error:
        st.warning(f"{row.name}: {row.error}")
decision = (f"Decision threshold {result.threshold:.3f} on p({result.classes[-1]})" if len(result.classes) == 2
            else "Decision: the most probable class (argmax)")
st.caption(f"{decision}; heat maps: Grad-CAM for the predicted class on the last convolution (bright: where the "
           "evidence for it sits).")
PAIRS_PER_ROW = 2  # each upload: its image as the model saw it, then its heat map
for start in range(0, len(result.shown), PAIRS_PER_ROW):
    columns = st.columns(2 * PAIRS_PER_ROW)
    for slot, shown in enumerate(result.shown[start:start + PAIRS_PER_ROW]):
        p = shown.prediction
        chance = p.probabilities[result.classes.index(p.predicted)]
        columns[2 * slot].image(shown.image, width="stretch", caption=f"{p.name}: {p.predicted} (p = {chance:.3f})")
        columns[2 * slot + 1].image(shown.heatmap, caption="where it looked", width="stretch")
