"""More than two classes: the learners give (n, C) probabilities (a multinomial logistic head, a C-way
head with cross-entropy; the logistic fit is scikit-learn's) and no threshold (argmax); a three-class
synthetic run end to end, and resumed."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from alcore.config import ExperimentConfig
from alcore.data.base import Dataset, Split
from alcore.learners import make_learner
from alcore.models import build_classifier
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore, probs_from_file
from alcore.train import TrainSettings, fit_logistic, fit_logistic_head, log_loss

CLASSES = ("NORMAL", "BACTERIAL", "VIRAL")


def three_class_dataset(n: int = 90, resolution: int = 32, seed: int = 0) -> Dataset:
    """A hand-made three-class data set: noise plus a bright band whose place is the class (top, left, centre)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, size in (("train", n), ("val", n // 3), ("test", n // 2)):
        labels = np.arange(size) % len(CLASSES)
        images = rng.integers(0, 120, (size, resolution, resolution)).astype(np.uint8)
        third = resolution // 3
        images[labels == 0, :third] += 100
        images[labels == 1, :, :third] += 100
        images[labels == 2, third:2 * third, third:2 * third] += 100
        ids = np.array([f"three-{split}-{i:04d}" for i in range(size)])
        splits[split] = Split(images, labels.astype(np.int64), ids, ids)
    return Dataset("three classes", f"three-{n}-{resolution}-{seed}", resolution, splits, classes=CLASSES, kind="npz")


def _learner(dataset: Dataset, regime: str, head: str = "logistic", **settings):
    model, weights = build_classifier("tiny_cnn", "none", dataset.resolution, 0, len(dataset.classes))
    train = TrainSettings(epochs=2, head_steps=60, batch_size=16, lr=1e-2, weight_decay=1e-4, class_weighted=True,
                          device=torch.device("cpu"), **settings)
    return make_learner(regime, model, dataset, train, weights, "tiny_cnn", 0, head=head)


@pytest.mark.parametrize("regime, head", [("frozen", "logistic"), ("frozen", "adamw"), ("finetune", "")])
def test_three_classes_give_n_by_c_probabilities_and_no_threshold(regime, head):
    dataset = three_class_dataset()
    learner = _learner(dataset, regime, head)
    rows = np.arange(60)
    learner.fit(rows, dataset.train.labels[rows], seed=1)
    assert learner.threshold is None  # argmax: no operating point over three classes
    test = learner.infer("test", mc_passes=4, seed=2)
    assert test.probs.shape == (len(dataset.test), 3) and test.probs.dtype == np.float32
    np.testing.assert_allclose(test.probs.sum(1), 1.0, atol=1e-5)
    assert test.mc_probs.shape == (4, len(dataset.test), 3)
    np.testing.assert_allclose(test.mc_probs.sum(-1), 1.0, atol=1e-5)
    if regime == "frozen":  # the bands are easy on fixed features: the head learns them
        assert (test.probs.argmax(1) == dataset.test.labels).mean() > 0.6


def test_finetune_with_a_validation_slice_stops_early_and_keeps_no_threshold():
    dataset = three_class_dataset()
    learner = _learner(dataset, "finetune", val_share=0.25)
    rows = np.arange(60)
    learner.fit(rows, dataset.train.labels[rows], seed=1)
    assert learner.threshold is None and learner.fit_info["val_images"] > 0 and learner.fit_info["val_loss"] > 0


@pytest.mark.parametrize("class_weighted", [False, True])
def test_the_multinomial_newton_fit_is_scikit_learns_logistic_regression(class_weighted):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    y = (np.c_[x[:, 0] - x[:, 1], x[:, 2], -x[:, 0]] + rng.normal(size=(300, 3))).argmax(1)
    theta, _ = fit_logistic(x, y, 0.05, class_weighted, n_classes=3)
    reference = LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000,
                                   class_weight="balanced" if class_weighted else None).fit(x, y)
    np.testing.assert_allclose(theta[:-1], reference.coef_.T, atol=1e-5)
    # the softmax is unchanged by a constant added to every bias: compare them centred
    np.testing.assert_allclose(theta[-1] - theta[-1].mean(), reference.intercept_ - reference.intercept_.mean(),
                               atol=1e-5)


def test_the_multinomial_head_predicts_its_classes_and_samples_its_posterior():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(240, 6))
    y = (np.c_[x[:, 0], x[:, 1], x[:, 2]] * 2 + rng.normal(size=(240, 3))).argmax(1)
    head = fit_logistic_head(x, y, class_weighted=True, seed=0, n_classes=3)
    assert head.threshold is None and head.weight.shape == (6, 3) and head.bias.shape == (3,)
    probs = head.probs(x)
    assert probs.shape == (240, 3) and (probs.argmax(1) == y).mean() > 0.7
    assert log_loss(y, probs) < np.log(3)  # better than the uniform guess
    draws = head.sample_probs(x, 300, np.random.default_rng(2))
    assert draws.shape == (300, 240, 3) and draws.std(0).min() > 0  # a posterior, not a point
    assert np.corrcoef(np.log(draws).mean(0).ravel(), np.log(probs).ravel())[0, 1] > 0.95


