"""Gradient accumulation, the "soft batch" (Su Jianlin, https://spaces.ac.cn/archives/5879 and
https://spaces.ac.cn/archives/6794).

For a loss that is a mean over samples, the gradient of a batch of ``k m`` samples is the mean of
the gradients of its ``k`` micro-batches of ``m``:

    grad L_B = (1/k) sum_j grad L_{B_j}          (L_B = mean loss over B = B_1 + ... + B_k).

So ``k`` micro-batches give exactly the big batch's step if (1) their gradients are *averaged*
(weighted by size if the sizes differ) and (2) the optimiser's update runs *once*, after the
``k``-th: the parameters, the moving averages (momentum, Adam's moments), the step counter of the
bias correction and any weight decay all change once per big batch, never in between.

:class:`Accumulate` wraps any ``torch.optim`` optimiser and does exactly that; the training loop
does not change (``zero_grad``, ``backward``, ``step`` on every micro-batch).
:class:`StepEveryCall` is the post's first, wrong soft batch as its framework ran it: the
update ran on *every* micro-batch, with the gradient accumulated so far. It is kept to show the
difference. Batch normalisation breaks the equivalence either way: each micro-batch is normalised
with its own statistics, so its loss is not the big batch's loss restricted to its samples.
The post's MNIST check (the experiment ``accumulation-mnist``) is in :mod:`kexue.optim.experiments`.

Serves chapters/part2-optimisation/writing-an-optimiser.ipynb (posts 5879, 6794).
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import positive, positive_int
from ..classifier import classification_loss, mlp
from .from_scratch import closure_loss


class _Accumulator:
    """Shared machinery: keep a weighted running sum of the micro-batch gradients beside the
    wrapped optimiser, and hand their weighted mean to it as ``p.grad``."""

    def __init__(self, optimizer: torch.optim.Optimizer, k: int):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.k = positive_int(k, "k")
        self.count = 0       # micro-batches accumulated in the current cycle
        self.weight = 0.0    # the sum of their weights
        self.sums: list[torch.Tensor | None] = [None] * len(self._params())

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear ``p.grad`` for the next micro-batch (the accumulated sums are kept)."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _accumulate(self, closure, weight) -> torch.Tensor | None:
        weight = positive(weight, "weight")
        loss = closure_loss(closure)
        with torch.no_grad():
            for i, p in enumerate(self._params()):
                if p.grad is None:
                    continue
                if self.sums[i] is None:
                    self.sums[i] = torch.zeros_like(p)
                self.sums[i].add_(p.grad, alpha=weight)
        self.count += 1
        self.weight += weight
        return loss

    def _inner_step(self, divisor: float) -> None:
        """Put the accumulated sum over ``divisor`` into ``p.grad`` and let the optimiser step."""
        with torch.no_grad():
            for p, s in zip(self._params(), self.sums):
                p.grad = None if s is None else s / divisor
        self.optimizer.step()

    def _reset(self) -> None:
        self.sums = [None] * len(self.sums)
        self.count, self.weight = 0, 0.0

    def state_dict(self) -> dict:
        """The wrapped optimiser's state and the partial sums: a checkpoint taken mid-cycle
        resumes exactly."""
        return {"optimizer": self.optimizer.state_dict(), "k": self.k, "count": self.count,
                "weight": self.weight, "sums": [None if s is None else s.clone() for s in self.sums]}

    def load_state_dict(self, state: dict) -> None:
        if state["k"] != self.k or len(state["sums"]) != len(self.sums):
            raise ValueError(f"the state was saved with k={state['k']} and {len(state['sums'])} "
                             f"parameters, not k={self.k} and {len(self.sums)}")
        self.optimizer.load_state_dict(state["optimizer"])
        self.count, self.weight = state["count"], state["weight"]
        self.sums = [None if s is None else s.to(p.device, p.dtype).clone()
                     for s, p in zip(state["sums"], self._params())]


class Accumulate(_Accumulator):
    """Step ``optimizer`` once every ``k`` calls, with the (weighted) mean of the ``k`` gradients:

        p.grad <- sum_j w_j g_j / sum_j w_j,   then optimizer.step(),   once per ``k`` calls.

    Use it in place of the optimiser, with the training loop unchanged. With a mean loss, equal
    micro-batches and no batch-dependent layers, ``k`` calls on micro-batches of ``m`` samples
    equal one step on their union of ``k m`` samples (parameters and optimiser state alike).
    Pass ``weight=`` the micro-batch size when the sizes differ. The wrapped optimiser's own
    ``step`` count advances once per ``k`` calls; step a learning-rate schedule on it as often.
    """

    def step(self, closure=None, *, weight: float = 1.0):
        loss = self._accumulate(closure, weight)
        if self.count == self.k:
            self._inner_step(self.weight)   # the weighted mean of the k gradients
            self._reset()
        return loss


class StepEveryCall(_Accumulator):
    """The first soft batch of post 5879 as TensorFlow executed it (post 6794 explains why): the
    conditional update ``K.switch(cond, K.update(p, new_p), p)`` built both branches, so the update
    ran on every call. Here the optimiser steps on every call with ``(g_1 + ... + g_j) / k``, the
    gradient accumulated so far in the cycle; the sum is cleared every ``k`` calls.
    Wrong on purpose: parameters, moments and the step counter all move ``k`` times per cycle.
    """

    def step(self, closure=None, *, weight: float = 1.0):
        loss = self._accumulate(closure, weight)
        self._inner_step(float(self.k))     # the running sum over k, as in the post's code
        if self.count == self.k:
            self._reset()
        return loss


# -- checks on one fixed set of samples -----------------------------------------------------------
def train_on_micro_batches(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, sizes,
                           passes: int, *, weighted: bool = False) -> nn.Module:
    """``passes`` times over the first ``sum(sizes)`` rows of ``(x, y)`` in order, cut into
    consecutive micro-batches of ``sizes``: ``zero_grad``, mean cross-entropy, ``backward``,
    ``step`` on each (``step(weight=size)`` when ``weighted``). With ``sizes = [n]`` and a plain
    optimiser this is one large-batch step per pass."""
    sizes = [positive_int(m, "micro-batch size") for m in sizes]
    if not sizes or sum(sizes) > len(x) or len(x) != len(y):
        raise ValueError(f"micro-batch sizes {sizes} need {sum(sizes)} samples; x and y have "
                         f"{len(x)} and {len(y)}")
    for _ in range(positive_int(passes, "passes")):
        start = 0
        for m in sizes:
            optimizer.zero_grad()
            classification_loss(model, x[start:start + m], y[start:start + m])[0].backward()
            optimizer.step(weight=float(m)) if weighted else optimizer.step()
            start += m
    return model


def soft_batch_differences(x: torch.Tensor, y: torch.Tensor, *, k: int, passes: int, hidden: int,
                           lr: float, seed: int) -> list[dict]:
    """Adam on all of ``(x, y)`` as one batch per pass, against ``k`` micro-batches per pass with
    :class:`Accumulate`, with :class:`StepEveryCall`, and with :class:`Accumulate` on a network
    with batch norm (against its own large batch). Each row: the largest parameter and first-moment
    differences to the matching large-batch run, and the wrapped optimiser's step count."""
    n = positive_int(k, "k") * (len(x) // k)
    rows = []
    for name, wrapper, batch_norm in (("Accumulate", Accumulate, False),
                                      ("StepEveryCall (first soft batch)", StepEveryCall, False),
                                      ("Accumulate, with batch norm", Accumulate, True)):
        runs = []
        for sizes, wrap in (([n], None), ([n // k] * k, wrapper)):
            model = mlp((784, hidden, hidden, 10), seed=seed, batch_norm=batch_norm).to(x.device)
            adam = torch.optim.Adam(model.parameters(), lr=lr)
            train_on_micro_batches(model, wrap(adam, k) if wrap else adam, x, y, sizes, passes)
            runs.append((model, adam))
        (big, big_adam), (small, small_adam) = runs
        moments = max(float((small_adam.state[p]["exp_avg"] - big_adam.state[q]["exp_avg"]).abs().max())
                      for p, q in zip(small.parameters(), big.parameters()))
        first = next(small.parameters())
        rows.append({"variant": name, "param_diff": max_difference(small, big),
                     "moment_diff": moments, "adam_steps": int(small_adam.state[first]["step"]),
                     "large_batch_steps": int(big_adam.state[next(big.parameters())]["step"])})
    return rows


# -- how far apart two trained models are ---------------------------------------------------------
@torch.no_grad()
def max_difference(a: nn.Module, b: nn.Module) -> float:
    """The largest absolute difference between corresponding parameters of two models."""
    pa, pb = list(a.parameters()), list(b.parameters())
    if len(pa) != len(pb) or any(p.shape != q.shape for p, q in zip(pa, pb)):
        raise ValueError("the two models must have parameters of the same shapes")
    return max(float((p - q).abs().max()) for p, q in zip(pa, pb))
