"""The optimizer library every milestone may use, and the one config that chooses among them.

  adam.py     Adam, AdamW, AdaMax (the Adam milestone: Kingma & Ba 2015)
  classic.py  SGD with (Nesterov) momentum, AdaGrad, RMSProp, AdaDelta (the baselines it beat)
  lars.py     LARS, layer-wise trust ratios for large batches (SimCLR's)

`OptimConfig` is nested in every milestone's config as `cfg.optim`; `build(cfg.optim, params)`
makes the optimizer it names. Each is our own `torch.optim.Optimizer`, equal to torch.optim's
(tests/test_adam.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from torch.optim import Optimizer

from ..core.config import Alias, Fraction, NonNegative, Positive, Resumable
from .adam import Adam, AdaMax, AdamW
from .base import Params
from .classic import SGD, AdaDelta, AdaGrad, RMSProp
from .lars import LARS

__all__ = ["Adam", "AdamW", "AdaMax", "SGD", "AdaGrad", "RMSProp", "AdaDelta", "LARS", "OPTIMIZERS", "OptimConfig",
           "build", "matrix_decay_groups"]

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "adam": Adam, "adamw": AdamW, "adamax": AdaMax, "sgd": SGD, "adagrad": AdaGrad,
    "rmsprop": RMSProp, "adadelta": AdaDelta, "lars": LARS,
}

Name = Literal["adam", "adamw", "adamax", "sgd", "adagrad", "rmsprop", "rmsprop_centered", "adadelta", "lars"]


@dataclass
class OptimConfig:
    name: Annotated[Name, Alias("optimizer")] = "adam"
    """Optimizer: adam, adamw, adamax (optim/adam.py), sgd, adagrad, rmsprop, rmsprop_centered (Graves' form,
    DQN's and MinAtar's), adadelta (optim/classic.py) or lars (optim/lars.py)."""
    lr: Resumable[Positive[float]] = 1e-3
    """Peak learning rate (the schedule scales it; see --schedule)."""
    weight_decay: Resumable[NonNegative[float]] = 0.0
    """L2 penalty added to the gradient (decoupled from it in adamw)."""
    momentum: Resumable[Fraction] = 0.9
    """sgd, lars: momentum (0: plain SGD)."""
    nesterov: Resumable[bool] = True
    """sgd: Nesterov's look-ahead form of momentum (when momentum is above 0)."""
    beta1: Resumable[Fraction] = 0.9
    """adam, adamw, adamax: decay of the gradient's running mean."""
    beta2: Resumable[Fraction] = 0.999
    """adam, adamw, adamax: decay of the squared gradient's running mean (or of its infinity norm)."""
    alpha: Resumable[Fraction] = 0.99
    """rmsprop, rmsprop_centered: decay of the squared gradient's running mean (the Nature DQN's 0.95)."""
    trust: Resumable[Positive[float]] = 1e-3
    """lars: trust coefficient eta (a tensor's step is about lr * eta times its norm); parameter groups
    without weight decay (biases, BatchNorm) are not adapted."""
    eps: Resumable[NonNegative[float]] = 0.0
    """Added to the denominator; 0 keeps the optimizer's own default (1e-8; adagrad 1e-10, adadelta 1e-6)."""


def build(cfg: OptimConfig, params: Params) -> Optimizer:
    """The optimizer `cfg.name`, with the fields of `cfg` that it has."""
    eps = {"eps": cfg.eps} if cfg.eps else {}
    wd = cfg.weight_decay
    betas = (cfg.beta1, cfg.beta2)
    if cfg.name == "sgd":
        return SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                   weight_decay=wd)
    if cfg.name in ("adam", "adamw", "adamax"):
        return OPTIMIZERS[cfg.name](params, lr=cfg.lr, betas=betas, weight_decay=wd, **eps)  # type: ignore[call-arg]
    if cfg.name == "lars":
        return LARS(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd, trust_coefficient=cfg.trust, **eps)
    if cfg.name in ("rmsprop", "rmsprop_centered"):
        return RMSProp(params, lr=cfg.lr, alpha=cfg.alpha, weight_decay=wd, centered=cfg.name == "rmsprop_centered",
                       **eps)
    return OPTIMIZERS[cfg.name](params, lr=cfg.lr, weight_decay=wd, **eps)  # type: ignore[call-arg]


def matrix_decay_groups(model: torch.nn.Module) -> list[dict]:
    """The trainable parameters in two groups: matrices (embeddings, projections) with the config's
    weight decay, and vectors (biases, LayerNorms) without it (GPT-2/3's and BERT's recipe)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2]},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
