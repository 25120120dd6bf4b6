"""Lipschitz constraints in deep learning (Su Jianlin, https://spaces.ac.cn/archives/6051).

A model ``f`` is ``C``-Lipschitz when ``||f(x1) - f(x2)|| <= C ||x1 - x2||`` for all inputs. For a
layer ``x -> phi(W x + b)`` with ``|phi'| <= 1`` the best ``C`` is at most the spectral norm
``||W||_2 = sigma_max(W)``; for a stack of such layers, at most the product of the layers' spectral
norms. The spectral norm is found by power iteration (``u <- W v / ||W v||``,
``v <- W^T u / ||W^T u||``, ``sigma ~ u^T W v``); dividing each weight by it (spectral
normalisation, Miyato et al. 2018) makes the network 1-Lipschitz by construction. A gradient
penalty, ``(||grad_x f|| - 1)^2`` or ``max(||grad_x f|| - 1, 0)^2`` (Gulrajani et al. 2017), only
pushes the gradient norm towards 1 where it is evaluated. WGAN needs a 1-Lipschitz critic: by
Kantorovich-Rubinstein duality ``W_1(P, Q) = sup_{|f|_L <= 1} E_P f - E_Q f``.

The general blocks (power iteration, spectral normalisation, the gradient penalty, the Lipschitz
bounds) live in :mod:`kexue.gradients`, shared with later parts; here are the chapter's own:
certified radii, accuracy under noise, the best 1-D critic, small networks and WGAN critics. The
MNIST experiment is in :mod:`kexue.regularize.experiments`, the figures in
:mod:`kexue.regularize.figures`.

Serves chapters/part2-optimisation/lipschitz-constraints.ipynb (post 6051).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .. import classifier, runtime, train
from ..checks import float_tensor, label_tensor, positive, positive_int
from ..gradients import (
    Scale,
    _batch,
    gradient_penalty,
    interpolate,
    linear_layers,
    power_iteration,
    spectral_normalize,
)


def power_iteration_errors(W: torch.Tensor, iterations: int, v: torch.Tensor | None = None
                           ) -> torch.Tensor:
    """``sigma_k / ||W||_2 - 1`` for ``k = 1 .. iterations`` rounds of :func:`power_iteration`
    (in float64, against ``torch.linalg.matrix_norm(W, 2)``); all are ``<= 0`` up to round-off."""
    W = float_tensor(W, "W", ndim=2, nonempty=True).detach().double()
    iterations = positive_int(iterations, "iterations")
    exact = torch.linalg.matrix_norm(W, 2)
    v = torch.ones(W.shape[1], dtype=W.dtype) if v is None else v.detach().double()
    errors = []
    for _ in range(iterations):
        result = power_iteration(W, 1, v)
        v = result.v
        errors.append(result.sigma / exact - 1)
    return torch.stack(errors)



def certified_radius(logits: torch.Tensor, labels: torch.Tensor, lipschitz: float
                     ) -> torch.Tensor:
    """The radius around each input within which no perturbation can change a correct prediction,
    if the logits are ``lipschitz``-Lipschitz: ``(f_y - max_{j != y} f_j) / (sqrt(2) L)``, and 0
    where the prediction is already wrong (Tsuzuku et al. 2018). Each logit difference
    ``f_y - f_j = (e_y - e_j)^T f`` is ``sqrt(2) L``-Lipschitz."""
    logits = float_tensor(logits, "logits", ndim=2, nonempty=True)
    lipschitz = positive(lipschitz, "lipschitz")
    label_tensor(labels, "labels", n=len(logits))
    if logits.shape[1] < 2:
        raise ValueError("logits need at least 2 classes")
    true = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], -math.inf).amax(dim=1)
    return (true - others).clamp_min(0) / (math.sqrt(2) * lipschitz)


def noise_accuracy(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, sigmas,
                   generator: torch.Generator | None = None) -> list[float]:
    """Accuracy on ``x + sigma z`` (``z`` standard Gaussian, the same draw for every sigma, no
    clipping) for each noise level ``sigma`` in ``sigmas``."""
    x = _batch(x, "x")
    sigmas = [float(s) for s in sigmas]
    if not sigmas or any(not math.isfinite(s) or s < 0 for s in sigmas):
        raise ValueError(f"sigmas must be non-negative finite numbers, got {sigmas}")
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                    device="cpu" if generator is None else generator.device).to(x.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [int((model(x + s * z).argmax(1) == labels).sum()) / len(x) for s in sigmas]
    finally:
        model.train(was_training)


# -- the Kantorovich-Rubinstein dual in one dimension ------------------------------------------
def optimal_critic_1d(real: torch.Tensor, fake: torch.Tensor
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The best 1-Lipschitz critic between two 1-D samples: ``f' = sign(F_fake - F_real)`` with the
    empirical CDFs, so that ``mean f(real) - mean f(fake) = int |F_real - F_fake| dx = W_1``."""
    real = float_tensor(real, "real", ndim=1, nonempty=True).double()
    fake = float_tensor(fake, "fake", ndim=1, nonempty=True).double()
    knots = torch.cat([real, fake]).sort().values
    cdf = lambda s: torch.searchsorted(s.sort().values, knots, right=True) / len(s)  # noqa: E731
    slope = torch.sign(cdf(fake) - cdf(real))[:-1]  # on each interval between knots
    values = torch.cat([knots.new_zeros(1), torch.cumsum(slope * knots.diff(), 0)])

    def f(t: torch.Tensor) -> torch.Tensor:
        t = t.double().clamp(knots[0], knots[-1])  # constant outside the samples
        i = torch.searchsorted(knots, t, right=True).clamp(1, len(knots) - 1) - 1
        return values[i] + slope[i] * (t - knots[i])

    return f


