"""What every optimizer here shares: the closure and per-parameter loop of `step()`, and checks.

Each optimizer is a `torch.optim.Optimizer` subclass, so it plugs into torch's schedulers,
`state_dict()` and checkpoints like torch.optim's own. Subclasses write `_update` (one tensor)
or `_update_group` (all tensors of a group at once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer

Params = Iterable[torch.Tensor] | Iterable[dict]


def check_hyperparameters(lr: float, eps: float = 0.0, betas: tuple[float, float] = (0.0, 0.0)) -> None:
    if lr < 0.0:
        raise ValueError(f"learning rate must be >= 0, got {lr}")
    if eps < 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    for b in betas:
        if not 0.0 <= b < 1.0:
            raise ValueError(f"betas must lie in [0, 1), got {betas}")


class Base(Optimizer):
    """Shared step(): closure handling and the per-parameter loop; subclasses write `_update`."""

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            if params:
                self._update_group(params, group)
        return loss

    def _update_group(self, params: list[torch.Tensor], group: dict) -> None:
        """One step for every parameter of a group; the default is one `_update` per tensor."""
        for p in params:
            self._update(p, p.grad, self.state[p], group)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError
