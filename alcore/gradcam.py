"""Where the model looked: Grad-CAM (Selvaraju et al., ICCV 2017) on the last convolution of a CNN
backbone, for the class the model predicts, in both regimes (the frozen regime's head is differentiable too).

Written with public torch hooks rather than the `grad-cam` package: that package feeds the network
float tensors that require grad (ours take uint8 images as the data layer decodes them) and pulls
OpenCV, matplotlib and ttach for what is one weighted sum here.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alcore.modelio import ModelError

# a dark-to-bright colour ramp (black, purple, red, orange, pale yellow) for the overlays
RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)
OVERLAY_ALPHA = 0.45  # the heat map's share of an overlay pixel


class NoConvolution(ModelError):
    """The network has no convolution to explain (or it is a compiled graph without modules)."""


def last_convolution(network: nn.Module) -> nn.Conv2d:
    convolutions = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise NoConvolution("this model has no convolution layer to draw a heat map from (heat maps need a "
                            "run's model, or a CNN backbone)")
    return convolutions[-1]


def grad_cam(network: nn.Module, images: torch.Tensor, classes: torch.Tensor | None = None) -> np.ndarray:
    """(n, H, W) maps in 0..1 of uint8 images (n, H, W): where the evidence for each image's class in
    `classes` (default: the most probable one) sits, each map scaled to its own maximum."""
    layer = last_convolution(network)
    kept: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output: torch.Tensor) -> None:
        if not output.requires_grad:  # a backbone whose weights are frozen: start the graph here
            output.requires_grad_()
        output.retain_grad()
        kept["activation"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            network.zero_grad(set_to_none=True)
            probabilities = network(images)
            chosen = probabilities.argmax(1) if classes is None else classes
            probabilities.gather(1, chosen.view(-1, 1)).sum().backward()
    finally:
        handle.remove()
    activation = kept["activation"]
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False).squeeze(1)
    peak = cam.flatten(1).max(1).values.clamp_min(1e-12).view(-1, 1, 1)
    network.zero_grad(set_to_none=True)
    return (cam / peak).numpy()


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the grayscale image with the heat map blended over it."""
    positions = heat.clip(0, 1) * (len(RAMP) - 1)
    low = np.floor(positions).astype(int).clip(0, len(RAMP) - 2)
    colour = RAMP[low] + (positions - low)[..., None] * (RAMP[low + 1] - RAMP[low])
    gray = np.repeat(image[..., None].astype(np.float32), 3, axis=2)
    return ((1 - OVERLAY_ALPHA) * gray + OVERLAY_ALPHA * colour).round().clip(0, 255).astype(np.uint8)
