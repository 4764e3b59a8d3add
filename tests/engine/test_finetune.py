"""Fine-tuning options: a fixed number of optimiser steps, early stopping on a patient-grouped
slice of the labeled set (which also chooses the threshold), light augmentation without flips."""
from __future__ import annotations

import numpy as np
import torch

from alcore.config import ExperimentConfig
from alcore.data.folder import patient_id
from alcore.models import build_classifier
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore
from alcore.train import (COMPUTE, ComputeClock, PieceStep, TrainSettings, WholeBatchStep, apply_augmentation,
                          draw_augmentation, fit_finetune)


def _settings(**changes) -> TrainSettings:
    return TrainSettings(epochs=2, head_steps=1, batch_size=8, lr=1e-3, weight_decay=0.0, class_weighted=False,
                         device=torch.device("cpu"), **changes)


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 16, 16), dtype=torch.uint8, generator=gen), torch.arange(n) % 2


def test_a_fixed_number_of_steps_whatever_the_labeled_set():
    for n in (10, 50):
        model, _ = build_classifier("tiny_cnn", "none", 16, 0)
        images, labels = _data(n)
        assert fit_finetune(model, images, labels, _settings(steps=7), torch.Generator().manual_seed(1)).steps == 7
    model, _ = build_classifier("tiny_cnn", "none", 16, 0)
    assert fit_finetune(model, *_data(50), _settings(), torch.Generator().manual_seed(1)).steps == 2 * 7  # 2 passes


def test_early_stopping_keeps_the_best_validation_weights():
    model, _ = build_classifier("tiny_cnn", "none", 16, 0)
    images, labels = _data(40)
    report = fit_finetune(model, images[:30], labels[:30], _settings(steps=30, patience=2),
                          torch.Generator().manual_seed(1), val=(images[30:], labels[30:]))
    assert 1 <= report.best_step <= report.steps <= 30 and report.val_loss > 0


def test_a_run_with_a_validation_slice_says_so_and_thresholds_on_it(tmp_path):
    cfg = ExperimentConfig(model="tiny_cnn", regime="finetune", resolution=32, synthetic_size=200, init_size=40,
                           budget=10, rounds=1, finetune_steps=6, val_share=0.25, augment=True, sampler="random")
    store = RunStore(tmp_path)
    run_id = create_run(cfg, store)
    assert execute_run(store, run_id).state == "done"
    rounds = store.load_rounds(run_id)
    for record in rounds:
        assert record.fit["val_images"] >= 2 and record.fit["steps"] <= 6
        assert 0 <= record.threshold <= 1
    assert "val_images" in store.run_dir(run_id).joinpath("log.txt").read_text()


def augment_batch(images: torch.Tensor, generator: torch.Generator, hflip: bool = False) -> torch.Tensor:
    return apply_augmentation(images, draw_augmentation(len(images), generator, hflip))


def test_augmentation_is_light_seeded_and_flips_only_when_asked():
    images = torch.zeros((64, 32, 32), dtype=torch.uint8)
    images[:, :, :16] = 200  # bright left half
    first = augment_batch(images, torch.Generator().manual_seed(3))
    again = augment_batch(images, torch.Generator().manual_seed(3))
    assert first.shape == images.shape and torch.equal(first, again) and 0 <= first.min() and first.max() <= 255
    assert (first[:, :, :12].mean(dim=(1, 2)) > first[:, :, 20:].mean(dim=(1, 2))).all()  # never flipped
    assert not torch.equal(first, images.float())  # but changed
    flipped = augment_batch(images, torch.Generator().manual_seed(3), hflip=True)
    right_brighter = (flipped[:, :, 20:].mean(dim=(1, 2)) > flipped[:, :, :12].mean(dim=(1, 2))).float().mean()
    assert 0.2 < right_brighter < 0.8  # about half flipped
    pieces = torch.cat([apply_augmentation(images[i:i + 5], draws) for i, draws in
                        zip(range(0, 64, 5), draw_augmentation(64, torch.Generator().manual_seed(3)).split(5))])
    assert torch.equal(pieces, first)  # an image's augmentation does not depend on the batch around it


def test_patients_of_the_validation_slice_are_not_trained_on():
    """The slice is one fold of stratified_folds with patients as groups (the same helper as the
    frozen head's cross-validation, whose folds keep patients apart)."""
    from alcore.train import stratified_folds
    ids = [f"person{i // 3}_bacteria_{i}.jpeg" for i in range(60)] + [f"IM-{i // 2:04d}-0001.jpeg" for i in range(40)]
    labels = np.r_[np.ones(60, int), np.zeros(40, int)]
    _, groups = np.unique([patient_id(i) for i in ids], return_inverse=True)
    fit_rows, held_out = stratified_folds(labels, 0, groups, folds=4)[0]
    assert not set(groups[fit_rows]) & set(groups[held_out])
    assert set(labels[held_out]) == {0, 1}


def test_the_compute_clock_is_off_unless_a_benchmark_starts_it():
    """Measuring synchronises a GPU after every batch: a run must not pay that for a benchmark's counter."""
    clock = ComputeClock()
    with clock.measure(torch.device("cpu")):
        pass
    assert (clock.seconds, clock.calls) == (0.0, 0) and not COMPUTE.enabled
    clock.start()
    with clock.measure(torch.device("cpu")):
        pass
    assert clock.calls == 1 and clock.seconds >= 0


class _Linear(torch.nn.Module):
    """No BatchNorm, no dropout: a step in pieces must then be the whole-batch step."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(16 * 16, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.float().flatten(1) / 255).squeeze(1)


def test_a_step_in_pieces_is_the_sum_of_its_pieces_gradients():
    images, labels = _data(21)  # pieces of 7, 7 and 7
    steps = {}
    for name, make in (("whole", WholeBatchStep), ("pieces", lambda m, f, o: PieceStep(m, f, o, 2))):
        torch.manual_seed(0)
        model = _Linear()
        optimiser = torch.optim.SGD(model.parameters(), lr=1.0)
        make(model, torch.nn.BCEWithLogitsLoss(), optimiser)(images, labels.float(), None, torch.Generator())
        steps[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.allclose(steps["pieces"], steps["whole"], atol=1e-6)
