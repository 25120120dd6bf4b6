"""A GAN trained through one loss and one optimiser, by stopping gradients (post 6387).

With the post's hinge loss (its sign convention: the discriminator scores real samples low),

    L_D = E_x max(0, 1 + D(x)) + E_z max(0, 1 - D(G(z))),      L_G = E_z D(G(z)),

the usual training alternates: minimise L_D over D with G fixed, then L_G over G with D fixed.
Write ``G_ng(z)`` for G's output with its gradient stopped. Then ``L_D(D, G_ng)`` has the gradient
``(grad_D L_D, 0)``: minimising it over all the weights moves only D. And

    L_G(D, G) - L_G(D, G_ng) = E_z D(G(z)) - E_z D(G_ng(z))

is identically zero, but its gradient is ``(grad_D L_G, grad_G L_G) - (grad_D L_G, 0) =
(0, grad_G L_G)``: minimising it moves only G. Their sum, with a weight ``lambda`` on the second,

    L = E_x max(0, 1 + D(x)) + E_z max(0, 1 - D(G_ng(z))) + lambda E_z [D(G(z)) - D(G_ng(z))],

trains both players with one backward pass from one batch of codes: on the same batch its gradient
is the alternating scheme's pair ``(grad_D L_D, lambda grad_G L_G)`` exactly. The post reads
``lambda`` as the ratio of the two learning rates, which holds for plain gradient descent; Adam
divides each coordinate's step by its own gradient scale, so there ``lambda`` all but cancels.

Serves chapters/part5-gans/single-loss-gan.ipynb (post 6387).
"""
from __future__ import annotations

import torch

from ..checks import positive
from .two_players import Players


def discriminator_hinge_loss(players: Players, real: torch.Tensor,
                             z: torch.Tensor | None = None) -> torch.Tensor:
    """``L_D = E max(0, 1 + D(x)) + E max(0, 1 - D(G(z)))`` with G's samples held fixed (codes
    ``z``, drawn afresh when None)."""
    z = players.codes(len(real), real.device) if z is None else z
    with torch.no_grad():
        fake = players.generator(z)
    d = players.discriminator
    return torch.relu(1 + d(real)).mean() + torch.relu(1 - d(fake)).mean()


def generator_hinge_loss(players: Players, real: torch.Tensor,
                         z: torch.Tensor | None = None) -> torch.Tensor:
    """``L_G = E D(G(z))`` (codes ``z``, drawn afresh when None; ``real`` only sets their number
    and device)."""
    z = players.codes(len(real), real.device) if z is None else z
    return players.discriminator(players.generator(z)).mean()


def single_loss(players: Players, real: torch.Tensor, *, weight: float = 1.0,
                z: torch.Tensor | None = None):
    """The post's one loss: ``E max(0, 1 + D(x)) + E max(0, 1 - D(G_ng(z))) + weight E [D(G(z)) -
    D(G_ng(z))]``, one generator pass, one backward pass. Returns ``(loss, {"d_loss", "g_loss"})``
    with the two players' hinge losses for the log (the third term itself is always zero)."""
    weight = positive(weight, "weight")
    z = players.codes(len(real), real.device) if z is None else z
    d = players.discriminator
    fake = players.generator(z)
    stopped = fake.detach()
    d_stopped = d(stopped)
    d_loss = torch.relu(1 + d(real)).mean() + torch.relu(1 - d_stopped).mean()
    d_fake = d(fake)
    loss = d_loss + weight * (d_fake.mean() - d_stopped.mean())
    return loss, {"d_loss": d_loss.detach(), "g_loss": d_fake.mean().detach()}
