"""AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012.

The paper's network (§3, Fig. 2): five convolutional and three fully-connected layers, ReLU
(§3.1), local response normalisation after conv1 and conv2 (§3.3, k=2, n=5, alpha=1e-4,
beta=0.75), overlapping 3x3 stride-2 max-pooling (§3.4), dropout 0.5 in the first two FC
layers (§4.2), and the two-GPU "towers" (§3.2), written here as grouped convolutions: conv2,
conv4 and conv5 see only their own tower's maps (groups=2), conv3 and the FC layers see both.
`AlexNetConfig.paper()` has 60,965,224 parameters at 224x224x3 input.

`AlexNetConfig.torchvision()` is the single-tower "one weird trick" variant (Krizhevsky 2014)
that torchvision ships: 64-192-384-256-256 maps, no LRN, adaptive 6x6 pooling, 61,100,840
parameters; torchvision's state dict loads into it with `load_torchvision` and gives equal
logits (tests/test_alexnet.py).

`AlexNetConfig.small()` is the same design for 28-32 px images, and `conv1d=True` makes the
1-D analogue for MNIST-1D signals. `activation="tanh"` is the paper's Fig. 1 comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from ..core.config import Fraction, FromData, NonNegative, Positive
from ..nn.weights import load_exactly


@dataclass
class AlexNetConfig:
    in_channels: FromData[int] = 3
    """Input channels (from the data)."""
    n_classes: FromData[int] = 1000
    """Classes (from the data)."""
    input_size: FromData[int] = 224
    """Input side in pixels, or signal length (from the data): sizes the first FC layer."""
    conv1d: FromData[bool] = False
    """1-D convolutions, for signals such as MNIST-1D (from the data)."""
    channels: tuple[Positive[int], ...] = (96, 256, 384, 384, 256)
    """Maps of each convolution (§3.5: 96, 256, 384, 384, 256)."""
    kernels: tuple[Positive[int], ...] = (11, 5, 3, 3, 3)
    """Kernel size of each convolution."""
    strides: tuple[Positive[int], ...] = (4, 1, 1, 1, 1)
    """Stride of each convolution."""
    paddings: tuple[NonNegative[int], ...] = (2, 2, 1, 1, 1)
    """Zero padding of each convolution."""
    groups: tuple[Positive[int], ...] = (1, 2, 1, 2, 2)
    """Groups of each convolution: 2 is the paper's two GPU towers (§3.2)."""
    pool_after: tuple[NonNegative[int], ...] = (0, 1, 4)
    """Convolutions (counted from 0) followed by overlapping max-pooling (§3.4)."""
    pool_kernel: Positive[int] = 3
    """Max-pooling window (§3.4: 3, overlapping)."""
    pool_stride: Positive[int] = 2
    """Max-pooling stride (§3.4: 2)."""
    lrn: bool = True
    """Local response normalisation after conv1 and conv2, before pooling (§3.3)."""
    fc: tuple[Positive[int], ...] = (4096, 4096)
    """Hidden fully-connected layers (empty: the convolutions feed the classifier directly)."""
    dropout: Fraction = 0.5
    """Dropout before each hidden fully-connected layer (§4.2)."""
    activation: Literal["relu", "tanh"] = "relu"
    """Non-linearity: ReLU (§3.1), or tanh, the saturating baseline of Fig. 1."""
    adaptive_pool: NonNegative[int] = 0
    """Average-pool the maps to this size before the FC layers (0: no; torchvision's variant: 6)."""
    width: Positive[float] = 1.0
    """Multiplier on the maps of every convolution and the units of every hidden FC layer."""
    init_std: tuple[Positive[float], ...] = ()
    """Weights drawn from N(0, std^2), biases zero, one std per layer: each convolution, then each FC
    layer with the classifier (cuda-convnet's initW: e.g. 1e-4, 0.01, 0.01, 0.1 for its CIFAR-10
    net); empty: PyTorch's default initialisation."""

    def check(self) -> None:
        n = len(self.channels)
        if self.init_std and len(self.init_std) != n + len(self.fc) + 1:
            raise ValueError(f"--model.init-std needs one std per layer: {n} convolutions, {len(self.fc)} hidden FC "
                             f"layers and the classifier ({n + len(self.fc) + 1}), not {len(self.init_std)}")
        if not len(self.kernels) == len(self.strides) == len(self.paddings) == len(self.groups) == n:
            raise ValueError(f"--model.channels, kernels, strides, paddings and groups need one value per "
                             f"convolution ({n} channels given)")
        if any(i >= n for i in self.pool_after):
            raise ValueError(f"--model.pool-after {self.pool_after} names a convolution beyond the {n} there are")

    @staticmethod
    def paper(**kw) -> AlexNetConfig:
        return replace(AlexNetConfig(), **kw)

    @staticmethod
    def torchvision(**kw) -> AlexNetConfig:
        return replace(AlexNetConfig(channels=(64, 192, 384, 256, 256), groups=(1, 1, 1, 1, 1),
                                     lrn=False, adaptive_pool=6), **kw)

    @staticmethod
    def small(**kw) -> AlexNetConfig:
        """For 28-32 px images: 5x5/3x3 kernels, stride 1, the paper's widths divided by 4."""
        return replace(AlexNetConfig(in_channels=1, n_classes=10, channels=(24, 64, 96, 96, 64),
                                     kernels=(5, 5, 3, 3, 3), strides=(1, 1, 1, 1, 1),
                                     paddings=(2, 2, 1, 1, 1), fc=(512, 512), input_size=28), **kw)


