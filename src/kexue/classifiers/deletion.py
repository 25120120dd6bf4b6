"""Deletion curves: how faithful an attribution is, measured rather than looked at.

Remove the features an attribution ranks highest first (set them to a fill value: the baseline's
pixel, the padding character) and track the classifier's accuracy and its probability of the true
class as more are removed. An attribution that finds what the model relies on makes the curve fall
fast, so a lower area under it is better; a random order is the floor every method must beat.
(Petsiuk et al., 2018, "RISE", call this the deletion metric.)

Serves chapters/part7-classifiers/integrated-gradients.ipynb.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..checks import real_number

__all__ = ["deletion_ranks", "deletion_curve", "curve_area", "random_scores"]


def deletion_ranks(scores: torch.Tensor, deletable: torch.Tensor | None = None) -> torch.Tensor:
    """Each feature's place in its example's deletion order (0: removed first), the highest score
    first, ties by position; features outside ``deletable`` come after every deletable one."""
    flat = scores.flatten(1).double()
    if deletable is not None:
        if deletable.shape != scores.shape or deletable.dtype != torch.bool:
            raise ValueError(f"deletable must be a bool mask of the scores' shape "
                             f"{tuple(scores.shape)}, got {deletable.dtype} {tuple(deletable.shape)}")
        flat = flat.masked_fill(~deletable.flatten(1), -torch.inf)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    return torch.argsort(order, dim=1).view(scores.shape)


@torch.no_grad()
def deletion_curve(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor, scores: torch.Tensor, fractions: Sequence[float], *,
                   fill: torch.Tensor | float = 0.0, deletable: torch.Tensor | None = None,
                   batch_size: int = 1024) -> dict[str, list[float]]:
    """``{"fraction", "accuracy", "probability"}``: the accuracy of ``forward(x)``'s logits against
    ``y`` and the mean softmax probability of ``y`` after the top ``round(f · m)`` features of
    each example by ``scores`` are set to ``fill``, for each ``f`` of ``fractions`` (``m`` the
    example's number of ``deletable`` features, all of them by default)."""
    if scores.shape != x.shape:
        raise ValueError(f"scores must have the input's shape {tuple(x.shape)}, got "
                         f"{tuple(scores.shape)}")
    if len(y) != len(x):
        raise ValueError(f"y must hold one label per example ({len(x)}), got {len(y)}")
    fractions = [real_number(f, "every deletion fraction") for f in fractions]
    if not fractions or not all(0 <= f <= 1 for f in fractions):
        raise ValueError(f"every deletion fraction must be in [0, 1], got {fractions}")
    ranks = deletion_ranks(scores, deletable)
    sizes = (deletable.flatten(1).sum(1) if deletable is not None
             else torch.full((len(x),), x[0].numel(), device=x.device))
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device).expand_as(x)
    curve: dict[str, list[float]] = {"fraction": fractions, "accuracy": [], "probability": []}
    for f in fractions:
        removed = torch.round(f * sizes.double()).long().view((-1,) + (1,) * (x.ndim - 1))
        deleted = torch.where(ranks < removed, fill, x)
        correct, probability = 0, 0.0
        for start in range(0, len(x), batch_size):
            logits = forward(deleted[start:start + batch_size])
            labels = y[start:start + batch_size]
            correct += int((logits.argmax(1) == labels).sum())
            probability += float(logits.softmax(1).gather(1, labels[:, None]).sum())
        curve["accuracy"].append(correct / len(x))
        curve["probability"].append(probability / len(x))
    return curve


def curve_area(fractions: Sequence[float], values: Sequence[float]) -> float:
    """The trapezoid area under ``values`` over ``fractions``, divided by the fractions' range:
    the curve's mean height (lower is better for a deletion curve)."""
    f = torch.as_tensor(fractions, dtype=torch.float64)
    v = torch.as_tensor(values, dtype=torch.float64)
    if f.ndim != 1 or f.shape != v.shape or len(f) < 2 or not (f.diff() > 0).all():
        raise ValueError("fractions must be at least two increasing numbers, one per value")
    return float(torch.trapezoid(v, f) / (f[-1] - f[0]))


def random_scores(shape, generator: torch.Generator, device=None) -> torch.Tensor:
    """Uniform random scores: the deletion order no attribution should lose to."""
    return torch.rand(shape, generator=generator).to(device)
