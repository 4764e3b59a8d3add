"""The Live page of a race (?race=<id>) and step mode: racers' progress, curves over the random baseline,
side-by-side picks with a round slider and the strategies' reasons on hover, Pause / Next round."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from alcore import plots
from alcore.records import RoundRecord
from alcore.runs import RunStore
from alcore.viewmodels import race_view
from tests.pages.conftest import dashboard_page

RACE = "race-20250101-100000-abcdef"


def open_race(race_id: str) -> AppTest:
    return dashboard_page("pages/live.py", race=race_id)


def make_race(make_run, state: str = "done", samplers=("coreset", "entropy", "random")) -> list[str]:
    return [make_run(sampler=s, experiment=RACE, state=state) for s in samplers]


def chart(at: AppTest, key: str):
    return json.loads(next(c for c in at.get("plotly_chart") if c.key == key).proto.spec)


def values(array) -> list:
    """A trace's array as plotly's JSON holds it: a list, or typed bytes."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_a_race_shows_every_racer_over_the_random_baseline_and_their_picks_side_by_side(make_run, store):
    make_race(make_run)
    at = open_race(RACE)
    assert at.title[0].value == "Live race"
    assert [c.key for c in at.get("plotly_chart")] == ["race_curves", "race_picks"]
    curves = chart(at, "race_curves")["data"]
    assert curves[0]["name"] == "random (baseline)" and curves[0]["line"]["dash"] == "dash"  # random first
    assert [c["name"] for c in curves[1:]] == ["entropy", "coreset"]
    picks = chart(at, "race_picks")
    assert [a["text"] for a in picks["layout"]["annotations"]] == ["random", "entropy", "coreset"]
    picked = [t for t in picks["data"] if t["name"] == race_view.PICKED]
    assert len(picked) == 3 and all(len(values(t["x"])) == 10 for t in picked)
    assert all(re.search(r"the model is least sure: p\((NORMAL|PNEUMONIA)\) = ", text) and "score " in text
               and " · predicted " in text
               for text in picked[1]["text"])  # entropy's reason, its score and the predicted class on hover
    assert all("far from every labeled image" in text for text in picked[2]["text"])
    assert len({(t["xaxis"]) for t in picks["data"]}) == 3  # three panels ...
    strips = at.get("image")  # ... each with its first picks' thumbnails under it
    assert len(strips) == 3 and all(len(strip.captions) == 8 and strip.captions[0].split()[0] in ("NORMAL", "PNEUMONIA")
                                    for strip in strips)  # the predicted class and its probability
    assert at.select_slider[0].value == 1  # the newest round that queried


def test_every_panel_uses_the_same_map_and_the_slider_replays_an_earlier_round(make_run, store):
    make_race(make_run)
    at = open_race(RACE)
    first = chart(at, "race_picks")
    xs = {trace["xaxis"]: set() for trace in first["data"]}
    for trace in first["data"]:
        xs[trace["xaxis"]].update(values(trace["x"]))
    assert len({frozenset(v) for v in xs.values()}) == 1  # the same points in every panel
    assert "20 labels" in first["layout"]["title"]["text"]
    at.select_slider[0].set_value(0).run()
    earlier = chart(at, "race_picks")
    assert "10 labels" in earlier["layout"]["title"]["text"]
    assert sum(len(values(t["x"])) for t in earlier["data"] if t["name"] == "labeled") < \
        sum(len(values(t["x"])) for t in first["data"] if t["name"] == "labeled")


def test_next_round_releases_every_paused_racer_and_the_toggle_turns_step_mode_off(make_run, store):
    run_ids = make_race(make_run, state="paused")
    for run_id in run_ids:
        store.set_pause(run_id, True)
    at = open_race(RACE)
    assert "Paused after the query" in at.markdown[0].value or any("Paused after the query" in m.value
                                                                   for m in at.markdown)
    next_button = at.button(key="race_next")
    assert not next_button.disabled
    next_button.click().run()
    assert [store.step_control(r).released for r in run_ids] == [3, 3, 3]  # each racer's next round
    at.toggle(key="race_pause").set_value(False).run()
    assert not any(store.step_control(r).pause for r in run_ids)


def test_next_round_waits_until_every_racer_has_paused(make_run, store):
    paused = make_run(sampler="random", experiment=RACE, state="paused")
    make_run(sampler="entropy", experiment=RACE, state="running")
    at = open_race(RACE)
    assert at.button(key="race_next").disabled
    assert any("1 of 2 paused" in m.value for m in at.markdown)
    assert store.step_control(paused).released == 0


