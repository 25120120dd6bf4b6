"""Long-tailed training sets cut from balanced ones: the CIFAR-10-LT protocol of Cao et al. 2019
(LDAM, arXiv:1906.07413) that Menon et al. 2020 (arXiv:2007.07314) train on, applied here to MNIST
and Fashion-MNIST. Serves chapters/part7-classifiers/logit-adjustment.ipynb (post 7615).

:func:`long_tail_counts` gives the exponential profile ``n_i = int(n_max ratio^(-i/(K-1)))``,
:func:`long_tail_indices` draws a seeded subset of a labelled set that follows it, and
:func:`balanced_indices` draws a balanced set from what is left (a validation set).
"""
from __future__ import annotations

import torch

from ..checks import non_negative_int, positive_int, real_number

__all__ = ["long_tail_counts", "long_tail_indices", "balanced_indices"]


def long_tail_counts(n_max: int, classes: int, ratio: float) -> list[int]:
    """``[n_0, ..., n_{K-1}]`` with ``n_i = int(n_max * ratio ** (-i / (K - 1)))``: class 0 the
    head with ``n_max`` images, class ``K - 1`` the tail with ``n_max / ratio``, the counts falling
    geometrically (by ``ratio ** (1 / (K - 1))`` a class) in between; ``ratio = 1`` is balanced."""
    n_max = positive_int(n_max, "n_max")
    if positive_int(classes, "classes") < 2:
        raise ValueError(f"classes must be an int >= 2 (one class is no imbalance), got {classes!r}")
    classes = int(classes)
    ratio = real_number(ratio, "ratio")
    if ratio < 1:
        raise ValueError(f"ratio (head count / tail count) must be >= 1, got {ratio}")
    counts = [int(n_max * ratio ** (-i / (classes - 1))) for i in range(classes)]
    if counts[-1] < 1:
        raise ValueError(f"n_max / ratio = {n_max} / {ratio:g} < 1: the tail class would keep no "
                         f"image; raise n_max or lower the ratio")
    return counts


def _labels(labels, name: str = "labels") -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 tensor of class labels, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(labels.shape)}")
    if int(labels.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got {int(labels.min())}")
    return labels.cpu()


def _draw(labels: torch.Tensor, wanted: list[int], pool: torch.Tensor,
          generator: torch.Generator, what: str) -> torch.Tensor:
    """``wanted[c]`` indices of class ``c`` drawn without replacement from ``pool``, sorted."""
    picked = []
    for c, n in enumerate(wanted):
        members = pool[labels[pool] == c]
        if n > len(members):
            raise ValueError(f"class {c} has {len(members)} {what}; {n} were asked for")
        picked.append(members[torch.randperm(len(members), generator=generator)[:n]])
    return torch.cat(picked).sort().values


def long_tail_indices(labels: torch.Tensor, ratio: float, *, n_max: int | None = None,
                      seed: int) -> torch.Tensor:
    """Sorted indices into ``labels`` (int64, classes ``0 .. K-1``, ``K`` the largest label + 1)
    that keep a seeded random :func:`long_tail_counts` ``(n_max, K, ratio)[c]`` images of class
    ``c``; ``n_max`` defaults to the smallest class count. The same ``seed``, the same indices."""
    labels = _labels(labels)
    have = torch.bincount(labels)
    if bool((have == 0).any()):
        raise ValueError(f"labels name classes 0..{len(have) - 1} but class "
                         f"{int((have == 0).nonzero()[0])} has no example")
    n_max = int(have.min()) if n_max is None else n_max
    wanted = long_tail_counts(n_max, len(have), ratio)
    generator = torch.Generator().manual_seed(non_negative_int(seed, "seed"))
    return _draw(labels, wanted, torch.arange(len(labels)), generator, "examples")


def balanced_indices(labels: torch.Tensor, per_class: int, *, seed: int,
                     exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Sorted indices into ``labels`` that keep a seeded random ``per_class`` examples of every
    class ``0 .. K-1``, none of them in ``exclude`` (e.g. a training set's indices: the rest of
    the images then give a balanced validation set)."""
    labels = _labels(labels)
    per_class = positive_int(per_class, "per_class")
    keep = torch.ones(len(labels), dtype=torch.bool)
    if exclude is not None:
        exclude = _labels(exclude, "exclude")
        if int(exclude.max()) >= len(labels):
            raise ValueError(f"exclude holds index {int(exclude.max())}, beyond the "
                             f"{len(labels)} labels")
        keep[exclude] = False
    classes = int(labels.max()) + 1
    generator = torch.Generator().manual_seed(non_negative_int(seed, "seed"))
    return _draw(labels, [per_class] * classes, keep.nonzero().flatten(), generator,
                 "examples left" if exclude is not None else "examples")
