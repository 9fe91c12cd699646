"""Supervised image classification, shared by the milestones that classify (AlexNet, Adam, ResNet).

The data come from data/images.py (an embedded set, or a folder a user brings), held in memory;
batches are rows of the training split in a fresh order each epoch, augmented (`--augment.*`,
data/augment.py: the ResNet and AlexNet recipes' crops, flips and PCA lighting) each image with
its own draw of (seed, step, place in the global batch); the loss is cross-entropy;
evaluation reports test and training accuracy and loss (their gap is what dropout narrows).
`--target-error` stops a run once its training error reaches a level (the AlexNet claim counts
the steps that takes).

A milestone subclasses `ClassificationTask` with its name, its model class and `model_config()`
(its `cfg.model` with the data's classes and shape filled in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import NonNegative, Positive, Probability, Resumable, TrainConfig
from ..core.task import EpochSampler, Shard, Task
from ..data import images
from ..data.augment import PCA_SAMPLE, ImageAugment, principal_components
from ..errors import UserError
from ..optim import OptimConfig
from ..optim import build as build_optimizer


@dataclass
class ClassificationConfig(TrainConfig):
    dataset: Literal["mnist5k", "mnist1d", "digits"] = "mnist5k"
    """Embedded data set used when --data is not given."""
    data: str = ""
    """A folder of data a user brings (MNIST IDX, CIFAR-10, ImageFolder); empty: the embedded --dataset."""
    image_size: NonNegative[int] = 0
    """Resize ImageFolder images to this many pixels square (0: keep)."""
    n_train: NonNegative[int] = 0
    """Use only the first N training examples (0: all)."""
    target_error: Resumable[Probability] = 0.0
    """Stop once the mean training error over the last --target-window steps is at most this (0: never)."""
    target_window: Resumable[Positive[int]] = 31
    """Steps averaged for --target-error (31: one epoch of 4,000 examples at batch 128)."""
    augment: ImageAugment = field(default_factory=ImageAugment)
    """Training-time augmentation of images (all off by default; the paper presets' recipes)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="sgd", lr=0.01))


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(-1) == y).float().mean().item()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: torch.device, batch: int = 500) -> torch.Tensor:
    """Logits for `x` in chunks, in eval mode; (N, n_classes) on the CPU."""
    was = model.training
    model.eval()
    out = [model(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
    model.train(was)
    return torch.cat(out)


class ClassificationTask(Task):
    watch = ("loss", "acc", "test_acc")
    eval_train_examples = 2000

    def __init__(self, cfg: ClassificationConfig, data: images.ImageData | None = None):
        super().__init__(cfg)
        self.cfg: ClassificationConfig = cfg
        data = data or images.load(cfg.dataset, cfg.data, cfg.image_size)
        self.data = data.subset(cfg.n_train) if cfg.n_train else data
        self.sampler = EpochSampler(len(self.data.y_train), cfg.batch_size, cfg.seed)
        self.errors: list[float] = []  # per-step training error, for --target-error
        self.augment = cfg.augment
        why = self.augment.problem(self.data.shape)
        if why:
            raise UserError(f"{why} ({self.data.name})")
        self.components = None  # the channels' principal components, for PCA lighting
        if self.augment.lighting:
            n = min(PCA_SAMPLE, len(self.data.y_train))
            self.components = principal_components(self.data.get(torch.arange(n), "train")[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape as the model sees it: (C, H, W), cropped by --augment.crop, or (C, L)."""
        return self.augment.size(self.data.shape)

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"model": build_optimizer(self.cfg.optim, model.parameters())}

    def examples(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.get(idx, "train")

    def batch(self, step: int, shard: Shard) -> tuple[torch.Tensor, torch.Tensor]:
        """The shard's examples of the step's global batch, each image augmented with the draw its
        place in the global batch keys, so ranks and micro-batches see what one process would."""
        if not self.augment.on:
            return super().batch(step, shard)
        idx = self.sampler.global_batch(step)  # (B,)
        places = shard.take(torch.arange(len(idx)))
        x, y = self.examples(idx[places])
        keys = step * self.cfg.batch_size + places
        return self.augment(x, self.cfg.seed, keys, self.components), y

    def inputs(self, split: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first n examples of a split (all of them by default) as evaluation feeds them: not
        augmented, centre-cropped where training crops."""
        x, y = self.data.all(split) if n is None else self.data.get(torch.arange(n), split)
        return self.augment.centre(x), y

    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        logits = model(x)  # (B, n_classes)
        loss = F.cross_entropy(logits.float(), y)
        return loss, {"acc": accuracy(logits.detach(), y)}

    def should_stop(self, step: int, metrics: dict[str, float]) -> bool:
        if not self.cfg.target_error:
            return False
        self.errors.append(1.0 - metrics["acc"])
        w = self.cfg.target_window
        return len(self.errors) >= w and sum(self.errors[-w:]) / w <= self.cfg.target_error

    def stop_reason(self) -> str:
        return (f"the training error averaged over the last {self.cfg.target_window} steps reached "
                f"--target-error {self.cfg.target_error:g}")

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        xt, yt = self.inputs("test")
        logits = predict(model, xt, device)
        xtr, ytr = self.inputs("train", min(self.eval_train_examples, len(self.data.y_train)))
        logits_tr = predict(model, xtr, device)
        return {"test_loss": F.cross_entropy(logits, yt).item(), "test_acc": accuracy(logits, yt),
                "train_loss": F.cross_entropy(logits_tr, ytr).item(), "train_acc": accuracy(logits_tr, ytr)}

    def predictions(self, model: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(true labels, predicted labels, number of classes) on the test split: `milestones evaluate`
        draws their confusion matrix."""
        xt, yt = self.inputs("test")
        return yt, predict(model, xt, device).argmax(1), self.data.n_classes

    def state_dict(self) -> dict[str, Any]:
        return {"errors": list(self.errors)} if self.cfg.target_error else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.errors = [float(e) for e in state.get("errors", [])]
