"""The Gaussian algebra of a VAE with a diagonal-Gaussian encoder p(z|x) = N(mu, diag(exp(log_var))).

* :func:`reparametrise`: z = mu + exp(log_var / 2) * eps, eps ~ N(0, I), so a sample is a
  differentiable function of (mu, log_var).
* :func:`kl_standard_normal`: KL(N(mu, sigma^2) || N(0, I))
  = 1/2 sum_i (mu_i^2 + sigma_i^2 - log sigma_i^2 - 1), summed over the latent dimensions.
* :func:`kl_diagonal`: the same between any two diagonal Gaussians.
* :func:`log_density`: log N(z; mu, diag(exp(log_var))), summed over the last dimension.

The public functions check their arguments (shapes, dtypes, finiteness); models call the unchecked
kernels ``sample`` and ``kl_to_standard`` on every batch, since a finiteness check reads the
tensor back to the host and would stall a GPU once per step.

Serves every chapter of Part III that has a Gaussian encoder: chapters/part3-vae/vae-geometry.ipynb
(post 7725), chapters/part3-vae/information-bottleneck.ipynb (post 6181),
chapters/part3-vae/vae-clustering.ipynb (post 5887), chapters/part3-vae/mutual-information.ipynb
(posts 6088 and 6024) and chapters/part3-vae/nvae.ipynb (post 7574).
"""
from __future__ import annotations

import math

import torch

from ..checks import float_tensor

__all__ = ["reparametrise", "sample", "kl_standard_normal", "kl_to_standard", "kl_diagonal",
           "log_density"]


def _pair(mean, log_var, names=("mean", "log_var")) -> tuple[torch.Tensor, torch.Tensor]:
    mean = float_tensor(mean, names[0], nonempty=True)
    log_var = float_tensor(log_var, names[1], nonempty=True)
    if mean.shape != log_var.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got "
                         f"{tuple(mean.shape)} and {tuple(log_var.shape)}")
    return mean, log_var


def reparametrise(mean: torch.Tensor, log_var: torch.Tensor, *,
                  noise: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + exp(log_var / 2) * noise, with ``noise`` ~ N(0, I) drawn (from ``generator``)
    when not given; gradients flow to ``mean`` and ``log_var``."""
    mean, log_var = _pair(mean, log_var)
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    elif not isinstance(noise, torch.Tensor) or noise.shape != mean.shape:
        raise ValueError(f"noise must be a tensor shaped like mean {tuple(mean.shape)}, got "
                         f"{tuple(getattr(noise, 'shape', ())) or type(noise).__name__}")
    return sample(mean, log_var, noise)


def sample(mean: torch.Tensor, log_var: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The unchecked kernel of :func:`reparametrise`: mean + exp(log_var / 2) * noise."""
    return mean + torch.exp(0.5 * log_var) * noise


def kl_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample: 1/2 sum (mean^2 + exp(log_var) - log_var - 1)
    over the last dimension."""
    return kl_to_standard(*_pair(mean, log_var))


def kl_to_standard(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """The unchecked kernel of :func:`kl_standard_normal`."""
    return 0.5 * (mean.square() + log_var.exp() - log_var - 1).sum(-1)


def kl_diagonal(mean_q: torch.Tensor, log_var_q: torch.Tensor, mean_p: torch.Tensor,
                log_var_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))) summed over the last dimension:
    1/2 sum (log_var_p - log_var_q + (exp(log_var_q) + (mean_q - mean_p)^2) / exp(log_var_p) - 1).
    The two sides broadcast against each other."""
    mean_q, log_var_q = _pair(mean_q, log_var_q, ("mean_q", "log_var_q"))
    mean_p, log_var_p = _pair(mean_p, log_var_p, ("mean_p", "log_var_p"))
    try:
        torch.broadcast_shapes(mean_q.shape, mean_p.shape)
    except RuntimeError:
        raise ValueError(f"the two Gaussians' shapes {tuple(mean_q.shape)} and "
                         f"{tuple(mean_p.shape)} do not broadcast") from None
    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mean_q - mean_p).square())
                  / log_var_p.exp() - 1).sum(-1)


def log_density(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(log_var))) summed over the last dimension (shapes broadcast)."""
    mean, log_var = _pair(mean, log_var)
    z = float_tensor(z, "z", nonempty=True)
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mean).square() / log_var.exp()).sum(-1)
