"""AlexNet's training task: image classification (tasks/classification.py) with the AlexNet.

Default data: the embedded 5,000 MNIST digits with the small-input AlexNet (the `small` preset);
MNIST-1D signals get its 1-D twin. `--preset paper` is the paper's two-tower net at 224 px and
its recipe (§5): SGD with momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10
when progress stalls (here: a step schedule), on random 224 px patches of 256 px images, their
horizontal reflections and PCA lighting (§4.1; `--augment.crop 224 --augment.flip true
--augment.lighting 0.1`, data/augment.py); evaluation takes the centre patch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..core.config import settable
from ..data import images
from ..errors import UserError
from ..optim import OptimConfig
from ..tasks.classification import ClassificationConfig, ClassificationTask
from .model import AlexNet, AlexNetConfig


@dataclass
class Config(ClassificationConfig):
    inputs: Literal["standardised", "mean_image"] = "standardised"
    """standardised: each channel to mean 0, std 1; mean_image: the training set's mean image
    subtracted, on the raw scale (0-255 for 8-bit images), as cuda-convnet fed its CIFAR-10 nets."""
    model: AlexNetConfig = field(default_factory=AlexNetConfig.small)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="sgd", lr=0.01, weight_decay=5e-4))


PRESETS = {
    "tiny": dict(dataset="digits", steps=20, batch_size=32, eval_every=10, schedule="constant", log_every=5,
                 optim=dict(name="adam", lr=1e-2, weight_decay=0.0),
                 model=dict(width=0.5, pool_after=(1,))),  # 8x8 digits keep a map through one pooling only
    "small": dict(steps=600, batch_size=128, eval_every=200, schedule="cosine"),
    # §4.1's augmentation: random 224 px patches of the 256 px images, their reflections, PCA lighting
    "paper": dict(image_size=256, stream=True, augment=dict(crop=224, flip=True, lighting=0.1), steps=450_000,
                  batch_size=128, schedule="step", eval_every=5000, ckpt_every=5000, log_every=50,
                  model=settable(AlexNetConfig.paper())),
}


class AlexNetTask(ClassificationTask):
    name = "alexnet"
    model_class = AlexNet

    @staticmethod
    def served(cfg: Config, data: Any) -> Any:  # type: ignore[override]
        if cfg.inputs != "mean_image":
            return data
        if not isinstance(data, images.ImageData):
            raise UserError("--inputs mean_image needs the training images in memory; drop --stream or use "
                            "--inputs standardised")
        return images.mean_image_centred(data)

    def model_config(self) -> AlexNetConfig:
        shape = self.input_shape  # (C, H, W), cropped by --augment.crop, or (C, L)
        return replace(self.cfg.model, in_channels=shape[0], n_classes=self.data.n_classes, input_size=shape[-1],
                       conv1d=len(shape) == 2)


TASK = AlexNetTask
