"""The entropic autoencoder, EAE (Su Jianlin, https://spaces.ac.cn/archives/7343, after Ghose,
Rashwan and Poupart, arXiv:2002.10631).

A plain autoencoder whose code passes through batch normalisation without a learned scale or
shift, ``z = BN(E(x))``, so that in every batch each coordinate of the code has mean 0 and
variance 1, and whose loss rewards the codes' entropy:

    L = mean_x ||x - D(BN(E(x)))||^2 - lambda * H(Z),

``H(Z)`` estimated on the batch's codes by the k-nearest-neighbour estimator of
:mod:`kexue.vae.entropy`. Among all laws of ``R^d`` whose coordinates have mean 0 and variance 1,
``N(0, I)`` has the largest entropy, so the codes are pushed towards it, and new images are drawn
as ``D(z)``, ``z ~ N(0, I)``, with no reparametrisation noise in training.

Here: the model (:class:`EAE`) and its loss (:class:`EAELoss`), trained like the VAE it is compared
with by :func:`kexue.vae.autoencoder.train_model`. The experiment ``eae-mnist``
(:mod:`kexue.vae.experiments.eae`) measures the Fréchet distance of each model's samples to the
test images on the book's classifier's features (:mod:`kexue.generative.frechet`) and the codes'
entropy against that of ``N(0, I)``; the figures are in :mod:`kexue.vae.figures.eae`.

Serves chapters/part3-vae/entropy-autoencoder.ipynb (post 7343).
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import non_negative, positive, positive_int
from .autoencoder import Autoencoder, squared_error
from .entropy import _k, _norm, entropy_kernel

__all__ = ["EAE", "EAELoss", "draw_samples", "code_moments", "MODELS", "TITLES"]

IMAGE_DIM = 28 * 28


class EAE(Autoencoder):
    """``x -> E(x) -> z = BN(E(x)) -> D(z)``: the :class:`~kexue.vae.autoencoder.Autoencoder`'s
    encoder (MLP ``input_dim -> hidden -> latent_dim``, linear output) and decoder (the mirror MLP,
    a sigmoid at the end; :func:`~kexue.vae.networks.mlp_decoder`), with a ``BatchNorm1d`` without
    scale and shift (``affine=False``) between them. In training mode the batch's own mean and
    variance standardise each coordinate; in eval mode their running averages do."""

    def __init__(self, hidden=(256,), latent_dim: int = 8, *, input_dim: int = IMAGE_DIM,
                 seed: int | None = None, momentum: float = 0.1):
        super().__init__(hidden, latent_dim, input_dim=input_dim, seed=seed)
        self.norm = nn.BatchNorm1d(self.latent_dim, affine=False,
                                   momentum=positive(momentum, "momentum"))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """``z = BN(E(x))``, the standardised code of each row of ``x``."""
        return self.norm(super().codes(x))


class EAELoss:
    """The EAE's loss for ``kexue.train``: ``mean ||x - D(z)||^2 - lambda * H``, ``H`` the
    k-nearest-neighbour entropy estimate of the batch's codes ``z = BN(E(x))`` in ``norm``
    (``lambda = entropy_weight``; 0 leaves an autoencoder with a standardised code). Logs both
    terms. The codes are not checked for finiteness (no device sync per step)."""

    def __init__(self, entropy_weight: float = 1.0, *, k: int = 1, norm: str = "euclidean"):
        self.entropy_weight = non_negative(entropy_weight, "entropy_weight")
        self.k = positive_int(k, "k")
        _norm(norm)  # rejects an unknown norm now, not at the first step
        self.norm = norm

    def __call__(self, model: EAE, x: torch.Tensor):
        if not isinstance(model, EAE):
            raise TypeError(f"model must be an EAE, got {type(model).__name__}")
        z = model.codes(x)
        reconstruction = squared_error(x, model.decoder(z)).mean()
        entropy = entropy_kernel(z, _k(self.k, len(z)), norm=self.norm)
        return (reconstruction - self.entropy_weight * entropy,
                {"reconstruction": reconstruction.detach(), "entropy": entropy.detach()})


@torch.no_grad()
def draw_samples(decoder: nn.Module, n: int, latent_dim: int, generator: torch.Generator
                 ) -> torch.Tensor:
    """``D(z)`` for ``n`` codes ``z ~ N(0, I)`` of width ``latent_dim`` drawn from ``generator``
    (on the CPU, then moved to the decoder's device)."""
    n, latent_dim = positive_int(n, "n"), positive_int(latent_dim, "latent_dim")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    device = next(decoder.parameters()).device
    return decoder(torch.randn(n, latent_dim, generator=generator).to(device))


@torch.no_grad()
def code_moments(codes: torch.Tensor) -> dict:
    """Per coordinate: the codes' mean and variance (divisor n, as batch norm uses), and the
    largest absolute correlation between two coordinates."""
    codes = codes.double()
    mean, var = codes.mean(0), codes.var(0, unbiased=False)
    corr = torch.corrcoef(codes.T) - torch.eye(codes.shape[1], dtype=codes.dtype)
    return {"mean": mean.tolist(), "var": var.tolist(), "max_abs_corr": float(corr.abs().max())}


# -- the models the chapter compares ----------------------------------------------------------
#: the three models of the experiment ``eae-mnist``, and their titles in its tables and figures
MODELS = ("eae", "ae-bn", "vae")
TITLES = {"eae": "EAE (BN + entropy)", "ae-bn": "AE + BN, λ = 0", "vae": "VAE, β = 1",
          "floor": "test images, other half"}
