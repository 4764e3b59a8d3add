"""Queried samples: the grid, its filters, the large view."""
from __future__ import annotations


def test_grid_defaults_to_the_latest_round_and_filters_by_round_and_class(open_page, make_run, captions):
    run_id = make_run(rounds=3)
    at = open_page("pages/queried.py", run=run_id)
    assert at.selectbox(key="queried_round").value == 1 and len(captions(at)) == 10
    at.selectbox(key="queried_round").set_value("all").run()
    assert len(captions(at)) == 20 and "picked at 10 labels" in [m.value for m in at.markdown if "p=" in m.value][0]
    at.multiselect(key="queried_classes").set_value(["NORMAL"]).run()
    shown = captions(at)
    assert 0 < len(shown) < 20
    assert all(":green[**NORMAL**]" in m.value for m in at.markdown if "p=" in m.value)


def test_enlarge_opens_the_image_in_a_dialog(open_page, make_run, captions):
    run_id = make_run(rounds=2)
    at = open_page("pages/queried.py", run=run_id)
    before = len(captions(at))
    at.button[0].click().run()
    assert not at.exception and len(captions(at)) == before + 1


def test_a_run_without_queries_says_so(open_page, make_run):
    at = open_page("pages/queried.py", run=make_run(rounds=1))
    assert "No round of this run has queried images yet." in at.info[0].value


def test_thumbnails_are_inline_and_long_file_ids_fit_one_line(open_page, make_run, captions):
    """Issue 14, defect 11: thumbnails were media files a live page's refresh could drop (404s), and real
    file ids wrapped over 3-4 lines under them."""
    run_id = make_run(rounds=2, long_ids=True)
    at = open_page("pages/queried.py", run=run_id)
    images = at.get("image")
    assert images and all(url.startswith("data:image/png;base64,") for image in images
                          for url in [i.url for i in image.proto.imgs])
    assert all(len(caption) <= 18 for caption in captions(at)), captions(at)
    assert captions(at)[0].startswith("person10") and captions(at)[0].endswith(".jpeg")
