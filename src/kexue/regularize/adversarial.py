"""Adversarial and virtual adversarial training (Su Jianlin, https://spaces.ac.cn/archives/7234 and
https://spaces.ac.cn/archives/7466).

**FGM** (fast gradient method, Goodfellow et al. 2015). To first order
``L(x + r) ~ L(x) + r . g`` with ``g = grad_x L(x, y)``, so among perturbations of norm ``eps`` the
one that raises the loss most is

    r_adv = eps * g / ||g||,

and adversarial training minimises ``L(x + r_adv, y)`` over the parameters. ``x`` may be the input
or any intermediate tensor (an embedding's output, where the input is discrete text).

**VAT** (virtual adversarial training, Miyato et al. 2018) needs no label. With ``p = p(y|x)`` held
fixed, the divergence ``D(r) = KL(p || p(y|x + r))`` is 0 with zero gradient at ``r = 0``, so its
growth is governed by the Hessian ``H = grad_r^2 D(0)``: ``D(r) ~ r^T H r / 2``. The worst
direction is the top eigenvector of ``H``, found by power iteration ``d <- H d / ||H d||``, each
product taken by a finite difference of gradients,

    H d ~ grad_r D(r) |_{r = xi d} / xi        (||d|| = 1, xi small),

and the VAT loss is ``KL(p || p(y|x + eps d))`` with ``p`` treated as a constant.

Serves chapters/part2-optimisation/noise-and-adversarial-training.ipynb (posts 7234 and 7466).
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F

from ..checks import float_tensor, label_tensor, positive, positive_int

__all__ = ["normalize", "fgm_perturbation", "fgm_loss", "gradient_penalty_loss", "kl_from_logits",
           "entropy_from_logits", "frozen_batchnorm_stats", "vat_direction", "vat_loss",
           "direction_agreement"]


# -- helpers -----------------------------------------------------------------------------------
def normalize(v: torch.Tensor, *, per_example: bool = True) -> torch.Tensor:
    """``v / ||v||``: each row (``v[i]``) scaled to unit Euclidean norm, or the whole tensor when
    ``per_example=False``. A zero row stays zero (norms are floored at the square root of the
    dtype's smallest normal number)."""
    v = float_tensor(v, "v", nonempty=True)
    if per_example:
        if v.ndim < 2:
            raise ValueError(f"per-example normalisation needs a batch dimension; v has shape "
                             f"{tuple(v.shape)}")
        norms = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.ndim - 1)))
    else:
        norms = v.norm()
    return v / norms.clamp_min(torch.finfo(v.dtype).tiny ** 0.5)


def kl_from_logits(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """``KL(p || q) = sum_k p_k (log p_k - log q_k)`` per row, for ``p = softmax(p_logits)`` and
    ``q = softmax(q_logits)``: a vector with one entry per example."""
    float_tensor(p_logits, "p_logits", ndim=2, nonempty=True)
    float_tensor(q_logits, "q_logits", ndim=2, nonempty=True)
    if p_logits.shape != q_logits.shape:
        raise ValueError(f"p_logits and q_logits must have the same shape, got "
                         f"{tuple(p_logits.shape)} and {tuple(q_logits.shape)}")
    log_p, log_q = F.log_softmax(p_logits, dim=1), F.log_softmax(q_logits, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """``H(p) = -sum_k p_k log p_k`` per row of ``p = softmax(logits)``."""
    float_tensor(logits, "logits", ndim=2, nonempty=True)
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``, with an input the model cannot take (a wrong width or dtype) named as such."""
    try:
        return model(x)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as err:
        raise ValueError(f"the model cannot take x of shape {tuple(x.shape)}, {x.dtype} ({err}); "
                         "give x the width and dtype the model was built for") from err


def _check_targets(y, x: torch.Tensor, loss: Callable) -> None:
    """With the default loss (cross-entropy), ``y`` must hold an int64 class label per row of x."""
    if loss is F.cross_entropy:
        label_tensor(y, "y (the targets of the default cross-entropy loss)", n=len(x))


@contextlib.contextmanager
def frozen_batchnorm_stats(model: torch.nn.Module):
    """Within the block, batch-norm layers still normalise with the batch's own statistics (in
    train mode) but do not update their running statistics (their momentum is set to 0, which
    keeps ``running = (1 - 0) running + 0 batch`` unchanged, and the batch counter is put back on
    exit), so forwards of perturbed inputs leave no trace in the statistics used at test time."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
             for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(layers, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


# -- FGM ---------------------------------------------------------------------------------------
def fgm_perturbation(loss_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     epsilon: float, *, per_example: bool = True) -> torch.Tensor:
    """``r = eps * g / ||g||`` with ``g = grad_x loss_of(x)`` (detached): the first-order
    loss-maximising perturbation of norm ``eps``, per example (each row of ``x``) or, with
    ``per_example=False``, for the tensor as a whole (the post's perturbation of an embedding
    matrix). ``loss_of`` maps ``x`` to a scalar loss."""
    x = float_tensor(x, "x", nonempty=True)
    epsilon = positive(epsilon, "epsilon")
    z = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_of(z)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise ValueError("loss_of must return a scalar tensor")
        (g,) = torch.autograd.grad(loss, z)
    return epsilon * normalize(g, per_example=per_example)


def fgm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float,
             loss: Callable = F.cross_entropy) -> torch.Tensor:
    """Adversarial training's loss ``L(f(x + r_adv), y)`` with ``r_adv`` from
    :func:`fgm_perturbation` held constant (the gradient flows to the parameters only)."""
    _check_targets(y, float_tensor(x, "x", nonempty=True, finite=False), loss)
    r = fgm_perturbation(lambda z: loss(_forward(model, z), y), x, epsilon)
    return loss(model(x + r), y)


def gradient_penalty_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                          epsilon: float, loss: Callable = F.cross_entropy) -> torch.Tensor:
    """``mean_i [L_i + eps * ||grad_{x_i} L_i||]``: the loss whose parameter gradient FGM training
    follows to first order in ``eps`` (post 7234): with ``r_i = eps g_i / ||g_i||`` held fixed,
    ``grad_theta L_i(x_i + r_i) = grad_theta L_i + <grad_theta grad_x L_i, r_i> + O(eps^2)
    = grad_theta (L_i + eps ||g_i||) + O(eps^2)``. Examples must not interact (no batch-norm).
    ``loss`` must accept ``reduction="none"``; the default one wants int64 class labels ``y``."""
    x = float_tensor(x, "x", nonempty=True)
    _check_targets(y, x, loss)
    epsilon = positive(epsilon, "epsilon")
    z = x.detach().requires_grad_(True)
    per_example = loss(_forward(model, z), y, reduction="none")
    (g,) = torch.autograd.grad(per_example.sum(), z, create_graph=True)
    return (per_example + epsilon * g.flatten(1).norm(dim=1)).mean()


