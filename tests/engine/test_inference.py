"""Inference speed-ups keep what the network computes: conv-bn folding, the one-channel stem and
CPU batch sizing (no private torch op: tests/test_layout.py)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from alcore.inference import ACTIVATION_BUDGET, GPU_BATCH, GrayscaleStem, cpu_inference_batch, inference_network
from alcore.models import Preprocess, TinyCNN


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


PREPROCESS = Preprocess((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # ImageNet's, as the models use


def gray_images(n: int, size: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def check_same_outputs(network: nn.Module, backbone: nn.Module, images: torch.Tensor) -> None:
    with torch.inference_mode():
        expected = backbone(PREPROCESS(images))
        assert torch.allclose(network(images), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


def test_folding_removes_every_batchnorm_and_keeps_outputs():
    torch.manual_seed(0)
    net = trained_statistics(TinyCNN())
    images = gray_images(5, 32, 0)
    network = inference_network(PREPROCESS, net, images[:2])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 3  # the original is untouched
    check_same_outputs(network, net, images)


def test_the_stem_runs_on_one_channel_with_the_padding_accounted_for():
    """A ResNet-like stem (7x7, stride 2, zero padding 3): the normalisation offsets that the
    padding cuts off at the borders are in the fixed map, so border pixels come out right too."""
    torch.manual_seed(3)
    net = trained_statistics(nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                           nn.Conv2d(8, 4, 3, padding=1)))
    images = gray_images(4, 30, 1)
    network = inference_network(PREPROCESS, net, images[:2])
    assert isinstance(network[0], GrayscaleStem) and network[0].weight.shape == (8, 1, 7, 7)
    check_same_outputs(network, net, images)
    check_same_outputs(network, net, gray_images(2, 18, 2))  # another size: its own offset map
    with torch.inference_mode():
        assert network[0](images).is_contiguous(memory_format=torch.channels_last)


def test_conv_subclasses_are_folded_but_keep_their_own_stem():
    torch.manual_seed(1)
    net = trained_statistics(nn.Sequential(SamePaddingConv(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU()))
    images = gray_images(2, 16, 3)
    network = inference_network(PREPROCESS, net, images)
    assert not any(isinstance(m, (nn.BatchNorm2d, GrayscaleStem)) for m in network.modules())
    check_same_outputs(network, net, images)


def test_a_batchnorm_not_applied_to_the_conv_before_it_is_left_unfolded():
    torch.manual_seed(2)
    net = trained_statistics(NormFirst())
    images = gray_images(2, 8, 4)
    network = inference_network(PREPROCESS, net, images)
    assert isinstance(network[1].bn, nn.BatchNorm2d) and network[1] is not net and not network.training
    assert not isinstance(network[0], GrayscaleStem)  # its conv does not see the input first either
    check_same_outputs(network, net, images)


def test_cpu_batch_keeps_the_largest_activation_under_the_budget():
    wide = nn.Sequential(nn.Conv2d(3, 64, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    largest = 64 * 128 * 128 * 4  # the conv's (and the ReLU's) output for one 128 px image, bytes
    assert cpu_inference_batch(wide, torch.zeros(1, 3, 128, 128)) == ACTIVATION_BUDGET // largest == 6
    huge = nn.Conv2d(3, 512, 1)  # one image is already over the budget: one image per batch
    assert cpu_inference_batch(huge, torch.zeros(1, 3, 256, 256)) == 1
    tiny = nn.Conv2d(3, 1, 1)
    assert cpu_inference_batch(tiny, torch.zeros(1, 3, 8, 8)) == GPU_BATCH

