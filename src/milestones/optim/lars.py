"""LARS: layer-wise adaptive rate scaling (You, Gitman, Ginsburg 2017, "Large Batch Training of
Convolutional Networks", Eq. 6), SimCLR's optimizer for batches of 4,096 (Chen et al. 2020, §B.1).

Each tensor's step is scaled by a trust ratio, so that a layer moves by about the same fraction of
its own norm whatever the size of its gradient:

    g       <- grad + wd p                                    L2 weight decay
    ratio   =  eta ||p|| / (||grad|| + wd ||p|| + eps)        (1 when ||p|| or ||grad|| is 0)
    v       <- mu v + ratio g                                 momentum (SGD's form)
    p       <- p - lr v

A parameter group with weight decay 0 is left out of both (ratio 1): SimCLR puts biases and
BatchNorm there. Parity: tests/test_simclr.py steps beside lightly's LARS.
"""

from __future__ import annotations

import torch

from .base import Base, Params, check_hyperparameters


class LARS(Base):
    def __init__(self, params: Params, lr: float = 0.3, momentum: float = 0.9, weight_decay: float = 1e-6,
                 trust_coefficient: float = 1e-3, eps: float = 1e-8):
        check_hyperparameters(lr, eps)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        if trust_coefficient <= 0:
            raise ValueError(f"trust_coefficient must be > 0, got {trust_coefficient}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps))

    def _update(self, p, grad, state, group):
        wd = group["weight_decay"]
        if wd != 0:  # adapted and decayed; groups without decay (biases, BatchNorm) are neither
            p_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(grad)
            ratio = group["trust_coefficient"] * p_norm / (g_norm + wd * p_norm + group["eps"])
            ratio = torch.where((p_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))
            grad = grad.add(p, alpha=wd).mul_(ratio)
        if group["momentum"] != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.clone().detach()
            else:
                buf.mul_(group["momentum"]).add_(grad)
            grad = buf
        p.add_(grad, alpha=-group["lr"])
