"""Grad-CAM maps: one per image, the image's shape, in 0..1, different for a different image; in both
regimes; `predict --heatmaps` writes an overlay per usable image."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from alcore.cli import main
from alcore.data import open_cached
from alcore.gradcam import NoConvolution, grad_cam, overlay
from alcore.modelio import run_model
from tests.model.conftest import finished_run


class BrightIsPositive(torch.nn.Module):
    """p(positive) grows with the image's mean brightness: its evidence sits where the image is bright."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 1, bias=False)
        torch.nn.init.ones_(self.conv.weight)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        positive = torch.sigmoid(self.conv(images.float().unsqueeze(1) / 255).mean((1, 2, 3)) - 0.1)
        return torch.stack([1 - positive, positive], 1)


def test_the_map_sits_where_the_evidence_is_and_moves_with_it():
    images = torch.zeros((2, 16, 16), dtype=torch.uint8)
    images[0, :4, :4] = 255  # a bright corner top left
    images[1, 12:, 12:] = 255  # bottom right
    maps = grad_cam(BrightIsPositive(), images, torch.tensor([1, 1]))
    assert maps.shape == (2, 16, 16) and maps.min() >= 0 and maps.max() == pytest.approx(1)
    assert maps[0, :4, :4].mean() > 0.9 and maps[0, 12:, 12:].max() < 0.1
    assert maps[1, 12:, 12:].mean() > 0.9 and maps[1, :4, :4].max() < 0.1


@pytest.mark.parametrize("regime", ["frozen", "finetune"])
def test_a_runs_model_gives_a_map_per_image_in_both_regimes(store, regime):
    run_id = finished_run(store, regime=regime)
    network = run_model(store, run_id).network
    test = open_cached(store.load_resolved(run_id)["data_fingerprint"]).test
    images = torch.from_numpy(np.ascontiguousarray(test.images[:3]))

    maps = grad_cam(network, images)

    assert maps.shape == (3, 32, 32) and np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert np.allclose(grad_cam(network, images[:1])[0], maps[0], atol=1e-5)  # alone or in a batch: the same
    assert all(p.grad is None for p in network.parameters())  # nothing left behind
    picture = overlay(test.images[0], maps[0])
    assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8


def test_a_network_without_convolutions_is_refused_with_a_sentence():
    with pytest.raises(NoConvolution, match="no convolution"):
        grad_cam(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), torch.zeros((1, 2, 2)))


def test_predict_writes_a_heatmap_per_usable_image(tmp_path, store):
    run_id = finished_run(store)
    data = tmp_path / "images"
    data.mkdir()
    for name, value in (("a.png", 40), ("b.png", 200)):
        Image.fromarray(np.random.default_rng(value).integers(0, 255, (64, 64), dtype=np.uint8)).save(data / name)
    (data / "broken.png").write_bytes(b"no")
    out = tmp_path / "heat"
    assert main(["--out", str(store.root), "predict", run_id, "--data", str(data), "--out", str(tmp_path / "p.csv"),
                 "--heatmaps", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png.heatmap.png", "b.png.heatmap.png"]
    assert Image.open(out / "a.png.heatmap.png").size == (32, 32)
