"""The networks of Adam's experiments (Kingma & Ba 2015, §6.1-6.2), on MNIST.

  logreg  multi-class logistic regression on the pixels (§6.1, Fig. 1): one linear layer.
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
    n_in: FromData[int] = 784
    """Inputs: the pixels of one image (from the data)."""
    n_classes: FromData[int] = 10
    """Classes (from the data)."""


class Net(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.kind == "logreg":
            layers: list[nn.Module] = [nn.Flatten(), nn.Linear(cfg.n_in, cfg.n_classes)]
        else:
            layers = [nn.Flatten(),  # (B, n_in)
                      nn.Linear(cfg.n_in, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                      nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                      nn.Linear(cfg.hidden, cfg.n_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, C, H, W) -> (B, n_classes)