def test_a_single_run_has_step_mode_and_a_racer_links_to_its_race(open_page, make_run, store):
    run_id = make_run(state="running")
    at = open_page("pages/live.py", run=run_id)
    assert at.button(key="live_step_next").disabled
    at.toggle(key="live_step_pause").set_value(True).run()
    assert store.step_control(run_id).pause
    racer = make_run(experiment=RACE)
    at = open_page("pages/live.py", run=racer)
    assert any(link.proto.label.startswith("This run is part of a race") for link in at.get("page_link"))


def test_an_unknown_race_is_reported(make_run):
    make_run()
    at = open_race("race-nothing-here")
    assert any("race-nothing-here" in w.value for w in at.warning)


def test_random_is_drawn_over_its_interval_so_above_random_shows_at_a_glance():
    records = tuple(RoundRecord.from_dict({"round": r, "n_labeled": 10 * (r + 1), "roc_auc": 0.6 + 0.1 * r,
                                           "ci": {"roc_auc": [0.5 + 0.1 * r, 0.7 + 0.1 * r]}}) for r in range(3))
    progress = None
    racers = [race_view.Racer("b", "entropy", "entropy", progress, records),
              race_view.Racer("a", "random", "random", progress, records)]
    band, random, entropy = race_view.race_curves_figure(racers).data
    assert band.fill == "toself"
    assert list(band.y) == pytest.approx([0.7, 0.8, 0.9, 0.7, 0.6, 0.5])  # the upper bounds out, the lower back
    assert random.line.dash == "dash" and random.name == "random (baseline)" and entropy.name == "entropy"


def test_the_band_has_no_markers_and_each_strategy_its_own_colour_as_on_every_chart():
    """Issue 29, items 2 and 10: the band's corners were drawn as markers (plotly's default for a short
    trace), as if they were data; racers took palette colours by position."""
    records = tuple(RoundRecord.from_dict({"round": r, "n_labeled": 10 * (r + 1), "roc_auc": 0.6 + 0.1 * r,
                                           "ci": {"roc_auc": [0.5 + 0.1 * r, 0.7 + 0.1 * r]}}) for r in range(3))
    racers = [race_view.Racer(s, s, s, None, records) for s in ("random", "coreset", "entropy")]
    band, random, coreset, entropy = race_view.race_curves_figure(racers).data
    assert band.mode == "lines"
    assert [random.line.color, coreset.line.color, entropy.line.color] == [
        plots.strategy_color("random"), plots.strategy_color("coreset"), plots.strategy_color("entropy")]


def test_before_the_first_round_the_curves_frame_spans_the_whole_race_and_says_it_waits():
    racers = [race_view.Racer("a", "random", "random", None, ()), race_view.Racer("b", "entropy", "entropy", None, ())]
    fig = race_view.race_curves_figure(racers, final_labels=330)
    assert list(fig.layout.xaxis.range) == pytest.approx([0, 339.9]) and list(fig.layout.yaxis.range) == [0, 1]
    assert [a.text for a in fig.layout.annotations] == ["waiting for the first round"]
    records = (RoundRecord.from_dict({"round": 0, "n_labeled": 30, "roc_auc": 0.8}),)
    started = race_view.race_curves_figure([race_view.Racer("a", "random", "random", None, records)], final_labels=330)
    assert not started.layout.annotations and started.layout.yaxis.range is None


def test_the_curves_need_no_random_racer_and_the_step_state_reads_the_run_folders(make_run, store):
    run_ids = [make_run(sampler="entropy", experiment=RACE, state="paused"),
               make_run(sampler="coreset", experiment=RACE)]
    racers = race_view.race_racers(store, RACE)
    fig = race_view.race_curves_figure(racers)
    assert [t.name for t in fig.data] == ["entropy", "coreset"]
    state = race_view.step_state(store, run_ids)
    assert (state.live, state.paused, state.all_paused, state.pausing) == (1, 1, True, False)
    assert race_view.pick_rounds(racers) == [0, 1]
    assert race_view.step_state(RunStore(store.root), [run_ids[1]]).text == "Finished."


