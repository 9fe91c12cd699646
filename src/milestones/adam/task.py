"""Adam's training task: the paper's §6.1-6.2 models on MNIST, with any optimizer from optim.py.

  logreg  multi-class logistic regression on the 784 pixels (§6.1, Fig. 1)
  mlp     two fully-connected hidden layers of 1000 ReLU units with dropout (§6.2, Fig. 2)

Minibatches of 128 as in the paper. The default data are the embedded 5,000 MNIST digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..core.classify import ClassificationTask
from ..core.config import TrainConfig, UserError
from ..data import images
from . import optim


@dataclass
class Config(TrainConfig):
    dataset: Literal["mnist5k", "mnist1d", "digits"] = "mnist5k"
    """Embedded data set used when --data is not given."""
    model: Literal["logreg", "mlp"] = "mlp"
    """logreg: logistic regression (§6.1); mlp: 2 hidden layers of --hidden ReLU units (§6.2)."""
    hidden: int = 1000
    """Units in each hidden layer of the MLP."""
    dropout: float = 0.5
    """Dropout on the MLP's hidden layers (the paper's Fig. 2 uses dropout)."""
    optimizer: Literal["adam", "adamw", "adamax", "sgd", "adagrad", "rmsprop", "adadelta"] = "adam"
    """Optimizer from adam/optim.py (sgd is Nesterov momentum 0.9)."""
    momentum: float = 0.9
    """Momentum for sgd."""

    def check(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise UserError("--dropout must lie in [0, 1)")
        if self.hidden < 1:
            raise UserError("--hidden must be at least 1")


PRESETS = {
    "tiny": dict(dataset="digits", steps=30, batch_size=32, lr=3e-3, hidden=64, eval_every=15,
                 schedule="constant", log_every=5),
    "small": dict(steps=600, batch_size=128, lr=1e-3, schedule="constant", eval_every=200),
    "paper": dict(steps=90_000, batch_size=128, lr=1e-3, schedule="constant", eval_every=5000,
                  ckpt_every=5000, log_every=50),
}


def build_net(kind: str, n_in: int, n_classes: int, hidden: int = 1000, dropout: float = 0.5) -> nn.Module:
    if kind == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_classes))
    return nn.Sequential(nn.Flatten(),  # (B, n_in)
                         nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_classes))  # (B, n_classes)


def make_task(cfg: Config, data: images.ImageData | None = None) -> ClassificationTask:
    data = data or images.load(cfg.dataset, cfg.data)
    n_in = int(torch.tensor(data.shape).prod())
    return ClassificationTask(
        "adam", cfg, data,
        build_model=lambda: build_net(cfg.model, n_in, data.n_classes, cfg.hidden, cfg.dropout),
        build_optimizer=lambda m: optim.build(cfg.optimizer, m.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum))
