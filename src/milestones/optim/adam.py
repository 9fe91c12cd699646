"""Adam, AdamW and AdaMax: the optimizers of the Adam milestone.

Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (arXiv:1412.6980).
  Adam     Algorithm 1: moment estimates m, v with bias correction; AMSGrad (Reddi et al. 2018)
           keeps the running maximum of v instead.
  AdaMax   Section 7.1, Algorithm 2: the infinity-norm variant, u = max(beta2 * u, |g|).
  AdamW    Loshchilov & Hutter 2019: weight decay applied to the weights, not added to the gradient.

Parity: tests/test_adam.py runs 200 steps of each beside torch.optim.Adam / AdamW / Adamax and
requires equal weights within 1e-6 relative. For that, each update is written in the same order
of floating-point operations as the reference; where the reference departs from the paper
(AdaMax adds eps inside the max), a comment says so.
"""

from __future__ import annotations

import math

import torch

from .base import Base, Params, check_hyperparameters


class Adam(Base):
    """Adam (Algorithm 1). `decoupled=True` gives AdamW; `amsgrad=True` gives AMSGrad.

    `bias_correction=False` drops the 1/(1 - beta^t) factors: the ablation of the paper's §3/§6.4.
    `foreach=True` (the default) updates all tensors of a group with list ops (fast with many
    tensors); `foreach=False` is the per-tensor loop, the easier one to read. Both give equal results.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                 decoupled: bool = False, bias_correction: bool = True, foreach: bool = True):
        check_hyperparameters(lr, eps, betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, decoupled=decoupled,
                                      bias_correction=bias_correction, foreach=foreach))

    @staticmethod
    def _init_state(p: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, params, group):
        if not group.get("foreach", True):  # groups saved before the flag existed
            return super()._update_group(params, group)
        # The same update as `_update`, written over lists: one `torch._foreach_*` call updates
        # every tensor of a (device, dtype) bucket, instead of a Python loop issuing ~8 small ops
        # per tensor. The arithmetic is identical, term by term.
        buckets: dict[tuple, list[torch.Tensor]] = {}
        for p in params:
            self._init_state(p, self.state[p], group)
            buckets.setdefault((p.device, p.dtype), []).append(p)
        for ps in buckets.values():
            self._update_foreach(ps, group)

    def _update_foreach(self, ps: list[torch.Tensor], group: dict) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        states = [self.state[p] for p in ps]
        grads = [p.grad for p in ps]
        ms = [s["exp_avg"] for s in states]
        vs = [s["exp_avg_sq"] for s in states]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1.0)
        if wd != 0:
            if group["decoupled"]:
                torch._foreach_mul_(ps, 1 - lr * wd)
            else:
                grads = torch._foreach_add(grads, ps, alpha=wd)
        torch._foreach_lerp_(ms, grads, 1 - beta1)  # m <- beta1 m + (1 - beta1) g
        torch._foreach_mul_(vs, beta2)  # v <- beta2 v + (1 - beta2) g^2
        torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
        if group["amsgrad"]:
            vmax = [s["max_exp_avg_sq"] for s in states]
            torch._foreach_maximum_(vmax, vs)
            vs = vmax
        ts = [t.item() for t in steps]
        if group["bias_correction"]:
            neg_step_sizes = [-lr / (1 - beta1 ** t) for t in ts]
            bc2_sqrts = [math.sqrt(1 - beta2 ** t) for t in ts]
        else:
            neg_step_sizes, bc2_sqrts = [-lr] * len(ts), [1.0] * len(ts)
        denoms = torch._foreach_sqrt(vs)
        torch._foreach_div_(denoms, bc2_sqrts)
        torch._foreach_add_(denoms, eps)
        torch._foreach_addcdiv_(ps, ms, denoms, neg_step_sizes)  # theta <- theta - alpha m_hat / (sqrt(v_hat) + eps)

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        self._init_state(p, state, group)
        state["step"] += 1
        t = state["step"].item()
        if wd != 0:
            if group["decoupled"]:
                p.mul_(1 - lr * wd)  # AdamW: decay the weights themselves
            else:
                grad = grad.add(p, alpha=wd)  # Adam: L2 penalty folded into the gradient
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(grad, 1 - beta1)  # m <- beta1 m + (1 - beta1) g
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v <- beta2 v + (1 - beta2) g^2
        if group["amsgrad"]:
            torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        if group["bias_correction"]:
            # Bias correction (§3): m and v start at zero, so early estimates are scaled up.
            step_size = lr / (1 - beta1 ** t)
            bc2_sqrt = math.sqrt(1 - beta2 ** t)
        else:
            step_size, bc2_sqrt = lr, 1.0
        denom = v.sqrt().div_(bc2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-step_size)  # theta <- theta - alpha m_hat / (sqrt(v_hat) + eps)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (default 1e-2, as in torch.optim.AdamW)."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, foreach: bool = True):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled=True, foreach=foreach)


class AdaMax(Base):
    """AdaMax (Algorithm 2): the second moment replaced by an exponentially weighted infinity norm."""

    def __init__(self, params: Params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        check_hyperparameters(lr, eps, betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_inf"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        t = state["step"].item()
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        m, u = state["exp_avg"], state["exp_inf"]
        m.lerp_(grad, 1 - beta1)
        # u <- max(beta2 u, |g|). The reference adds eps to |g| inside the max so u is never 0.
        torch.maximum(u.mul_(beta2), grad.abs().add_(eps), out=u)
        p.addcdiv_(m, u, value=-lr / (1 - beta1 ** t))  # only m needs bias correction
