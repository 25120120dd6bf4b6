"""A VAE's KL term is a prior term plus mutual information (Su Jianlin,
https://spaces.ac.cn/archives/6088).

With data ``x ~ p(x)``, an encoder ``p(z|x)``, its aggregate posterior ``p(z) = E_x p(z|x)`` and a
prior ``q(z)``, the KL term a VAE minimises splits in two:

    E_x KL(p(z|x) || q(z)) = I(x; z) + KL(p(z) || q(z)),

the mutual information between an image and its code, and how far the codes' overall distribution
lies from the prior. On a data set of ``n`` images (the data distribution uniform over them) the
aggregate posterior is the mixture of the ``n`` encoder Gaussians, so every term can be estimated
by Monte Carlo from the encoder's means and log-variances (:func:`information_terms`). A linear
Gaussian encoder of Gaussian data has all three in closed form (:func:`linear_gaussian_terms`).
The experiment ``vae-information-mnist`` (:mod:`kexue.vae.experiments.mutual_information`)
measures the terms on MNIST VAEs of several KL weights; its table is in
:mod:`kexue.vae.figures.mutual_information`.

Serves chapters/part3-vae/mutual-information.ipynb (post 6088).
"""
from __future__ import annotations

import math

import torch

from ..checks import float_tensor, positive_int
from .autoencoder import log_aggregate_density
from .gaussian import kl_standard_normal, log_density, reparametrise

__all__ = ["information_terms", "linear_gaussian_terms"]


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


def information_terms(mean: torch.Tensor, log_var: torch.Tensor, *,
                      generator: torch.Generator | None = None, samples_per_blob: int = 1) -> dict:
    """The decomposition for the encoder Gaussians ``N(mean_i, diag exp(log_var_i))`` of ``n``
    data points (rows), the data distribution uniform over them:

    * ``mean_kl``: ``E_x KL(p(z|x) || N(0, I))`` in closed form;
    * ``mutual_information``: ``E_x E_{z ~ p(z|x)} [log p(z|x) - log p(z)]``, ``p(z)`` the mixture
      of the ``n`` Gaussians, over ``samples_per_blob`` samples per point (at most ``log n``);
    * ``aggregate_kl``: ``E_{z ~ p(z)} [log p(z) - log N(z; 0, I)]`` over an independent set of
      as many samples;
    * ``residual``: ``mean_kl - mutual_information - aggregate_kl``, zero in expectation.

    Each Monte Carlo value comes with its standard error (``_se``); ``residual_se`` combines the
    two. ``log_n`` is the mutual information's ceiling."""
    mean = float_tensor(mean, "mean", ndim=2, nonempty=True)
    log_var = float_tensor(log_var, "log_var", ndim=2)
    if log_var.shape != mean.shape:
        raise ValueError(f"mean and log_var must have the same shape, got {tuple(mean.shape)} and "
                         f"{tuple(log_var.shape)}")
    if len(mean) < 2:
        raise ValueError("need at least 2 data points: with one, the codes carry no information")
    k = positive_int(samples_per_blob, "samples_per_blob")
    means, log_vars = mean.repeat(k, 1), log_var.repeat(k, 1)

    def draw() -> torch.Tensor:
        noise = torch.randn(means.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return reparametrise(means, log_vars, noise=noise)

    zeros = torch.zeros_like(mean[0])
    z = draw()
    mi, mi_se = _mean_se(log_density(z, means, log_vars) - log_aggregate_density(z, mean, log_var))
    z = draw()
    agg, agg_se = _mean_se(log_aggregate_density(z, mean, log_var) - log_density(z, zeros, zeros))
    mean_kl = float(kl_standard_normal(mean, log_var).mean())
    return {"mean_kl": mean_kl, "mutual_information": mi, "mutual_information_se": mi_se,
            "aggregate_kl": agg, "aggregate_kl_se": agg_se,
            "residual": mean_kl - mi - agg, "residual_se": math.hypot(mi_se, agg_se),
            "log_n": math.log(len(mean))}


def linear_gaussian_terms(weight: torch.Tensor, bias: torch.Tensor, log_var: torch.Tensor,
                          data_cov: torch.Tensor) -> dict:
    """The three terms in closed form for data ``x ~ N(m, S)`` and the encoder
    ``p(z|x) = N(W x + b, diag exp(log_var))`` (the data mean folded into ``b``, so ``m = 0``).
    With ``D = diag exp(log_var)`` the aggregate posterior is ``N(b, C)``, ``C = W S W^T + D``:

    * ``mean_kl = (tr(W S W^T) + |b|^2 + tr D - log det D - d) / 2``;
    * ``mutual_information = (log det C - log det D) / 2``;
    * ``aggregate_kl = (tr C + |b|^2 - log det C - d) / 2``."""
    weight = float_tensor(weight, "weight", ndim=2, nonempty=True).double()
    bias = float_tensor(bias, "bias", ndim=1).double()
    log_var = float_tensor(log_var, "log_var", ndim=1).double()
    data_cov = float_tensor(data_cov, "data_cov", ndim=2).double()
    d, p = weight.shape
    if bias.shape != (d,) or log_var.shape != (d,) or data_cov.shape != (p, p):
        raise ValueError(f"for a {d} x {p} weight, bias and log_var need shape ({d},) and data_cov "
                         f"({p}, {p}); got {tuple(bias.shape)}, {tuple(log_var.shape)}, "
                         f"{tuple(data_cov.shape)}")
    if not torch.allclose(data_cov, data_cov.T) or torch.linalg.cholesky_ex(data_cov)[1] != 0:
        raise ValueError("data_cov must be symmetric positive definite")
    signal = weight @ data_cov @ weight.T
    cov = signal + torch.diag(log_var.exp())
    logdet_c, logdet_d = torch.linalg.slogdet(cov)[1], log_var.sum()
    b2 = bias.square().sum()
    return {"mean_kl": float(0.5 * (signal.trace() + b2 + log_var.exp().sum() - logdet_d - d)),
            "mutual_information": float(0.5 * (logdet_c - logdet_d)),
            "aggregate_kl": float(0.5 * (cov.trace() + b2 - logdet_c - d))}
