"""Adam's training task: the paper's §6.1-6.2 models on MNIST (image classification, from
tasks/classification.py), with any optimizer of the library (`--optimizer adagrad`, ...).

Minibatches of 128 as in the paper. The default data are the embedded 5,000 MNIST digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..optim import OptimConfig
from ..tasks.classification import ClassificationConfig, ClassificationTask
from .model import Net, NetConfig


@dataclass
class Config(ClassificationConfig):
    model: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3))


PRESETS = {
    "tiny": dict(dataset="digits", steps=30, batch_size=32, eval_every=15, schedule="constant", log_every=5,
                 model=dict(hidden=64), optim=dict(lr=3e-3)),
    "small": dict(steps=600, batch_size=128, schedule="constant", eval_every=200),
    "paper": dict(steps=90_000, batch_size=128, schedule="constant", eval_every=5000, ckpt_every=5000,
                  log_every=50),
}


class AdamTask(ClassificationTask):
    name = "adam"
    model_class = Net

    def model_config(self) -> NetConfig:
        return replace(self.cfg.model, n_in=math.prod(self.data.shape), n_classes=self.data.n_classes)


TASK = AdamTask
