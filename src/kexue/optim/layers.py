"""Custom layers and what they are for, in PyTorch (Su Jianlin, https://spaces.ac.cn/archives/5765).

The post shows Keras layers beyond the built-in ones: a layer that behaves differently in training
and at test time, a layer with two outputs, a layer that brings its own loss (centre loss). In
PyTorch a layer is an ``nn.Module`` and its gradient comes from autograd; a
``torch.autograd.Function`` takes over the backward pass where we want another gradient than
autograd's (straight-through rounding, gradient reversal) or a hand-derived one (Swish, centre
loss, written to keep only the inputs for the backward pass). Forward hooks read what the layers
compute without changing the model.

The chapter's MNIST run (the experiment ``mnist-callbacks``) trains a small Swish MLP through
``kexue.train`` with the callbacks that the post's second half asks for: a warmup + cosine learning
rate, an exponential moving average of the weights, early stopping and a best-model checkpoint;
its driver is in :mod:`kexue.optim.experiments`, its figures in :mod:`kexue.optim.figures.layers`.

Serves chapters/part2-optimisation/layers-and-callbacks.ipynb (post 5765).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import train
from ..checks import float_tensor, fraction, label_tensor, non_negative, positive, positive_int, real_number


# -- a layer with a training phase -----------------------------------------------------------------
class GaussianNoise(nn.Module):
    """``x + std * N(0, I)`` in training mode, ``x`` in eval mode (Keras's ``K.in_train_phase``)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = positive(std, "std")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training else x


# -- Swish with a hand-derived backward --------------------------------------------------------------
class SwishFunction(torch.autograd.Function):
    """``y = x sigmoid(beta x)`` with ``s = sigmoid(beta x)`` and the derivatives

        dy/dx = s (1 + beta x (1 - s)),    dy/dbeta = x^2 s (1 - s).

    Only ``x`` and ``beta`` are saved; ``s`` is recomputed in the backward pass (autograd of the
    expression would keep ``s`` and ``beta x`` as well). ``beta`` broadcasts against ``x``.
    """

    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x, beta)
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def backward(ctx, grad):
        x, beta = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        ds = s * (1 - s)
        grad_x = grad * (s + beta * x * ds) if ctx.needs_input_grad[0] else None
        grad_beta = (grad * x * x * ds).sum_to_size(beta.shape) if ctx.needs_input_grad[1] else None
        return grad_x, grad_beta


