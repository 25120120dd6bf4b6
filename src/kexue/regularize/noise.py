"""Input noise is, to second order, a gradient penalty (Su Jianlin,
https://spaces.ac.cn/archives/7466; Bishop 1995, "Training with noise is equivalent to Tikhonov
regularization").

For noise ``eps ~ N(0, sigma^2 I)`` and a smooth loss ``L``, Taylor to second order and the moments
``E eps = 0``, ``E eps eps^T = sigma^2 I`` give

    E L(x + eps) = L(x) + sigma^2 / 2 * tr grad^2 L(x) + O(sigma^4),

(the cubic term vanishes with the odd moments, so the remainder is fourth order). For the
*consistency* loss ``l(f(x + eps), f(x))`` between a model's noisy and clean outputs, ``l`` has a
zero minimum on the diagonal, so only the term with two first derivatives of ``f`` survives:

    E ||f(x + eps) - f(x)||^2          = sigma^2 * sum_i ||grad f_i(x)||^2 + O(sigma^4),
    E KL(p(x) || p(x + eps))           = sigma^2 / 2 * sum_i p_i ||grad log p_i(x)||^2 + O(sigma^4),

gradient penalties with first derivatives only. For independent signs ``eta_i = +-1``,
``sum_i ||grad f_i||^2 = E_eta ||grad (eta . f)||^2``: one backward pass per sample.

Serves chapters/part2-optimisation/noise-and-adversarial-training.ipynb (post 7466); its figure
(:func:`kexue.regularize.figures.plot_taylor_gaps`) is in :mod:`kexue.regularize.figures`.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import float_tensor, positive, positive_int

__all__ = ["SmoothModel", "laplacian", "jacobian_sq_norm", "jacobian_sq_norm_estimate", "all_signs",
           "rademacher", "symmetric_normal", "smoothed", "noise_penalised", "squared_penalty",
           "kl_penalty", "taylor_gaps", "fitted_order"]


def _point(x) -> torch.Tensor:
    return float_tensor(x, "x", ndim=1, nonempty=True)


def _scalar_fn_value(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    value = fn(x)
    if not isinstance(value, torch.Tensor) or value.ndim != 0:
        raise ValueError("fn must map a point x to a scalar tensor")
    return value


class SmoothModel(nn.Module):
    """A small smooth network ``R^d -> R^m``: ``x -> W2 tanh(W1 x + b1) + b2`` with fixed random
    weights (float64), to check the expansions on something that is not a polynomial."""

    def __init__(self, d: int, m: int, hidden: int = 16, *, seed: int = 0, scale: float = 1.5):
        super().__init__()
        d, m, hidden = (positive_int(v, n) for v, n in ((d, "d"), (m, "m"), (hidden, "hidden")))
        g = torch.Generator().manual_seed(seed)
        self.W1 = nn.Parameter(scale * torch.randn(hidden, d, generator=g, dtype=torch.float64)
                               / math.sqrt(d))
        self.b1 = nn.Parameter(0.5 * torch.randn(hidden, generator=g, dtype=torch.float64))
        self.W2 = nn.Parameter(torch.randn(m, hidden, generator=g, dtype=torch.float64)
                               / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(m, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.W1.T + self.b1) @ self.W2.T + self.b2


# -- derivatives -------------------------------------------------------------------------------
def laplacian(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``tr grad^2 fn(x) = sum_j d^2 fn / dx_j^2`` for a scalar ``fn`` of a point ``x`` (1-D),
    from the diagonal of the Hessian, one double-backward per coordinate."""
    x = _point(x).detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(_scalar_fn_value(fn, x), x, create_graph=True)
        return sum(torch.autograd.grad(g[j], x, retain_graph=True)[0][j] for j in range(len(x)))


