"""ResNet: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.

A residual block computes y = F(x) + x (§3.1, Eq. 1): its layers fit the residual F rather
than the whole mapping, so an identity is the easy default and depth stops hurting. A plain
twin (`plain=True`) is the same stack with the shortcut removed (§4.1, Fig. 3 middle).

ImageNet nets (§3.4, Table 1): ResNet-18/34 (basic blocks of two 3x3 convs) and
ResNet-50/101/152 (bottleneck blocks 1x1-3x3-1x1, expansion 4), projection shortcuts (option B)
where the shape changes. Like torchvision ("ResNet v1.5"), the bottleneck strides in its
3x3 conv, not the first 1x1; module names match torchvision's, so its state dicts load
directly and give equal logits (tests/test_resnet.py). ResNet-18 has 11,689,512 parameters,
ResNet-50 25,557,032.

CIFAR nets (§4.2): three stages of n basic blocks with 16/32/64 maps on 32x32 inputs, depth
6n+2 (ResNet-20/32/44/56/110), and parameter-free option-A shortcuts: subsample by striding and
pad the new channels with zeros. ResNet-20 has 269,722 parameters (the paper: 0.27M).
`dims=1` builds the same nets from 1-D convolutions for MNIST-1D signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import FromData, Positive
from ..nn.weights import load_exactly

IMAGENET_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
                   101: ("bottleneck", (3, 4, 23, 3)), 152: ("bottleneck", (3, 8, 36, 3))}


def _conv(dims: int):
    return nn.Conv1d if dims == 1 else nn.Conv2d


def _bn(dims: int):
    return nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d


class BasicBlock(nn.Module):
    """Two 3x3 convs; output = relu(F(x) + shortcut(x)) or relu(F(x)) in the plain twin."""

    expansion = 1

    def __init__(self, c_in: int, c: int, stride: int = 1, downsample: nn.Module | None = None,
                 residual: bool = True, dims: int = 2):
        super().__init__()
        Conv, BN = _conv(dims), _bn(dims)
        self.conv1 = Conv(c_in, c, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BN(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = Conv(c, c, 3, padding=1, bias=False)
        self.bn2 = BN(c)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))  # Eq. 1 / Eq. 2
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, as v1.5), 1x1 expand by 4 (§4.1 "Deeper Bottleneck Architectures")."""

    expansion = 4

    def __init__(self, c_in: int, c: int, stride: int = 1, downsample: nn.Module | None = None,
                 residual: bool = True, dims: int = 2):
        super().__init__()
        Conv, BN = _conv(dims), _bn(dims)
        self.conv1 = Conv(c_in, c, 1, bias=False)
        self.bn1 = BN(c)
        self.conv2 = Conv(c, c, 3, stride=stride, padding=1, bias=False)
        self.bn2 = BN(c)
        self.conv3 = Conv(c, c * 4, 1, bias=False)
        self.bn3 = BN(c * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class PadShortcut(nn.Module):
    """Option A (§4.2): identity, subsampled by `stride`, with zero-padded extra channels."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., ::self.stride] if x.dim() == 3 else x[..., ::self.stride, ::self.stride]
        if self.extra:
            pad = [0, 0] * (x.dim() - 2) + [self.extra // 2, self.extra - self.extra // 2]
            x = F.pad(x, pad)  # (B, C_out, ...)
        return x


@dataclass
class ResNetConfig:
    depth: Positive[int] = 18
    """Depth: 6n+2 for the CIFAR style (20, 32, 44, 56, 110), or 18, 34, 50, 101, 152 for the ImageNet style."""
    style: Literal["auto", "cifar", "imagenet"] = "auto"
    """Family: cifar (§4.2: three stages, option-A shortcuts) or imagenet (Table 1); auto picks cifar for
    inputs up to 64 px and for signals, imagenet above."""
    plain: bool = False
    """Remove the shortcuts: the plain twin of the same depth (§4.1)."""
    small_stem: bool = False
    """ImageNet style on small images: a 3x3 stride-1 first convolution and no max-pool (SimCLR's
    ResNet for CIFAR-10, Chen et al. 2020 App. B.9)."""
    widths: tuple[Positive[int], ...] = (16, 32, 64)
    """CIFAR style: maps in each stage (§4.2: 16, 32, 64)."""
    n_classes: FromData[int] = 1000
    """Classes (from the data)."""
    in_channels: FromData[int] = 3
    """Input channels (from the data)."""
    dims: FromData[int] = 2
    """2 for images, 1 for signals such as MNIST-1D (from the data)."""

    def check(self) -> None:
        n = len(self.widths)
        fits_cifar = (self.depth - 2) % (2 * n) == 0 and self.depth >= 2 + 2 * n
        fits_imagenet = self.depth in IMAGENET_DEPTHS
        if self.style == "cifar" and not fits_cifar:
            raise ValueError(f"--model.depth {self.depth} does not fit the CIFAR style ({2 * n}n + 2: "
                             f"{', '.join(str(2 * n * k + 2) for k in (1, 2, 3, 4))}, ...)")
        if self.style == "imagenet" and not fits_imagenet:
            raise ValueError(f"--model.depth {self.depth} does not fit the ImageNet style ({sorted(IMAGENET_DEPTHS)})")
        if self.style == "auto" and not (fits_cifar or fits_imagenet):
            raise ValueError(f"--model.depth {self.depth} fits neither the CIFAR style ({2 * n}n + 2) nor the "
                             f"ImageNet style ({sorted(IMAGENET_DEPTHS)})")


class ResNet(nn.Module):
    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        cfg.check()
        if cfg.style == "auto":
            raise ValueError("style 'auto' is resolved from the data by the task; build with cifar or imagenet")
        self.cfg = cfg
        Conv, BN = _conv(cfg.dims), _bn(cfg.dims)
        if cfg.style == "imagenet":
            kind, counts = IMAGENET_DEPTHS[cfg.depth]
            block = BasicBlock if kind == "basic" else Bottleneck
            widths = (64, 128, 256, 512)
            stem_c = 64
            if cfg.small_stem:
                self.conv1 = Conv(cfg.in_channels, stem_c, 3, padding=1, bias=False)
                self.maxpool: nn.Module = nn.Identity()
            else:
                self.conv1 = Conv(cfg.in_channels, stem_c, 7, stride=2, padding=3, bias=False)
                self.maxpool = (nn.MaxPool1d if cfg.dims == 1 else nn.MaxPool2d)(3, stride=2, padding=1)
        else:
            block = BasicBlock
            counts = ((cfg.depth - 2) // (2 * len(cfg.widths)),) * len(cfg.widths)
            widths = cfg.widths
            stem_c = widths[0]
            self.conv1 = Conv(cfg.in_channels, stem_c, 3, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = BN(stem_c)
        self.relu = nn.ReLU(inplace=True)
        c_in = stem_c
        stages = []
        for i, (c, n) in enumerate(zip(widths, counts)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                down = None
                if s != 1 or c_in != c * block.expansion:
                    if cfg.style == "cifar":
                        down = PadShortcut(c_in, c, s)
                    else:  # option B: 1x1 projection
                        down = nn.Sequential(Conv(c_in, c * block.expansion, 1, stride=s, bias=False),
                                             BN(c * block.expansion))
                blocks.append(block(c_in, c, s, None if cfg.plain else down, not cfg.plain, cfg.dims))
                c_in = c * block.expansion
            stages.append(nn.Sequential(*blocks))
        # torchvision's names: layer1..layer4
        for i, stage in enumerate(stages):
            self.add_module(f"layer{i + 1}", stage)
        self.n_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool1d(1) if cfg.dims == 1 else nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c_in, cfg.n_classes)
        self._init()

    def _init(self) -> None:
        """He initialisation (He et al. 2015) for convs; BN starts as the identity."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the classifier reads (GAN's Frechet distance is measured in them)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # imagenet: (B, 64, 56, 56) at 224 px
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)  # each later stage halves the resolution
        return torch.flatten(self.avgpool(x), 1)  # (B, C_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))  # (B, n_classes)


def resnet(depth: int, **kw) -> ResNet:
    """ResNet-18/34/50/101/152 (Table 1), for ImageNet's 1,000 classes unless told otherwise."""
    return ResNet(ResNetConfig(depth=depth, style="imagenet", **kw))


def cifar_resnet(depth: int, **kw) -> ResNet:
    """ResNet-20/32/44/56/110 (§4.2), for CIFAR-10's 10 classes unless told otherwise."""
    return ResNet(ResNetConfig(depth=depth, style="cifar", n_classes=kw.pop("n_classes", 10), **kw))


def load_torchvision(model: ResNet, state_dict: dict[str, torch.Tensor]) -> None:
    """Load a torchvision ResNet state dict (same module names), checking every key and shape."""
    load_exactly(model, state_dict)