def test_a_class_with_no_label_gets_almost_no_probability_and_one_class_a_constant():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    two_of_three = (x[:, 0] > 0).astype(int)  # VIRAL never labeled yet
    probs = fit_logistic_head(x, two_of_three, False, 0, n_classes=3).probs(x)
    assert probs[:, 2].max() < 1e-3 and (probs[:, :2].argmax(1) == two_of_three).mean() > 0.8
    constant = fit_logistic_head(x, np.zeros(60, int), False, 0, n_classes=3)
    np.testing.assert_allclose(constant.probs(x[:2]), constant.probs(x[2:4]))
    assert constant.probs(x[:1]).argmax() == 0 and constant.threshold is None


TINY3 = dict(model="tiny_cnn", resolution=32, synthetic_size=150, synthetic_classes=3, init_size=24, budget=12,
             rounds=2, epochs=1, batch_size=16, seed=3)
ROUND_KEYS = ("n_labeled", "accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "kappa", "queried_ids",
              "n_labeled_per_class", "stop_kappa", "threshold")


def _finished(store: RunStore, **changes) -> str:
    run_id = create_run(ExperimentConfig(**{**TINY3, **changes}), store)
    status = execute_run(store, run_id)
    assert status.state == "done", status.error
    return run_id


@pytest.mark.parametrize("changes", [dict(regime="frozen", sampler="margin"),
                                     dict(regime="frozen", head="adamw", sampler="badge"),
                                     dict(regime="finetune", sampler="bald", sampler_options={"mc_passes": 3})],
                         ids=["frozen-logistic", "frozen-adamw", "finetune"])
def test_a_three_class_run_records_its_classes_and_predicts_by_argmax(tmp_path, changes):
    store = RunStore(tmp_path)
    run_id = _finished(store, **changes)
    assert store.classes(run_id) == CLASSES
    rounds = store.load_rounds(run_id)
    assert [r.n_labeled for r in rounds] == [24, 36, 48]
    for record in rounds:
        assert record.threshold is None and record.metrics_at_0_5 is None  # argmax: no operating point
        assert list(record.n_labeled_per_class) == list(CLASSES)
        assert sum(record.n_labeled_per_class.values()) == record.n_labeled
        assert 0 <= record.metrics.balanced_accuracy <= 1 and 0 <= record.metrics.roc_auc <= 1
        assert np.array(record.metrics.confusion_matrix).shape == (3, 3)
    arrays = store.load_round_arrays(run_id, 1)
    train, test = len(arrays["ids"]), len(arrays["test_label"])
    assert arrays["prob"].shape == (train, 3) and arrays["test_prob"].shape == (test, 3)
    np.testing.assert_allclose(probs_from_file(arrays["test_prob"]).sum(1), 1.0, atol=1e-5)
    assert set(np.unique(arrays["label"])) == {0, 1, 2}


def test_a_resumed_three_class_run_repeats_the_uninterrupted_one(tmp_path):
    store = RunStore(tmp_path)
    reference = store.load_rounds(_finished(store, regime="frozen", sampler="entropy"))
    run_id = create_run(ExperimentConfig(**TINY3, regime="frozen", sampler="entropy"), store)
    cancel = threading.Event()
    status = execute_run(store, run_id, cancel, on_event=lambda e: e.kind == "round" and e.round == 0 and cancel.set())
    assert status.state == "cancelled" and len(store.load_rounds(run_id)) == 1
    assert execute_run(store, run_id).state == "done"
    resumed = store.load_rounds(run_id)
    for a, b in zip(reference, resumed, strict=True):
        a, b = a.to_dict(), b.to_dict()
        for key in ROUND_KEYS:  # the stop-set kappa of round 1 reads round 0's (n, 3) pool back from its file
            assert a[key] == (pytest.approx(b[key], abs=1e-9) if isinstance(a[key], float) else b[key]), key