def lesson_racer(sampler: str, found: list[int], auc: list[float], counts=(570, 30),
                 classes=("NORMAL", "PNEUMONIA")) -> race_view.Racer:
    records = tuple(RoundRecord.from_dict({"round": r, "n_labeled": 30 * (r + 1), "roc_auc": a,
                                           "n_labeled_per_class": {classes[-1]: k},
                                           "ci": {"roc_auc": [a - 0.03, a + 0.03]}})
                    for r, (k, a) in enumerate(zip(found, auc)))
    return race_view.Racer(sampler, sampler, sampler, None, records, dict(zip(classes, counts)))


def test_the_race_states_its_lesson_from_its_rounds():
    """Issue 29, item 3: the chart's title said 'above the grey band = better than random' while no curve was
    above it, and the page never said so; the demo's rare finding was not named."""
    racers = [lesson_racer("random", [1, 3, 4], [0.7, 0.80, 0.82]),
              lesson_racer("entropy", [1, 9, 16], [0.7, 0.82, 0.84]),
              lesson_racer("coreset", [1, 10], [0.7, 0.88])]  # one round behind
    lesson = race_view.race_lesson(racers)
    assert lesson.startswith("**PNEUMONIA is rare here** (5% of the pool: 30 of 600 images). "
                             "Found among the first 60 labels: coreset 10, entropy 9, random 3.")
    assert "coreset has found 7 more" in lesson  # at the labels every racer has reached
    assert "At 60 labels coreset is above random's grey band (its 95 % interval of test ROC-AUC: 0.770-0.830)" in lesson
    racers[1] = lesson_racer("entropy", [1, 9, 16], [0.7, 0.84, 0.84])
    assert "At 60 labels entropy and coreset are above random's grey band" in race_view.race_lesson(racers)
    racers[2] = lesson_racer("coreset", [1, 10, 12], [0.7, 0.80, 0.83])
    lesson = race_view.race_lesson(racers)
    assert "Found among the first 90 labels: entropy 16, coreset 12, random 4." in lesson
    assert "At 90 labels no strategy is above random's grey band (test ROC-AUC 0.790-0.850, 0.060 wide)" in lesson
    common = [lesson_racer(s, [9, 18, 27], [0.7, 0.8, 0.9], counts=(70, 30)) for s in ("random", "entropy")]
    assert "rare" not in race_view.race_lesson(common)  # 30 % PNEUMONIA: no rare finding to count
    assert race_view.race_lesson([race_view.Racer("a", "random", "random", None, ())]) == ""


def test_a_rare_finding_race_draws_the_pneumonia_each_strategy_found():
    racers = [lesson_racer("random", [1, 3, 4], [0.7, 0.8, 0.82]), lesson_racer("entropy", [1, 9, 16], [0.7, 0.8, 0.8])]
    fig = race_view.race_found_figure(racers, final_labels=330)
    random, entropy = fig.data
    assert list(entropy.y) == [1, 9, 16] and random.line.dash == "dash"
    assert entropy.line.color == plots.strategy_color("entropy")
    assert fig.layout.shapes[0].y0 == 30 and "all 30 PNEUMONIA images" in fig.layout.annotations[0].text
    common = [lesson_racer(s, [9, 18], [0.7, 0.8], counts=(70, 30)) for s in ("random", "entropy")]
    assert race_view.race_found_figure(common) is None


def test_the_rare_finding_is_the_positive_class_of_two_and_no_class_of_three():
    two = [lesson_racer(s, [1, 9], [0.7, 0.8], counts=(570, 30), classes=("CLEAR", "EFFUSION"))
           for s in ("random", "entropy")]
    assert race_view.race_lesson(two).startswith("**EFFUSION is rare here** (5% of the pool: 30 of 600 images).")
    three = [lesson_racer(s, [1, 9], [0.7, 0.8], counts=(560, 10, 30), classes=("NORMAL", "BACTERIAL", "VIRAL"))
             for s in ("random", "entropy")]
    assert race_view.rare_finding(three) is None and race_view.race_found_figure(three) is None
    assert "rare" not in race_view.race_lesson(three)


def test_the_race_page_states_the_lesson_and_draws_the_rare_finding(make_run, store):
    """Issue 29, item 3: the race page never said what the race showed."""
    for run_id in make_race(make_run):
        resolved = {**store.load_resolved(run_id), "train_class_counts": [57, 3]}  # PNEUMONIA rare: 5 %
        store.write_config(run_id, store.load_config(run_id), resolved)
    at = open_race(RACE)
    assert any(m.value.startswith("**PNEUMONIA is rare here** (5% of the pool: 3 of 60 images).") for m in at.markdown)
    assert "race_found" in [c.key for c in at.get("plotly_chart")]
