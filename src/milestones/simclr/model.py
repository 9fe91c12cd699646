"""SimCLR's network: Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive
Learning of Visual Representations" (ICML; arXiv:2002.05709), §2.1 and Fig. 2.

    h = f(x)       the encoder: a ResNet (the ResNet milestone's, resnet/model.py) without its
                   classifier, average-pooled; the representation kept after training
    z = g(h)       the projection head, where the contrastive loss (loss.py) is applied:
                     mlp     W2 ReLU(BN(W1 h)), to 128 dimensions (the paper's default)
                     linear  W h                              (Fig. 8's "linear")
                     none    z = h                            (Fig. 8's "none")
    y = W_c h      a linear classifier on h: the linear probe (encoder frozen) or fine-tuning

§4.2: h is the better representation, by more than 10% in linear evaluation; the head absorbs
what the loss makes invariant (colour, rotation) and is thrown away after pre-training.

Encoders: on 32 px images the paper uses ResNet-50 with a 3x3 stride-1 first convolution and no
max-pool (`style="imagenet", small_stem=True`); on MNIST-1D signals a small 1-D CIFAR-style ResNet
(`dims=1`). The encoder's input channels and dimensions come from the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from ..core.config import FromData, NonNegative, Positive
from ..resnet.model import ResNet, ResNetConfig


@dataclass
class SimCLRConfig:
    encoder: ResNetConfig = field(default_factory=lambda: ResNetConfig(depth=8, style="auto", widths=(32, 64, 128),
                                                                       n_classes=1))
    head: Literal["mlp", "linear", "none"] = "mlp"
    """Projection head: a 2-layer MLP (the paper's), a linear map, or none (Fig. 8)."""
    proj_dim: Positive[int] = 128
    """Output size of the projection head (128 in the paper)."""
    n_classes: FromData[NonNegative[int]] = 0
    """Classes of the linear classifier on h (0: none; from the data)."""


class SimCLR(nn.Module):
    def __init__(self, cfg: SimCLRConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ResNet(replace(cfg.encoder, n_classes=1))
        d = self.encoder.fc.in_features  # the representation's size: the last stage's channels
        self.encoder.fc = nn.Identity()  # f(x) = h, no classifier
        self.dim = d
        if cfg.head == "mlp":
            self.head: nn.Module = nn.Sequential(nn.Linear(d, d, bias=False), nn.BatchNorm1d(d), nn.ReLU(inplace=True),
                                                 nn.Linear(d, cfg.proj_dim))
        elif cfg.head == "linear":
            self.head = nn.Linear(d, cfg.proj_dim)
        else:
            self.head = nn.Identity()
        self.classifier = nn.Linear(d, cfg.n_classes) if cfg.n_classes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The representation h: (B, C, H, W) or (B, C, L) -> (B, D)."""
        return self.encoder(x)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """z = g(h): (B, D) -> (B, proj_dim), or h itself without a head."""
        return self.head(h)

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes) from h."""
        if self.classifier is None:
            raise ValueError("this model has no classifier (n_classes is 0)")
        return self.classifier(h)