def swish(x: torch.Tensor, beta: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Swish ``x sigmoid(beta x)`` through :class:`SwishFunction` (``beta = 1`` is SiLU)."""
    float_tensor(x, "x")
    if not isinstance(beta, torch.Tensor):
        beta = torch.tensor(real_number(beta, "beta"), dtype=x.dtype, device=x.device)
    float_tensor(beta, "beta")
    try:
        torch.broadcast_shapes(beta.shape, x.shape)
    except RuntimeError:
        raise ValueError(f"beta of shape {tuple(beta.shape)} does not broadcast against x of "
                         f"shape {tuple(x.shape)}") from None
    if torch.broadcast_shapes(beta.shape, x.shape) != x.shape:
        raise ValueError(f"beta of shape {tuple(beta.shape)} would enlarge x of shape "
                         f"{tuple(x.shape)}")
    return SwishFunction.apply(x, beta)


def swish_minimum(beta: float) -> tuple[float, float]:
    """Where Swish is lowest, for ``beta > 0``: ``dy/dx = 0`` means ``1 + u + e^u = 0`` with
    ``u = beta x``, solved by ``u* = -1 - W(1/e)`` (Lambert W), so ``x* = -(1 + W(1/e)) / beta`` and
    ``y* = -W(1/e) / beta``, about ``-0.2785 / beta``."""
    from scipy.special import lambertw

    beta = positive(beta, "beta")
    w = float(lambertw(math.exp(-1)).real)
    return -(1 + w) / beta, -w / beta


class Swish(nn.Module):
    """Swish with a trainable ``beta``: one scalar, or one per feature (the last dimension)."""

    def __init__(self, features: int | None = None, beta: float = 1.0):
        super().__init__()
        shape = () if features is None else (positive_int(features, "features"),)
        self.beta = nn.Parameter(torch.full(shape, real_number(beta, "beta")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SwishFunction.apply(x, self.beta)


# -- gradients other than autograd's ------------------------------------------------------------------
class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, the identity's gradient backward (the straight-through estimator):
    the same as ``x + (round(x) - x).detach()``. The true derivative of ``round`` is 0 almost
    everywhere, which would stop all learning upstream."""
    return _RoundSTE.apply(float_tensor(x, "x"))


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def gradient_reversal(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The identity forward, ``-scale`` times the gradient backward (Ganin and Lempitsky, 2015):
    layers before it descend on what layers after it ascend. The same as
    ``(1 + scale) * x.detach() - scale * x``."""
    scale = non_negative(scale, "scale")
    return _GradientReversal.apply(float_tensor(x, "x"), scale)


# -- a layer with two outputs ----------------------------------------------------------------------
class _SplitHalves(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        half = x.shape[-1] // 2
        return x[..., :half].clone(), x[..., half:].clone()

    @staticmethod
    def backward(ctx, grad_first, grad_second):
        # one incoming gradient per output; an output not used downstream sends zeros
        return torch.cat([grad_first, grad_second], dim=-1)


def split_halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x[..., :d // 2], x[..., d // 2:])``: the post's two-output layer. Its backward pass gets
    one gradient per output and concatenates them."""
    float_tensor(x, "x")
    if x.ndim == 0 or x.shape[-1] < 2:
        raise ValueError(f"x must have at least 2 features in its last dimension, got shape "
                         f"{tuple(x.shape)}")
    return _SplitHalves.apply(x)


# -- a layer with its own loss: centre loss -----------------------------------------------------------
class _CenterLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, labels, centers):
        diff = features - centers[labels]
        ctx.save_for_backward(diff, labels)
        ctx.num_classes = centers.shape[0]
        return 0.5 * (diff * diff).sum() / features.shape[0]

    @staticmethod
    def backward(ctx, grad):
        diff, labels = ctx.saved_tensors
        g = grad * diff / diff.shape[0]
        grad_features = g if ctx.needs_input_grad[0] else None
        grad_centers = None
        if ctx.needs_input_grad[2]:
            grad_centers = torch.zeros(ctx.num_classes, diff.shape[1], dtype=diff.dtype,
                                       device=diff.device).index_add_(0, labels, -g)
        return grad_features, None, grad_centers


def center_loss(features: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Centre loss (Wen et al., 2016), ``L = 1/(2n) sum_i ||f_i - c_{y_i}||^2``, with its gradients

        dL/df_i = (f_i - c_{y_i}) / n,    dL/dc_j = -(1/n) sum_{i: y_i = j} (f_i - c_j).
    """
    float_tensor(features, "features", ndim=2, nonempty=True)
    float_tensor(centers, "centers", ndim=2, nonempty=True)
    label_tensor(labels, "labels", n=len(features))
    if centers.shape[1] != features.shape[1]:
        raise ValueError(f"centers must have {features.shape[1]} columns like features, got "
                         f"{centers.shape[1]}")
    if labels.min() < 0 or labels.max() >= centers.shape[0]:
        raise ValueError(f"labels must be in [0, {centers.shape[0]}), got values from "
                         f"{int(labels.min())} to {int(labels.max())}")
    return _CenterLoss.apply(features, labels, centers)


class CenterLoss(nn.Module):
    """Trainable class centres ``c_1, ..., c_k`` in feature space, and the centre loss of a batch."""

    def __init__(self, num_classes: int, dim: int, *, generator: torch.Generator | None = None):
        super().__init__()
        num_classes, dim = positive_int(num_classes, "num_classes"), positive_int(dim, "dim")
        self.centers = nn.Parameter(torch.randn(num_classes, dim, generator=generator))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return center_loss(features, labels, self.centers)


# -- forward hooks ----------------------------------------------------------------------------------
class ActivationRecorder:
    """Record what named submodules of ``model`` output (detached), with forward hooks.

    ``names`` defaults to every leaf module. ``activations[name]`` holds the latest output (a tensor,
    or a tuple for a module with several outputs). ``remove()`` (or leaving a ``with`` block)
    takes the hooks off; the model is never changed.
    """

    def __init__(self, model: nn.Module, names: list[str] | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        modules = dict(model.named_modules())
        if names is None:
            names = [n for n, m in modules.items() if n and not any(True for _ in m.children())]
        else:
            names = list(names)
            unknown = [n for n in names if n not in modules]
            if unknown:
                raise KeyError(f"no submodules named {unknown}; the model has "
                               f"{[n for n in modules if n]}")
        if not names:
            raise ValueError("nothing to record: the model has no submodules")
        self.activations: dict[str, torch.Tensor | tuple] = {}
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name: str):
        def record(module, inputs, output):
            self.activations[name] = (tuple(o.detach() for o in output)
                                      if isinstance(output, tuple) else output.detach())
        return record

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "ActivationRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# -- a learning-rate schedule ---------------------------------------------------------------------
def warmup_cosine(optimizer: torch.optim.Optimizer, *, warmup: int, total: int,
                  floor: float = 0.0) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step schedule: a linear warmup ``lr (t + 1) / warmup`` for steps ``t < warmup``, then a
    cosine from ``lr`` down to ``floor * lr`` at step ``total``, ``lr`` being the optimiser's rate
    (the floor uses the first parameter group's). Made of torch's ``LinearLR`` and
    ``CosineAnnealingLR``; drive it with :class:`kexue.train.StepScheduler`."""
    warmup, total = positive_int(warmup, "warmup"), positive_int(total, "total")
    if warmup >= total:
        raise ValueError(f"warmup ({warmup}) must be shorter than total ({total})")
    floor = fraction(floor, "floor")
    sched = torch.optim.lr_scheduler
    eta_min = floor * optimizer.param_groups[0]["lr"]  # read before LinearLR lowers the rate
    if warmup == 1:
        first = sched.LambdaLR(optimizer, lambda t: 1.0)
    else:
        first = sched.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0,
                               total_iters=warmup - 1)
    cosine = sched.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
    return sched.SequentialLR(optimizer, [first, cosine], milestones=[warmup])


# -- replaying the callbacks on a run that learns nothing ---------------------------------------
def _idle_trainer(callbacks: list, lr: float = 1.0) -> train.Trainer:
    """A :class:`kexue.train.Trainer` whose one weight never moves (its gradient is 0), to drive
    callbacks step by step on their own."""
    model = nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return train.Trainer(model, optimizer, lambda m, x: (m(x) * 0.0).sum(), torch.zeros(1, 1),
                         batch_size=1, callbacks=callbacks, progress=False)


def record_schedule(make_scheduler, steps: int, lr: float = 1.0) -> list[float]:
    """The learning rate of each of ``steps`` optimiser steps when ``make_scheduler(optimizer)``
    is driven by :class:`kexue.train.StepScheduler` (recorded by a
    :class:`kexue.train.LearningRateMonitor`)."""
    steps = positive_int(steps, "steps")
    monitor = train.LearningRateMonitor()
    trainer = _idle_trainer([monitor], positive(lr, "lr"))
    trainer.callbacks.append(train.StepScheduler(make_scheduler(trainer.optimizer)))
    trainer.fit(steps=steps)
    return monitor.lr


def replay_early_stopping(values, *, patience: int, mode: str = "min",
                          min_delta: float = 0.0) -> dict:
    """Feed a recorded sequence of metric values, one per evaluation, to a real
    :class:`kexue.train.EarlyStopping`; return the index of the evaluation at which it stops (None if
    it never does) and the index of the best one."""
    values = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise TypeError("values must be numbers (nan is allowed: it never improves)")
    if not values:
        raise ValueError("values must be a non-empty sequence of numbers")
    feed = iter(values)
    stopper = train.EarlyStopping(lambda model: next(feed), patience=patience, mode=mode,
                                  min_delta=min_delta, every=1, restore_best=False)
    _idle_trainer([stopper]).fit(steps=len(values))
    return {"stop": None if stopper.stopped_step is None else stopper.stopped_step - 1,
            "best": None if stopper.best_step is None else stopper.best_step - 1}
