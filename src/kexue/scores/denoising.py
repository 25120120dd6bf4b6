"""From denoising autoencoders to a generative model (post 7038).

The best denoiser knows the data's score. For ``x ~ p`` and ``y = x + eps``, ``eps ~ N(0, s^2 I)``,
the function that minimises ``E ||r(y) - x||^2`` is the posterior mean, and (Tweedie's formula)

    r*(y) = E[x | y] = y + s^2 grad log p_s(y),

where ``p_s = p * N(0, s^2 I)`` is the density of the noisy data. So a trained denoiser gives the
score of the noisy data, ``(r(y) - y) / s^2``, and training a score model ``f`` by *denoising score
matching*, ``E ||f(y) + eps / s^2||^2``, fits the same thing: that loss differs from the explicit
score-matching loss ``E_{p_s} ||f(y) - grad log p_s(y)||^2`` by a constant that does not depend on
``f`` (Vincent 2011).

With the score one can sample by Langevin dynamics, ``y <- y + (a/2) f(y) + sqrt(a) n`` with
``n ~ N(0, I)``, whose stationary distribution, as the step ``a`` goes to 0, is ``p_s``. Annealed
Langevin dynamics (Song & Ermon 2019) runs it down a ladder of decreasing noise levels
``s_1 > ... > s_L`` with steps ``a_i = a s_i^2 / s_L^2``, and a last denoising step
``y + s_L^2 f(y, s_L)`` (Tweedie again) removes the smallest noise.

For a mixture of isotropic Gaussians everything is in closed form (:class:`GaussianMixture`): the
noisy density is the same mixture with variances ``v + s^2``, so the tests can hold the trained
models, the sampler and the identities to exact values.

Serves chapters/part5-gans/denoising-score.ipynb (post 7038).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..checks import float_tensor, positive, positive_int


class GaussianMixture:
    """``sum_k w_k N(mu_k, std^2 I)`` in ``d`` dimensions (float64): density, score and samples,
    and the noisy mixture ``p * N(0, s^2 I)`` that a denoiser at noise ``s`` sees."""

    def __init__(self, weights, means, std: float):
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.ndim != 2 or self.weights.shape != (len(self.means),):
            raise ValueError(f"means must be (K, d) and weights (K,), got {tuple(self.means.shape)} "
                             f"and {tuple(self.weights.shape)}")
        if bool((self.weights < 0).any()) or abs(float(self.weights.sum()) - 1) > 1e-9:
            raise ValueError("weights must be non-negative and sum to one")
        self.std = positive(std, "std")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def noisy(self, sigma: float) -> "GaussianMixture":
        """The density of ``x + eps``, ``eps ~ N(0, sigma^2 I)``: the same mixture, wider."""
        return GaussianMixture(self.weights, self.means,
                               math.sqrt(self.std ** 2 + positive(sigma, "sigma") ** 2))

    def _responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """``w_k N(x; mu_k) / p(x)`` for each row of x and each component."""
        sq = torch.cdist(x, self.means) ** 2
        logits = self.weights.log() - sq / (2 * self.std ** 2)
        return torch.softmax(logits, 1)

    def log_prob(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        sq = torch.cdist(x, self.means) ** 2
        log_norm = -0.5 * self.dim * math.log(2 * math.pi * self.std ** 2)
        return torch.logsumexp(self.weights.log() + log_norm - sq / (2 * self.std ** 2), 1)

    def score(self, x) -> torch.Tensor:
        """``grad log p(x) = sum_k r_k(x) (mu_k - x) / std^2``."""
        x = torch.as_tensor(x, dtype=torch.float64)
        return (self._responsibilities(x) @ self.means - x) / self.std ** 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        which = torch.multinomial(self.weights, positive_int(n, "n"), replacement=True,
                                  generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[which] + self.std * noise

    def posterior_mean(self, y, sigma: float) -> torch.Tensor:
        """``E[x | y]`` for ``y = x + eps``, from Bayes' rule component by component (each
        component's posterior is Gaussian): an independent route to the optimal denoiser."""
        y = torch.as_tensor(y, dtype=torch.float64)
        noisy = self.noisy(sigma)
        v, s2 = self.std ** 2, sigma ** 2
        within = (self.means[None] * s2 + y[:, None] * v) / (v + s2)   # E[x | y, component k]
        return (noisy._responsibilities(y)[:, :, None] * within).sum(1)


