"""Class imbalance through mutual information (post 7615): logit adjustment, Menon et al. 2020,
"Long-tail learning via logit adjustment" (arXiv:2007.07314). Serves
chapters/part7-classifiers/logit-adjustment.ipynb.

A classifier trained by cross-entropy on labels drawn with prior ``p(y)`` learns logits
``f_y(x) ~ log p(y|x)``. The post asks the logits to model the pointwise mutual information
``log p(y|x) / p(y)`` instead, and gets two ways to do it:

* train on the **logit-adjusted loss** ``-log softmax(f(x) + tau log p)_y`` (:func:`logit_adjusted_loss`)
  and predict ``argmax_y f_y(x)``;
* train plainly and predict ``argmax_y f_y(x) - tau log p(y)`` (**post-hoc** correction,
  :func:`posthoc_logits`).

With ``tau = 1`` both are Bayes-optimal for the balanced error, the mean over classes of the
per-class error (:func:`balanced_accuracy` is one minus it). The older baseline divides each
sample's loss by its class frequency (:func:`reweighted_loss`). :func:`loss_function` makes any of
them a loss function for :mod:`kexue.train`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from ..checks import float_tensor, label_tensor, non_negative, positive_int

__all__ = ["METHODS", "class_prior", "check_prior", "adjusted_logits", "posthoc_logits",
           "logit_adjusted_loss", "reweighted_loss", "per_class_accuracy", "balanced_accuracy",
           "loss_function"]

#: the training losses :func:`loss_function` knows
METHODS = ("cross-entropy", "logit-adjusted", "reweighted")


def class_prior(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """The label frequencies ``p(y) = #{i: y_i = y} / n``, ``y = 0 .. classes-1``, as float64. A
    class with no example is an error: its ``log p`` would be ``-inf``."""
    classes = positive_int(classes, "classes")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
        raise TypeError(f"labels must be an int64 tensor of class labels, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D tensor, got shape {tuple(labels.shape)}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= classes:
        raise ValueError(f"labels must lie in 0..{classes - 1}, got labels from {low} to {high}")
    counts = torch.bincount(labels.cpu(), minlength=classes)
    if bool((counts == 0).any()):
        empty = (counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"classes {empty} have no example: their log prior would be -inf")
    return counts.double() / len(labels)


def check_prior(prior, classes: int | None = None, *, name: str = "prior") -> torch.Tensor:
    """``prior`` as a float64 tensor, if it is a 1-D finite probability vector with every entry
    > 0 (``log p`` must be finite) summing to one within 1e-6, of ``classes`` entries where
    given (the logits' last dimension)."""
    prior = float_tensor(prior, name, ndim=1, nonempty=True, numpy_ok=True).double()
    if bool((prior <= 0).any()):
        raise ValueError(f"{name} entries contain zeros or negatives (log p would be -inf or "
                         f"undefined): {prior.tolist()}")
    total = float(prior.sum())
    if abs(total - 1) > 1e-6:
        raise ValueError(f"{name} entries do not sum to one: they sum to {total!r}")
    if classes is not None and len(prior) != classes:
        raise ValueError(f"{name} has {len(prior)} classes but the logits have {classes}")
    return prior


def _log_shift(prior: torch.Tensor, tau: float, like: torch.Tensor) -> torch.Tensor:
    """``tau (log p - log max p)`` in ``like``'s dtype and device: ``tau log p`` less a constant,
    which softmax, cross-entropy and argmax ignore; a uniform prior gives exactly zero."""
    log_p = prior.log()
    return (tau * (log_p - log_p.max())).to(like.dtype).to(like.device)


def _logits(logits, name: str = "logits", *, ndim: int | None = None) -> torch.Tensor:
    logits = float_tensor(logits, name, finite=False)
    if ndim is not None and logits.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (samples, classes), got shape "
                         f"{tuple(logits.shape)}")
    if logits.ndim == 0:
        raise ValueError(f"{name} must have a last dimension of classes, got a scalar")
    return logits


def adjusted_logits(logits: torch.Tensor, prior, tau: float = 1.0) -> torch.Tensor:
    """The training-time shift ``f(x) + tau log p``, along the last dimension (the classes). The
    constant ``-tau log max p`` is added as well, so that the most frequent class keeps its
    logit: softmax, cross-entropy and argmax do not see it, and a uniform prior leaves the logits
    exactly as they are."""
    logits = _logits(logits)
    prior = check_prior(prior, logits.shape[-1])
    return logits + _log_shift(prior, non_negative(tau, "tau"), logits)


def posthoc_logits(logits: torch.Tensor, prior, tau: float = 1.0) -> torch.Tensor:
    """The prediction-time correction ``f(x) - tau log p`` (plus the constant ``tau log max p``,
    as in :func:`adjusted_logits`): its argmax with ``tau = 1`` and ``f = log p(y|x)`` is the
    class of largest ``log p(y|x) / p(y)``, the post's mutual-information decision."""
    logits = _logits(logits)
    prior = check_prior(prior, logits.shape[-1])
    return logits - _log_shift(prior, non_negative(tau, "tau"), logits)


