"""Embeddings: round slider, PCA / UMAP, colouring."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from alcore.viewmodels import figures, projections
from tests.pages.conftest import THREE, TWO


@pytest.mark.parametrize("classes", [TWO, THREE])
def test_embeddings_default_to_the_latest_round_and_every_colouring_draws(open_page, make_run, classes):
    run_id = make_run(rounds=3, classes=classes)
    at = open_page("pages/embeddings.py", run=run_id)
    assert at.select_slider(key="emb_round").value == 2
    assert at.radio(key="emb_projection").options == ["PCA", "UMAP"]
    assert at.selectbox(key="emb_color").options == list(figures.color_options(classes).values())
    for color_by in figures.color_options(classes):
        at.selectbox(key="emb_color").set_value(color_by).run()
        assert not at.exception
        shown = "status" if color_by == "score" else color_by  # the last round scores nothing
        assert at.get("plotly_chart")[0].key == f"emb_chart_2_PCA_{shown}"
    at.select_slider(key="emb_round").set_value(0).run()
    assert "At 10 labels: 60 pool images · 10 labeled · 10 queried" in at.caption[-1].value


def test_a_three_class_pool_is_coloured_by_true_and_predicted_class_in_label_order(open_page, make_run):
    at = open_page("pages/embeddings.py", run=make_run(rounds=2, classes=THREE))
    at.select_slider(key="emb_round").set_value(0).run()  # the round that queried
    for color_by in ("label", "predicted"):
        at.selectbox(key="emb_color").set_value(color_by).run()
        traces = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
        assert [t["name"] for t in traces[:3]] == list(THREE) and traces[-1]["name"] == "queried this round"
        assert [t["marker"]["color"] for t in traces[:3]] == list(figures.CLASS_PALETTE[:3])
        assert all(" · predicted " in text and " p=0." in text for t in traces for text in t["text"])


def test_umap_projection_is_drawn_and_cached(open_page, make_run, store, monkeypatch):
    run_id = make_run(rounds=1)
    at = open_page("pages/embeddings.py", run=run_id)
    assert "10 labels" in at.markdown[0].value  # one round: no slider
    # the first UMAP of a process compiles numba code: a minute or more on a busy machine, hence the timeout
    at.radio(key="emb_projection").set_value("UMAP").run(timeout=900)
    assert not at.exception and at.get("plotly_chart")[0].key == "emb_chart_0_UMAP_cluster"
    layout = np.load(store.run_dir(run_id) / "rounds" / "umap_000.npy")
    assert layout.shape == (60, 2) and np.isfinite(layout).all() and layout.std(axis=0).min() > 0
    monkeypatch.setattr(projections, "umap_layout", lambda features: pytest.fail("UMAP computed twice"))
    at.radio(key="emb_projection").set_value("PCA").run()
    at.radio(key="emb_projection").set_value("UMAP").run()  # read from the file this time
    assert not at.exception and at.get("plotly_chart")[0].key == "emb_chart_0_UMAP_cluster"


def test_a_run_without_embeddings_says_so_and_its_other_pages_work(open_page, make_run, captions):
    run_id = make_run(rounds=3, record_embeddings=False)
    at = open_page("pages/embeddings.py", run=run_id)
    assert "recorded without embeddings" in at.info[0].value and not at.get("plotly_chart")
    for page in ("pages/queried.py", "pages/live.py", "pages/compare.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    at.switch_page("pages/queried.py").run()
    assert len(captions(at)) == 10


def test_the_last_round_has_no_scores_and_says_so_instead_of_greying_every_point(open_page, make_run, texts):
    """Issue 14, defect 7: at the last round "Strategy score" coloured every point grey, hovers read score=nan."""
    run_id = make_run(rounds=3)
    at = open_page("pages/embeddings.py", run=run_id)
    at.selectbox(key="emb_color").set_value("score").run()
    assert at.get("plotly_chart")[0].key == "emb_chart_2_PCA_status"
    assert any("no image has a strategy score" in i.value for i in at.info)
    assert "nan" not in at.get("plotly_chart")[0].proto.spec
    at.select_slider(key="emb_round").set_value(1).run()  # a round that queried: scores, coloured by them
    assert at.get("plotly_chart")[0].key == "emb_chart_1_PCA_score" and not at.info


def test_a_large_pool_draws_a_thinned_scatter_with_every_labeled_and_queried_image(open_page, make_run, monkeypatch):
    """Issue 28: a pool larger than the drawing cap shows a stratified sample plus every labeled / queried image."""
    from alcore.viewmodels import scatter
    monkeypatch.setattr(scatter, "MAX_DRAWN", 30)
    run_id = make_run(rounds=3)
    at = open_page("pages/embeddings.py", run=run_id)
    at.select_slider(key="emb_round").set_value(0).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    drawn = [row for trace in spec["data"] for row in plotly_array(trace["customdata"])]
    assert len(drawn) == 30 == len(set(drawn))
    assert "30 of 60 images drawn (every labeled and queried one)" in spec["layout"]["title"]["text"]
    queried = next(trace for trace in spec["data"] if trace["name"] == "queried this round")
    assert len(plotly_array(queried["customdata"])) == 10


def plotly_array(value) -> list:
    """A figure's array as a list: plotly sends numeric arrays base64-encoded with their dtype."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)
