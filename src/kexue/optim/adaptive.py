"""Adaptive learning rates from error control (Su Jianlin, https://spaces.ac.cn/archives/6234).

Gradient descent ``theta <- theta - gamma L'(theta)`` is Euler's method for the gradient flow
``d theta / dt = -L'(theta)`` with time step ``gamma``; its local error is ``O(gamma^2)``. The post
keeps the error in check by holding the first-order term, the length of the step, at a constant:
``gamma |L'(theta)| = lr``, so ``gamma = lr / |L'|`` and every step is ``lr sign(L')``. Replacing
``|L'|`` by the root of a moving average of ``L'^2``, coordinate by coordinate, is RMSprop:

    G_n = alpha G_{n-1} + (1 - alpha) g_n^2,    theta_n = theta_{n-1} - lr g_n / (sqrt(G_n) + eps).

A moving average of the gradient itself (momentum) and division of both averages by their total
weight (bias correction) make Adam:

    m_n = b1 m_{n-1} + (1 - b1) g_n,   v_n = b2 v_{n-1} + (1 - b2) g_n^2,
    theta_n = theta_{n-1} - lr mhat_n / (sqrt(vhat_n) + eps),   mhat_n = m_n / (1 - b1^n),
                                                               vhat_n = v_n / (1 - b2^n).

The rules are pure functions on tensors (:func:`sgd_update`, :func:`rmsprop_update`,
:func:`adam_update`). :class:`RMSprop` and :class:`Adam` are ``torch.optim.Optimizer`` subclasses
that apply them; they equal ``torch.optim.RMSprop`` and ``torch.optim.Adam`` step for step (the
tests check it). On the 2-D surfaces of :mod:`kexue.optim.surfaces` the same rules run a whole grid
of learning rates at once (:func:`sweep`); the chapter's comparison on them (the experiment
``adaptive-optimisers-2d``) is in :mod:`kexue.optim.experiments`, its figures in
:mod:`kexue.optim.figures.adaptive`.

Serves chapters/part2-optimisation/adaptive-learning-rates.ipynb (post 6234).
"""
from __future__ import annotations

import copy
import math
import re
from numbers import Real
from typing import Callable

import torch

from .. import train
from ..checks import float_tensor, fraction, non_negative, positive, positive_int, real_number
from . import surfaces as _surfaces
from .from_scratch import closure_loss

__all__ = [
    "sgd_update", "rmsprop_update", "adam_update", "rmsprop_step_bound", "adam_step_bound",
    "RuleOptimizer", "RMSprop", "Adam", "log_cosh_flow", "log_cosh_flow_time",
    "normalised_descent", "OPTIMISERS", "run_optimizer", "sweep", "steps_to", "rotate", "scale",
    "surface", "ParameterTrace", "lockstep", "max_deviation",
]


# -- hyper-parameter checks ----------------------------------------------------------------------
def _lr(lr, reference: torch.Tensor):
    """A learning rate: a positive number, or a positive finite tensor that broadcasts against the
    parameter (one rate per row for :func:`sweep`)."""
    if isinstance(lr, torch.Tensor):
        float_tensor(lr, "lr")
        if not bool((lr > 0).all()):
            raise ValueError("lr must be positive, got a tensor with entries <= 0")
        if lr.ndim > reference.ndim or any(
                a not in (1, b) for a, b in zip(lr.shape[::-1], reference.shape[::-1])):
            raise ValueError(f"lr of shape {tuple(lr.shape)} does not broadcast against the "
                             f"parameter's shape {tuple(reference.shape)}")
        return lr
    return positive(lr, "lr")


def _betas(betas) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return fraction(betas[0], "beta1"), fraction(betas[1], "beta2")


def _same_shape(param: torch.Tensor, **tensors: torch.Tensor) -> None:
    if not isinstance(param, torch.Tensor) or not param.is_floating_point():
        raise TypeError(f"param must be a real floating tensor, got "
                        f"{getattr(param, 'dtype', type(param).__name__)}")
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.shape != param.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, the parameter "
                             f"{tuple(param.shape)}")
        if t.dtype != param.dtype:
            raise TypeError(f"{name} has dtype {t.dtype}, the parameter {param.dtype}")