# -- small networks -----------------------------------------------------------------------------
def mlp(widths, *, spectral_norm: bool = False, scale: float | None = None,
        generator: torch.Generator | None = None) -> nn.Sequential:
    """:func:`kexue.classifier.mlp` (ReLU between the layers) with its weights drawn from
    ``generator`` when given (PyTorch's scheme, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, from the
    caller's stream, which goes on into the spectral norm's vectors and the training); with
    ``spectral_norm`` every weight is divided by its spectral norm (:func:`spectral_normalize`),
    and ``scale`` appends a :class:`Scale`."""
    model = classifier.mlp(widths)
    if generator is not None:
        with torch.no_grad():
            for layer in linear_layers(model):
                out, fan_in = layer.weight.shape
                bound = 1 / math.sqrt(fan_in)
                layer.weight.copy_(torch.rand(out, fan_in, generator=generator) * 2 * bound - bound)
                layer.bias.copy_(torch.rand(out, generator=generator) * 2 * bound - bound)
    if scale is not None:
        model.append(Scale(scale))
    return spectral_normalize(model, generator=generator) if spectral_norm else model


# -- WGAN critics in one dimension ---------------------------------------------------------------
CRITIC_CONSTRAINTS = ("none", "two-sided", "one-sided", "spectral-norm")


def critic_gap(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """``mean f(real) - mean f(fake)`` for 1-D samples: the critic's estimate of ``W_1``, which is at
    most ``L W_1`` for an ``L``-Lipschitz critic (and unbounded without a constraint)."""
    real = float_tensor(real, "real", ndim=1, nonempty=True)
    fake = float_tensor(fake, "fake", ndim=1, nonempty=True)
    was_training = critic.training
    critic.eval()
    try:
        with torch.no_grad():
            return float(critic(real[:, None]).mean() - critic(fake[:, None]).mean())
    finally:
        critic.train(was_training)


def fit_critic(real: torch.Tensor, fake: torch.Tensor, constraint: str, *, steps: int,
               hidden: int = 64, penalty_weight: float = 10.0, lr: float = 1e-3,
               batch_size: int = 256, seed: int = 0) -> nn.Sequential:
    """Train a ReLU critic ``f`` (1 -> hidden -> hidden -> 1) to maximise
    ``mean f(real) - mean f(fake)`` over two 1-D samples of equal size, through ``kexue.train``.

    ``constraint``: ``"none"``; ``"two-sided"`` or ``"one-sided"``, a gradient penalty of weight
    ``penalty_weight`` at random interpolates of a real and a fake sample (WGAN-GP); or
    ``"spectral-norm"``, every weight divided by its spectral norm (the critic is then
    1-Lipschitz up to the power iteration's error).
    """
    if constraint not in CRITIC_CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CRITIC_CONSTRAINTS}, got {constraint!r}")
    real = float_tensor(real, "real", ndim=1, nonempty=True)
    fake = float_tensor(fake, "fake", ndim=1, nonempty=True)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same size, got {len(real)} and {len(fake)}")
    penalty_weight = positive(penalty_weight, "penalty_weight")
    generator = torch.Generator().manual_seed(seed)
    critic = mlp([1, hidden, hidden, 1], spectral_norm=constraint == "spectral-norm",
                 generator=generator).to(real.device, real.dtype)

    def loss_fn(f, r, g):
        gap = f(r).mean() - f(g).mean()
        loss = -gap
        if constraint in ("two-sided", "one-sided"):
            loss = loss + penalty_weight * gradient_penalty(
                f, interpolate(r, g, generator), one_sided=constraint == "one-sided")
        return loss, {"gap": gap}

    with runtime.cpu_threads(1, real.device):
        train.Trainer(critic, torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9)),
                      loss_fn, (real[:, None], fake[:, None]), batch_size=min(batch_size, len(real)),
                      seed=seed, description=f"critic ({constraint})").fit(steps=steps)
    return critic.eval()



# -- power iteration, pictured ------------------------------------------------------------------
def matrix_with_singular_values(s, m: int, n: int, generator: torch.Generator | None = None
                                ) -> torch.Tensor:
    """A float64 ``m x n`` matrix ``U diag(s) V^T`` with random orthonormal ``U``, ``V`` and the
    given singular values (``len(s) <= min(m, n)``)."""
    s = torch.as_tensor(s, dtype=torch.float64)
    m, n = positive_int(m, "m"), positive_int(n, "n")
    if s.ndim != 1 or not 1 <= len(s) <= min(m, n) or not bool((s >= 0).all()):
        raise ValueError(f"s must hold between 1 and {min(m, n)} non-negative singular values")
    U, _ = torch.linalg.qr(torch.randn(m, len(s), generator=generator, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, len(s), generator=generator, dtype=torch.float64))
    return U @ torch.diag(s) @ V.T
