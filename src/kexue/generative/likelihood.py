"""The importance-sampled estimate of a latent-variable model's log-likelihood.

For any proposal q(z|x) that covers the posterior,

    p(x) = E_{z ~ q(z|x)} [ p(x, z) / q(z|x) ],

so with K independent draws z_1..z_K ~ q(z|x) and log weights w_k = log p(x, z_k) - log q(z_k|x),

    log p(x) >= E [ log (1/K) sum_k exp(w_k) ] = L_K .

L_1 is the ELBO; L_K rises with K (in expectation) towards log p(x), and equals log p(x) exactly
for every draw when q(z|x) is the true posterior (every weight is then p(x)). The average is taken
with a stable logsumexp, so weights of order -1e4 nats (a 784-pixel image) do not underflow.

The estimate is generic: a model supplies ``log_weight(x)``, which draws one z ~ q(z|x) per row
of ``x`` and returns the log weights, one per row.

Serves chapters/part3-vae/nvae.ipynb (post 7574), and any chapter that scores a latent-variable
model by its likelihood.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..checks import float_tensor, positive_int

__all__ = ["log_mean_exp", "importance_log_likelihood"]


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/K) sum_k exp(log_w_k) along ``dim`` (K = its length), computed as
    ``logsumexp - log K``: the largest weight is factored out, so nothing underflows."""
    log_w = float_tensor(log_w, "log_w", nonempty=True, finite=False)
    if torch.isnan(log_w).any() or torch.isposinf(log_w).any():
        raise ValueError("log_w must hold no nan and no +inf (a log weight of -inf is a zero weight)")
    if not -log_w.ndim <= dim < log_w.ndim:
        raise ValueError(f"dim {dim} is out of range for a {log_w.ndim}-D log_w")
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


def importance_log_likelihood(log_weight: Callable[[torch.Tensor], torch.Tensor],
                              x: torch.Tensor, *, k: int, batch_size: int = 4096) -> torch.Tensor:
    """The estimate L_K of log p(x) for every row of ``x``: K draws per row, each through
    ``log_weight`` (rows of x -> one log p(x, z) - log q(z|x) per row, z drawn inside), averaged
    with :func:`log_mean_exp`. At most ``batch_size`` rows (copies of data points) go through
    ``log_weight`` at once. Runs without gradients; returns a tensor of shape ``(len(x),)``."""
    if not callable(log_weight):
        raise TypeError(f"log_weight must be callable (x -> log weights), got "
                        f"{type(log_weight).__name__}")
    x = float_tensor(x, "x", nonempty=True)
    k = positive_int(k, "k")
    batch_size = positive_int(batch_size, "batch_size")
    points = max(1, min(len(x), batch_size // k))       # data points per pass
    draws = max(1, min(k, batch_size // points))        # draws per data point per pass
    out = []
    with torch.no_grad():
        for start in range(0, len(x), points):
            chunk = x[start:start + points]
            log_w = []
            for done in range(0, k, draws):
                m = min(draws, k - done)
                w = log_weight(chunk.repeat(m, *([1] * (x.ndim - 1))))
                if not isinstance(w, torch.Tensor) or w.shape != (m * len(chunk),):
                    raise ValueError(f"log_weight must return one log weight per row, shape "
                                     f"({m * len(chunk)},), got "
                                     f"{tuple(getattr(w, 'shape', ())) or type(w).__name__}")
                log_w.append(w.reshape(m, len(chunk)))
            out.append(log_mean_exp(torch.cat(log_w)))
    return torch.cat(out)
