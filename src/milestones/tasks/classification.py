"""Supervised image classification, shared by the milestones that classify (AlexNet, Adam, ResNet).

The data come from data/images.py (an embedded set, or a folder a user brings), held in memory,
or with `--stream` an ImageFolder tree decoded from disk by worker processes (data/stream.py);
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
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import Inert, NonNegative, Positive, Probability, Resumable, TrainConfig
from ..core.task import EpochSampler, Shard, Task
from ..data import images, stream
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
    stream: Annotated[bool, Inert(False)] = False
    """Decode an ImageFolder tree from disk as batches are drawn, in --loader-workers processes, instead
    of holding it in memory (any size of folder; mean and std from 2,000 of its training images).
    MNIST's and CIFAR-10's files are read whole."""
    loader_workers: Resumable[NonNegative[int]] = 4
    """With --stream: processes that decode and augment batches ahead of the step, at most the cores (0:
    the training process)."""
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
        if data is None and cfg.stream and cfg.data:
            data = stream.load(cfg.data, cfg.image_size)  # type: ignore[assignment]
        data = data or images.load(cfg.dataset, cfg.data, cfg.image_size)
        self.data = self.served(cfg, data.subset(cfg.n_train) if cfg.n_train else data)
        self.streamed = isinstance(self.data, stream.FolderImages)
        self._loader: stream.StepLoader | None = None  # the streamed batches, made ahead
        self._micro: list[tuple[torch.Tensor, torch.Tensor]] = []  # this step's, one per micro-batch
        self.sampler = EpochSampler(len(self.data.y_train), cfg.batch_size, cfg.seed)
        self.errors: list[float] = []  # per-step training error, for --target-error
        self.augment = cfg.augment
        why = self.augment.problem(self.data.shape)
        if why:
            raise UserError(f"{why} ({self.data.name})")
        self.components = None  # the channels' principal components, for PCA lighting
        if self.augment.lighting and self.streamed:
            self.components = principal_components(self.data.covariance)  # type: ignore[union-attr]
        elif self.augment.lighting:  # the inputs as served, a chunk of 100 images at a time
            n, c = min(PCA_SAMPLE, len(self.data.y_train)), self.data.shape[0]
            _, cov = images.channel_moments(self.data.get(idx, "train")[0].transpose(0, 1).reshape(c, -1).numpy()
                                            for idx in torch.arange(n).split(100))
            self.components = principal_components(cov)

    @staticmethod
    def served(cfg: ClassificationConfig, data: Any) -> Any:
        """The data as this task feeds it to the model (AlexNet's mean-image inputs); `sample` serves
        a run's test images the same way."""
        return data

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
        if self.streamed:  # made ahead by the loader's workers: every micro-batch of this rank's step
            if shard.micro == 0 or not self._micro:
                if self._loader is None:
                    self._loader = stream.StepLoader(_StepBatches(self, shard.accum, shard.rank, shard.world),
                                                     self.cfg.loader_workers)
                self._micro = self._loader.get(step)
            return self._micro[shard.micro]
        if not self.augment.on:
            return super().batch(step, shard)
        idx = self.sampler.global_batch(step)  # (B,)
        places = shard.take(torch.arange(len(idx)))
        x, y = self.examples(idx[places])
        keys = step * self.cfg.batch_size + places
        return self.augment(x, self.cfg.seed, keys, self.components), y

    def logits(self, model: nn.Module, device: torch.device, split: str,
               n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (N, n_classes), labels) of the first n examples of a split (all by default), as
        evaluation feeds them; streamed data decoded in chunks by the loader's workers."""
        if not self.streamed:
            x, y = self.inputs(split, n)
            return predict(model, x, device), y
        return streamed_logits(model, device, self.data, self.augment, split, n, self.cfg.loader_workers)

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
        logits, yt = self.logits(model, device, "test")
        logits_tr, ytr = self.logits(model, device, "train", min(self.eval_train_examples, len(self.data.y_train)))
        return {"test_loss": F.cross_entropy(logits, yt).item(), "test_acc": accuracy(logits, yt),
                "train_loss": F.cross_entropy(logits_tr, ytr).item(), "train_acc": accuracy(logits_tr, ytr)}

    def predictions(self, model: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(true labels, predicted labels, number of classes) on the test split: `milestones evaluate`
        draws their confusion matrix."""
        logits, yt = self.logits(model, device, "test")
        return yt, logits.argmax(1), self.data.n_classes

    def state_dict(self) -> dict[str, Any]:
        return {"errors": list(self.errors)} if self.cfg.target_error else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.errors = [float(e) for e in state.get("errors", [])]


EVAL_CHUNK = 500  # examples per forward pass at evaluation (predict's chunk: the same numbers either way)


class _StepBatches:
    """A step's batch for one rank, every micro-batch of it: what a streaming loader's worker makes."""

    def __init__(self, task: ClassificationTask, accum: int, rank: int, world: int):
        self.data, self.sampler, self.augment, self.components = task.data, task.sampler, task.augment, task.components
        self.seed, self.batch_size = task.cfg.seed, task.cfg.batch_size
        self.shards = [Shard(m, accum, rank, world) for m in range(accum)]

    def __call__(self, step: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.sampler.global_batch(step)  # (B,)
        out = []
        for shard in self.shards:
            places = shard.take(torch.arange(len(idx)))
            x, y = self.data.get(idx[places], "train")
            if self.augment.on:
                x = self.augment(x, self.seed, step * self.batch_size + places, self.components)
            out.append((x, y))
        return out


def streamed_logits(model: nn.Module, device: torch.device, data: stream.FolderImages, augment: ImageAugment,
                    split: str, n: int | None = None, workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of the first n images of a streamed split, decoded in chunks by `workers`."""
    labels = data.y_train if split == "train" else data.y_test
    chunks = list(torch.arange(len(labels) if n is None else n).split(EVAL_CHUNK))
    out = [predict(model, x, device, EVAL_CHUNK)
           for x in stream.made_ahead(_EvalChunks(data, augment, split, chunks), range(len(chunks)), workers)]
    return torch.cat(out), labels[torch.cat(chunks)]


class _EvalChunks:
    """Chunk k of a split, decoded and centre-cropped as evaluation feeds it."""

    def __init__(self, data: Any, augment: ImageAugment, split: str, chunks: list[torch.Tensor]):
        self.data, self.augment, self.split, self.chunks = data, augment, split, chunks

    def __call__(self, k: int) -> torch.Tensor:
        return self.augment.centre(self.data.get(self.chunks[k], self.split)[0])
