"""Vector quantisation with a learned codebook, the bottleneck of VQ-VAE (post 6760).

A continuous code z_e in R^d is replaced by the nearest of K codebook vectors,

    z_q = e_k,   k = argmin_j |z_e - e_j|^2,

which has no useful gradient. The straight-through estimator z_e + sg(z_q - z_e) has the value
z_q in the forward pass and the Jacobian of the identity in the backward pass, so the decoder's
gradient at z_q is handed to the encoder unchanged. The codebook learns from its own loss, and the
encoder is kept near its codes by a commitment loss weighted by beta = 0.25:

    codebook loss   |sg(z_e) - e_k|^2      (moves the code towards the encoder's output)
    commitment loss |z_e - sg(e_k)|^2      (moves the encoder's output towards the code).

Both are means over every coordinate of every code vector, as ``F.mse_loss`` takes them.
:func:`perplexity` and :func:`dead_codes` summarise how much of the codebook is in use.

Serves chapters/part3-vae/vq-vae.ipynb (post 6760).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import float_tensor, positive, positive_int
from ..runtime import seeded_init

__all__ = ["nearest_codes", "straight_through", "vq_losses", "VectorQuantiser", "code_counts",
           "perplexity", "dead_codes"]


def _nearest(flat: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Unchecked kernel: argmin_j |z - e_j|^2 for each row z of ``flat`` (n x d)."""
    distances = (flat.square().sum(1, keepdim=True) - 2 * flat @ codebook.T
                 + codebook.square().sum(1))
    return distances.argmin(1)


def _check_codebook(codebook) -> torch.Tensor:
    return float_tensor(codebook, "codebook", ndim=2, nonempty=True)


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """k = argmin_j |z - e_j|^2 for every vector z along the last axis of ``z`` (shape (..., d));
    ``codebook`` is K x d. Returns int64 indices of shape ``z.shape[:-1]``."""
    codebook = _check_codebook(codebook)
    z = float_tensor(z, "z", nonempty=True)
    if z.ndim < 1 or z.shape[-1] != codebook.shape[1]:
        raise ValueError(f"z's last axis must be the code width {codebook.shape[1]}, got shape "
                         f"{tuple(z.shape)}")
    return _nearest(z.reshape(-1, z.shape[-1]), codebook.to(z.dtype)).reshape(z.shape[:-1])


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg(z_q - z_e): the value of ``z_q``, the gradient of the identity in ``z_e``."""
    if not isinstance(z_e, torch.Tensor) or not isinstance(z_q, torch.Tensor):
        raise TypeError("z_e and z_q must be torch tensors")
    if z_e.shape != z_q.shape:
        raise ValueError(f"z_e and z_q must have the same shape, got {tuple(z_e.shape)} and "
                         f"{tuple(z_q.shape)}")
    return z_e + (z_q - z_e).detach()


def vq_losses(z_e: torch.Tensor, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss, commitment loss) = (mean |sg(z_e) - z_q|^2, mean |z_e - sg(z_q)|^2).

    Equal in value; the first sends gradient only to the codebook, the second only to the
    encoder. Their sum has the gradient of mean |z_e - z_q|^2 in both."""
    if not isinstance(z_e, torch.Tensor) or not isinstance(z_q, torch.Tensor):
        raise TypeError("z_e and z_q must be torch tensors")
    if z_e.shape != z_q.shape:
        raise ValueError(f"z_e and z_q must have the same shape, got {tuple(z_e.shape)} and "
                         f"{tuple(z_q.shape)}")
    return (z_e.detach() - z_q).square().mean(), (z_e - z_q.detach()).square().mean()