def logit_adjusted_loss(logits: torch.Tensor, y: torch.Tensor, prior,
                        tau: float = 1.0) -> torch.Tensor:
    """Mean over the batch of ``-log softmax(f(x_i) + tau log p)_{y_i}`` (post 7615's eq. for
    ``tau``; Menon et al.'s logit-adjusted loss): cross-entropy on :func:`adjusted_logits`."""
    logits = _logits(logits, ndim=2)
    y = label_tensor(y, "y", n=len(logits))
    return F.cross_entropy(adjusted_logits(logits, prior, tau), y)


def reweighted_loss(logits: torch.Tensor, y: torch.Tensor, prior) -> torch.Tensor:
    """``(1/n) sum_i CE_i / (K p(y_i))``: each sample's cross-entropy divided by its class's
    frequency, normalised by ``K`` (the number of classes) so that a uniform prior gives exactly
    plain cross-entropy. (PyTorch's ``cross_entropy(weight=w)`` divides by ``sum_i w_{y_i}``
    instead of ``n``: the same gradient direction, another scale per batch.)"""
    logits = _logits(logits, ndim=2)
    y = label_tensor(y, "y", n=len(logits))
    prior = check_prior(prior, logits.shape[1])
    weight = ((1.0 / len(prior)) / prior).to(logits.dtype).to(logits.device)
    return F.cross_entropy(logits, y, weight=weight, reduction="sum") / len(logits)


def per_class_accuracy(logits_or_predictions: torch.Tensor, y: torch.Tensor,
                       classes: int) -> torch.Tensor:
    """Float64 ``(classes,)``: for each class ``c``, the fraction of the samples labelled ``c``
    that are predicted ``c`` (its recall); NaN for a class with no sample in ``y``. Takes logits
    ``(n, classes)`` (predicted by argmax) or int64 predictions ``(n,)``."""
    classes = positive_int(classes, "classes")
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y must be a non-empty 1-D tensor of labels, got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    scores = logits_or_predictions
    if isinstance(scores, torch.Tensor) and scores.is_floating_point():
        scores = float_tensor(scores, "logits", ndim=2)
        if scores.shape != (len(y), classes):
            raise ValueError(f"logits must have shape (n, classes) = ({len(y)}, {classes}), got "
                             f"{tuple(scores.shape)}")
        predictions = scores.argmax(1)
    else:
        predictions = label_tensor(scores, "predictions", n=len(y))
    y = label_tensor(y, "y", n=len(y))
    for name, t in (("y", y), ("predictions", predictions)):
        if int(t.min()) < 0 or int(t.max()) >= classes:
            raise ValueError(f"{name} must lie in 0..{classes - 1}, got values from "
                             f"{int(t.min())} to {int(t.max())}")
    y, predictions = y.cpu(), predictions.cpu()
    totals = torch.bincount(y, minlength=classes).double()
    hits = torch.bincount(y[predictions == y], minlength=classes).double()
    return hits / totals  # 0 / 0 = nan for an absent class


def balanced_accuracy(logits_or_predictions: torch.Tensor, y: torch.Tensor, classes: int) -> float:
    """The mean of :func:`per_class_accuracy` over the classes present in ``y``: one minus the
    balanced error, and the plain accuracy a test set with equal class counts would give
    (``sklearn.metrics.balanced_accuracy_score``)."""
    per_class = per_class_accuracy(logits_or_predictions, y, classes)
    return float(per_class[~per_class.isnan()].mean())


def loss_function(method: str, prior=None, tau: float = 1.0) -> Callable:
    """``loss_fn(model, x, y) -> (loss, {"acc"})`` for :mod:`kexue.train`, with ``method`` one of
    :data:`METHODS`: "cross-entropy" (plain; ``prior`` unused), "logit-adjusted"
    (:func:`logit_adjusted_loss` at ``tau``) or "reweighted" (:func:`reweighted_loss`). ``acc`` is
    the batch accuracy of ``argmax f(x)``, the logits as the model gives them."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; the known ones are {', '.join(METHODS)}")
    tau = non_negative(tau, "tau")
    if prior is None:
        if method != "cross-entropy":
            raise ValueError(f"method {method!r} needs the training labels' prior")
    else:
        prior = check_prior(prior)

    def loss_fn(model, x, y):
        logits = model(x)
        if logits.ndim != 2 or y.shape != logits.shape[:1]:
            raise ValueError(f"model(x) must give logits of shape (n, classes) for labels y of "
                             f"shape (n,), got logits {tuple(logits.shape)} and y {tuple(y.shape)}")
        if method == "cross-entropy":
            loss = F.cross_entropy(logits, y)
        elif method == "logit-adjusted":
            loss = logit_adjusted_loss(logits, y, prior, tau)
        else:
            loss = reweighted_loss(logits, y, prior)
        return loss, {"acc": (logits.argmax(1) == y).to(logits.dtype).mean()}

    return loss_fn
