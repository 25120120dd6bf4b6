"""The GAN as variational inference, and the generator term it adds (post 5716).

Give the data ``p~(x)`` the label y = 1 and the generator's samples ``q(x)`` the label y = 0, each
with probability 1/2: ``q(x, y)``. Model the same pairs as ``p(x, y) = p(y|x) p~(x)`` with a
discriminator ``D(x) = p(1|x)``, and minimise ``KL(q(x, y) || p(x, y))`` by turns. Over D it is the
usual discriminator loss, ``-E_p~ log D(x) - E_q log(1 - D(x))``. Over G, with the optimal
discriminator of the previous generator ``q_o``, ``D = p~ / (p~ + q_o)``, it is

    -E_z log D(G(z)) + KL(q(x) || q_o(x)),

the usual (non-saturating) generator loss plus a term that keeps the new generator close to the
old. Between two generators that are point masses ``delta(x - G(z))`` and ``delta(x - G_o(z))``,
with the delta read as a narrow Gaussian, that divergence becomes, up to a constant factor,
``E_z ||G(z) - G_o(z)||^2``: the post's regulariser, the squared distance between the samples of
the new and the previous generator at the same codes.

Here ``G_o`` is the generator as it was before its last update, kept in
:class:`VariationalPlayers` (so checkpoints hold it); the term is averaged over the batch and
summed over the pixels.

Serves chapters/part5-gans/variational-gan.ipynb (post 5716).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import non_negative
from .two_players import Players


class VariationalPlayers(Players):
    """:class:`Players` that also keep ``previous``, a frozen copy of the generator as it was
    before its last update (the ``G_o`` of the post's term)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent: int):
        super().__init__(generator, discriminator, latent)
        self.previous = copy.deepcopy(generator).requires_grad_(False)


def discriminator_loss(players: Players, real: torch.Tensor):
    """``-E log D(x) - E log(1 - D(G(z)))`` with ``D = sigmoid(logit)``: the discriminator's
    half of the joint KL, the generator's samples held fixed."""
    with torch.no_grad():
        fake = players.generator(players.codes(len(real), real.device))
    d = players.discriminator
    return F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()


def generator_loss(players: VariationalPlayers, real: torch.Tensor, *, weight: float):
    """``-E log D(G(z)) + weight E ||G(z) - G_o(z)||^2`` (the non-saturating loss and the post's
    term), then ``G_o`` becomes the current generator, ready for the next update. Returns
    ``(loss, {"adversarial", "step_distance"})``; ``step_distance`` is ``E ||G(z) - G_o(z)||^2``."""
    weight = non_negative(weight, "weight")
    if not isinstance(players, VariationalPlayers):
        raise TypeError(f"the post's term needs VariationalPlayers (they keep the previous "
                        f"generator), got {type(players).__name__}")
    z = players.codes(len(real), real.device)
    made = players.generator(z)
    with torch.no_grad():
        before = players.previous(z)
        players.previous.load_state_dict(players.generator.state_dict())
    adversarial = F.softplus(-players.discriminator(made)).mean()
    step = (made - before).flatten(1).pow(2).sum(1).mean()
    return adversarial + weight * step, {"adversarial": adversarial.detach(),
                                         "step_distance": step.detach()}


def joint_kl_decomposition(p_joint, q_joint) -> dict:
    """For two joint distributions on a grid (``p_joint[i, k] = p(x_i, z_k)``, same for ``q``):
    ``KL(p(x, z) || q(x, z)) = KL(p(x) || q(x)) + E_{p(x)} KL(p(z|x) || q(z|x))``, the identity
    that makes the joint divergence an upper bound on the marginal one. Returns the three terms
    ``{"joint", "marginal", "conditional"}`` in nats, each computed from its own definition."""
    p = torch.as_tensor(p_joint, dtype=torch.float64)
    q = torch.as_tensor(q_joint, dtype=torch.float64)
    if p.ndim != 2 or p.shape != q.shape:
        raise ValueError(f"p_joint and q_joint must be two tables of one shape (x by z), got "
                         f"{tuple(p.shape)} and {tuple(q.shape)}")
    for name, t in (("p_joint", p), ("q_joint", q)):
        if bool((t < 0).any()) or abs(float(t.sum()) - 1) > 1e-9:
            raise ValueError(f"{name} must be a probability table: non-negative, summing to one")
    if bool(((p > 0) & (q == 0)).any()):
        raise ValueError("q_joint is zero where p_joint is not: KL(p || q) is infinite")

    def kl(a, b, dims=None):
        terms = torch.where(a > 0, a * (a / b).log(), torch.zeros_like(a))
        return terms.sum() if dims is None else terms.sum(dims)

    px, qx = p.sum(1), q.sum(1)
    conditional = kl(p / px[:, None], q / qx[:, None], 1)
    return {"joint": float(kl(p, q)), "marginal": float(kl(px, qx)),
            "conditional": float((px * conditional).sum())}