# -- VAT ---------------------------------------------------------------------------------------
def vat_direction(model: torch.nn.Module, x: torch.Tensor, *, xi: float = 1e-6,
                  iterations: int = 1, clean_logits: torch.Tensor | None = None,
                  d: torch.Tensor | None = None) -> torch.Tensor:
    """The virtual adversarial direction at ``x``: ``iterations`` steps of power iteration
    ``d <- normalize(H d)`` on ``H = grad_r^2 KL(p(y|x) || p(y|x + r)) |_{r=0}``, each ``H d``
    by the finite difference ``grad_r KL(p || p(y|x + xi d)) / xi`` (only its direction is
    kept, so the ``1/xi`` is dropped). Rows are unit vectors, one per example.

    ``clean_logits`` (``model(x)``, computed without gradient) may be passed to save a forward;
    ``d`` is the starting vector (default: standard normal). The model's batch-norm running
    statistics are left untouched, by the perturbed forwards and by the clean one it runs itself. The default ``xi = 1e-6`` (the VAT
    paper's) is accurate in float64; in float32 rounding swamps it and ``xi ~ 1e-2`` is better
    (:func:`direction_agreement` measures this).
    """
    x = float_tensor(x, "x", nonempty=True)
    xi = positive(xi, "xi")
    iterations = positive_int(iterations, "iterations")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch dimension, got shape {tuple(x.shape)}")
    if clean_logits is None:
        with torch.no_grad(), frozen_batchnorm_stats(model):
            clean_logits = _forward(model, x)
    clean_logits = clean_logits.detach()
    if d is None:
        d = torch.randn_like(x)
    elif d.shape != x.shape:
        raise ValueError(f"d must have the shape of x {tuple(x.shape)}, got {tuple(d.shape)}")
    d = normalize(d)
    x = x.detach()
    with frozen_batchnorm_stats(model), torch.enable_grad():
        for _ in range(iterations):
            r = (xi * d).requires_grad_(True)
            divergence = kl_from_logits(clean_logits, _forward(model, x + r)).sum()
            (g,) = torch.autograd.grad(divergence, r)
            d = normalize(g)
    return d


def vat_loss(model: torch.nn.Module, x: torch.Tensor, *, epsilon: float, xi: float = 1e-6,
             iterations: int = 1, clean_logits: torch.Tensor | None = None) -> torch.Tensor:
    """The VAT loss, mean over the batch of ``KL(p(y|x) || p(y|x + eps d))`` with ``d`` from
    :func:`vat_direction` and ``p(y|x)`` a constant (``clean_logits``, detached, or a forward of
    ``x`` without gradient). No forward made here updates batch-norm statistics: not the
    perturbed ones, nor the clean one when ``clean_logits`` is not given (a caller who wants the
    statistics of clean data makes that forward itself and passes its logits, as
    :class:`kexue.regularize.semi_supervised.SemiSupervisedLoss` does)."""
    x = float_tensor(x, "x", nonempty=True, finite=False)  # vat_direction checks the values
    epsilon = positive(epsilon, "epsilon")
    if clean_logits is None:
        with frozen_batchnorm_stats(model), torch.no_grad():
            clean_logits = _forward(model, x)
    clean_logits = clean_logits.detach()
    d = vat_direction(model, x, xi=xi, iterations=iterations, clean_logits=clean_logits)
    with frozen_batchnorm_stats(model):
        return kl_from_logits(clean_logits, model(x.detach() + epsilon * d)).mean()


def direction_agreement(model: torch.nn.Module, x: torch.Tensor, xis, *,
                        reference_xi: float = 1e-7, seed: int = 0) -> list[float]:
    """How well one power iteration at each ``xi`` in ``xis``, run in ``x``'s dtype (float32, say),
    finds the direction that a float64 copy of the model finds with ``reference_xi``: the mean over
    the batch of ``|cos|`` between the two (same random start, same mode, so the same batch-norm
    behaviour). The finite difference has a truncation error ``O(xi)`` and a rounding error of
    about ``machine epsilon / xi``, so too small a ``xi`` returns noise."""
    import copy

    x = float_tensor(x, "x", nonempty=True)
    xis = [positive(v, "xi") for v in xis]
    start = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    reference_model = copy.deepcopy(model).double()
    reference = vat_direction(reference_model, x.double(), xi=reference_xi, d=start)
    return [float((vat_direction(model, x, xi=xi, d=start.to(x.dtype)).double() * reference)
                  .flatten(1).sum(1).abs().mean()) for xi in xis]
