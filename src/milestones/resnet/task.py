"""ResNet's training task: image classification (tasks/classification.py) with the ResNets.

Default data: the embedded 5,000 MNIST digits with a CIFAR-style ResNet-20. MNIST-1D signals
get the 1-D nets; images larger than 64 px get the ImageNet-style nets (depth 18-152).
The paper's CIFAR recipe (§4.2): SGD momentum 0.9, weight decay 1e-4, batch 128, lr 0.1
divided by 10 at 32k and 48k of 64k iterations, on 4-pixel-padded random crops and horizontal flips
(`--augment.pad 4 --augment.flip true`, data/augment.py); the `paper` preset follows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..core.config import BatchNormConfig
from ..optim import OptimConfig
from ..tasks.classification import ClassificationConfig, ClassificationTask
from .model import ResNet, ResNetConfig


@dataclass
class Config(ClassificationConfig, BatchNormConfig):
    model: ResNetConfig = field(default_factory=lambda: ResNetConfig(depth=20))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="sgd", lr=0.1, weight_decay=1e-4))


PRESETS = {
    "tiny": dict(dataset="digits", steps=20, batch_size=32, eval_every=10, schedule="constant", log_every=5,
                 model=dict(depth=8, widths=(8, 16, 32)), optim=dict(lr=0.05, weight_decay=0.0)),
    "small": dict(steps=600, batch_size=128, eval_every=200, warmup_steps=20),
    # §4.2's augmentation: 4-pixel padding, random 32x32 crops, horizontal flips (natural images:
    # on the embedded digits, turn the flips off with --augment.flip false)
    "paper": dict(steps=64_000, batch_size=128, schedule="step", eval_every=2000, ckpt_every=2000, log_every=50,
                  augment=dict(pad=4, flip=True)),
}


class ResNetTask(ClassificationTask):
    name = "resnet"
    model_class = ResNet

    def model_config(self) -> ResNetConfig:
        shape = self.input_shape  # (C, H, W), cropped by --augment.crop, or (C, L)
        style = self.cfg.model.style
        if style == "auto":
            style = "cifar" if len(shape) == 2 or shape[-1] <= 64 else "imagenet"
        return replace(self.cfg.model, style=style, n_classes=self.data.n_classes, in_channels=shape[0],
                       dims=1 if len(shape) == 2 else 2)


TASK = ResNetTask
