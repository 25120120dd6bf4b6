"""The Kozachenko-Leonenko k-nearest-neighbour estimate of differential entropy
(Su Jianlin, https://spaces.ac.cn/archives/7343).

Given ``n`` samples ``z_1, ..., z_n`` of a density ``p`` on ``R^d``, let ``eps_k(i)`` be the distance
from ``z_i`` to its k-th nearest other sample and ``V_d`` the volume of the unit ball of the norm
used. Then

    H(Z) ~= psi(n) - psi(k) + log V_d + (d / n) * sum_i log eps_k(i),

with ``psi`` the digamma function: ``V_d = pi^(d/2) / Gamma(d/2 + 1)`` for the euclidean norm and
``V_d = 2^d`` (a cube of side 2) for the max norm. For ``k = 1`` the digamma terms are
``psi(n) + gamma``, about ``log(n - 1) + gamma``.

The estimate is built from differentiable torch operations (``torch.cdist``, a k-th smallest value),
so ``-lambda * H`` can be added to a training loss, as the entropic autoencoder does.

Serves chapters/part3-vae/entropy-autoencoder.ipynb (post 7343).
"""
from __future__ import annotations

import math

import torch

from ..checks import float_tensor, non_negative, positive_int

__all__ = ["NORMS", "log_unit_ball_volume", "digamma_terms", "knn_distances", "knn_entropy",
           "entropy_kernel", "gaussian_entropy"]

#: The norms the estimator knows, and the ``p`` of ``torch.cdist`` for each.
NORMS = {"euclidean": 2.0, "max": math.inf}


def _norm(norm: str) -> float:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {sorted(NORMS)}, got {norm!r}")
    return NORMS[norm]


def log_unit_ball_volume(d: int, norm: str = "euclidean") -> float:
    """``log V_d``: the log-volume of the unit ball of ``norm`` in ``R^d``:
    ``(d/2) log pi - log Gamma(d/2 + 1)`` (euclidean) or ``d log 2`` (max norm, the cube
    ``[-1, 1]^d``)."""
    d = positive_int(d, "d")
    if _norm(norm) == 2.0:
        return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    return d * math.log(2.0)


def digamma_terms(n: int, k: int) -> float:
    """``psi(n) - psi(k)``, the constant that the estimator's derivation leaves: the mean of
    ``-log P`` under the Beta(k, n - k) law of the probability mass ``P`` of the ball that reaches
    the k-th neighbour. Computed exactly as ``sum_{m=k}^{n-1} 1/m``."""
    n = positive_int(n, "n")
    k = _k(k, n)
    return math.fsum(1.0 / m for m in range(k, n))


def knn_distances(z: torch.Tensor, k: int = 1, *, norm: str = "euclidean",
                  chunk: int = 2048) -> torch.Tensor:
    """``eps_k(i)``: the distance from each row of ``z`` (n x d) to its k-th nearest other row, in
    ``norm``; ``chunk`` rows at a time (memory ``chunk * n``). Differentiable in ``z`` (the
    euclidean distances are computed directly, not through the less accurate matrix-product
    shortcut)."""
    z = float_tensor(z, "z", ndim=2, nonempty=True)
    return _distances(z, _k(k, len(z)), _norm(norm), positive_int(chunk, "chunk"))


def _k(k, n: int) -> int:
    k = positive_int(k, "k")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of samples n = {n}, got k = {k}")
    return k


def _distances(z: torch.Tensor, k: int, p: float, chunk: int) -> torch.Tensor:
    out = []
    for start in range(0, len(z), chunk):
        part = z[start:start + chunk]
        dist = torch.cdist(part, z, p=p, compute_mode="donot_use_mm_for_euclid_dist")
        rows = torch.arange(len(part), device=z.device)
        self_pair = torch.zeros_like(dist, dtype=torch.bool)
        self_pair[rows, rows + start] = True
        dist = dist.masked_fill(self_pair, math.inf)  # a sample is not its own neighbour
        out.append(torch.kthvalue(dist, k, dim=1).values)
    return torch.cat(out)


def knn_entropy(z: torch.Tensor, k: int = 1, *, norm: str = "euclidean", min_dist: float = 0.0,
                chunk: int = 2048) -> torch.Tensor:
    """The Kozachenko-Leonenko estimate (in nats) of the entropy of the law the rows of ``z``
    (n x d) were drawn from, as a 0-d tensor with gradients:

        psi(n) - psi(k) + log V_d + (d / n) sum_i log max(eps_k(i), min_dist).

    ``min_dist`` (default 0) floors the distances, as ``entropy_estimators.continuous.get_h`` does;
    a repeated row with ``min_dist = 0`` gives ``-inf``."""
    z = float_tensor(z, "z", ndim=2, nonempty=True)
    return entropy_kernel(z, _k(k, len(z)), norm=norm, min_dist=non_negative(min_dist, "min_dist"),
                          chunk=positive_int(chunk, "chunk"))


def entropy_kernel(z: torch.Tensor, k: int = 1, *, norm: str = "euclidean",
                   min_dist: float = 0.0, chunk: int = 2048) -> torch.Tensor:
    """The unchecked kernel of :func:`knn_entropy`, for a loss evaluated on every batch: it does
    not read ``z`` back to the host to check it is finite."""
    n, d = z.shape
    eps = _distances(z, k, _norm(norm), chunk)
    if min_dist > 0:
        eps = eps.clamp_min(min_dist)
    return digamma_terms(n, k) + log_unit_ball_volume(d, norm) + d * eps.log().mean()


def gaussian_entropy(cov: torch.Tensor) -> float:
    """``(1/2) log((2 pi e)^d det C)``: the entropy of ``N(m, C)``, the largest of all densities
    whose covariance is ``C``."""
    cov = float_tensor(cov, "cov", ndim=2, nonempty=True)
    d = cov.shape[0]
    if cov.shape != (d, d) or not torch.allclose(cov, cov.T):
        raise ValueError(f"cov must be a symmetric square matrix, got shape {tuple(cov.shape)}")
    sign, logdet = torch.linalg.slogdet(cov.double())
    if sign <= 0:
        raise ValueError("cov must be positive definite")
    return 0.5 * (d * math.log(2 * math.pi * math.e) + float(logdet))
