"""ResNet's training task: presets, data and the model/optimizer the shared trainer needs.

Default data: the embedded 5,000 MNIST digits with a CIFAR-style ResNet-20. MNIST-1D signals
get the 1-D nets; images larger than 64 px get the ImageNet-style nets (depth 18-152).
The paper's CIFAR recipe (§4.2): SGD momentum 0.9, weight decay 1e-4, batch 128, lr 0.1
divided by 10 at 32k and 48k of 64k iterations; the `paper` preset follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..adam import optim
from ..core.classify import ClassificationTask
from ..core.config import TrainConfig, UserError
from ..data import images
from .model import IMAGENET_DEPTHS, ResNet, ResNetConfig


@dataclass
class Config(TrainConfig):
    dataset: Literal["mnist5k", "mnist1d", "digits"] = "mnist5k"
    """Embedded data set used when --data is not given."""
    image_size: int = 0
    """Resize ImageFolder images to this many pixels square (0: keep)."""
    depth: int = 20
    """Depth: 6n+2 for CIFAR style (20, 32, 44, 56, 110), or 18/34/50/101/152 for ImageNet style."""
    style: Literal["auto", "cifar", "imagenet"] = "auto"
    """Architecture family: auto picks cifar for <=64 px inputs and signals, imagenet above."""
    plain: bool = False
    """Remove the shortcuts: the plain twin of the same depth (§4.1)."""
    widths: tuple[int, ...] = (16, 32, 64)
    """CIFAR style: maps in each stage (the paper: 16, 32, 64)."""
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "sgd"
    """Optimizer (from the adam milestone); sgd is the paper's, with Nesterov momentum 0.9."""
    momentum: float = 0.9
    """SGD momentum."""

    def check(self) -> None:
        if self.style == "imagenet" and self.depth not in IMAGENET_DEPTHS:
            raise UserError(f"--depth for ImageNet style must be one of {sorted(IMAGENET_DEPTHS)}")
        if self.style == "cifar" and (self.depth - 2) % (2 * len(self.widths)):
            raise UserError(f"--depth for CIFAR style must be {2 * len(self.widths)}n + 2, e.g. 20, 32, 44, 56, 110")


PRESETS = {
    "tiny": dict(dataset="digits", depth=8, widths=(8, 16, 32), steps=20, batch_size=32, lr=0.05,
                 eval_every=10, schedule="constant", log_every=5),
    "small": dict(steps=600, batch_size=128, lr=0.1, weight_decay=1e-4, eval_every=200, warmup_steps=20),
    "paper": dict(steps=64_000, batch_size=128, lr=0.1, weight_decay=1e-4, schedule="step",
                  eval_every=2000, ckpt_every=2000, log_every=50),
}


def model_config(cfg: Config, shape: tuple[int, ...], n_classes: int) -> ResNetConfig:
    style = cfg.style
    if style == "auto":
        style = "cifar" if len(shape) == 2 or shape[-1] <= 64 else "imagenet"
    if style == "cifar" and ((cfg.depth - 2) % (2 * len(cfg.widths)) or cfg.depth < 2 + 2 * len(cfg.widths)):
        raise UserError(f"--depth {cfg.depth} does not fit the CIFAR style ({2 * len(cfg.widths)}n + 2: 20, 32, 44, ...)")
    if style == "imagenet" and cfg.depth not in IMAGENET_DEPTHS:
        raise UserError(f"--depth {cfg.depth} does not fit the ImageNet style ({sorted(IMAGENET_DEPTHS)})")
    return ResNetConfig(depth=cfg.depth, style=style, residual=not cfg.plain, n_classes=n_classes,
                        in_channels=shape[0], widths=cfg.widths, dims=1 if len(shape) == 2 else 2)


def make_task(cfg: Config) -> ClassificationTask:
    data = images.load(cfg.dataset, cfg.data, cfg.image_size)
    mc = model_config(cfg, data.shape, data.n_classes)
    return ClassificationTask(
        "resnet", cfg, data,
        build_model=lambda: ResNet(mc),
        build_optimizer=lambda m: optim.build(cfg.optimizer, m.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum))
