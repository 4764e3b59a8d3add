"""Live page sections of a race (alcore.race) and of step mode: the racers' progress, their curves over
the random baseline, the side-by-side picks of a round, and Pause / Next round for all of them."""
from __future__ import annotations

import streamlit as st

from alcore.viewmodels import image_view, race_view, run_list
from ui import navigation
from ui.diagnostic_sections import follow_latest
from ui.state import REFRESH_S, RUN_KEY, jobs, reveal_prediction, store

RACE_THUMBNAILS = 8  # picks shown under each panel, highest score first


def step_controls(run_ids: list[str], key: str) -> None:
    """'Pause after each round' and 'Next round', for one run or every racer at once."""
    state = race_view.step_state(store(), run_ids)
    if not state.live:
        return
    left, right, text = st.columns([2, 1, 3])
    pausing = left.toggle("Pause after each round", value=state.pausing, key=f"{key}_pause",
                          help="Step mode: after each query the run waits, so the picks can be explained; "
                               "'Next round' labels them and goes on.")
    if pausing != state.pausing:
        jobs().set_pause(run_ids, pausing)
        st.rerun()
    if right.button("Next round", key=f"{key}_next", type="primary", icon=":material/skip_next:",
                    disabled=not state.all_paused,
                    help="Labels the picks and trains the next round (every racer)."):
        jobs().next_round(run_ids)
        st.rerun()
    text.markdown(state.text)


def race_section(race_id: str) -> None:
    """The whole race on one page: progress, curves, step mode and the side-by-side picks."""
    racers = race_view.race_racers(store(), race_id)
    if not racers:
        st.warning(f"There is no race '{race_id}' in {run_list.results_root()}/: start one on Home or Setup.",
                   icon=":material/search_off:")
        return
    run_ids = [r.run_id for r in racers]
    live = any(r.progress.active for r in racers)
    first = store().load_config(run_ids[0])
    st.title("Live race")
    st.caption(f"`{race_id}` · {len(racers)} strategies on {run_list.data_label(first)} · {first.model} "
               f"({first.regime}, {first.resolution} px) · {first.init_size} initial labels (the same for "
               f"all) + {first.budget} × {first.rounds} rounds · seed {first.seed}")
    step_controls(run_ids, "race")
    rounds_seen = tuple(len(r.records) for r in racers)
    states_seen = tuple(r.progress.state for r in racers)

    @st.fragment(run_every=REFRESH_S if live else None)
    def progress() -> None:
        now = race_view.race_racers(store(), race_id)
        if tuple(len(r.records) for r in now) != rounds_seen or tuple(r.progress.state for r in now) != states_seen:
            st.rerun()
        for column, racer in zip(st.columns(len(now)), now):
            column.progress(racer.progress.progress, text=f"**{racer.name}** · {racer.progress.state}")
            column.caption(racer.progress.text)
            if racer.progress.error:
                column.error(racer.progress.error)
    progress()

    # drawn (empty) while the racers start too: the browser loads plotly then, not when the first points arrive
    final_labels = first.final_labeled
    st.plotly_chart(race_view.race_curves_figure(racers, final_labels=final_labels), key="race_curves",
                    width="stretch")
    if not any(r.records for r in racers):
        st.info("Waiting for the first round: loading data, preparing the models, training." if live
                else "No racer has a finished round.")
        return
    st.caption("The dashed grey line is random sampling, the grey band its 95 % bootstrap interval over test "
               "images: a strategy above the band beats random at that many labels. Compare holds every metric.")
    st.markdown(race_view.race_lesson(racers))
    found = race_view.race_found_figure(racers, final_labels=final_labels)
    if found is not None:
        st.plotly_chart(found, key="race_found", width="stretch")
    picks_section(racers)
    with st.expander("The racers"):
        for racer in racers:
            st.page_link(navigation.LIVE, label=f"{racer.name}: its own Live page", query_params={RUN_KEY: racer.run_id})


def picks_section(racers: list[race_view.Racer]) -> None:
    """Small multiples of the pool's map at one round: what each strategy picked, and the X-rays."""
    st.subheader("What each strategy picked")
    rounds = race_view.pick_rounds(racers)
    if not rounds:
        st.info("The picks show once every racer has finished its first query.")
        return
    xy = race_view.shared_layout(store(), racers)
    if xy is None:
        st.info("This race was recorded without embeddings: there is no map of the pool to draw.")
        return
    key = "race_round"
    follow_latest(key, rounds)
    labels = {r.round: r.n_labeled for r in racers[0].records}
    chosen = (st.select_slider("Round (by the labels its models trained on)", rounds, key=key,
                               format_func=lambda r: f"{labels[r]} labels") if len(rounds) > 1 else rounds[0])
    frames = [race_view.picks_frame(store(), racer, chosen, reveal_prediction()) for racer in racers]
    title = f"Picked by the models trained on {labels[chosen]} labels (one map for all: the pool's features, 2-D PCA)"
    st.plotly_chart(race_view.picks_figure(frames, [r.name for r in racers], xy, title), key="race_picks",
                    width="stretch")
    st.caption("Grey: unlabeled; blue: labeled; orange diamonds: picked this round. Hover a pick for its score, "
               "the class the model predicts with its probability, and why the strategy chose it.")
    for column, racer, frame in zip(st.columns(len(racers)), racers, frames):
        picked = race_view.picked_samples(frame).head(RACE_THUMBNAILS)
        if picked.empty:
            continue
        try:
            images = image_view.thumbnail_uris(store(), racer.run_id, picked.id.tolist())
        except (OSError, KeyError, ValueError) as exc:  # DataError is a ValueError
            column.warning(f"The images of {racer.name} cannot be shown: {exc}")
            continue
        column.image(images, width=64, caption=[race_view.short_prediction(c, p)
                                                for c, p in zip(picked.predicted, picked.confidence)])
