"""The optimizers Adam was measured against (Kingma & Ba 2015, Figures 1-2), and AdaDelta.

  SGD      with (Nesterov) momentum, in the form of Sutskever et al. 2013.
  AdaGrad  Duchi, Hazan, Singer 2011: steps scaled by the root of all past squared gradients.
  RMSProp  Tieleman & Hinton 2012: ... by a running root-mean-square of recent gradients.
  AdaDelta Zeiler 2012: RMSProp whose step is rescaled by a running RMS of past updates.

Parity: tests/test_adam.py runs 200 steps of each beside torch.optim.SGD(nesterov) / Adagrad /
RMSprop / Adadelta and requires equal weights within 1e-6 relative.
"""

from __future__ import annotations

import torch

from .base import Base, Params, check_hyperparameters


class SGD(Base):
    """SGD with momentum; `nesterov=True` evaluates the gradient at the look-ahead point."""

    def __init__(self, params: Params, lr: float = 1e-2, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        check_hyperparameters(lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.clone().detach()
            else:
                buf.mul_(mu).add_(grad)  # b <- mu b + g
            grad = grad.add(buf, alpha=mu) if group["nesterov"] else buf  # Nesterov: g + mu b
        p.add_(grad, alpha=-lr)


class AdaGrad(Base):
    """AdaGrad: per-coordinate steps scaled by the root of the sum of all past squared gradients."""

    def __init__(self, params: Params, lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0):
        check_hyperparameters(lr, eps)
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def _update(self, p, grad, state, group):
        if not state:
            state["step"] = torch.tensor(0.0)
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"],
                                           memory_format=torch.preserve_format)
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        state["sum"].addcmul_(grad, grad, value=1)
        std = state["sum"].sqrt().add_(group["eps"])
        p.addcdiv_(grad, std, value=-group["lr"])


class RMSProp(Base):
    """RMSProp: steps divided by a running root-mean-square of recent gradients. Centred (Graves 2013,
    the form DQN and MinAtar's DQN use), the running mean of the gradient is subtracted: the step is
    divided by an estimate of the gradient's standard deviation rather than its root mean square."""

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        check_hyperparameters(lr, eps, (alpha, momentum))
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _update(self, p, grad, state, group):
        if not state:
            state["step"] = torch.tensor(0.0)
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        sq = state["square_avg"]
        sq.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
        if group["centered"]:  # E[g^2] - E[g]^2
            mean = state["grad_avg"]
            mean.lerp_(grad, 1 - group["alpha"])
            avg = sq.addcmul(mean, mean, value=-1).sqrt_().add_(group["eps"])
        else:
            avg = sq.sqrt().add_(group["eps"])
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.mul_(group["momentum"]).addcdiv_(grad, avg)
            p.add_(buf, alpha=-group["lr"])
        else:
            p.addcdiv_(grad, avg, value=-group["lr"])


class AdaDelta(Base):
    """AdaDelta: RMSProp whose step is rescaled by a running RMS of past updates (units match)."""

    def __init__(self, params: Params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0):
        check_hyperparameters(lr, eps, (rho,))
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        sq, acc = state["square_avg"], state["acc_delta"]
        sq.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        std = sq.add(eps).sqrt_()
        delta = acc.add(eps).sqrt_().div_(std).mul_(grad)  # RMS[dx] / RMS[g] * g
        acc.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.add_(delta, alpha=-group["lr"])
