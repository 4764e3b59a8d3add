"""VGG16 beside ResNet18: builds, falls back clearly without ImageNet weights, trains a tiny round in both regimes."""
from __future__ import annotations

import pytest
import torch

from alcore import models
from alcore.config import ExperimentConfig, validate
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore


def test_vgg16_gives_512_features_under_torchvision_names():
    classifier, info = models.build_classifier("vgg16", "none", 32, seed=0)
    assert info.used == "random" and not info.notice
    assert classifier.feature_dim == 512
    out = classifier.eval()(torch.randint(0, 255, (2, 32, 32), dtype=torch.uint8))
    assert out.shape == (2,)
    # torchvision's vgg16 state-dict files load as local weights: the same parameter names
    assert all(key.startswith("features.") for key in classifier.backbone.state_dict())


@pytest.mark.parametrize("model", ["vgg16", "resnet18"])
def test_without_imagenet_weights_auto_falls_back_with_a_notice_and_imagenet_fails(monkeypatch, model):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    _, info = models.build_classifier(model, "auto", 32, seed=0)
    assert info.used == "random" and model in info.notice and "network unreachable" in info.notice
    with pytest.raises(RuntimeError, match=f"ImageNet weights for {model}"):
        models.build_classifier(model, "imagenet", 32, seed=0)


def test_vgg16_needs_32_pixels():
    assert "32 pixels" in validate(ExperimentConfig(model="vgg16", resolution=16))["resolution"]
    assert "resolution" not in validate(ExperimentConfig(model="vgg16", resolution=32))


@pytest.mark.parametrize("regime", ["frozen", "finetune"])
def test_vgg16_trains_a_tiny_round_on_cpu(tmp_path, regime):
    store = RunStore(tmp_path)
    cfg = ExperimentConfig(model="vgg16", weights="none", regime=regime, resolution=32, synthetic_size=60,
                           init_size=10, budget=5, rounds=1, epochs=1, head_steps=5, batch_size=8, device="cpu")
    run_id = create_run(cfg, store)
    status = execute_run(store, run_id)
    assert status.state == "done", status.error
    rounds = store.load_rounds(run_id)
    assert [r.n_labeled for r in rounds] == [10, 15]
    assert store.load_resolved(run_id)["weights_used"] == "random"
    assert 0 <= rounds[-1].metrics.accuracy <= 1