def jacobian_sq_norm(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``||J_f(x)||_F^2 = sum_i ||grad f_i(x)||^2`` for ``f: R^d -> R^m`` at a point ``x``, one
    backward per output."""
    x = _point(x).detach().requires_grad_(True)
    with torch.enable_grad():
        y = f(x)
        if y.ndim != 1:
            raise ValueError(f"f must map a point to a 1-D output, got shape {tuple(y.shape)}")
        return sum(torch.autograd.grad(y[i], x, retain_graph=True)[0].pow(2).sum()
                   for i in range(len(y)))


def rademacher(n: int, m: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n x m`` independent signs, each ``+1`` or ``-1`` with probability 1/2."""
    n, m = positive_int(n, "n"), positive_int(m, "m")
    return (2 * torch.randint(0, 2, (n, m), generator=generator) - 1).to(dtype)


def all_signs(m: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All ``2^m`` sign vectors (rows): the sign distribution exactly, for small ``m``."""
    m = positive_int(m, "m")
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=m)), dtype=dtype)


def jacobian_sq_norm_estimate(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                              eta: torch.Tensor) -> torch.Tensor:
    """``mean_k ||grad_x (eta_k . f(x))||^2`` over the rows ``eta_k`` of ``eta`` (``n x m``): an
    unbiased estimate of ``||J_f(x)||_F^2`` when the ``eta_k`` are independent signs, since
    ``E ||J^T eta||^2 = tr(J J^T E[eta eta^T]) = ||J||_F^2``; one backward per row, whatever
    ``m``."""
    x = _point(x).detach().requires_grad_(True)
    eta = float_tensor(eta, "eta", ndim=2, nonempty=True)
    with torch.enable_grad():
        y = f(x)
        if y.ndim != 1 or eta.shape[1] != len(y):
            raise ValueError(f"eta must have one column per output of f ({y.shape}), got "
                             f"{tuple(eta.shape)}")
        total = sum(torch.autograd.grad(y @ e.to(y.dtype), x, retain_graph=True)[0].pow(2).sum()
                    for e in eta)
    return total / len(eta)


# -- noise -------------------------------------------------------------------------------------
def symmetric_normal(n: int, d: int, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``2n x d`` standard-normal samples made antithetic (``z`` and ``-z``) and whitened (their
    second-moment matrix exactly ``I``): a sample average over them integrates every polynomial of
    degree <= 3 exactly, so what is left of the Monte-Carlo error is fourth order in the noise
    scale. Needs ``n >= d``."""
    n, d = positive_int(n, "n"), positive_int(d, "d")
    if n < d:
        raise ValueError(f"need at least d={d} samples to whiten, got n={n}")
    z = torch.randn(n, d, generator=generator, dtype=torch.float64)
    second = z.T @ z / n
    z = z @ torch.linalg.inv(torch.linalg.cholesky(second)).T
    return torch.cat([z, -z]).to(dtype)


def smoothed(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, sigma: float,
             z: torch.Tensor) -> torch.Tensor:
    """The Monte-Carlo noisy loss ``mean_k fn(x + sigma z_k)`` over the rows of ``z`` (``fn`` maps a
    batch of points to a vector of values)."""
    x = _point(x)
    sigma = positive(sigma, "sigma")
    z = float_tensor(z, "z", ndim=2, nonempty=True)
    if z.shape[1] != len(x):
        raise ValueError(f"z must have {len(x)} columns like x, got {tuple(z.shape)}")
    values = fn(x + sigma * z.to(x.dtype))
    if values.shape != (len(z),):
        raise ValueError(f"fn must map a batch of {len(z)} points to {len(z)} values, got "
                         f"{tuple(values.shape)}")
    return values.mean()


def noise_penalised(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    sigma: float) -> torch.Tensor:
    """``fn(x) + sigma^2 / 2 * laplacian(fn)(x)``: the second-order value of ``E fn(x + eps)``."""
    sigma = positive(sigma, "sigma")
    x = _point(x)
    return _scalar_fn_value(fn, x).detach() + sigma ** 2 / 2 * laplacian(fn, x)


def squared_penalty(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    sigma: float) -> torch.Tensor:
    """``sigma^2 * sum_i ||grad f_i(x)||^2``: the second-order value of
    ``E ||f(x + eps) - f(x)||^2`` (the post's ``lambda_i = 2`` for the squared error)."""
    return positive(sigma, "sigma") ** 2 * jacobian_sq_norm(f, x)


def kl_penalty(logits_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               sigma: float) -> torch.Tensor:
    """``sigma^2 / 2 * sum_i p_i ||grad log p_i(x)||^2`` with ``p = softmax(logits_fn(x))``: the
    second-order value of ``E KL(p(x) || p(x + eps))`` (the post's ``lambda_i = 1 / p_i``)."""
    sigma = positive(sigma, "sigma")
    x = _point(x).detach().requires_grad_(True)
    with torch.enable_grad():
        log_p = F.log_softmax(logits_fn(x), dim=-1)
        total = sum(log_p[i].exp().detach()
                    * torch.autograd.grad(log_p[i], x, retain_graph=True)[0].pow(2).sum()
                    for i in range(len(log_p)))
    return sigma ** 2 / 2 * total


# -- the numerical check -----------------------------------------------------------------------
def taylor_gaps(noisy: Callable[[float], torch.Tensor], penalised: Callable[[float], torch.Tensor],
                sigmas) -> torch.Tensor:
    """``|noisy(sigma) - penalised(sigma)|`` for each ``sigma``: how far the second-order formula is
    from the (Monte-Carlo) expectation."""
    sigmas = [positive(s, "sigma") for s in sigmas]
    return torch.tensor([abs(float(noisy(s).detach()) - float(penalised(s).detach()))
                         for s in sigmas], dtype=torch.float64)


def fitted_order(sigmas, gaps) -> float:
    """The least-squares slope of ``log gap`` against ``log sigma``: the remainder's order."""
    s = torch.log(torch.as_tensor(sigmas, dtype=torch.float64))
    g = torch.log(torch.as_tensor(gaps, dtype=torch.float64))
    if s.shape != g.shape or len(s) < 2:
        raise ValueError("need at least two sigmas and as many gaps")
    if not bool(torch.isfinite(g).all()):
        raise ValueError("gaps must be positive and finite")
    s, g = s - s.mean(), g - g.mean()
    return float((s * g).sum() / (s * s).sum())

