"""What a milestone gives the shared trainer: the Task interface and a resumable batch sampler.

A Task builds the model and optimizer, hands out batches, turns a batch into a loss, and
evaluates. Batches are addressed by step, not drawn from an iterator, so the data order is
a pure function of (seed, step): resuming at step k sees exactly the batches an
uninterrupted run would have seen, and DDP ranks take disjoint slices of one global batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import TrainConfig, UserError
from .distributed import Dist


class EpochSampler:
    """Global batch indices for any step: a fresh permutation each epoch, seeded by (seed, epoch)."""

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

    def indices(self, step: int, micro: int, accum: int, d: Dist) -> torch.Tensor:
        """This rank's share of micro-batch `micro` of the global batch at `step`."""
        chunks = self.global_batch(step).chunk(accum * d.world)
        return chunks[micro * d.world + d.rank]


class Task:
    """Base class for a milestone's training task. Subclasses set `name` and implement the hooks."""

    name: str = "task"

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg

    # -- the hooks the trainer calls -------------------------------------------------------
    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer | dict[str, torch.optim.Optimizer]:
        """One optimizer, or several by phase name ({"d": ..., "g": ...}): each training step then
        runs the phases in this order, calling `loss(model, batch, phase)` for each."""
        raise NotImplementedError

    def batch(self, step: int, micro: int, d: Dist) -> Any:
        """The (CPU) micro-batch `micro` for `step` on this rank."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any, phase: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss to minimise and metrics to log (floats or 0-d tensors). With several
        optimizers the trainer passes the phase's name, and logs each phase's loss as
        `loss_<phase>` and their sum as `loss`."""
        raise NotImplementedError

    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        """The module the training step calls under DDP. Tasks whose step calls parts of the
        model separately (GAN) wrap each part here; what they return needs `no_sync()` (used
        between the micro-batches of gradient accumulation)."""
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        return {}

    def attach(self, model: nn.Module, device: torch.device) -> None:
        """Called once the model is built (and restored, on resume), before the first batch.
        Tasks whose batches depend on the model (DQN acts in its environment with it) keep it."""

    def state_dict(self) -> dict[str, Any]:
        """Task state beyond model, optimizer and RNGs that `--resume` must restore (e.g. DQN's
        episode counters). Saved in state.pt, so only tensors, numbers, strings, lists, dicts."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def save_files(self, folder: Path) -> None:
        """Write large task state (DQN's replay buffer) into a checkpoint folder being written."""

    def load_files(self, folder: Path) -> None:
        """Read back what `save_files` wrote, on resume."""

    def should_stop(self, step: int, metrics: dict[str, float]) -> bool:
        """Called after every optimizer step with its training metrics; True ends training early
        (claims use it to stop at a target, e.g. a training-error level)."""
        return False

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def to_device(batch: Any, device: torch.device) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=True)
        if isinstance(batch, (list, tuple)):
            return type(batch)(Task.to_device(b, device) for b in batch)
        if isinstance(batch, dict):
            return {k: Task.to_device(v, device) for k, v in batch.items()}
        return batch