def optimal_denoiser(mixture: GaussianMixture, sigma: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Tweedie's formula: ``r*(y) = y + sigma^2 grad log p_sigma(y)``."""
    noisy = mixture.noisy(sigma)
    return lambda y: torch.as_tensor(y, dtype=torch.float64) + sigma ** 2 * noisy.score(y)


def denoising_loss(denoiser: Callable, x: torch.Tensor, sigma: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The denoising autoencoder's loss at one noise level: ``E ||r(x + eps) - x||^2`` with
    ``eps ~ N(0, sigma^2 I)`` (summed over coordinates, averaged over rows)."""
    sigma = positive(sigma, "sigma")
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                      device="cpu" if generator is None else generator.device).to(x.device)
    return (denoiser(x + sigma * eps) - x).pow(2).flatten(1).sum(1).mean()


def noise_ladder(largest: float, smallest: float, levels: int) -> torch.Tensor:
    """``levels`` noise levels from ``largest`` down to ``smallest``, geometrically spaced."""
    largest, smallest = positive(largest, "largest"), positive(smallest, "smallest")
    if not largest > smallest:
        raise ValueError(f"the ladder must descend: largest {largest} <= smallest {smallest}")
    return torch.logspace(math.log10(largest), math.log10(smallest), positive_int(levels, "levels"),
                          dtype=torch.float64)


def _ladder(sigmas) -> torch.Tensor:
    sigmas = float_tensor(torch.as_tensor(sigmas, dtype=torch.float64), "sigmas", ndim=1,
                          nonempty=True)
    if bool((sigmas <= 0).any()):
        raise ValueError(f"noise levels must be positive, got {sigmas.tolist()}")
    if bool((sigmas[1:] >= sigmas[:-1]).any()):
        raise ValueError(f"a noise ladder must be strictly decreasing, got {sigmas.tolist()}")
    return sigmas


def denoising_score_loss(score: Callable, x: torch.Tensor, sigmas,
                         generator: torch.Generator | None = None):
    """Denoising score matching over a ladder: each row of ``x`` gets a level ``s`` drawn from
    ``sigmas`` and noise ``eps ~ N(0, s^2 I)``; the loss is the mean over rows of
    ``s^2 ||score(x + eps, s) + eps / s^2||^2`` (the ``s^2`` weighting of Song & Ermon 2019, which
    makes every level's term of the same size). ``score(y, s)`` takes the noisy rows and a vector of
    their levels."""
    sigmas = _ladder(sigmas).to(x.device, x.dtype)
    pick = torch.randint(len(sigmas), (len(x),), generator=generator,
                         device="cpu" if generator is None else generator.device).to(x.device)
    s = sigmas[pick].view(-1, *([1] * (x.ndim - 1)))
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                      device="cpu" if generator is None else generator.device).to(x.device) * s
    residual = score(x + eps, sigmas[pick]) + eps / s ** 2
    return (s ** 2 * residual ** 2).flatten(1).sum(1).mean()


@torch.no_grad()
def annealed_langevin(score: Callable, start: torch.Tensor, sigmas, *, steps: int,
                      step_size: float, generator: torch.Generator | None = None,
                      denoise: bool = True) -> torch.Tensor:
    """Annealed Langevin dynamics from ``start``: for each level ``s_i`` of the (strictly
    decreasing) ladder, ``steps`` updates ``y <- y + (a_i / 2) score(y, s_i) + sqrt(a_i) n`` with
    ``a_i = step_size s_i^2 / s_L^2``; then, if ``denoise``, Tweedie's last step
    ``y + s_L^2 score(y, s_L)``."""
    sigmas = _ladder(sigmas)
    steps, step_size = positive_int(steps, "steps"), positive(step_size, "step_size")
    y = start.clone()
    last = float(sigmas[-1])
    for s in sigmas.tolist():
        a = step_size * s ** 2 / last ** 2
        level = torch.full((len(y),), s, dtype=y.dtype, device=y.device)
        for _ in range(steps):
            n = torch.randn(y.shape, generator=generator, dtype=y.dtype,
                            device="cpu" if generator is None else generator.device).to(y.device)
            y = y + 0.5 * a * score(y, level) + math.sqrt(a) * n
    if denoise:
        y = y + last ** 2 * score(y, torch.full((len(y),), last, dtype=y.dtype, device=y.device))
    return y


class NoiseConditionalMLP(nn.Module):
    """A score model for points in ``dim`` dimensions at any noise level: an MLP on
    ``(y, log s)`` whose output is divided by ``s`` (Song & Ermon 2020: a score's size grows like
    1/s, so the network only learns its direction and relative size)."""

    def __init__(self, dim: int = 2, hidden: int = 128):
        super().__init__()
        dim, hidden = positive_int(dim, "dim"), positive_int(hidden, "hidden")
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, dim))

    def forward(self, y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.view(-1, 1).to(y.dtype)
        return self.net(torch.cat([y, s.log()], 1)) / s


class NoiseConditionalDense(nn.Module):
    """A score model for flat images (``dim`` pixels) at any noise level, sized for a CPU: an MLP
    on the pixels and ``log s`` with ``depth`` hidden layers of ``hidden`` SiLU units and a skip of
    the input into the output; the output is divided by ``s`` as in :class:`NoiseConditionalMLP`."""

    def __init__(self, dim: int = 784, hidden: int = 1024, depth: int = 3):
        super().__init__()
        dim, hidden, depth = (positive_int(dim, "dim"), positive_int(hidden, "hidden"),
                              positive_int(depth, "depth"))
        layers: list[nn.Module] = [nn.Linear(dim + 1, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))
        self.skip = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.skip.weight)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.view(-1, 1).to(y.dtype)
        return (self.net(torch.cat([y, s.log()], 1)) + self.skip(y)) / s


class NoiseConditionalConvNet(nn.Module):
    """A score model for 28 x 28 images: a small convolutional encoder-decoder (28 -> 14 -> 7 ->
    14 -> 28, with skips) that sees ``log s`` as an extra input channel; its output is divided by
    ``s`` as in :class:`NoiseConditionalMLP`. Images may come flat (784) or as (1, 28, 28)."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = positive_int(width, "width")
        act = nn.SiLU
        self.down1 = nn.Sequential(nn.Conv2d(2, w, 3, padding=1), act(),
                                   nn.Conv2d(w, w, 3, padding=1), act())
        self.down2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), act(),
                                   nn.Conv2d(2 * w, 2 * w, 3, padding=1), act())
        self.down3 = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), act(),
                                   nn.Conv2d(2 * w, 2 * w, 3, padding=1), act())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * w, 2 * w, 4, stride=2, padding=1), act())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(4 * w, w, 4, stride=2, padding=1), act())
        self.out = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), act(), nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        flat = y.ndim == 2
        if flat and y.shape[1] != 784 or not flat and y.shape[1:] != (1, 28, 28):
            raise ValueError(f"the score model takes images of shape (n, 784) or (n, 1, 28, 28), "
                             f"got {tuple(y.shape)}")
        x = y.view(-1, 1, 28, 28)
        s = sigma.view(-1, 1, 1, 1).to(x.dtype)
        h1 = self.down1(torch.cat([x, s.log().expand_as(x)], 1))
        h2 = self.down2(h1)
        h3 = self.down3(h2)
        u2 = self.up2(h3)
        u1 = self.up1(torch.cat([u2, h2], 1))
        out = self.out(torch.cat([u1, h1], 1)) / s
        return out.view(-1, 784) if flat else out
