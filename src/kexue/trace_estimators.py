"""Hutchinson's trace estimator and the power series of log det, from products alone.

For a square matrix M and a random probe ε with E[ε εᵀ] = I (Rademacher signs or standard
normals), E[εᵀ M ε] = tr M: each probe gives an unbiased estimate that needs only the product
M ε, never M itself. For a contraction (||M||_2 < 1),

    log det(I + M) = tr ln(I + M) = Σ_{k≥1} (-1)^(k-1) tr(M^k) / k,

and one probe shared by all k estimates the series truncated after ``terms`` terms without bias,
at the cost of ``terms`` products.

The products are passed in as a function ``apply(V)``, so the same code serves an explicit matrix
(``apply = lambda V: A @ V``, probes as columns; Part I) and the Jacobian of a network, reached
by vector–Jacobian products (:func:`vjp`: ``apply(V) = Vᵀ J`` row by row, probes as rows; the
invertible residual networks of Part IV). tr(J^k) = tr((Jᵀ)^k), so a left product serves as well
as a right one.

Serves chapters/part1-linear-algebra/det-exp-trace.ipynb (post 6377), whose estimators in
:mod:`kexue.linalg.matrix_exp` are built on these, and the flows of Part IV
(chapters/part4-flows/).
"""
from __future__ import annotations

from typing import Callable

import torch

from .checks import positive_int

__all__ = ["PROBES", "probe_vectors", "probes_like", "hutchinson_estimates",
           "logdet_series_estimates", "vjp"]

PROBES = ("rademacher", "gaussian")


def _distribution(distribution: str) -> str:
    if distribution not in PROBES:
        raise ValueError(f"distribution must be one of {PROBES}, got {distribution!r}")
    return distribution


def probe_vectors(n: int, num: int, *, distribution: str = "rademacher",
                  generator: torch.Generator | None = None, dtype=torch.float64,
                  device=None) -> torch.Tensor:
    """``num`` probe vectors eps in R^n as the columns of an (n, num) matrix, with E[eps eps^T] = I."""
    n, num = positive_int(n, "n"), positive_int(num, "num")
    if _distribution(distribution) == "gaussian":
        return torch.randn(n, num, generator=generator, dtype=dtype, device=device)
    bits = torch.randint(0, 2, (n, num), generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


def probes_like(x: torch.Tensor, *, distribution: str = "rademacher",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One probe per row of ``x`` (same shape, dtype and device), E[eps eps^T] = I per row; drawn
    on the CPU when a CPU ``generator`` is given, so a seed gives the same probes everywhere."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}")
    device = "cpu" if generator is not None else x.device
    if _distribution(distribution) == "gaussian":
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device)
    else:
        eps = (2 * torch.randint(0, 2, x.shape, generator=generator, device=device) - 1).to(x.dtype)
    return eps.to(x.device)


def hutchinson_estimates(apply: Callable[[torch.Tensor], torch.Tensor], probes: torch.Tensor, *,
                         dim: int = -1) -> torch.Tensor:
    """The single-probe estimates εᵀ M ε of tr M, one per probe: ``probes`` hold the probes
    along ``dim`` (columns: dim=0; rows: dim=-1) and ``apply`` maps them to M ε (or εᵀ M)."""
    if not callable(apply):
        raise TypeError(f"apply must be callable (probes -> products), got {type(apply).__name__}")
    return (probes * _product(apply, probes)).sum(dim)


def logdet_series_estimates(apply: Callable[[torch.Tensor], torch.Tensor],
                            probes: torch.Tensor, terms: int, *, dim: int = -1) -> torch.Tensor:
    """Per-probe estimates of Σ_{k=1}^{terms} (-1)^(k-1) tr(M^k) / k (log det(I + M) for a
    contraction, truncated): v_0 = ε, v_k = apply(v_(k-1)), estimate Σ_k (-1)^(k-1) ε·v_k / k.
    Unbiased for the truncated series; ``terms`` products per probe."""
    if not callable(apply):
        raise TypeError(f"apply must be callable (probes -> products), got {type(apply).__name__}")
    terms = positive_int(terms, "terms")
    v, out = probes, torch.zeros((), dtype=probes.dtype, device=probes.device)
    for k in range(1, terms + 1):
        v = _product(apply, v)
        out = out + ((-1) ** (k - 1) / k) * (probes * v).sum(dim)
    return out


def vjp(y: torch.Tensor, x: torch.Tensor, *, create_graph: bool = False
        ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``apply(V) = Vᵀ ∂y/∂x`` row by row, for ``y = g(x)`` computed row-wise from ``x`` (which
    requires grad): the vector–Jacobian product that autograd gives for one backward pass each.
    ``create_graph`` keeps it differentiable (to train through an estimate)."""
    if not isinstance(x, torch.Tensor) or not x.requires_grad:
        raise ValueError("x must be a tensor that requires grad, with y computed from it")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise ValueError(f"y must have x's shape {tuple(x.shape)} (a map of R^D to itself), got "
                         f"{tuple(getattr(y, 'shape', ()))}")

    def apply(v):
        (out,) = torch.autograd.grad(y, x, v, retain_graph=True, create_graph=create_graph)
        return out

    return apply


def _product(apply, v):
    out = apply(v)
    if not isinstance(out, torch.Tensor) or out.shape != v.shape:
        raise ValueError(f"apply must return a tensor of the probes' shape {tuple(v.shape)}, got "
                         f"{tuple(getattr(out, 'shape', ())) or type(out).__name__}")
    return out
