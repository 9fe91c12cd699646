"""What a milestone gives the shared trainer: the Task interface, and batches addressed by step.

A Task resolves its model's config against the data, builds the model and its optimizers, says
which training examples make up the batch at any step (its `sampler`), turns examples into a
batch, a batch into a loss, and evaluates. Batches are addressed by step, not drawn from an
iterator, so the data order is a pure function of (seed, step): resuming at step k sees the
batches an uninterrupted run would have seen. The trainer splits each step's global batch into
shards: micro-batch m on rank r takes chunk m * world + r, so gradient accumulation and DDP see
the same examples one process would.

Most tasks only declare a sampler and `examples()`; a task whose batches are not rows of a data
set overrides `batch()` itself (DQN acts in its environment; GAN adds noise to its images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..errors import UserError


@dataclass(frozen=True)
class Shard:
    """Which part of a step's global batch one forward pass takes."""

    micro: int = 0  # micro-batch (gradient accumulation)
    accum: int = 1
    rank: int = 0  # DDP rank
    world: int = 1

    def take(self, global_batch: torch.Tensor) -> torch.Tensor:
        return global_batch.chunk(self.accum * self.world)[self.micro * self.world + self.rank]

    def size(self, batch_size: int) -> int:
        return batch_size // (self.accum * self.world)


class Sampler(Protocol):
    def global_batch(self, step: int) -> torch.Tensor:
        """Indices of the training examples in step `step`'s global batch."""
        ...


class EpochSampler:
    """Global batches for any step: a fresh permutation each epoch, seeded by (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n < batch_size:
            raise UserError(f"batch size {batch_size} is larger than the data set ({n} examples); "
                            "lower --batch-size")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size  # incomplete last batch dropped
        self._epoch = -1
        self._perm: torch.Tensor | None = None

    def global_batch(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g)
            self._epoch = epoch
        assert self._perm is not None
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size]


@dataclass
class Source:
    """What `--init-from` brings to a task: the model's config, its weights, its tokenizer."""

    model_config: Any
    state: dict[str, torch.Tensor]
    tokenizer: Any


class Task:
    """Base class for a milestone's training task. Subclasses set `name` and `model_class`."""

    name: str = "task"
    model_class: type[nn.Module] = nn.Module
    sampler: Sampler | None = None
    # The metrics that matter, in order: the progress bar shows them first (the training ones and the
    # last evaluation's), and curves.png and `milestones plot` draw them.
    watch: tuple[str, ...] = ("loss",)

    def __init__(self, cfg: Any):
        self.cfg = cfg

    @classmethod
    def for_resume(cls, cfg: Any, checkpoint: Path) -> Task:
        """The task of a run resumed from `checkpoint`: one built from the data alone, unless the
        checkpoint holds what the run was built with (a translation run's tokenizer)."""
        return cls(cfg)

    @classmethod
    def saved_tokenizer(cls, folder: Path) -> Any:
        """The tokenizer a checkpoint folder holds (text milestones), for `milestones.load`."""
        return None

    # -- the model --------------------------------------------------------------------------------
    def model_config(self) -> Any:
        """`cfg.model` with what comes from the data filled in (classes, vocabulary, shapes). Saved
        in every checkpoint, so a model can be rebuilt without its data (milestones.load)."""
        return self.cfg.model

    def build_model(self) -> nn.Module:
        try:
            return self.model_class(self.model_config())
        except ValueError as e:  # the config does not make a model (e.g. too small an input)
            raise UserError(f"cannot build the {self.name} model: {e}") from None

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by name; one step of training runs one phase per optimizer, in this order
        (GAN: {"d": ..., "g": ...}), calling `loss(model, batch, phase)` for each."""
        raise NotImplementedError

    # -- batches -----------------------------------------------------------------------------------
    def examples(self, idx: torch.Tensor) -> Any:
        """The training examples at these indices, as a (CPU) batch."""
        raise NotImplementedError

    def before_step(self, step: int) -> None:
        """Called once per optimizer step, before its micro-batches are drawn: a task that acts in an
        environment (DQN) acts and stores there, so that `batch` only samples. Nothing by default."""

    def batch(self, step: int, shard: Shard) -> Any:
        """The (CPU) micro-batch of `step` that `shard` takes."""
        if self.sampler is None:
            raise NotImplementedError(f"{self.name}: a task without a sampler must override batch()")
        return self.examples(shard.take(self.sampler.global_batch(step)))

    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss to minimise in this phase, and metrics to log (floats or 0-d tensors)."""
        raise NotImplementedError

    # -- the rest of a run -------------------------------------------------------------------------
    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        """The module the training step calls under DDP. Tasks whose step calls parts of the
        model separately (GAN) wrap each part here; what they return needs `no_sync()` (used
        between the micro-batches of gradient accumulation)."""
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def fsdp_units(self, model: nn.Module) -> list[nn.Module] | None:
        """The modules `--parallel fsdp` shards one by one (a transformer's blocks), before the
        whole model; None: this task's model is not sharded (DDP only)."""
        return None

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        return {}

    def test_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """What `milestones evaluate` prints: the evaluation on held-out data, by default the one
        training ran (tasks that evaluate on a validation split while training score the test split)."""
        return self.evaluate(model, device)

    def progress(self, step: int) -> tuple[int, int, str]:
        """(done, total, unit) for the progress bar and TensorBoard's axis: optimizer steps by default
        (DQN counts environment steps)."""
        return step, self.cfg.steps, "step"

    def throughput(self, seconds: float) -> dict[str, float]:
        """Rates to log for a training step that took `seconds` (tokens/s, MFU); none by default."""
        return {}

    def attach(self, model: nn.Module, device: torch.device) -> None:
        """Called once the model is built (and restored, on resume), before the first batch.
        Tasks whose batches depend on the model (DQN acts in its environment with it) keep it."""

    def should_stop(self, step: int, metrics: dict[str, float]) -> bool:
        """Called after every optimizer step with its training metrics; True ends training early."""
        return False

    def stop_reason(self) -> str:
        """Why `should_stop` ended training, for the run's log."""
        return "the task's stop condition was met"

    def state_dict(self) -> dict[str, Any]:
        """Task state beyond model, optimizers and RNGs that `--resume` must restore (e.g. DQN's
        episode counters). Saved in state.pt, so only tensors, numbers, strings, lists, dicts."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def save_files(self, folder: Path) -> None:
        """Write files a checkpoint needs beside the weights (a tokenizer, DQN's replay buffer)."""

    def load_files(self, folder: Path) -> None:
        """Read back what `save_files` wrote, on resume."""


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
