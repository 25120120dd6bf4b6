"""WGAN: a generator trained on the dual form of the Wasserstein distance (post 6280).

With a metric cost, the dual of the optimal transport problem (:mod:`kexue.gans.transport`) may
take ``g = -f``, which gives the Kantorovich-Rubinstein form

    W1(p, q) = max over 1-Lipschitz f of  E_{x~p} f(x) - E_{x~q} f(x).

WGAN (Arjovsky et al. 2017) lets a network ``f``, the critic, climb this objective between the
data and the generator's samples, and the generator ``G`` descend it:
``min_G max_f E_x f(x) - E_z f(G(z))``. The whole difficulty is keeping ``f`` 1-Lipschitz; three
ways are compared here:

* ``"weight-clipping"``: every critic weight clipped to [-c, c] after each update (WGAN): ``f`` is
  then K-Lipschitz for some unknown K, so the gap estimates K W1, not W1;
* ``"gradient-penalty"``: ``lambda E (||grad f(x_hat)|| - 1)^2`` at random points between real and
  generated samples (WGAN-GP, Gulrajani et al. 2017);
* ``"spectral-norm"``: every weight divided by its spectral norm (SN-GAN, Miyato et al. 2018),
  so each layer, and with LeakyReLU the whole critic, is at most 1-Lipschitz.

The blocks for the last two (:func:`kexue.gradients.gradient_penalty`,
:func:`kexue.gradients.spectral_normalize`) are Part II's (post 6051), shared.

Serves chapters/part5-gans/wasserstein-gan.ipynb (post 6280).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import runtime, train
from ..checks import non_negative, positive, positive_int
from ..gradients import gradient_penalty, interpolate, spectral_normalize
from .networks import mlp_player
from .two_players import Players

#: the ways of keeping the critic (close to) 1-Lipschitz
CONSTRAINTS = ("weight-clipping", "gradient-penalty", "spectral-norm")


def _constraint(name: str) -> str:
    if name not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {name!r}")
    return name


def critic_gap(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``mean f(real) - mean f(fake)``: the critic's estimate of W1 between the two samples (a
    lower bound on it when ``f`` is 1-Lipschitz)."""
    return critic(real).mean() - critic(fake).mean()


def critic_loss(players: Players, real: torch.Tensor, *, constraint: str,
                penalty_weight: float = 10.0, generator: torch.Generator | None = None):
    """The critic's loss on a batch of real samples and as many generated ones: ``-gap``, plus
    ``penalty_weight`` times the two-sided gradient penalty under ``"gradient-penalty"``. Returns
    ``(loss, {"gap", "penalty"})``; the generator's samples are constants here."""
    constraint = _constraint(constraint)
    penalty_weight = non_negative(penalty_weight, "penalty_weight")
    f = players.discriminator
    with torch.no_grad():
        fake = players.generator(players.codes(len(real), real.device))
    gap = critic_gap(f, real, fake)
    penalty = torch.zeros((), device=real.device)
    if constraint == "gradient-penalty":
        penalty = gradient_penalty(f, interpolate(real, fake, generator))
    return -gap + penalty_weight * penalty, {"gap": gap.detach(), "penalty": penalty.detach()}


def generator_loss(players: Players, real: torch.Tensor):
    """The generator's loss ``-mean f(G(z))`` on as many codes as there are real samples (the
    real term of the gap does not depend on G)."""
    return -players.discriminator(players.generator(players.codes(len(real), real.device))).mean()


def clip_weights(module: nn.Module, bound: float) -> None:
    """WGAN's constraint: every parameter of ``module`` clipped to [-bound, bound], in place."""
    bound = positive(bound, "bound")
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-bound, bound)


def constrain(critic: nn.Module, constraint: str, *, seed: int = 0) -> nn.Module:
    """``critic`` ready for ``constraint``: spectrally normalised (in place) under
    ``"spectral-norm"``, unchanged otherwise (clipping acts after each update, the penalty in the
    loss)."""
    if _constraint(constraint) == "spectral-norm":
        spectral_normalize(critic, generator=torch.Generator().manual_seed(seed))
    return critic


# -- two-dimensional toys ------------------------------------------------------------------------
def ring_mixture(n: int, *, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points from an equal mixture of ``modes`` Gaussians (standard deviation ``std``) at
    the corners of a regular polygon of ``radius``: the usual test of whether a GAN finds every
    mode."""
    n, modes = positive_int(n, "n"), positive_int(modes, "modes")
    radius, std = positive(radius, "radius"), non_negative(std, "std")
    which = torch.randint(modes, (n,), generator=generator)
    angle = 2 * math.pi * which.double() / modes
    centres = radius * torch.stack([angle.cos(), angle.sin()], 1)
    return (centres + std * torch.randn(n, 2, generator=generator, dtype=torch.float64)).float()


class _Clip(train.Callback):
    """Clip the model's weights after every optimiser step (WGAN's constraint, in a plain loop)."""

    def __init__(self, bound: float):
        self.bound = positive(bound, "bound")

    def on_step_end(self, trainer, logs):
        clip_weights(trainer.model, self.bound)


def fit_critic(real: torch.Tensor, fake: torch.Tensor, constraint: str, *, steps: int,
               hidden: int = 64, lr: float = 1e-3, penalty_weight: float = 10.0,
               clip: float = 0.01, batch_size: int = 256, seed: int = 0) -> nn.Sequential:
    """A critic (``d -> hidden -> hidden -> 1``, ReLU) trained alone, with Adam, to maximise
    ``mean f(real) - mean f(fake)`` between two fixed samples of equal size under ``constraint``:
    the dual problem (Kantorovich-Rubinstein) solved by stochastic gradient ascent, with no generator moving."""
    constraint = _constraint(constraint)
    if real.ndim != 2 or real.shape != fake.shape:
        raise ValueError(f"real and fake must be two (n, d) samples of one shape, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    penalty_weight = non_negative(penalty_weight, "penalty_weight")
    torch.manual_seed(seed)
    critic = constrain(mlp_player([real.shape[1], hidden, hidden, 1]), constraint, seed=seed)
    sampler = torch.Generator().manual_seed(seed)

    def loss_fn(f, r, g):
        gap = critic_gap(f, r, g)
        penalty = (gradient_penalty(f, interpolate(r, g, sampler))
                   if constraint == "gradient-penalty" else torch.zeros(()))
        return -gap + penalty_weight * penalty, {"gap": gap.detach()}

    callbacks = [_Clip(clip)] if constraint == "weight-clipping" else []
    trainer = train.Trainer(critic, torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9)),
                            loss_fn, (real, fake), batch_size=min(batch_size, len(real)), seed=seed,
                            callbacks=callbacks, description=f"critic alone ({constraint})")
    with runtime.cpu_threads(1, real.device):  # a tiny network: a second thread only waits
        trainer.fit(steps=steps)
    return critic.eval()