class LocalResponseNorm(nn.Module):
    """§3.3: b = a / (k + alpha * sum_{n neighbouring maps} a^2)^beta.

    Written with the paper's alpha (the sum is not averaged over n), so alpha=1e-4 here is
    nn.LocalResponseNorm(alpha=5e-4) there (tests/test_alexnet.py checks that equality).
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sq = x.pow(2).unsqueeze(1)  # (B, 1, C, *spatial)
        pad = [0, 0] * (x.dim() - 2) + [self.size // 2, (self.size - 1) // 2]
        sq = nn.functional.pad(sq, pad)  # zero maps beyond the edges of the channel axis
        window = sq.unfold(2, self.size, 1).sum(-1).squeeze(1)  # (B, C, *spatial)
        return x / (self.k + self.alpha * window).pow(self.beta)


class AlexNet(nn.Module):
    def __init__(self, cfg: AlexNetConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        Conv = nn.Conv1d if cfg.conv1d else nn.Conv2d
        Pool = nn.MaxPool1d if cfg.conv1d else nn.MaxPool2d
        # In-place ReLU overwrites the conv/linear output it rectifies, which their backward does not
        # need: one activation-sized buffer less per layer (torchvision does the same).
        act = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}[cfg.activation]
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        size = cfg.input_size
        channels = [max(1, round(c * cfg.width)) for c in cfg.channels]
        for i, (c, k, s, p, g) in enumerate(zip(channels, cfg.kernels, cfg.strides, cfg.paddings, cfg.groups)):
            if c_in % g or c % g:
                raise ValueError(f"conv{i + 1} has {c} maps from {c_in}, which its {g} groups do not divide")
            layers += [Conv(c_in, c, k, stride=s, padding=p, groups=g), act()]
            size = (size + 2 * p - k) // s + 1
            if cfg.lrn and i < 2:
                layers.append(LocalResponseNorm())
            if i in cfg.pool_after:
                layers.append(Pool(cfg.pool_kernel, cfg.pool_stride))
                size = (size - cfg.pool_kernel) // cfg.pool_stride + 1
            c_in = c
        self.features = nn.Sequential(*layers)
        if cfg.adaptive_pool:
            size = cfg.adaptive_pool
            self.avgpool: nn.Module = (nn.AdaptiveAvgPool1d(size) if cfg.conv1d
                                       else nn.AdaptiveAvgPool2d((size, size)))
        else:
            self.avgpool = nn.Identity()
        if size < 1:
            raise ValueError(f"input of {cfg.input_size} px is too small for this AlexNet configuration "
                             "(fewer poolings: --model.pool-after)")
        flat = c_in * (size if cfg.conv1d else size * size)
        head: list[nn.Module] = []
        for width in (max(1, round(u * cfg.width)) for u in cfg.fc):
            # torchvision order: dropout before each hidden FC layer (§4.2 drops their inputs' units)
            head += [nn.Dropout(cfg.dropout), nn.Linear(flat, width), act()]
            flat = width
        head.append(nn.Linear(flat, cfg.n_classes))
        self.classifier = nn.Sequential(*head)
        if cfg.init_std:
            layers_ = [m for m in self.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
            for m, std in zip(layers_, cfg.init_std):  # convolutions, then FC layers, in order
                nn.init.normal_(m.weight, 0.0, std)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 256, 13, 13) -> pooled (B, 256, 6, 6) at 224 px
        x = self.avgpool(x)
        x = torch.flatten(x, 1)  # (B, 256 * 6 * 6)
        return self.classifier(x)  # (B, n_classes)


def load_torchvision(model: AlexNet, state_dict: dict[str, torch.Tensor]) -> None:
    """Load a torchvision AlexNet state dict into `AlexNet(AlexNetConfig.torchvision())`.

    Both number their layers as positions in `features` / `classifier`; the conv and linear
    positions line up because the single-tower config has no LRN modules. Shapes are checked.
    """
    if model.cfg.lrn or any(g != 1 for g in model.cfg.groups):
        raise ValueError("torchvision weights need the single-tower config: AlexNetConfig.torchvision()")
    load_exactly(model, state_dict)
