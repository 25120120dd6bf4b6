"""The small MNIST classifiers Part II's chapters train, and their loss and evaluation.

:func:`mlp` builds the multilayer perceptrons from seeded weights, :func:`classification_loss` is
the loss function ``kexue.train`` trains them on, :func:`train_mlp` trains one on a data set, :func:`evaluate` scores a model on a whole data
set, and :func:`mnist_subset` draws the training and test images the chapters' experiments use.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import data, runtime, train
from .checks import float_tensor, label_tensor, non_negative_int, positive_int

__all__ = ["mlp", "classification_loss", "train_mlp", "evaluate", "mnist_subset"]


def mlp(widths, *, activation: Callable[[], nn.Module] = nn.ReLU, batch_norm: bool = False,
        seed: int | None = None, dtype: torch.dtype | None = None) -> nn.Sequential:
    """Linear layers ``widths[0] -> widths[1] -> ... -> widths[-1]`` with ``activation()`` after
    every one but the last (and a ``BatchNorm1d`` before it with ``batch_norm``), initialised as
    PyTorch does. With ``seed`` the weights are drawn after seeding the CPU generator with it,
    and the global random state is restored afterwards; without, from the global state. The
    network is built in float32 and then cast to ``dtype``: one seed, the same weights (rounded)
    in every dtype."""
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must name at least an input and an output width, got {widths}")
    widths = [positive_int(w, "every layer width") for w in widths]
    if not callable(activation):
        raise TypeError(f"activation must be a callable that makes a module, got "
                        f"{type(activation).__name__}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    with runtime.seeded_init(seed):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(b))
                layers.append(activation())
    model = nn.Sequential(*layers)
    return model if dtype is None else model.to(dtype)


def classification_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Mean cross-entropy of ``model(x)`` against integer labels ``y``, and the accuracy: a loss
    function for ``kexue.train``."""
    logits = model(x)
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"model(x) must give logits of shape (n, classes) for labels y of shape "
                         f"(n,), got logits {tuple(logits.shape)} and y {tuple(y.shape)}")
    return F.cross_entropy(logits, y), {"acc": (logits.argmax(1) == y).to(logits.dtype).mean()}


def train_mlp(x: torch.Tensor, y: torch.Tensor, *, hidden=(), classes: int | None = None,
              epochs: int, batch_size: int = 100, lr: float = 1e-3, seed: int = 0,
              description: str = "classifier") -> nn.Sequential:
    """An :func:`mlp` ``x.shape[1] -> hidden -> classes`` (ReLU; ``classes`` defaults to the
    largest label + 1; no ``hidden``: a linear classifier) trained with Adam on ``(x, y)`` by
    :func:`classification_loss` through ``kexue.train``, on ``x``'s device (one CPU thread on the
    CPU); returned in eval mode."""
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    y = label_tensor(y, "y", n=len(x))
    classes = int(y.max()) + 1 if classes is None else positive_int(classes, "classes")
    model = mlp([x.shape[1], *hidden, classes], seed=seed).to(x.device)
    train.fit_adam(model, classification_loss, (x, y), lr=lr,
                   batch_size=min(positive_int(batch_size, "batch_size"), len(x)),
                   epochs=positive_int(epochs, "epochs"), seed=seed, description=description)
    return model.eval()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 4096
             ) -> dict:
    """``{"loss", "acc"}``: the mean cross-entropy and the accuracy of ``model`` on ``(x, y)``,
    in eval mode, without gradients, ``batch_size`` samples at a time; the model's training mode
    is restored afterwards."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x = float_tensor(x, "x", nonempty=True)
    y = label_tensor(y, "y", n=len(x))
    batch_size = positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    try:
        for start in range(0, len(x), batch_size):
            logits, labels = model(x[start:start + batch_size]), y[start:start + batch_size]
            loss += float(F.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(1) == labels).sum())
    finally:
        model.train(was_training)
    return {"loss": loss / len(x), "acc": correct / len(x)}


def mnist_subset(n_train: int, n_test: int, seed: int, device) -> tuple:
    """``(x_train, y_train, x_test, y_test)``: a seeded random ``n_train`` of MNIST's training
    images and its first ``n_test`` test images, as flat float tensors in ``[0, 1]`` on
    ``device``, with their labels."""
    images, labels = data.mnist("train")
    test_images, test_labels = data.mnist("test")
    for name, n, split, available in (("n_train", n_train, "training", len(images)),
                                      ("n_test", n_test, "test", len(test_images))):
        if positive_int(n, name) > available:
            raise ValueError(f"MNIST has {available} {split} images; {n} were asked for")
    generator = torch.Generator().manual_seed(non_negative_int(seed, "seed"))
    pick = torch.randperm(len(images), generator=generator)[:n_train]
    return (data.as_float(images[pick], device=device), labels[pick].to(device),
            data.as_float(test_images[:n_test], device=device), test_labels[:n_test].to(device))