# -- the update rules, as pure functions ---------------------------------------------------------
def sgd_update(param: torch.Tensor, grad: torch.Tensor, velocity: torch.Tensor, *, lr,
               momentum: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient descent with heavy-ball momentum, as ``torch.optim.SGD`` does it:
    ``v <- momentum v + g``, ``theta <- theta - lr v`` (``momentum = 0``: plain Euler steps).
    Returns the new ``(param, velocity)``; start from ``velocity = 0``."""
    _same_shape(param, grad=grad, velocity=velocity)
    lr, momentum = _lr(lr, param), fraction(momentum, "momentum")
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity


def rmsprop_update(param: torch.Tensor, grad: torch.Tensor, square_avg: torch.Tensor, *, lr,
                   alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                   per_coordinate: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One RMSprop step; returns the new ``(param, square_avg)`` (start from ``square_avg = 0``).

    ``g = grad + weight_decay param``, ``G <- alpha G + (1 - alpha) g^2``,
    ``theta <- theta - lr g / (sqrt(G) + eps)``: the step ``lr / |g|`` of the error-control argument
    with ``|g|`` smoothed. ``per_coordinate=False`` is the post's other generalisation: ``G``
    averages the squared norm ``||g||^2`` over the last dimension (one scalar rate per point; the
    state then has size 1 there), so the step keeps the gradient's direction.
    """
    _same_shape(param, grad=grad)
    lr, alpha = _lr(lr, param), fraction(alpha, "alpha")
    eps, weight_decay = non_negative(eps, "eps"), non_negative(weight_decay, "weight_decay")
    if weight_decay:
        grad = torch.add(grad, param, alpha=weight_decay)  # g + weight_decay theta
    if not per_coordinate and param.ndim == 0:
        raise ValueError("per_coordinate=False needs a parameter with at least one dimension")
    expected = param.shape if per_coordinate else param.shape[:-1] + (1,)
    if not isinstance(square_avg, torch.Tensor) or square_avg.shape != expected or \
            square_avg.dtype != param.dtype:
        raise ValueError(f"square_avg must be a tensor of shape {tuple(expected)} and dtype "
                         f"{param.dtype}, got {getattr(square_avg, 'shape', square_avg)!r}")
    if per_coordinate:  # alpha G + (1 - alpha) g*g, one fused op (as torch.optim.RMSprop does it)
        square_avg = torch.addcmul(alpha * square_avg, grad, grad, value=1 - alpha)
    else:
        square_avg = alpha * square_avg + (1 - alpha) * (grad * grad).sum(dim=-1, keepdim=True)
    return param - lr * grad / (square_avg.sqrt() + eps), square_avg


def adam_update(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor,
                exp_avg_sq: torch.Tensor, step: int, *, lr, betas=(0.9, 0.999), eps: float = 1e-8,
                weight_decay: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam's ``step``-th update (``step = 1, 2, ...``); returns ``(param, exp_avg, exp_avg_sq)``.

    ``g = grad + weight_decay param``, ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``theta <- theta - lr mhat / (sqrt(vhat) + eps)`` with the bias-corrected averages
    ``mhat = m / (1 - b1^step)``, ``vhat = v / (1 - b2^step)`` (start from ``m = v = 0``).
    """
    _same_shape(param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq)
    lr, (beta1, beta2) = _lr(lr, param), _betas(betas)
    eps, weight_decay = non_negative(eps, "eps"), non_negative(weight_decay, "weight_decay")
    step = positive_int(step, "step")
    if weight_decay:
        grad = torch.add(grad, param, alpha=weight_decay)  # g + weight_decay theta
    exp_avg = torch.lerp(exp_avg, grad, 1 - beta1)  # m + (1 - b1)(g - m) = b1 m + (1 - b1) g
    exp_avg_sq = torch.addcmul(beta2 * exp_avg_sq, grad, grad, value=1 - beta2)
    # lr mhat / (sqrt(vhat) + eps), with the two corrections 1 - b^n applied as torch does
    step_size = lr / (1 - beta1 ** step)
    denom = exp_avg_sq.sqrt() / (1 - beta2 ** step) ** 0.5 + eps
    return param - step_size * exp_avg / denom, exp_avg, exp_avg_sq


def rmsprop_step_bound(alpha: float) -> float:
    """With ``eps = 0``, ``G_n >= (1 - alpha) g_n^2``, so no RMSprop step moves a coordinate by more
    than ``lr / sqrt(1 - alpha)`` (the first step, from ``G_0 = 0``, moves every one by exactly
    that). Returns the factor ``1 / sqrt(1 - alpha)``."""
    return 1 / math.sqrt(1 - fraction(alpha, "alpha"))


def adam_step_bound(betas, step: int) -> float:
    """The largest ``|mhat_n| / sqrt(vhat_n)`` over all gradient sequences (``eps = 0``), so no Adam
    step moves a coordinate by more than ``lr`` times it. By Cauchy-Schwarz, with
    ``r = b1^2 / b2``: ``|m_n| <= (1 - b1) sqrt(sum_{j<n} r^j) sqrt(v_n / (1 - b2))``, hence

        |mhat_n| / sqrt(vhat_n) <= (1 - b1) sqrt(1 - b2^n) sqrt(sum_{j<n} r^j)
                                    / ((1 - b1^n) sqrt(1 - b2)),

    equal to 1 at ``n = 1`` and, for ``b1^2 < b2``, tending to
    ``(1 - b1) / sqrt((1 - b2)(1 - r))`` (about 7.3 for torch's defaults); the gradient sequence
    ``g_k`` proportional to ``(b1 / b2)^(n - k)`` attains it."""
    beta1, beta2 = _betas(betas)
    n = positive_int(step, "step")
    if beta2 == 0.0:
        if beta1 != 0.0:
            raise ValueError("with beta2 = 0 and beta1 > 0 the step is unbounded")
        return 1.0
    r = beta1 ** 2 / beta2
    geometric = n if r == 1.0 else (1 - r ** n) / (1 - r)
    return ((1 - beta1) * math.sqrt((1 - beta2 ** n) * geometric)
            / ((1 - beta1 ** n) * math.sqrt(1 - beta2)))


# -- the same rules as torch optimisers ----------------------------------------------------------
class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that applies a pure update rule: subclasses give ``_check``
    (validate a parameter group's hyper-parameters) and ``_update`` (one parameter's new value from
    its gradient, its state and the group's hyper-parameters)."""

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.update(self._check(group))
        for p in group["params"]:
            if not p.is_floating_point():
                raise TypeError(f"{type(self).__name__} needs real floating parameters, got "
                                f"{p.dtype}")

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(f"{type(self).__name__} does not take sparse gradients")
                p.copy_(self._update(p, p.grad, self.state[p], group))
        return loss


class RMSprop(RuleOptimizer):
    """RMSprop written from :func:`rmsprop_update`; the defaults are ``torch.optim.RMSprop``'s."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    @staticmethod
    def _check(group: dict) -> dict:
        return dict(lr=positive(group["lr"], "lr"), alpha=fraction(group["alpha"], "alpha"),
                    eps=non_negative(group["eps"], "eps"),
                    weight_decay=non_negative(group["weight_decay"], "weight_decay"))

    @staticmethod
    def _update(p, grad, state, group):
        if not state:
            state["step"], state["square_avg"] = 0, torch.zeros_like(p)
        state["step"] += 1
        p_new, state["square_avg"] = rmsprop_update(
            p, grad, state["square_avg"], lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"])
        return p_new


class Adam(RuleOptimizer):
    """Adam written from :func:`adam_update`; the defaults are ``torch.optim.Adam``'s."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @staticmethod
    def _check(group: dict) -> dict:
        return dict(lr=positive(group["lr"], "lr"), betas=_betas(group["betas"]),
                    eps=non_negative(group["eps"], "eps"),
                    weight_decay=non_negative(group["weight_decay"], "weight_decay"))

    @staticmethod
    def _update(p, grad, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        state["step"] += 1
        p_new, state["exp_avg"], state["exp_avg_sq"] = adam_update(
            p, grad, state["exp_avg"], state["exp_avg_sq"], state["step"], lr=group["lr"],
            betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"])
        return p_new


# -- error control in one dimension: L(theta) = log cosh(theta) ----------------------------------
def _as_float64(theta, name: str) -> torch.Tensor:
    if isinstance(theta, Real) and not isinstance(theta, bool):
        theta = torch.tensor(float(theta), dtype=torch.float64)
    return float_tensor(theta, name).to(torch.float64)


def log_cosh_flow(theta0, t) -> torch.Tensor:
    """The exact gradient flow of ``L = log cosh theta`` (``L' = tanh``): since
    ``d/dt sinh theta = cosh theta * (-tanh theta) = -sinh theta``, ``sinh theta(t) =
    e^{-t} sinh theta0``."""
    theta0, t = _as_float64(theta0, "theta0"), _as_float64(t, "t")
    if bool((t < 0).any()):
        raise ValueError("t must be >= 0: the flow runs forward in time")
    return torch.asinh(torch.sinh(theta0) * torch.exp(-t))


def log_cosh_flow_time(theta0, theta) -> torch.Tensor:
    """The time the flow of ``log cosh`` takes from ``theta0`` to ``theta``:
    ``log(sinh theta0 / sinh theta)`` (``theta`` between 0 and ``theta0``, same sign)."""
    theta0, theta = _as_float64(theta0, "theta0"), _as_float64(theta, "theta")
    if not bool(((theta * theta0 > 0) & (theta.abs() <= theta0.abs())).all()):
        raise ValueError("theta must lie between 0 and theta0, on theta0's side of 0")
    return torch.log(torch.sinh(theta0) / torch.sinh(theta))


def normalised_descent(grad: Callable, theta0: float, lr: float, steps: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Euler steps with the error-controlled time step ``gamma_k = lr / |L'(theta_k)|``, so that
    ``theta_{k+1} = theta_k - lr sign L'(theta_k)``: every step has length ``lr``. Returns the
    iterates ``theta_0..theta_steps`` and the flow time they stand for, ``t_k = gamma_0 + ... +
    gamma_{k-1}`` (float64)."""
    theta = real_number(theta0, "theta0")
    lr, steps = positive(lr, "lr"), positive_int(steps, "steps")
    thetas, times = [theta], [0.0]
    for _ in range(steps):
        g = float(grad(torch.tensor(theta, dtype=torch.float64)))
        if g == 0.0 or not math.isfinite(g):
            raise ValueError(f"L'(theta) = {g} at theta = {theta}: the step lr / |L'| is undefined")
        theta -= lr * math.copysign(1.0, g)
        thetas.append(theta)
        times.append(times[-1] + lr / abs(g))
    return torch.tensor(thetas, dtype=torch.float64), torch.tensor(times, dtype=torch.float64)


# -- the optimisers on the 2-D surfaces ----------------------------------------------------------
#: The optimisers compared on the surfaces and their hyper-parameters (torch's defaults; heavy-ball
#: momentum 0.9). "RMSprop (norm)" is the post's scalar variant: one rate from ``||g||^2``.
OPTIMISERS = {
    "SGD": dict(momentum=0.0),
    "momentum": dict(momentum=0.9),
    "RMSprop": dict(alpha=0.99, eps=1e-8),
    "RMSprop (norm)": dict(alpha=0.99, eps=1e-8, per_coordinate=False),
    "Adam": dict(betas=(0.9, 0.999), eps=1e-8),
}


def _rule(name: str, **overrides) -> Callable:
    """``rule(x, g, state, k, lr) -> (x, state)`` for optimiser ``name`` with its hyper-parameters
    from :data:`OPTIMISERS` updated by ``overrides``; ``state`` starts as None."""
    if name not in OPTIMISERS:
        raise KeyError(f"unknown optimiser {name!r}; choose one of {list(OPTIMISERS)}")
    unknown = set(overrides) - set(OPTIMISERS[name])
    if unknown:
        raise KeyError(f"{name} has no hyper-parameters {sorted(unknown)}; it has "
                       f"{sorted(OPTIMISERS[name])}")
    hyper = {**OPTIMISERS[name], **overrides}
    if "momentum" in hyper:
        def rule(x, g, state, k, lr):
            return sgd_update(x, g, torch.zeros_like(x) if state is None else state, lr=lr, **hyper)
    elif "betas" in hyper:
        def rule(x, g, state, k, lr):
            m, v = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
            x, m, v = adam_update(x, g, m, v, k, lr=lr, **hyper)
            return x, (m, v)
    else:
        def rule(x, g, state, k, lr):
            if state is None:
                state = torch.zeros_like(x if hyper.get("per_coordinate", True) else x[..., :1])
            return rmsprop_update(x, g, state, lr=lr, **hyper)
    return rule


def _gradient(surface, x: torch.Tensor) -> torch.Tensor:
    return torch.stack(surface.gradient(x[..., 0], x[..., 1]), dim=-1)


def _start(surface, start, dtype) -> torch.Tensor:
    if not isinstance(surface, _surfaces.Surface):
        raise TypeError(f"surface must be a kexue.optim.surfaces.Surface, got "
                        f"{type(surface).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    start = surface.start if start is None else start
    if len(start) != 2:
        raise ValueError(f"start must be a point (x, y), got {start!r}")
    return torch.tensor([real_number(start[0], "start x"), real_number(start[1], "start y")],
                        dtype=dtype)


def run_optimizer(surface, make_optimizer: Callable, steps: int, *, start=None,
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The path ``(steps + 1, 2)`` of any ``torch.optim`` optimiser, ``make_optimizer(params)``,
    on ``surface`` from ``start`` (default the surface's), fed the closed-form gradient."""
    steps = positive_int(steps, "steps")
    point = _start(surface, start, dtype).requires_grad_()
    optimizer = make_optimizer([point])
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer must return a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    path = [point.detach().clone()]
    for _ in range(steps):
        point.grad = _gradient(surface, point.detach())
        optimizer.step()
        path.append(point.detach().clone())
    return torch.stack(path)


def sweep(surface, name: str, lrs, steps: int, *, start=None, dtype: torch.dtype = torch.float64,
          blow_up: float = 1e6, **hyper) -> dict:
    """Run optimiser ``name`` (a key of :data:`OPTIMISERS`; ``hyper`` overrides its
    hyper-parameters) on ``surface`` at every learning rate in ``lrs`` at once, from the same
    start. A run whose loss becomes non-finite or exceeds
    ``blow_up`` times the starting loss has diverged: it stops where it was and its loss counts as
    ``inf``. Returns ``{"lrs", "paths": (steps + 1, n, 2), "losses": (steps + 1, n)}``."""
    rule = _rule(name, **hyper)
    steps = positive_int(steps, "steps")
    blow_up = positive(blow_up, "blow_up")
    lrs = float_tensor(torch.as_tensor(lrs, dtype=dtype), "lrs", ndim=1, nonempty=True)
    if not bool((lrs > 0).all()):
        raise ValueError("every learning rate in lrs must be positive")
    x = _start(surface, start, dtype).expand(len(lrs), 2).clone()
    cap = blow_up * float(surface(x[0]))
    lr, alive, state = lrs[:, None], torch.ones(len(lrs), dtype=torch.bool), None
    paths, losses = [x], [surface(x)]
    for k in range(1, steps + 1):
        x_new, state = rule(x, _gradient(surface, x), state, k, lr)
        loss = surface(x_new)
        alive &= torch.isfinite(loss) & (loss <= cap)
        x = torch.where(alive[:, None], x_new, x)
        paths.append(x)
        losses.append(torch.where(alive, loss, torch.full_like(loss, math.inf)))
    return {"lrs": lrs, "paths": torch.stack(paths), "losses": torch.stack(losses)}


def steps_to(losses: torch.Tensor, threshold: float) -> list[int | None]:
    """For each column of ``losses`` (``(steps + 1, n)``), the first step from which the loss stays
    below ``threshold`` to the end of the run, or None if it is not below at the end."""
    threshold = positive(threshold, "threshold")
    if not isinstance(losses, torch.Tensor) or losses.ndim != 2:
        raise ValueError(f"losses must be a 2-D tensor (steps + 1, runs), got "
                         f"{getattr(losses, 'shape', type(losses).__name__)}")
    above = (losses >= threshold) | losses.isnan()
    n = losses.shape[0]
    last_above = n - 1 - above.flip(0).int().argmax(dim=0)  # the last step at or above threshold
    return [None if bool(a[-1]) else (int(k) + 1 if bool(a.any()) else 0)
            for a, k in zip(above.T, last_above)]


def rotate(surface, angle: float) -> "_surfaces.Surface":
    """``surface`` turned by ``angle`` radians about the origin: ``L_rot(p) = L(R^T p)``, so
    ``grad L_rot(p) = R grad L(R^T p)``; start and minima turn with it. Rotating the
    ill-conditioned quadratic moves its axes off the coordinate axes, which a per-coordinate rate
    cannot see."""
    if not isinstance(surface, _surfaces.Surface):
        raise TypeError(f"surface must be a kexue.optim.surfaces.Surface, got "
                        f"{type(surface).__name__}")
    angle = real_number(angle, "angle")
    c, s = math.cos(angle), math.sin(angle)

    def back(x, y):  # R^T p
        return c * x + s * y, -s * x + c * y

    def forth(u, v):  # R q
        return c * u - s * v, s * u + c * v

    def value(x, y):
        return surface.value(*back(x, y))

    def gradient(x, y):
        return forth(*surface.gradient(*back(x, y)))

    corners = [forth(x, y) for x in surface.xlim for y in surface.ylim]
    half = max(max(abs(px), abs(py)) for px, py in corners)
    # the same change of variables in the formula strings (valid as JavaScript and as Python)
    C, S = f"({c!r})", f"({s!r})"
    back_xy = {"x": f"({C} * x + {S} * y)", "y": f"(-{S} * x + {C} * y)"}

    def substitute(formula: str) -> str:
        return re.sub(r"\b[xy]\b", lambda m: back_xy[m.group()], formula)

    G = f"({substitute(surface.javascript['gradient'])})"
    javascript = {"value": substitute(surface.javascript["value"]),
                  "gradient": f"[{C} * {G}[0] - {S} * {G}[1], {S} * {G}[0] + {C} * {G}[1]]"}
    return _surfaces.Surface(
        name=f"{surface.name}-rotated", title=f"{surface.title}, turned {math.degrees(angle):g}°",
        value=value, gradient=gradient, start=forth(*surface.start), xlim=(-half, half),
        ylim=(-half, half), minima=tuple(forth(*m) for m in surface.minima), javascript=javascript)


# -- step for step against torch.optim, on a small network trained through kexue.train ----------
class ParameterTrace(train.Callback):
    """Keeps every parameter, flattened into one vector, before training and after every step."""

    def __init__(self):
        self.rows: list[torch.Tensor] = []

    @staticmethod
    def _flat(model: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu().clone()

    def on_train_begin(self, trainer) -> None:
        if trainer.step == 0 and not self.rows:
            self.rows.append(self._flat(trainer.model))

    def on_step_end(self, trainer, logs) -> None:
        self.rows.append(self._flat(trainer.model))

    def trace(self) -> torch.Tensor:
        """``(steps + 1, n_parameters)``."""
        return torch.stack(self.rows)

    def state_dict(self) -> dict:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state["rows"])


def lockstep(model: torch.nn.Module, optimizers: dict, loss_fn: Callable, data, *, steps: int,
             batch_size: int, seed: int = 0) -> dict:
    """Train a copy of ``model`` with each ``optimizers[name](params)`` through
    :class:`kexue.train.Trainer`, on the same batches (same ``seed``); return ``{name: trace}``
    with each run's :class:`ParameterTrace` ``(steps + 1, n_parameters)``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not optimizers:
        raise ValueError("give at least one optimiser")
    steps = positive_int(steps, "steps")
    traces = {}
    for name, make in optimizers.items():
        copy_ = copy.deepcopy(model)
        trace = ParameterTrace()
        train.Trainer(copy_, make(copy_.parameters()), loss_fn, data, batch_size=batch_size,
                      seed=seed, callbacks=[trace], progress=False, description=name
                      ).fit(steps=steps)
        traces[name] = trace.trace()
    return traces


def max_deviation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``max_i |a[k, i] - b[k, i]|`` for every step ``k`` of two parameter traces."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        raise ValueError(f"the traces must be tensors of one shape, got "
                         f"{getattr(a, 'shape', type(a).__name__)} and "
                         f"{getattr(b, 'shape', type(b).__name__)}")
    return (a - b).abs().amax(dim=tuple(range(1, a.ndim)))


def scale(surface, c: float) -> "_surfaces.Surface":
    """``surface`` with its loss multiplied by ``c > 0``: the same minima, every gradient ``c``
    times larger."""
    if not isinstance(surface, _surfaces.Surface):
        raise TypeError(f"surface must be a kexue.optim.surfaces.Surface, got "
                        f"{type(surface).__name__}")
    c = positive(c, "c")
    return _surfaces.Surface(
        name=f"{surface.name}-scaled", title=f"{c:g} × {surface.title}",
        value=lambda x, y: c * surface.value(x, y),
        gradient=lambda x, y: tuple(c * g for g in surface.gradient(x, y)),
        start=surface.start, xlim=surface.xlim, ylim=surface.ylim, minima=surface.minima,
        javascript={"value": f"{c!r} * ({surface.javascript['value']})",
                    "gradient": f"[{c!r} * ({surface.javascript['gradient']})[0], "
                                f"{c!r} * ({surface.javascript['gradient']})[1]]"})


# -- the surfaces of the chapter's experiment -----------------------------------------------------
def surface(name: str) -> "_surfaces.Surface":
    """A surface of :mod:`kexue.optim.surfaces` by name, or ``"quadratic-rotated"``: the
    ill-conditioned quadratic turned by 45 degrees."""
    if name == "quadratic-rotated":
        return rotate(_surfaces.get("quadratic"), math.pi / 4)
    return _surfaces.get(name)
