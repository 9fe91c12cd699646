"""AlexNet's training task: presets, data and the model/optimizer the shared trainer needs.

Default data: the embedded 5,000 MNIST digits with the small-input AlexNet. MNIST-1D signals
get the 1-D variant; images larger than 64 px get the paper's net (or torchvision's variant).
The paper trained with SGD, momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10
when validation error stopped improving (§5); the `paper` preset uses a step schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..adam import optim
from ..core.classify import ClassificationTask
from ..core.config import TrainConfig, UserError
from ..data import images
from .model import AlexNet, AlexNetConfig


@dataclass
class Config(TrainConfig):
    dataset: Literal["mnist5k", "mnist1d", "digits"] = "mnist5k"
    """Embedded data set used when --data is not given."""
    image_size: int = 0
    """Resize ImageFolder images to this many pixels square (0: keep; 224 for the paper's net)."""
    variant: Literal["auto", "small", "paper", "torchvision"] = "auto"
    """Network: auto picks small for <=64 px inputs (1-D for signals) and paper above."""
    activation: Literal["relu", "tanh"] = "relu"
    """Non-linearity (§3.1: ReLU; tanh is the saturating baseline of Fig. 1)."""
    dropout: float = 0.5
    """Dropout probability in the hidden fully-connected layers (§4.2)."""
    lrn: bool = True
    """Local response normalisation after conv1 and conv2 (§3.3)."""
    width: float = 1.0
    """Multiplier on the number of maps in every conv and FC layer."""
    n_train: int = 0
    """Use only the first N training examples (0: all)."""
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "sgd"
    """Optimizer (from the adam milestone); sgd is the paper's, with Nesterov momentum 0.9."""
    momentum: float = 0.9
    """SGD momentum."""

    def check(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise UserError("--dropout must lie in [0, 1)")
        if self.width <= 0:
            raise UserError("--width must be positive")


PRESETS = {
    "tiny": dict(dataset="digits", steps=20, batch_size=32, lr=1e-2, optimizer="adam", width=0.5, eval_every=10,
                 schedule="constant", log_every=5),
    "small": dict(steps=600, batch_size=128, lr=0.01, weight_decay=5e-4, eval_every=200, schedule="cosine"),
    "paper": dict(variant="paper", image_size=224, steps=450_000, batch_size=128, lr=0.01, weight_decay=5e-4,
                  schedule="step", eval_every=5000, ckpt_every=5000, log_every=50),
}


def model_config(cfg: Config, shape: tuple[int, ...], n_classes: int) -> AlexNetConfig:
    variant = cfg.variant
    side = shape[-1]
    if variant == "auto":
        variant = "small" if side <= 64 else "paper"
    common = dict(in_channels=shape[0], n_classes=n_classes, activation=cfg.activation, dropout=cfg.dropout)
    if variant == "small":
        mc = AlexNetConfig.small(lrn=cfg.lrn, input_size=side, conv1d=len(shape) == 2, **common)
        if side < 16:  # 8x8 digits: only one pool keeps a spatial map
            mc.pool_after = (1,)
    elif variant == "paper":
        mc = AlexNetConfig.paper(lrn=cfg.lrn, input_size=side, **common)
    else:
        mc = AlexNetConfig.torchvision(**common)
    if len(shape) == 2 and variant != "small":
        raise UserError(f"the {variant} AlexNet needs images; 1-D signals use --variant small")
    mc.channels = tuple(max(1, round(c * cfg.width)) for c in mc.channels)
    mc.fc = tuple(max(1, round(c * cfg.width)) for c in mc.fc)
    return mc


def make_task(cfg: Config) -> ClassificationTask:
    data = images.load(cfg.dataset, cfg.data, cfg.image_size)
    if cfg.n_train:
        data = data.subset(cfg.n_train)
    mc = model_config(cfg, data.shape, data.n_classes)
    try:
        AlexNet(mc)
    except ValueError as e:
        raise UserError(f"{e} (data {data.name} has examples of shape {data.shape})") from None
    return ClassificationTask(
        "alexnet", cfg, data,
        build_model=lambda: AlexNet(mc),
        build_optimizer=lambda m: optim.build(cfg.optimizer, m.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum))
