"""Optimisers written from scratch on ``torch.optim.Optimizer``
(Su Jianlin, https://spaces.ac.cn/archives/5879).

The post shows that an optimiser is a small object: hyperparameters, per-parameter state, and an
update rule applied to every parameter. In PyTorch the three pieces are

* ``param_groups``: a list of dicts, each holding some ``params`` and the hyperparameters that
  apply to them (``lr``, ``momentum``, ...), with ``defaults`` filling in what a group leaves out;
* ``state``: a dict from each parameter to its own state (a momentum buffer, Adam's moments);
* ``step(closure=None)``: read ``p.grad`` for every parameter, update ``p`` and its state; if a
  ``closure`` is given, call it first to (re)compute the loss and the gradients.

``state_dict()`` / ``load_state_dict()`` come with the base class and save both, so a run can
be stopped and resumed exactly. The two classes here follow the update rules of ``torch.optim.SGD``
and ``torch.optim.Adam`` (the tests check them step for step):

SGD with momentum ``mu``, dampening ``tau``, weight decay ``lambda``:
    d = g + lambda p;   b <- d (first step), b <- mu b + (1 - tau) d (later);
    p <- p - lr (d + mu b)  (Nesterov)   or   p <- p - lr b.

Adam with ``(beta1, beta2)``, ``eps`` and L2 weight decay ``lambda`` (added to the gradient):
    d = g + lambda p;   m <- beta1 m + (1 - beta1) d;   v <- beta2 v + (1 - beta2) d^2;
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps).

Serves chapters/part2-optimisation/writing-an-optimiser.ipynb (post 5879).
"""
from __future__ import annotations

import torch

from ..checks import fraction, non_negative


def closure_loss(closure):
    """The loss from ``closure()``, computed with gradients enabled (an optimiser's ``step`` runs
    without them), or None without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class SGD(torch.optim.Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum and L2 weight decay, as ``torch.optim.SGD``."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        lr, weight_decay = non_negative(lr, "lr"), non_negative(weight_decay, "weight_decay")
        momentum, dampening = fraction(momentum, "momentum"), fraction(dampening, "dampening")
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=bool(nesterov)))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                if mu:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = d.clone()
                    else:
                        state["momentum_buffer"].mul_(mu).add_(d, alpha=1 - tau)
                    buf = state["momentum_buffer"]
                    d = d.add(buf, alpha=mu) if group["nesterov"] else buf
                p.add_(d, alpha=-lr)
        return loss


class Adam(torch.optim.Optimizer):
    """Adam (Kingma and Ba, 2015) with L2 weight decay added to the gradient, as ``torch.optim.Adam``."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        lr, weight_decay = non_negative(lr, "lr"), non_negative(weight_decay, "weight_decay")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        betas = (fraction(betas[0], "beta1"), fraction(betas[1], "beta2"))
        eps = non_negative(eps, "eps")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            (beta1, beta2), eps = group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)     # m: mean of the gradients
                    state["exp_avg_sq"] = torch.zeros_like(p)  # v: mean of their squares
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(d, 1 - beta1)
                v.mul_(beta2).addcmul_(d, d, value=1 - beta2)
                denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(eps)
                p.addcdiv_(m, denom, value=-group["lr"] / (1 - beta1 ** t))
        return loss
