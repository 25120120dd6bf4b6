"""Attributions of a model's output to its input: plain gradients, gradient × input, and integrated
gradients (post 7533), with the quadrature rules that approximate their path integral.

For an output ``F`` (one number per example), an input ``x`` and a baseline ``x̄`` the straight path
``γ(α) = x̄ + α (x − x̄)``, ``α ∈ [0, 1]``, gives the exact identity

    F(x) − F(x̄) = ∫₀¹ ⟨∇F(γ(α)), x − x̄⟩ dα = Σ_i (x − x̄)_i ∫₀¹ [∇F(γ(α))]_i dα,

and integrated gradients take the i-th term as the i-th component's share:
``IG_i = (x − x̄)_i ∫₀¹ [∇F(γ(α))]_i dα``. The shares sum to ``F(x) − F(x̄)`` ("completeness");
gradient × input, ``(x − x̄)_i [∇F(x)]_i``, is the first-order Taylor version of the same split
and sums to it only where ``F`` is linear. The integral is a weighted sum over nodes
``α_k`` (:func:`quadrature`), and how far the sum of attributions misses ``F(x) − F(x̄)`` is
that rule's quadrature error on the integrand ``g(α) = ⟨∇F(γ(α)), x − x̄⟩`` (:func:`path_integrand`).

The post writes the path from ``x`` to ``x̄``; we go from ``x̄`` to ``x``, as the papers and captum
do, so the attributions sum to ``F(x) − F(x̄)`` rather than to its negative.

Serves chapters/part7-classifiers/integrated-gradients.ipynb.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..checks import positive_int

__all__ = ["RULES", "quadrature", "outputs", "gradients", "gradient_times_input",
           "integrated_gradients", "completeness_gap", "path_integrand"]

#: The quadrature rules of :func:`quadrature`; ``steps`` is the number of gradient evaluations.
RULES = ("left", "right", "midpoint", "trapezoid", "gauss-legendre")

Forward = Callable[[torch.Tensor], torch.Tensor]


def quadrature(steps: int, rule: str = "midpoint") -> tuple[torch.Tensor, torch.Tensor]:
    """``(alphas, weights)`` in float64: ``∫₀¹ g ≈ Σ_k weights[k] g(alphas[k])`` with ``steps``
    nodes. Left, right and midpoint: the nodes ``k/n``, ``(k+1)/n`` and ``(k+½)/n`` of the ``n``
    equal pieces, each weighing ``1/n`` (the post's discrete form is the right rule); trapezoid:
    ``n ≥ 2`` nodes ``k/(n−1)`` including both ends, the ends at half weight; Gauss–Legendre:
    numpy's ``n``-point rule mapped to ``[0, 1]``, exact for polynomials of degree ``2n − 1``.
    The weights of every rule sum to one."""
    n = positive_int(steps, "steps")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    k = torch.arange(n, dtype=torch.float64)
    if rule == "gauss-legendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(weights / 2)
    if rule == "trapezoid":
        if n < 2:
            raise ValueError("the trapezoid rule needs steps >= 2 (both ends of the path)")
        weights = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return k / (n - 1), weights
    offset = {"left": 0.0, "right": 1.0, "midpoint": 0.5}[rule]
    return (k + offset) / n, torch.full((n,), 1.0 / n, dtype=torch.float64)


def outputs(forward: Forward, x: torch.Tensor, target=None) -> torch.Tensor:
    """``F(x)``, one number per example: ``forward(x)`` itself where it gives one per row, else its
    column ``target`` (an int, or one class per row). An output that is not a floating-point
    function of ``x`` carrying gradients (an argmax, a model run under ``no_grad``) is an error."""
    if not callable(forward):
        raise TypeError(f"forward must be a callable model(x) -> outputs, got {type(forward).__name__}")
    out = forward(x)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        raise TypeError(f"forward(x) must return a floating-point tensor, got "
                        f"{getattr(out, 'dtype', type(out).__name__)}: attributions need an output "
                        "that is differentiable in x (not labels or an argmax)")
    if out.ndim == 2 and target is not None:
        rows = torch.arange(len(out), device=out.device)
        target = torch.as_tensor(target, device=out.device).expand(len(out))
        if target.dtype not in (torch.int32, torch.int64) or not (
                (0 <= target).all() and (target < out.shape[1]).all()):
            raise ValueError(f"target must be class indices in [0, {out.shape[1]}), got {target}")
        out = out[rows, target]
    elif out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != x.shape[:1]:
        raise ValueError(f"forward(x) must give one output per example (or logits with a target), "
                         f"got shape {tuple(out.shape)} for {len(x)} examples")
    if x.requires_grad and not out.requires_grad:
        raise ValueError("forward(x) does not depend differentiably on x (is the model run under "
                         "torch.no_grad, or is its output detached?)")
    return out


def _check_input(x: torch.Tensor, baseline: torch.Tensor | None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 1 or not len(x):
        raise TypeError("x must be a non-empty floating-point tensor with examples along dim 0")
    if baseline is None:
        return torch.zeros_like(x)
    if not isinstance(baseline, torch.Tensor) or baseline.shape != x.shape:
        raise ValueError(f"the baseline must have the input's shape {tuple(x.shape)}, got "
                         f"{tuple(getattr(baseline, 'shape', ()))}")
    return baseline.to(x)


def gradients(forward: Forward, x: torch.Tensor, target=None) -> torch.Tensor:
    """``∇_x F(x)`` for every example (the model's output of each row may depend on that row only:
    evaluate it in eval mode)."""
    _check_input(x, None)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(outputs(forward, x, target).sum(), x)
    return grad


def gradient_times_input(forward: Forward, x: torch.Tensor, baseline: torch.Tensor | None = None,
                         target=None) -> torch.Tensor:
    """``(x − x̄) ⊙ ∇F(x)``: the first-order Taylor share of each component in ``F(x) − F(x̄)``."""
    baseline = _check_input(x, baseline)
    return (x - baseline) * gradients(forward, x, target)


def _path_gradients(forward: Forward, x: torch.Tensor, baseline: torch.Tensor,
                    alphas: torch.Tensor, target, batch_size: int | None) -> torch.Tensor:
    """``∇F(x̄ + α (x − x̄))`` for every ``α`` of ``alphas``, ``[len(alphas), *x.shape]``, the path
    points evaluated ``batch_size`` rows at a time (default: all at once)."""
    per_chunk = len(alphas) if batch_size is None else max(
        1, positive_int(batch_size, "batch_size") // len(x))
    delta, shape = x - baseline, (-1,) + (1,) * x.ndim
    grads = []
    for start in range(0, len(alphas), per_chunk):
        a = alphas[start:start + per_chunk].to(x)
        points = (baseline + a.view(shape) * delta).reshape(-1, *x.shape[1:])
        rows = target if target is None or isinstance(target, int) else \
            torch.as_tensor(target, device=x.device).repeat(len(a))
        grads.append(gradients(forward, points, rows).view(len(a), *x.shape))
    return torch.cat(grads)


def integrated_gradients(forward: Forward, x: torch.Tensor, baseline: torch.Tensor | None = None,
                         target=None, *, steps: int = 50, rule: str = "midpoint",
                         batch_size: int | None = None) -> torch.Tensor:
    """``IG = (x − x̄) ⊙ Σ_k w_k ∇F(x̄ + α_k (x − x̄))`` with the nodes and weights of
    :func:`quadrature` (``baseline`` defaults to zeros). The path points are evaluated
    ``batch_size`` rows at a time (default: all ``steps × len(x)`` at once)."""
    baseline = _check_input(x, baseline)
    alphas, weights = quadrature(steps, rule)
    grads = _path_gradients(forward, x, baseline, alphas, target, batch_size)
    return (x - baseline) * (weights.to(x).view((-1,) + (1,) * x.ndim) * grads).sum(0)


def completeness_gap(forward: Forward, attributions: torch.Tensor, x: torch.Tensor,
                     baseline: torch.Tensor | None = None, target=None) -> torch.Tensor:
    """``Σ_i attributions_i − (F(x) − F(x̄))`` per example: zero for exact integrated gradients,
    the quadrature error for a finite rule."""
    baseline = _check_input(x, baseline)
    if attributions.shape != x.shape:
        raise ValueError(f"attributions must have the input's shape {tuple(x.shape)}, got "
                         f"{tuple(attributions.shape)}")
    with torch.no_grad():
        change = outputs(forward, x, target) - outputs(forward, baseline, target)
    return attributions.flatten(1).sum(1) - change


def path_integrand(forward: Forward, x: torch.Tensor, baseline: torch.Tensor | None,
                   alphas: torch.Tensor, target=None, *, batch_size: int | None = None
                   ) -> torch.Tensor:
    """``g(α) = ⟨∇F(x̄ + α (x − x̄)), x − x̄⟩ = dF(γ(α))/dα`` at each of ``alphas``, as a
    ``[len(x), len(alphas)]`` tensor: the function whose integral over ``[0, 1]`` the attributions
    of every rule sum to."""
    baseline = _check_input(x, baseline)
    alphas = torch.as_tensor(alphas, dtype=torch.float64).flatten()
    grads = _path_gradients(forward, x, baseline, alphas, target, batch_size)
    return (grads * (x - baseline)).flatten(2).sum(2).T
