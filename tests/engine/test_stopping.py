"""The stopping signal: the rule on scripted kappas, the kappas of scripted predictions, the stop set."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.diagnostics import cohen_kappa
from alcore.stopping import StabilityRule, round_kappa, stop_set_rows


def test_rule_needs_window_successive_kappas_above_threshold():
    rule = StabilityRule(threshold=0.99, window=3)
    kappas = [None, 0.7, 0.995, 0.99, 0.98, 0.999, 1.0, 0.995]
    assert [rule.holds(kappas[:r + 1]) for r in range(len(kappas))] == [False] * 7 + [True]
    assert rule.first_stop(kappas) == 7
    assert rule.stable_since(kappas) == 4  # kappa of round 5 compares rounds 4 and 5
    assert rule.stable_since(kappas[:6]) is None


def test_scripted_predictions_stop_where_they_stop_changing():
    """A stop set of 200 images: predictions flip fewer images each round, then none."""
    rng = np.random.default_rng(0)
    probs = [rng.random(200)]
    for flips in (60, 30, 10, 0, 0, 0, 0):
        nxt = probs[-1].copy()
        nxt[:flips] = 1 - nxt[:flips]  # flips the class of each of the first `flips` images (p != 0.5)
        probs.append(nxt)
    probs = [np.stack([1 - p, p], 1) for p in probs]  # (n, C): [p(negative), p(positive)]
    kappas = [round_kappa(None, probs[0])] + [round_kappa(a, b) for a, b in zip(probs, probs[1:])]
    assert kappas[0] is None and kappas[1] < kappas[2] < kappas[3] < 1.0 and kappas[4:] == [1.0] * 4
    rule = StabilityRule(0.99, 3)
    assert rule.first_stop(kappas) == 6 and rule.stable_since(kappas) == 3


def test_three_class_kappa_compares_the_most_probable_classes():
    """C > 2: the predicted class is the argmax; a change of the runner-up changes nothing."""
    before = np.array([[.6, .3, .1], [.2, .5, .3], [.1, .2, .7], [.5, .1, .4]])
    runner_up_moved = np.array([[.6, .1, .3], [.3, .5, .2], [.2, .1, .7], [.5, .4, .1]])
    assert round_kappa(before, runner_up_moved) == 1.0
    one_flipped = runner_up_moved.copy()
    one_flipped[3] = [.1, .5, .4]  # class 0 -> class 1
    assert round_kappa(before, one_flipped) == pytest.approx(cohen_kappa([0, 1, 2, 0], [0, 1, 2, 1]))
    assert round_kappa(before, one_flipped) < 1.0


def test_rule_never_holds_on_a_missing_kappa():
    assert not StabilityRule(0.9, 2).holds([None, None])
    assert not StabilityRule(0.9, 2).holds([0.95, float("nan"), 0.95])


def test_stop_set_is_fixed_by_the_seed_and_avoids_the_initial_labels():
    initial = np.arange(10)
    a = stop_set_rows(100, initial, 20, seed=3)
    assert len(a) == 20 and not np.isin(a, initial).any()
    np.testing.assert_array_equal(a, stop_set_rows(100, initial, 20, seed=3))
    assert not np.array_equal(a, stop_set_rows(100, initial, 20, seed=4))
    assert len(stop_set_rows(100, initial, 500, seed=3)) == 90  # capped by the pool
    assert len(stop_set_rows(100, initial, 0, seed=3)) == 0


@pytest.mark.parametrize("when_stable", [False, True])
def test_a_run_with_the_rule_ends_where_the_signal_holds(tmp_path, when_stable):
    """Frozen tiny runs with a weak threshold: with the rule the run ends at the first stable
    round, queries nothing there, and says so in its log and status."""
    from alcore.config import ExperimentConfig
    from alcore.runner import create_run, execute_run
    from alcore.runs import RunStore

    store = RunStore(tmp_path)
    cfg = ExperimentConfig(model="tiny_cnn", regime="frozen", resolution=32, synthetic_size=200, init_size=20,
                           budget=10, rounds=8, head_steps=20, seed=1, stop_kappa=0.5, stop_window=2,
                           stop_when_stable=when_stable)
    run_id = create_run(cfg, store)
    status = execute_run(store, run_id)
    assert status.state == "done", status.error
    rounds = store.load_rounds(run_id)
    kappas = [r.stop_kappa for r in rounds]
    stop = StabilityRule(0.5, 2).first_stop(kappas)
    assert stop is not None and stop < 8, kappas  # a weak threshold: it holds before the budget ends
    assert [r.predictions_stable for r in rounds][stop] is True
    if when_stable:
        assert len(rounds) == stop + 1 and rounds[-1].stopped_by_rule and rounds[-1].queried_ids == ()
        assert "stopping rule" in status.message and status.rounds_total == stop + 1
        assert any("the stopping rule ends the run" in line for line in store.read_log(run_id))
    else:
        assert len(rounds) == 9 and not any(r.stopped_by_rule for r in rounds)