class VectorQuantiser(nn.Module):
    """A codebook of ``num_codes`` vectors of width ``dim`` and the quantisation step.

    ``forward(z_e)`` takes codes along the last axis (shape (..., dim)) and returns a dict:
    ``z_q`` (the straight-through output, value e_k), ``indices`` (shape (...)),
    ``codebook_loss``, ``commitment_loss`` and ``loss`` = codebook + beta * commitment.
    ``z_e`` must have the codebook's dtype (as an ``nn.Linear`` wants its own; move the quantiser
    with ``.to(dtype)``). The codebook starts uniform in [-1/K, 1/K] as in the VQ-VAE paper's code; :meth:`init_from`
    restarts it from encoder outputs instead."""

    def __init__(self, num_codes: int, dim: int, *, beta: float = 0.25, seed: int | None = None):
        super().__init__()
        self.num_codes = positive_int(num_codes, "num_codes")
        self.dim = positive_int(dim, "dim")
        self.beta = positive(beta, "beta")
        with seeded_init(seed):
            self.codebook = nn.Parameter(
                torch.empty(self.num_codes, self.dim).uniform_(-1 / self.num_codes, 1 / self.num_codes))

    def forward(self, z_e: torch.Tensor) -> dict:
        z_e = float_tensor(z_e, "z_e", dtypes=(self.codebook.dtype,), finite=False)
        if z_e.ndim < 1 or z_e.shape[-1] != self.dim:
            raise ValueError(f"z_e's last axis must be {self.dim}, got shape {tuple(z_e.shape)}")
        indices = _nearest(z_e.detach().reshape(-1, self.dim), self.codebook.detach())
        z_q = self.codebook[indices].reshape(z_e.shape)
        codebook_loss, commitment_loss = vq_losses(z_e, z_q)
        return {"z_q": straight_through(z_e, z_q), "indices": indices.reshape(z_e.shape[:-1]),
                "codebook_loss": codebook_loss, "commitment_loss": commitment_loss,
                "loss": codebook_loss + self.beta * commitment_loss}

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """The code vectors e_k for integer ``indices`` of any shape: shape (..., dim)."""
        if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64:
            raise TypeError(f"indices must be an int64 tensor, got "
                            f"{getattr(indices, 'dtype', type(indices).__name__)}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.num_codes):
            raise ValueError(f"indices must lie in [0, {self.num_codes}), got values in "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        return self.codebook[indices]

    @torch.no_grad()
    def init_from(self, z_e: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Set the codebook to ``num_codes`` distinct rows of ``z_e`` (n x dim, n >= num_codes)
        drawn at random: every code then starts where some encoder output is."""
        z_e = float_tensor(z_e, "z_e", ndim=2)
        if z_e.shape[1] != self.dim or len(z_e) < self.num_codes:
            raise ValueError(f"z_e must be (n, {self.dim}) with n >= {self.num_codes}, got "
                             f"{tuple(z_e.shape)}")
        pick = torch.randperm(len(z_e), generator=generator)[:self.num_codes].to(z_e.device)
        self.codebook.copy_(z_e[pick])


def code_counts(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How many times each of the ``num_codes`` codes occurs in ``indices`` (int64, any shape)."""
    num_codes = positive_int(num_codes, "num_codes")
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64:
        raise TypeError(f"indices must be an int64 tensor, got "
                        f"{getattr(indices, 'dtype', type(indices).__name__)}")
    if indices.numel() == 0:
        raise ValueError("indices must be non-empty")
    if int(indices.min()) < 0 or int(indices.max()) >= num_codes:
        raise ValueError(f"indices must lie in [0, {num_codes}), got values in "
                         f"[{int(indices.min())}, {int(indices.max())}]")
    return torch.bincount(indices.reshape(-1), minlength=num_codes)


def _check_counts(counts) -> torch.Tensor:
    if not isinstance(counts, torch.Tensor) or counts.ndim != 1 or counts.numel() == 0:
        raise ValueError("counts must be a non-empty 1-D tensor of code counts")
    if bool((counts < 0).any()) or not bool(torch.isfinite(counts.double()).all()) \
            or float(counts.sum()) <= 0:
        raise ValueError("counts must be finite, non-negative and not all zero")
    return counts.double()


def perplexity(counts: torch.Tensor) -> float:
    """exp(H(p)) with p = counts / sum(counts) and 0 log 0 = 0: the number of equally used codes
    that would have the same entropy (1 when one code takes everything, K when all are equal)."""
    p = _check_counts(counts)
    p = p / p.sum()
    p = p[p > 0]
    return math.exp(float(-(p * p.log()).sum()))


def dead_codes(counts: torch.Tensor) -> int:
    """The number of codes that never occur."""
    return int((_check_counts(counts) == 0).sum())
