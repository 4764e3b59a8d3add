"""Inference speed-ups keep what the network computes: conv-bn folding and CPU batch sizing."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from alcore.inference import ACTIVATION_BUDGET, GPU_BATCH, cpu_inference_batch, fused_for_inference
from alcore.models import TinyCNN


class SamePaddingConv(nn.Conv2d):
    """Like EfficientNet's: a Conv2d subclass with its own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias, self.stride)


class NormFirst(nn.Module):
    """Registers conv before bn but applies bn first: folding would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.bn(x))


def trained_statistics(module: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm running statistics, so folding has something to fold."""
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(torch.randn(8, 3, 32, 32) * 2 + 1)
    return module.eval()


def test_folding_removes_every_batchnorm_and_keeps_outputs():
    torch.manual_seed(0)
    net = trained_statistics(TinyCNN())
    x = torch.randn(5, 3, 32, 32)
    fused = fused_for_inference(net, x[:2])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 3  # the original is untouched
    with torch.inference_mode():
        assert torch.allclose(fused(x), net(x), rtol=1e-5, atol=1e-6)


def test_conv_subclasses_are_folded_too():
    torch.manual_seed(1)
    net = trained_statistics(nn.Sequential(SamePaddingConv(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU()))
    x = torch.randn(2, 3, 16, 16)
    fused = fused_for_inference(net, x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    with torch.inference_mode():
        assert torch.allclose(fused(x), net(x), rtol=1e-5, atol=1e-6)


def test_a_batchnorm_not_applied_to_the_conv_before_it_is_left_unfolded():
    torch.manual_seed(2)
    net = trained_statistics(NormFirst())
    x = torch.randn(2, 3, 8, 8)
    fused = fused_for_inference(net, x)
    assert isinstance(fused.bn, nn.BatchNorm2d) and fused is not net and not fused.training
    with torch.inference_mode():
        assert torch.equal(fused(x), net(x))


def test_cpu_batch_keeps_the_largest_activation_under_the_budget():
    wide = nn.Sequential(nn.Conv2d(3, 64, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    largest = 64 * 128 * 128 * 4  # the conv's (and the ReLU's) output for one 128 px image, bytes
    assert cpu_inference_batch(wide, torch.zeros(1, 3, 128, 128)) == ACTIVATION_BUDGET // largest == 6
    huge = nn.Conv2d(3, 512, 1)  # one image is already over the budget: one image per batch
    assert cpu_inference_batch(huge, torch.zeros(1, 3, 256, 256)) == 1
    tiny = nn.Conv2d(3, 1, 1)
    assert cpu_inference_batch(tiny, torch.zeros(1, 3, 8, 8)) == GPU_BATCH
