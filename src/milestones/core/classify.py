"""A supervised image-classification Task, shared by the milestones that classify images.

The milestone supplies the model and optimizer builders; this supplies batches from an
in-memory `ImageData`, cross-entropy, accuracy, and an evaluation that reports test and
training accuracy (their gap is what dropout is meant to narrow).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import ImageData
from .config import TrainConfig
from .distributed import Dist
from .task import EpochSampler, Task


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
    def __init__(self, name: str, cfg: TrainConfig, data: ImageData,
                 build_model: Callable[[], nn.Module],
                 build_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
                 eval_train_examples: int = 2000, evaluate: bool = True):
        """`evaluate=False` skips the held-out evaluation: claims that only read the training
        loss curve then spend no time on it."""
        super().__init__(cfg)
        self.name = name
        self.data = data
        self._build_model = build_model
        self._build_optimizer = build_optimizer
        self.sampler = EpochSampler(len(data.y_train), cfg.batch_size, cfg.seed)
        self.eval_train_examples = eval_train_examples
        self.do_evaluate = evaluate

    def build_model(self) -> nn.Module:
        return self._build_model()

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return self._build_optimizer(model)

    def batch(self, step: int, micro: int, d: Dist):
        idx = self.sampler.indices(step, micro, self.cfg.grad_accum, d)
        return self.data.get(idx, "train")

    def loss(self, model: nn.Module, batch):
        x, y = batch
        logits = model(x)  # (B, n_classes)
        loss = F.cross_entropy(logits.float(), y)
        return loss, {"acc": accuracy(logits.detach(), y)}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        if not self.do_evaluate:
            return {}
        xt, yt = self.data.all("test")
        logits = predict(model, xt, device)
        n = min(self.eval_train_examples, len(self.data.y_train))
        xtr, ytr = self.data.get(torch.arange(n), "train")
        logits_tr = predict(model, xtr, device)
        return {"test_loss": F.cross_entropy(logits, yt).item(), "test_acc": accuracy(logits, yt),
                "train_loss": F.cross_entropy(logits_tr, ytr).item(), "train_acc": accuracy(logits_tr, ytr)}
