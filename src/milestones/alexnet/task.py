"""AlexNet's training task: image classification (tasks/classification.py) with the AlexNet.

Default data: the embedded 5,000 MNIST digits with the small-input AlexNet (the `small` preset);
MNIST-1D signals get its 1-D twin. `--preset paper` is the paper's two-tower net at 224 px and
its recipe (§5): SGD with momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10
when progress stalls (here: a step schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..core.config import settable
from ..optim import OptimConfig
from ..tasks.classification import ClassificationConfig, ClassificationTask
from .model import AlexNet, AlexNetConfig


@dataclass
class Config(ClassificationConfig):
    model: AlexNetConfig = field(default_factory=AlexNetConfig.small)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="sgd", lr=0.01, weight_decay=5e-4))


PRESETS = {
    "tiny": dict(dataset="digits", steps=20, batch_size=32, eval_every=10, schedule="constant", log_every=5,
                 optim=dict(name="adam", lr=1e-2, weight_decay=0.0),
                 model=dict(width=0.5, pool_after=(1,))),  # 8x8 digits keep a map through one pooling only
    "small": dict(steps=600, batch_size=128, eval_every=200, schedule="cosine"),
    "paper": dict(image_size=224, steps=450_000, batch_size=128, schedule="step", eval_every=5000,
                  ckpt_every=5000, log_every=50, model=settable(AlexNetConfig.paper())),
}


class AlexNetTask(ClassificationTask):
    name = "alexnet"
    model_class = AlexNet

    def model_config(self) -> AlexNetConfig:
        shape = self.data.shape  # (C, H, W) or (C, L)
        return replace(self.cfg.model, in_channels=shape[0], n_classes=self.data.n_classes, input_size=shape[-1],
                       conv1d=len(shape) == 2)


TASK = AlexNetTask
