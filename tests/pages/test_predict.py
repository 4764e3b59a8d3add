"""Predict: an uploaded X-ray -> its prediction, a heat map and the CSV; a broken upload is named with
its reason; a run without a kept model says so."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from alcore.config import ExperimentConfig
from alcore.runner import create_run, execute_run

TINY = dict(model="tiny_cnn", resolution=32, synthetic_size=200, init_size=20, budget=10, rounds=2, epochs=1,
            batch_size=16, sampler="entropy", seed=3)


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(value).integers(0, 255, (64, 64), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_uploaded_xray_gets_a_prediction_a_heat_map_and_a_csv(open_page, store):
    run_id = create_run(ExperimentConfig(**TINY), store)
    assert execute_run(store, run_id).state == "done"
    at = open_page("pages/predict.py", run=run_id)
    assert not at.exception
    assert at.selectbox(key="predict_at").options == ["40 labels", "30 labels", "20 labels"]
    at.file_uploader(key="predict_files").set_value([("chest.png", png(1), "image/png"),
                                                     ("broken.jpg", b"not an image", "image/jpeg")]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == ["chest.png", "broken.jpg"]
    assert 0 <= table["p(PNEUMONIA)"][0] <= 1 and table["predicted"][0] in ("NORMAL", "PNEUMONIA")
    assert "cannot be decoded" in table["problem"][1]
    assert any("broken.jpg" in w.value for w in at.warning)
    captions = [caption for image in at.get("image") for caption in image.captions]
    assert len(captions) == 2 and captions[0].startswith("chest.png: ") and captions[1] == "where it looked"
    assert at.get("download_button")[0].proto.label == "Download predictions (CSV)"


def test_a_run_without_a_kept_model_says_so(open_page, make_run):
    at = open_page("pages/predict.py", run=make_run(rounds=1))
    assert not at.exception
    assert any("kept no model" in i.value for i in at.info)


def test_the_live_page_offers_the_rounds_model_and_pre_labels(open_page, store):
    import io
    import zipfile
    run_id = create_run(ExperimentConfig(**TINY), store)
    assert execute_run(store, run_id).state == "done"
    at = open_page("pages/live.py", run=run_id)
    at.button(key="live_prepare_model").click().run()
    at.button(key="live_prepare_prelabels").click().run()
    assert not at.exception
    downloads = {b.proto.label: b for b in at.get("download_button")}
    model_label = f"Download {run_id}-model-40-labels.zip"
    assert model_label in downloads and f"Download {run_id}-prelabels-40-labels.csv" in downloads
    data = at.session_state[f"download_model_{run_id}_3"][1]
    files = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"model/MODEL_CARD.md", "model/model.json", "model/model.pt2"} <= files
    assert files - {"model/MODEL_CARD.md", "model/model.json", "model/model.pt2"} <= {"model/model.onnx",
                                                                                       "model/model.onnx.data"}
    csv_text = at.session_state[f"download_prelabels_{run_id}_3"][1].decode()
    assert csv_text.splitlines()[0] == "path,patient,p_NORMAL,p_PNEUMONIA,predicted,error,sample_id"
    assert len(csv_text.splitlines()) == 1 + 200 - 40


def test_the_enlarged_queried_image_shows_where_the_model_looked(open_page, store):
    run_id = create_run(ExperimentConfig(**TINY), store)
    assert execute_run(store, run_id).state == "done"
    at = open_page("pages/queried.py", run=run_id)
    at.session_state["large_image_looked"] = True  # the toggle as a person leaves it (AppTest reruns close dialogs)
    at.button[0].click().run()
    assert not at.exception and at.toggle(key="large_image_looked").value
    captions = [caption for image in at.get("image") for caption in image.captions]
    assert "Grad-CAM of the model at 30 labels, for the class it predicts" in captions
