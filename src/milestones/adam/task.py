"""Adam's training task: the paper's §6.1-6.2 models on MNIST (image classification, from
tasks/classification.py) or on a bag of words (§6.1's sparse problem, data/bow.py), with any
optimizer of the library (`--optimizer adagrad`, ...).

Minibatches of 128 as in the paper. The default data are the embedded 5,000 MNIST digits;
`--dataset docstrings` is the bag of words of the docstring task (the paper's IMDB reviews), and
`--data FILE.tsv` that of a user's labelled text. `--l2 LAMBDA` adds (LAMBDA / 2) * the sum of the
squared weights (not the biases) to the objective (§6.1's L2-regularised logistic regression), so
the logged training loss is the regularised objective, as the paper plots it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import nn

from ..core.config import NonNegative
from ..data import bow
from ..optim import OptimConfig
from ..tasks.classification import ClassificationConfig, ClassificationTask
from .model import Net, NetConfig


@dataclass
class Config(ClassificationConfig):
    dataset: Literal["mnist5k", "mnist1d", "digits", "docstrings"] = "mnist5k"
    """Embedded data set used when --data is not given (docstrings: the bag of words of the docstring
    task, 7 packages; the others are images)."""
    data: str = ""
    """Data a user brings: a folder of images (MNIST IDX, CIFAR-10, ImageFolder), or a labelled .tsv
    file (text<TAB>label) as a bag of words; empty: the embedded --dataset."""
    l2: NonNegative[float] = 0.0
    """L2 regularisation: (l2 / 2) * sum of squared weights added to the objective (§6.1)."""
    model: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3))


PRESETS = {
    "tiny": dict(dataset="digits", steps=30, batch_size=32, eval_every=15, schedule="constant", log_every=5,
                 model=dict(hidden=64), optim=dict(lr=3e-3)),
    "small": dict(steps=600, batch_size=128, schedule="constant", eval_every=200),
    "paper": dict(steps=90_000, batch_size=128, schedule="constant", eval_every=5000, ckpt_every=5000,
                  log_every=50),
}


def _is_text(cfg: Config) -> bool:
    return cfg.dataset == "docstrings" if not cfg.data else cfg.data.lower().endswith(".tsv")


class AdamTask(ClassificationTask):
    name = "adam"
    model_class = Net
    cfg: Config

    def __init__(self, cfg: Config):
        super().__init__(cfg, bow.load(cfg.data) if _is_text(cfg) else None)

    def model_config(self) -> NetConfig:
        return replace(self.cfg.model, n_in=math.prod(self.input_shape), n_classes=self.data.n_classes)

    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        loss, metrics = super().loss(model, batch, phase)
        if self.cfg.l2:
            squares = sum(p.float().pow(2).sum() for p in model.parameters() if p.dim() >= 2)
            loss = loss + 0.5 * self.cfg.l2 * squares
        return loss, metrics


TASK = AdamTask
