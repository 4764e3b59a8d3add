"""Making pool inference cheap without changing what it computes (beyond float rounding).

- `fused_for_inference`: a copy of a backbone with each BatchNorm folded into the convolution
  before it (eval mode): one pass over each activation instead of two. ResNet18 at 128 px on
  two CPU cores: 79 -> 88 images/s (channels_last, batch 32); outputs differ by ~1e-6 relative.
- `cpu_inference_batch`: on a CPU, the largest batch whose biggest activation stays under
  glibc's 32 MiB mmap threshold. Above it every layer output is a fresh mmap that the kernel
  zero-fills page by page: EfficientNet-Lite0 at 224 px ran 3x slower at 256 images per batch.
"""
from __future__ import annotations

import copy
import logging

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

log = logging.getLogger(__name__)

GPU_BATCH = 256  # images per inference batch on a GPU
ACTIVATION_BUDGET = 24 << 20  # bytes of the largest layer output per CPU batch (threshold 32 MiB)


def fused_for_inference(backbone: nn.Module, example: torch.Tensor) -> nn.Module:
    """An eval-mode copy with each Conv2d folded into the BatchNorm2d registered right after it in the
    same parent (how ResNets and EfficientNets are written). The original is untouched.

    Folding assumes the BatchNorm is applied to that convolution's output; the copy is checked on
    `example` (a batch of real inputs) and an unfused copy is returned if outputs disagree. No
    torch.fx tracing: it patches nn.Module.__call__ process-wide and broke a concurrent run.
    """
    original = backbone.eval()
    fused = copy.deepcopy(original)
    folded = 0
    for parent in list(fused.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    and conv.out_channels == bn.num_features and bn.track_running_stats):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(parent, bn_name, nn.Identity())
                folded += 1
    if not folded:
        return fused
    with torch.inference_mode():
        expected, got = original(example), fused(example)
    if not torch.allclose(got, expected, rtol=1e-3, atol=1e-3 * float(expected.abs().max()) + 1e-6):
        log.warning("conv-bn folding changed the outputs of %s; inferring unfused", type(backbone).__name__)
        return copy.deepcopy(original)
    return fused


def cpu_inference_batch(network: nn.Module, example: torch.Tensor) -> int:
    """Images per CPU batch for `network` on inputs shaped like `example` (one image, batch dim 1)."""
    largest = 0

    def measure(_module, _inputs, output) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel() * output.element_size())

    leaves = [m for m in network.modules() if not list(m.children())]
    handles = [m.register_forward_hook(measure) for m in leaves]
    try:
        with torch.inference_mode():
            network(example)
    finally:
        for handle in handles:
            handle.remove()
    return max(1, min(GPU_BATCH, ACTIVATION_BUDGET // max(1, largest)))
