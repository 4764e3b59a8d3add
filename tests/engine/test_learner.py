"""The frozen regime's learner: its threshold comes from the labeled rows alone, its features are
what its head reads (so BADGE's gradients are the head's own), and BALD's draws are its posterior's."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from alcore.config import ExperimentConfig
from alcore.data import load_dataset
from alcore.data.base import Split
from alcore.learners import HEAD_COMPONENTS, make_learner
from alcore.loop import initial_rows, run_rounds
from alcore.models import build_classifier
from alcore.strategies.hybrid import gradient_embedding
from alcore.train import ResizedImages, TrainSettings, extract_features

CFG = ExperimentConfig(model="tiny_cnn", resolution=32, synthetic_size=200, init_size=30, budget=20, rounds=2,
                       sampler="entropy", seed=5, record_embeddings=False)


def _learner(dataset, head: str = "logistic", threshold_rule: str = "cv", second_resolution: int = 0):
    model, weights = build_classifier(CFG.model, "none", CFG.resolution, CFG.seed)
    settings = TrainSettings(CFG.epochs, CFG.head_steps, CFG.batch_size, CFG.lr, CFG.weight_decay, False,
                             torch.device("cpu"), threshold_rule=threshold_rule)
    return make_learner("frozen", model, dataset, settings, weights, CFG.model, CFG.seed, head=head,
                        second_resolution=second_resolution)


def _records(dataset, head: str, threshold_rule: str) -> list[dict]:
    rows = initial_rows(dataset.train.labels, CFG.init_size, CFG.init_mode, CFG.seed)
    oracle = lambda picked, r: dataset.train.labels[picked]  # noqa: E731
    return [result.record for result in run_rounds(replace(CFG, head=head), dataset,
                                                   _learner(dataset, head, threshold_rule), rows, oracle)]


@pytest.mark.parametrize("head, threshold_rule", [("logistic", "prior"), ("logistic", "cv"), ("adamw", "cv")])
def test_the_threshold_never_reads_the_test_split(head, threshold_rule):
    """Same train pool, a different test split (other images, every label flipped): the thresholds
    and the queried images are the same, only the test metrics change."""
    dataset = load_dataset("synthetic", CFG.resolution, synthetic_size=CFG.synthetic_size)
    test = dataset.test
    rng = np.random.default_rng(0)
    other_test = Split(rng.integers(0, 256, test.images.shape, dtype=np.uint8), 1 - test.labels, test.ids, test.sources)
    altered = replace(dataset, fingerprint=dataset.fingerprint + "-other-test", splits={**dataset.splits, "test": other_test})
    original, changed = _records(dataset, head, threshold_rule), _records(altered, head, threshold_rule)
    assert [r.threshold for r in original] == [r.threshold for r in changed]
    assert [r.queried_ids for r in original] == [r.queried_ids for r in changed]
    assert [r.metrics.roc_auc for r in original] != [r.metrics.roc_auc for r in changed]
    assert all(0 < r.threshold < 1 for r in original)


def test_a_second_resolution_puts_both_scales_side_by_side():
    dataset = load_dataset("synthetic", CFG.resolution, synthetic_size=CFG.synthetic_size)
    one, two = _learner(dataset), _learner(dataset, second_resolution=48)
    width = one.features["train"].shape[1]
    assert two.features["train"].shape == (len(dataset.train.labels), 2 * width)
    torch.testing.assert_close(two.features["test"][:, :width], one.features["test"])
    model, _ = build_classifier(CFG.model, "none", CFG.resolution, CFG.seed)
    images = ResizedImages(torch.from_numpy(dataset.test.images), 48)
    torch.testing.assert_close(two.features["test"][:, width:], extract_features(model, images, torch.device("cpu")))
    assert two.inputs["train"].shape[1] == min(HEAD_COMPONENTS, 2 * width)  # the head reads principal directions


def test_resized_images_are_bilinear_and_sliced():
    images = torch.full((3, 4, 4), 7, dtype=torch.uint8)
    images[1] = torch.arange(4).repeat(4, 1) * 10  # columns 0, 10, 20, 30
    resized = ResizedImages(images, 8)
    assert len(resized) == 3 and resized[0:2].shape == (2, 8, 8)
    assert torch.all(resized[0:1] == 7)
    row = resized[1:2][0, 0]  # half-pixel centres: edges clamp, the rest is linear in between
    torch.testing.assert_close(row, torch.tensor([0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30]))


def test_features_are_the_heads_input_and_badge_is_its_gradient():
    dataset = load_dataset("synthetic", CFG.resolution, synthetic_size=CFG.synthetic_size)
    learner = _learner(dataset)
    rows = np.arange(60)
    learner.fit(rows, dataset.train.labels[rows], seed=1)
    pool = learner.infer("train")
    head = torch.nn.Linear(pool.features.shape[1], 1).double()
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(learner.logistic.weight)[None])
        head.bias.fill_(learner.logistic.bias)
    x = torch.from_numpy(pool.features.astype(np.float64))
    logits = head(x).squeeze(1)
    np.testing.assert_allclose(torch.sigmoid(logits).detach().numpy(), pool.probs[:, 1], atol=1e-5)
    np.testing.assert_array_equal(pool.probs[:, 0], 1 - pool.probs[:, 1])  # two classes: [1 - p, p]
    # BADGE: the gradient of each image's loss (its predicted label as target) w.r.t. the last layer
    targets = (logits > 0).double()
    expected = []
    for i in range(len(x)):
        head.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(logits[i], targets[i]).backward(retain_graph=True)
        expected.append(np.r_[head.weight.grad[0].numpy(), head.bias.grad.numpy()])
    np.testing.assert_allclose(gradient_embedding(pool.probs, pool.features), np.array(expected), atol=1e-4)


def test_bald_draws_come_from_the_posterior_around_the_fit():
    dataset = load_dataset("synthetic", CFG.resolution, synthetic_size=CFG.synthetic_size)
    learner = _learner(dataset)
    rows = np.arange(80)
    learner.fit(rows, dataset.train.labels[rows], seed=1)
    first, again = learner.infer("train", mc_passes=400, seed=3), learner.infer("train", mc_passes=400, seed=3)
    np.testing.assert_array_equal(first.mc_probs, again.mc_probs)
    assert first.mc_probs.shape == (400, len(dataset.train), 2)
    positive = first.mc_probs[..., 1]
    assert positive.std(axis=0).min() > 0  # a posterior, not a point
    clipped = np.clip(positive.astype(np.float64), 1e-7, 1 - 1e-7)
    logits = np.median(np.log(clipped / (1 - clipped)), axis=0)  # the draws centre on the fit's logits
    fitted = np.log(first.probs[:, 1] / first.probs[:, 0])
    assert np.corrcoef(logits, fitted)[0, 1] > 0.98


@pytest.mark.parametrize("class_weighted", [False, True])
def test_the_newton_fit_is_scikit_learns_logistic_regression(class_weighted):
    from sklearn.linear_model import LogisticRegression

    from alcore.train import fit_logistic
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    y = (x[:, 0] - x[:, 1] + rng.normal(size=300) > 0.8).astype(int)
    theta, _ = fit_logistic(x, y, 0.05, class_weighted)
    reference = LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000,
                                   class_weight="balanced" if class_weighted else None).fit(x, y)
    np.testing.assert_allclose(theta[:-1], reference.coef_[0], atol=1e-5)
    assert theta[-1] == pytest.approx(reference.intercept_[0], abs=1e-4)
