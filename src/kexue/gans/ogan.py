"""O-GAN: the discriminator becomes an encoder (post 6409).

Split the discriminator into ``D(x) = T(E(x))``, an encoder ``E`` to ``n_z`` numbers and a small
head ``T``, and take the simplest head, the average: ``D(x) = avg(E(x))``. Write ``N(v) = (v -
avg(v)) / std(v)`` for a vector standardised across its coordinates. For ``n_z >= 3`` the triple
``(avg v, std v, N(v))`` is an orthogonal decomposition of ``v``: the GAN's score uses only the
average, which leaves ``N(E(x))`` free, and O-GAN spends that freedom on the code, adding to both
players' losses

    - lambda rho(z, E(G(z))),   rho(z, z') = avg(N(z) N(z')) = cos(N(z), N(z')),

the Pearson correlation, across coordinates, between a code and the encoding of its image. A
well-trained generator's codes have ``avg ~ 0`` and ``std ~ 1``, so the reconstruction of an
image is ``G(N(E(x)))``. With ``lambda = 0`` it is a plain GAN whose discriminator happens to end
in an average.

Serves chapters/part5-gans/orthogonal-gan.ipynb (post 6409).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import non_negative
from .two_players import Players


def standardise(v: torch.Tensor) -> torch.Tensor:
    """``N(v) = (v - avg(v)) / std(v)`` for each row (population standard deviation)."""
    if v.ndim != 2 or v.shape[1] < 3:
        raise ValueError(f"standardise needs rows of at least 3 coordinates, got {tuple(v.shape)}")
    centred = v - v.mean(1, keepdim=True)
    return centred / centred.pow(2).mean(1, keepdim=True).sqrt()


def pearson(z: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
    """``rho(z, z') = avg(N(z) N(z'))`` for each pair of rows: the Pearson correlation across the
    coordinates."""
    if z.shape != encoded.shape:
        raise ValueError(f"codes and encodings must have one shape, got {tuple(z.shape)} and "
                         f"{tuple(encoded.shape)}")
    return (standardise(z) * standardise(encoded)).mean(1)


class AveragedEncoder(nn.Module):
    """A discriminator made of an encoder: ``forward(x) = avg(E(x))`` (the score), ``encode(x) =
    E(x)`` (the code)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).mean(1)


def _encoder(players: Players) -> AveragedEncoder:
    if not isinstance(players.discriminator, AveragedEncoder):
        raise TypeError(f"O-GAN's discriminator must be an AveragedEncoder, got "
                        f"{type(players.discriminator).__name__}")
    return players.discriminator


def discriminator_loss(players: Players, real: torch.Tensor, *, weight: float):
    """``-E log sigma(avg E(x)) - E log(1 - sigma(avg E(G(z)))) - weight E rho(z, E(G(z)))``, the
    generator's samples held fixed. Returns ``(loss, {"pearson"})``."""
    weight = non_negative(weight, "weight")
    e = _encoder(players)
    z = players.codes(len(real), real.device)
    with torch.no_grad():
        fake = players.generator(z)
    encoded = e.encode(fake)
    rho = pearson(z, encoded).mean()
    loss = F.softplus(-e(real)).mean() + F.softplus(encoded.mean(1)).mean() - weight * rho
    return loss, {"pearson": rho.detach()}


def generator_loss(players: Players, real: torch.Tensor, *, weight: float):
    """``-E log sigma(avg E(G(z))) - weight E rho(z, E(G(z)))``. Returns ``(loss, {"pearson"})``."""
    weight = non_negative(weight, "weight")
    e = _encoder(players)
    z = players.codes(len(real), real.device)
    encoded = e.encode(players.generator(z))
    rho = pearson(z, encoded).mean()
    return F.softplus(-encoded.mean(1)).mean() - weight * rho, {"pearson": rho.detach()}


@torch.no_grad()
def reconstruct(players: Players, x: torch.Tensor) -> torch.Tensor:
    """``G(N(E(x)))``, flat like ``x`` if ``x`` is flat."""
    made = players.generator(standardise(_encoder(players).encode(x)))
    return made.flatten(1) if x.ndim == 2 else made
