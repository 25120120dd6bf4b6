"""Mode coverage: which classes a generator's samples fall in, read by the book's reference
classifier (:func:`kexue.generative.frechet.reference_network`, the network whose features the
Fréchet distances use).

A generator that has collapsed onto a few modes makes samples the classifier puts in a few
classes. Two summaries of the histogram ``h`` of predicted classes over ``K`` classes:

* the classes found: how many hold at least ``threshold`` of the samples (1% by default, a tenth
  of a class's fair share for K = 10);
* the Kullback-Leibler divergence from uniform, ``KL(h || U) = sum_k h_k log(K h_k)``, zero for
  a generator that makes every class equally often and ``log K`` for one that makes one class.

Serves chapters/part5-gans/variational-gan.ipynb (post 5716).
"""
from __future__ import annotations

import torch

from ..checks import float_tensor, fraction
from . import frechet


def _histogram(h) -> torch.Tensor:
    h = float_tensor(torch.as_tensor(h, dtype=torch.float64), "histogram", ndim=1, nonempty=True)
    if bool((h < 0).any()):
        raise ValueError(f"a histogram has no negative entries, got minimum {float(h.min())}")
    if abs(float(h.sum()) - 1) > 1e-6:
        raise ValueError(f"a histogram of shares must sum to one, got {float(h.sum())}")
    return h


@torch.no_grad()
def class_histogram(images: torch.Tensor, dataset: str = "mnist",
                    batch_size: int = 2048) -> torch.Tensor:
    """The share of ``images`` (n x 784, in [0, 1]) that ``dataset``'s reference classifier puts
    in each class: a float64 vector of 10 entries summing to one."""
    images = float_tensor(images, "images", ndim=2, nonempty=True)
    model = frechet.reference_network(dataset).to(images.device)
    predicted = torch.cat([model(part).argmax(1) for part in images.split(batch_size)])
    counts = torch.bincount(predicted, minlength=model[-1].out_features).double().cpu()
    return counts / counts.sum()


def kl_from_uniform(histogram) -> float:
    """``KL(h || U) = sum_k h_k log(K h_k)`` in nats (empty classes contribute 0)."""
    h = _histogram(histogram)
    nonzero = h[h > 0]
    return float((nonzero * (nonzero * len(h)).log()).sum())


def classes_found(histogram, threshold: float = 0.01) -> int:
    """How many classes hold at least ``threshold`` of the samples."""
    h = _histogram(histogram)
    return int((h >= fraction(threshold, "threshold")).sum())


def coverage(images: torch.Tensor, dataset: str = "mnist", threshold: float = 0.01) -> dict:
    """``{"histogram", "classes_found", "kl_from_uniform"}`` for a batch of samples; the largest
    possible divergence, for one class alone, is ``log K`` (2.30 nats for ten classes)."""
    h = class_histogram(images, dataset)
    return {"histogram": h.tolist(), "classes_found": classes_found(h, threshold),
            "kl_from_uniform": kl_from_uniform(h)}
