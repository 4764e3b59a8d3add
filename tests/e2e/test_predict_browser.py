"""The browser test of the Predict page: a finished run's model on an uploaded PNG and DICOM file ->
a prediction and a heat map on screen."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alcore.config import ExperimentConfig
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore
from tests.conftest import SHARED_DATA
from tests.data.dicom_files import source_image, write_dicom

pytestmark = pytest.mark.e2e


def test_an_uploaded_xray_shows_its_prediction_and_heat_map(dashboard, page, shoot):
    store = RunStore(dashboard.work / "results")
    run_id = create_run(ExperimentConfig(**{**dashboard.config, "rounds": 1}), store)
    assert execute_run(store, run_id).state == "done"
    xray = (source_image(SHARED_DATA if SHARED_DATA.is_dir() else None, 256) * 255).astype(np.uint8)
    Image.fromarray(xray).save(dashboard.work / "chest.png")
    write_dicom(dashboard.work / "study.dcm", xray.astype(np.uint16) * 16, 12, patient="P042")

    page.goto(f"{dashboard.url}/predict?run={run_id}")
    page.get_by_text("Upload one or more images").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(
        [str(dashboard.work / "chest.png"), str(dashboard.work / "study.dcm")])
    page.get_by_text("where it looked").nth(1).wait_for()  # both images, each with its heat map
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    assert len(captions) == 4 and captions[0].startswith("chest.png: ") and captions[2].startswith("study.dcm: ")
    shoot(page, "predict")
