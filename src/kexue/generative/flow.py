"""The interface every normalising flow in the book shares, and its likelihood.

A flow is an invertible map z = f(x) with a tractable log |det ∂f/∂x|. With a standard normal
prior on z, the change of variables gives

    log q(x) = -D/2 log(2π) - 1/2 ||f(x)||^2 + log |det ∂f/∂x|,

so a flow is trained by minimising -log q(x), and sampled by drawing z ~ N(0, I) (or N(0, T^2 I)
at a temperature T) and running the inverse g = f^(-1).

:class:`Flow` fixes the two calls: ``forward(x) -> (z, log_det)`` with ``log_det`` one number
per row (or a scalar when it does not depend on x, as for a linear flow), and ``inverse(z) -> x``.
:func:`gaussian_nll` is -log q(x) per row, :func:`nll_per_dim` its mean over rows and dimensions;
:func:`interpolate` walks the straight line between two codes and maps it back to data.

Serves chapters/part1-linear-algebra/explicit-invertible-matrix.ipynb (post 6407, a linear flow)
and the normalising flows of Part IV (chapters/part4-flows/).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Flow", "gaussian_nll", "nll_per_dim", "interpolate"]

LOG_2PI = math.log(2 * math.pi)


class Flow(nn.Module):
    """An invertible map of rows of width ``dim``: ``forward(x) -> (z, log |det ∂z/∂x|)`` and
    ``inverse(z) -> x``. Subclasses implement both."""

    dim: int

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _flow_and_data(flow, x) -> torch.Tensor:
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a kexue.generative.flow.Flow (forward -> (z, log_det), "
                        f"inverse), got {type(flow).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}"
                        + (f" of {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != flow.dim:
        raise ValueError(f"x must have shape (n, {flow.dim}) with n >= 1, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x holds non-finite values (nan or inf): a density needs finite points")
    return x


def gaussian_nll(flow: Flow, x: torch.Tensor) -> torch.Tensor:
    """-log q(x) = 1/2 ||f(x)||^2 + D/2 log(2π) - log |det ∂f/∂x| for every row of ``x``, in
    nats, under the prior z ~ N(0, I)."""
    x = _flow_and_data(flow, x)
    z, log_det = flow(x)
    return 0.5 * z.square().sum(1) + 0.5 * x.shape[1] * LOG_2PI - log_det


def nll_per_dim(flow: Flow, x: torch.Tensor) -> torch.Tensor:
    """Mean -log q(x) per dimension over the rows of ``x`` (nats): :func:`gaussian_nll`'s mean
    divided by the width D."""
    return gaussian_nll(flow, x).mean() / x.shape[1]


@torch.no_grad()
def interpolate(flow: Flow, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 9) -> torch.Tensor:
    """g((1 - t) f(x_a) + t f(x_b)) for ``steps`` values of t evenly from 0 to 1: the straight
    line between two data points' codes, mapped back to data (the ends are x_a and x_b up to
    rounding). Runs in eval mode without gradients; returns (steps, D)."""
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a kexue.generative.flow.Flow, got {type(flow).__name__}")
    x_a, x_b = torch.as_tensor(x_a), torch.as_tensor(x_b)
    if x_a.shape != (flow.dim,) or x_b.shape != (flow.dim,):
        raise ValueError(f"x_a and x_b must each have shape ({flow.dim},), got "
                         f"{tuple(x_a.shape)} and {tuple(x_b.shape)}")
    ends = _flow_and_data(flow, torch.stack([x_a, x_b]))
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int of at least 2 (the two ends), got {steps!r}")
    was_training = flow.training
    flow.eval()
    try:
        z = flow(ends)[0]
        t = torch.linspace(0, 1, steps, dtype=z.dtype, device=z.device)[:, None]
        return flow.inverse((1 - t) * z[0] + t * z[1])
    finally:
        flow.train(was_training)
