"""The networks of Adam's experiments (Kingma & Ba 2015, §6.1-6.2), on MNIST.

  logreg  multi-class logistic regression on the inputs (§6.1, Fig. 1): one linear layer; on MNIST's
          pixels, or on a bag of words with 50% dropout noise on the inputs (`input_dropout`).
  mlp     "a neural network model with two fully connected hidden layers with 1000 hidden units
          each and ReLU activation", with dropout (§6.2, Fig. 2).

The milestone's subject is the optimizer (optim/adam.py); these are what it was measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..core.config import Fraction, FromData, Positive


@dataclass
class NetConfig:
    kind: Literal["logreg", "mlp"] = "mlp"
    """logreg: logistic regression (§6.1); mlp: two hidden layers of --model.hidden ReLU units (§6.2)."""
    hidden: Positive[int] = 1000
    """Units in each hidden layer of the MLP (§6.2: 1000)."""
    dropout: Fraction = 0.5
    """Dropout after each hidden layer of the MLP (§6.2 trains with dropout)."""
    input_dropout: Fraction = 0.0
    """Dropout on the inputs while training (§6.1: 50% "dropout noise" on the bag-of-words features)."""
    n_in: FromData[int] = 784
    """Inputs: the pixels of one image (from the data)."""
    n_classes: FromData[int] = 10
    """Classes (from the data)."""


class FeatureDropout(nn.Module):
    """§6.1's "dropout noise" on the input features, while training: each feature is kept with
    probability 1 - p and scaled by 1 / (1 - p), as nn.Dropout. Only the non-zero features draw a
    random number (a zero stays zero whatever its draw), so a bag of words, 99.6% zeros, costs a
    tenth of nn.Dropout's time; dense inputs get the same distribution."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        nz = x.nonzero(as_tuple=True)
        keep = torch.rand(nz[0].numel(), device=x.device) >= self.p  # (non-zeros,)
        out = torch.zeros_like(x)
        out[nz] = x[nz] * keep / (1 - self.p)
        return out


class Net(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = [nn.Flatten()]  # (B, n_in)
        if cfg.input_dropout:
            layers.append(FeatureDropout(cfg.input_dropout))
        if cfg.kind == "logreg":
            layers.append(nn.Linear(cfg.n_in, cfg.n_classes))
        else:
            layers += [nn.Linear(cfg.n_in, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                       nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                       nn.Linear(cfg.hidden, cfg.n_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, C, H, W) or (B, 1, V) -> (B, n_classes)
