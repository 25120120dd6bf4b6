"""The geometry of a VAE (Su Jianlin, https://spaces.ac.cn/archives/7725).

An autoencoder maps each image ``x`` to one point ``z = E(x)`` and is trained on

    ||x - D(E(x))||^2.

A VAE maps it to a blob, the Gaussian ``N(mu(x), diag sigma^2(x))``, asks every point of the blob
to reconstruct ``x``, and pulls every blob towards the unit disc of the prior ``N(0, I)``:

    ||x - D(mu(x) + sigma(x) * eps)||^2 + beta * KL(N(mu, sigma^2) || N(0, I)),  eps ~ N(0, I).

With ``beta = 1`` this is the post's objective. It is ``2 sigma_x^2`` times the negative ELBO of a
decoder ``p(x|z) = N(D(z), sigma_x^2 I)`` with ``sigma_x^2 = beta / 2`` (up to a constant): the KL
weight is the decoder's noise variance in disguise.

Here: the two models (:class:`Autoencoder`, :class:`VAE`, MNIST ``784 -> hidden -> 2``), the loss
terms (:func:`elbo_terms`, :class:`VAELoss`, :func:`autoencoder_loss`), training through
``kexue.train`` (:func:`train_autoencoder`), what is measured of the codes (the aggregated
posterior's moments, :func:`aggregate_moments`, :func:`gaussian_kl_to_prior`; the evidence by
quadrature over the 2-D latent, :func:`evidence_on_grid`).

Serves chapters/part3-vae/vae-geometry.ipynb (post 7725) and, through the VAEs it trains,
chapters/part3-vae/mutual-information.ipynb (post 6088) and
chapters/part3-vae/entropy-autoencoder.ipynb (post 7343). The experiment ``vae-geometry-mnist`` is
in :mod:`kexue.vae.experiments.geometry`, its figures in :mod:`kexue.vae.figures.geometry`.
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
from torch import nn

from .. import classifier, runtime, train
from ..checks import float_tensor, non_negative, positive, positive_int
from .gaussian import kl_standard_normal, kl_to_standard, log_density, reparametrise, sample
from .networks import GaussianEncoder, check_batch, mlp_decoder

__all__ = ["Autoencoder", "VAE", "ElboTerms", "squared_error", "elbo_terms", "autoencoder_loss",
           "VAELoss", "decoder_variance", "train_model", "train_autoencoder", "aggregate_moments",
           "gaussian_kl_to_prior", "log_aggregate_density", "coverage", "evidence_on_grid",
           "latent_grid", "interpolate", "model_name"]

KINDS = ("ae", "vae")
IMAGE_DIM = 28 * 28
CONFIG_KEYS = ("hidden", "epochs", "batch_size", "lr", "seed")


# -- the two models ------------------------------------------------------------------------------
def _hidden(hidden) -> list[int]:
    if isinstance(hidden, (int, str)) or not hasattr(hidden, "__iter__"):
        raise TypeError(f"hidden must be a sequence of layer widths, got {type(hidden).__name__}")
    hidden = [positive_int(w, "every hidden width") for w in hidden]
    if not hidden:
        raise ValueError("hidden must name at least one hidden width")
    return hidden


class _Coder(nn.Module):
    """What both models share: an encoder ``input_dim -> hidden -> latent_dim`` built by
    ``make_encoder``, and the mirror-image decoder ``latent_dim -> reversed(hidden) -> input_dim``
    (ReLU, then a sigmoid), seeded with ``seed + 1``."""

    def __init__(self, make_encoder, hidden, latent_dim: int, input_dim: int, seed: int | None):
        super().__init__()
        hidden = _hidden(hidden)
        self.input_dim = positive_int(input_dim, "input_dim")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.encoder = make_encoder([self.input_dim, *hidden, self.latent_dim], seed=seed)
        self.decoder = mlp_decoder([self.latent_dim, *reversed(hidden), self.input_dim],
                                   seed=None if seed is None else seed + 1)


class Autoencoder(_Coder):
    """A code as a point: ``x -> z = E(x) -> D(z)``, with ``E`` an MLP (ReLU, linear output)."""

    def __init__(self, hidden=(256,), latent_dim: int = 2, *, input_dim: int = IMAGE_DIM,
                 seed: int | None = None):
        super().__init__(classifier.mlp, hidden, latent_dim, input_dim, seed)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The point ``E(x)`` for each row of ``x``."""
        return self.encoder(check_batch(x, self.input_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.codes(x))


class VAE(_Coder):
    """A code as a blob: ``x -> N(mu(x), diag sigma^2(x))`` (a :class:`GaussianEncoder`), a sample
    ``z = mu + sigma * eps`` of it, then the same decoder as the :class:`Autoencoder`."""

    def __init__(self, hidden=(256,), latent_dim: int = 2, *, input_dim: int = IMAGE_DIM,
                 seed: int | None = None):
        super().__init__(GaussianEncoder, hidden, latent_dim, input_dim, seed)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu(x), log sigma^2(x))``: the centre and the squared axes of each image's ellipse."""
        return self.encoder(check_batch(x, self.input_dim))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The centres ``mu(x)``: the blobs seen as points."""
        return self.posterior(x)[0]

    def sample_codes(self, x: torch.Tensor, *, noise: torch.Tensor | None = None,
                     generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, mu, log sigma^2)`` with ``z = mu + sigma * noise`` one point of each blob
        (``noise`` ~ N(0, I) drawn from ``generator`` when not given)."""
        mean, log_var = self.posterior(x)
        if noise is None:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                                device=mean.device)
        elif not isinstance(noise, torch.Tensor) or noise.shape != mean.shape:
            raise ValueError(f"noise must be a tensor shaped like the codes {tuple(mean.shape)}, "
                             f"got {tuple(getattr(noise, 'shape', ())) or type(noise).__name__}")
        return sample(mean, log_var, noise), mean, log_var

    def forward(self, x: torch.Tensor, *, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``D(mu(x) + sigma(x) * noise)``: the reconstruction from one point of the blob."""
        return self.decoder(self.sample_codes(x, noise=noise, generator=generator)[0])


def _model(model, kinds: tuple = (Autoencoder, VAE)) -> nn.Module:
    if not isinstance(model, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"model must be an instance of {names}, got {type(model).__name__}")
    return model


# -- the objective ------------------------------------------------------------------------------
class ElboTerms(NamedTuple):
    """The two terms of the VAE's loss, one value per sample."""

    reconstruction: torch.Tensor  # ||x - D(z)||^2 with z = mu + sigma * eps
    kl: torch.Tensor  # KL(N(mu, sigma^2) || N(0, I))


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``||x - x_hat||^2`` per row, summed over the pixels. Called on every batch, it checks
    shapes and dtypes, not finiteness (which would read the tensors back from the device)."""
    x = float_tensor(x, "x", ndim=2, nonempty=True, finite=False)
    if not isinstance(x_hat, torch.Tensor) or x_hat.shape != x.shape:
        raise ValueError(f"x_hat must be a tensor shaped like x {tuple(x.shape)}, got "
                         f"{tuple(getattr(x_hat, 'shape', ())) or type(x_hat).__name__}")
    return (x - x_hat).square().sum(1)


def elbo_terms(model: VAE, x: torch.Tensor, *, noise: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> ElboTerms:
    """Per sample: the reconstruction error ``||x - D(mu + sigma * noise)||^2`` from one point of
    the blob (``noise`` ~ N(0, I) drawn when not given) and ``KL(N(mu, sigma^2) || N(0, I))``."""
    z, mean, log_var = _model(model, (VAE,)).sample_codes(x, noise=noise, generator=generator)
    return ElboTerms(squared_error(x, model.decoder(z)), kl_to_standard(mean, log_var))


def autoencoder_loss(model: Autoencoder, x: torch.Tensor):
    """The autoencoder's loss for ``kexue.train``: the mean of ``||x - D(E(x))||^2``."""
    reconstruction = squared_error(x, _model(model, (Autoencoder,))(x)).mean()
    return reconstruction, {"reconstruction": reconstruction.detach()}


class VAELoss:
    """The VAE's loss for ``kexue.train``: the mean of ``||x - D(z)||^2 + beta * KL`` over the
    batch, ``beta = kl_weight`` (1 is the post's objective); logs both terms."""

    def __init__(self, kl_weight: float = 1.0):
        self.kl_weight = non_negative(kl_weight, "kl_weight")

    def __call__(self, model: VAE, x: torch.Tensor):
        terms = elbo_terms(model, x)
        reconstruction, kl = terms.reconstruction.mean(), terms.kl.mean()
        return reconstruction + self.kl_weight * kl, {"reconstruction": reconstruction.detach(),
                                                      "kl": kl.detach()}


def decoder_variance(kl_weight: float) -> float:
    """``sigma_x^2 = beta / 2``: the variance of the Gaussian decoder ``N(D(z), sigma_x^2 I)`` whose
    negative ELBO, times ``2 sigma_x^2``, is ``||x - D(z)||^2 + beta KL`` plus a constant."""
    return positive(kl_weight, "kl_weight") / 2


# -- training -----------------------------------------------------------------------------------
def train_autoencoder(kind: str, kl_weight: float | None, config: dict, data: torch.Tensor
                      ) -> tuple[nn.Module, list[dict]]:
    """Train an :class:`Autoencoder` (``kind="ae"``, ``kl_weight`` None) or a :class:`VAE`
    (``kind="vae"``, loss :class:`VAELoss` with ``kl_weight``) on the rows of ``data`` (pixels in
    [0, 1], already on the device) with Adam, through ``kexue.train``. ``config`` holds
    ``hidden``, ``epochs``, ``batch_size``, ``lr`` and ``seed`` (of the weights, the batches and,
    through :func:`kexue.runtime.seed_everything`, the noise). Returns the model (in eval mode)
    and the training history's rows (means per epoch)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise KeyError(f"config lacks {missing}; it needs {list(CONFIG_KEYS)}")
    data = check_batch(data, IMAGE_DIM, "data")
    if kind == "ae":
        if kl_weight is not None:
            raise ValueError(f"an autoencoder has no KL term: kl_weight must be None, got "
                             f"{kl_weight!r}")
        model, loss = Autoencoder(config["hidden"], seed=config["seed"]), autoencoder_loss
    else:
        if kl_weight is None:
            raise ValueError("a VAE needs a kl_weight (beta >= 0; 1 is the post's objective)")
        model, loss = VAE(config["hidden"], seed=config["seed"]), VAELoss(kl_weight)
    label = "autoencoder" if kind == "ae" else f"VAE, beta={kl_weight:g}"
    return train_model(model, loss, config, data, description=label)


def train_model(model: nn.Module, loss, config: dict, data: torch.Tensor, *,
                description: str = "training") -> tuple[nn.Module, list[dict]]:
    """Train ``model`` (moved to ``data``'s device) on the rows of ``data`` with Adam and ``loss``
    through :func:`kexue.train.fit_adam`; ``config`` gives ``epochs``, ``batch_size``, ``lr`` and
    ``seed`` (of the batches and, through :func:`kexue.runtime.seed_everything`, of a VAE's
    noise). Returns the model in eval mode and the history's rows (means per epoch)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    missing = [key for key in ("epochs", "batch_size", "lr", "seed") if key not in config]
    if missing:
        raise KeyError(f"config lacks {missing}")
    model = model.to(data.device)
    runtime.seed_everything(config["seed"])
    history = train.fit_adam(model, loss, data, lr=config["lr"],
                             batch_size=min(positive_int(config["batch_size"], "batch_size"),
                                            len(data)),
                             epochs=positive_int(config["epochs"], "epochs"), seed=config["seed"],
                             description=description)
    return model.eval(), history.rows


# -- measuring the codes -------------------------------------------------------------------------
def aggregate_moments(mean: torch.Tensor, log_var: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``m`` and covariance ``C`` of the aggregated posterior ``q(z) = (1/n) sum_i
    N(mu_i, diag sigma_i^2)``: ``m = mean(mu)`` and, by the law of total covariance,
    ``C = Cov(mu) + mean(diag sigma^2)`` (the covariance with divisor n). Without ``log_var``
    the codes are points (an autoencoder's) and ``C = Cov(mu)``."""
    mean = float_tensor(mean, "mean", ndim=2, nonempty=True)
    centred = mean - mean.mean(0)
    cov = centred.T @ centred / len(mean)
    if log_var is not None:
        log_var = float_tensor(log_var, "log_var", ndim=2)
        if log_var.shape != mean.shape:
            raise ValueError(f"mean and log_var must have the same shape, got {tuple(mean.shape)} "
                             f"and {tuple(log_var.shape)}")
        cov = cov + torch.diag(log_var.exp().mean(0))
    return mean.mean(0), cov


def gaussian_kl_to_prior(m: torch.Tensor, C: torch.Tensor) -> float:
    """``KL(N(m, C) || N(0, I)) = (tr C + |m|^2 - d - log det C) / 2``: how far the Gaussian with
    the aggregated posterior's moments is from the prior. It is a lower bound on
    ``KL(q(z) || N(0, I))`` (the Gaussian has the most entropy for its moments), which is itself at
    most the mean KL term (by convexity)."""
    m = float_tensor(m, "m", ndim=1, nonempty=True)
    C = float_tensor(C, "C", ndim=2)
    if C.shape != (len(m), len(m)):
        raise ValueError(f"C must be {len(m)} x {len(m)} like m, got {tuple(C.shape)}")
    L, info = torch.linalg.cholesky_ex(C.double())
    if info != 0 or not torch.allclose(C, C.T):
        raise ValueError("C must be a symmetric positive definite matrix")
    logdet = 2 * L.diagonal().log().sum()
    return float(0.5 * (torch.trace(C.double()) + m.double().square().sum() - len(m) - logdet))


def evidence_on_grid(decoder: nn.Module, x: torch.Tensor, mean: torch.Tensor,
                     log_var: torch.Tensor, *, decoder_var: float, half_width: float = 8.0,
                     n: int = 61) -> dict:
    """For one image ``x`` and its posterior ``q = N(mean, diag exp(log_var))`` over a 2-D latent,
    integrate over a square ``n x n`` grid centred on ``mean``, ``half_width`` times the larger
    sigma on each side (on the CPU in float64, with a copy of ``decoder``), with
    ``p(x|z) = N(D(z), decoder_var I)``:

    * ``log_evidence``: ``log p(x) = log of the integral of p(x|z) p(z) dz``;
    * ``elbo``: ``E_q log p(x|z) - KL(q || N(0, I))`` (the expectation on the grid, the KL in
      closed form);
    * ``gap``: ``KL(q || p(z|x))`` on the grid, with ``p(z|x) = p(x|z) p(z) / p(x)``, so that
      ``log p(x) = ELBO + gap`` up to the quadrature error;
    * ``edge_mass``: the posterior's mass on the grid's outer ring (small when the window holds it).
    """
    if not isinstance(decoder, nn.Module):
        raise TypeError(f"decoder must be a torch.nn.Module, got {type(decoder).__name__}")
    x = float_tensor(x, "x", ndim=1, nonempty=True).to("cpu", torch.float64)
    mean = float_tensor(mean, "mean", ndim=1).to("cpu", torch.float64)
    log_var = float_tensor(log_var, "log_var", ndim=1).to("cpu", torch.float64)
    if mean.shape != (2,) or log_var.shape != (2,):
        raise ValueError(f"mean and log_var must each hold the 2 coordinates of a 2-D latent, got "
                         f"{tuple(mean.shape)} and {tuple(log_var.shape)}")
    decoder_var = positive(decoder_var, "decoder_var")
    half_width = positive(half_width, "half_width")
    n = positive_int(n, "n")
    if n < 3:
        raise ValueError(f"n must be at least 3 grid points per axis, got {n}")
    radius = half_width * float(log_var.mul(0.5).exp().max())
    axis = torch.linspace(-radius, radius, n, dtype=torch.float64)
    z = torch.cartesian_prod(axis, axis) + mean
    decoder = copy.deepcopy(decoder).to("cpu", torch.float64)
    with torch.no_grad():
        x_hat = decoder(z)
    if x_hat.shape != (len(z), len(x)):
        raise ValueError(f"decoder must map the 2-D latent to {len(x)} values, got "
                         f"{tuple(x_hat.shape)}")
    log_likelihood = (-0.5 * (x - x_hat).square().sum(1) / decoder_var
                      - 0.5 * len(x) * math.log(2 * math.pi * decoder_var))
    log_joint = log_likelihood + log_density(z, torch.zeros(2, dtype=torch.float64),
                                             torch.zeros(2, dtype=torch.float64))
    log_cell = 2 * math.log(float(axis[1] - axis[0]))
    log_evidence = torch.logsumexp(log_joint, 0) + log_cell
    log_posterior = log_joint - log_evidence
    log_q = log_density(z, mean, log_var)
    weights = torch.softmax(log_q, 0)  # q on the grid, normalised
    kl_prior = kl_standard_normal(mean, log_var)
    ring = torch.zeros(n, n, dtype=torch.bool)
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    return {"log_evidence": float(log_evidence),
            "elbo": float((weights * log_likelihood).sum() - kl_prior),
            "gap": float((weights * (log_q - log_posterior)).sum()),
            "edge_mass": float((log_posterior + log_cell).exp()[ring.flatten()].sum())}


def latent_grid(lim, n: int) -> torch.Tensor:
    """``n * n`` points of a square grid in the plane, ``lim = (z1_min, z1_max, z2_min, z2_max)``,
    row by row from the top (largest ``z2``) and left to right, as images are tiled."""
    if not isinstance(lim, (tuple, list)) or len(lim) != 4:
        raise ValueError(f"lim must be (z1_min, z1_max, z2_min, z2_max), got {lim!r}")
    x0, x1, y0, y1 = (float(v) for v in lim)
    if not (x0 < x1 and y0 < y1) or not all(map(math.isfinite, (x0, x1, y0, y1))):
        raise ValueError(f"lim must be finite with min < max on both axes, got {lim!r}")
    n = positive_int(n, "n")
    z1, z2 = torch.linspace(x0, x1, n), torch.linspace(y1, y0, n)
    return torch.stack([z1.repeat(n), z2.repeat_interleave(n)], 1)


def interpolate(model: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10
                ) -> torch.Tensor:
    """Decode ``(1 - t) z_a + t z_b`` for ``steps`` values of ``t`` from 0 to 1, ``z`` the point
    codes of the two images (the centres ``mu`` for a VAE)."""
    model = _model(model)
    steps = positive_int(steps, "steps")
    pair = torch.stack([float_tensor(x_a, "x_a", ndim=1), float_tensor(x_b, "x_b", ndim=1)])
    with torch.no_grad():
        z_a, z_b = model.codes(pair)
        t = torch.linspace(0, 1, steps, dtype=z_a.dtype, device=z_a.device)[:, None]
        return model.decoder((1 - t) * z_a + t * z_b)


def log_aggregate_density(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, *,
                          chunk: int = 1024) -> torch.Tensor:
    """``log q(z)`` at each row of ``z`` for the aggregated posterior, the mixture
    ``q(z) = (1/n) sum_i N(z; mu_i, diag sigma_i^2)`` of the ``n`` blobs (``chunk`` rows of ``z``
    at a time)."""
    z = float_tensor(z, "z", ndim=2, nonempty=True)
    mean = float_tensor(mean, "mean", ndim=2, nonempty=True)
    log_var = float_tensor(log_var, "log_var", ndim=2)
    if log_var.shape != mean.shape or z.shape[1] != mean.shape[1]:
        raise ValueError(f"z {tuple(z.shape)}, mean {tuple(mean.shape)} and log_var "
                         f"{tuple(log_var.shape)} must agree on the latent width, and mean and "
                         "log_var on their shape")
    chunk = positive_int(chunk, "chunk")
    return torch.cat([torch.logsumexp(log_density(part[:, None, :], mean, log_var), 1)
                      for part in z.split(chunk)]) - math.log(len(mean))


def coverage(mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator,
             n_samples: int, *, samples_per_blob: int = 1) -> dict:
    """How well the blobs tile the prior, by Monte Carlo, with standard errors (``_se``):

    * ``prior_to_aggregate_kl``: ``KL(N(0, I) || q)`` over ``n_samples`` prior samples; it is large
      where the prior has mass that no blob covers (holes);
    * ``aggregate_to_prior_kl``: ``KL(q || N(0, I))`` over ``samples_per_blob`` samples of each
      blob; it is large where blobs lie outside the prior. It is at most the mean KL term (the
      difference is the mutual information between the image and its code) and at least
      :func:`gaussian_kl_to_prior` of :func:`aggregate_moments`.
    """
    mean = float_tensor(mean, "mean", ndim=2, nonempty=True)
    log_var = float_tensor(log_var, "log_var", ndim=2)
    n_samples = positive_int(n_samples, "n_samples")
    samples_per_blob = positive_int(samples_per_blob, "samples_per_blob")
    if log_var.shape != mean.shape:
        raise ValueError(f"mean and log_var must have the same shape, got {tuple(mean.shape)} and "
                         f"{tuple(log_var.shape)}")
    zeros = torch.zeros_like(mean[0])
    normal = lambda n: torch.randn(n, mean.shape[1], generator=generator,
                                   dtype=mean.dtype).to(mean.device)
    prior = normal(n_samples)
    k = samples_per_blob
    from_blobs = reparametrise(mean.repeat(k, 1), log_var.repeat(k, 1), noise=normal(k * len(mean)))
    out = {}
    for name, z, sign in (("prior_to_aggregate_kl", prior, 1),
                          ("aggregate_to_prior_kl", from_blobs, -1)):
        terms = sign * (log_density(z, zeros, zeros) - log_aggregate_density(z, mean, log_var))
        out[name] = float(terms.mean())
        out[name + "_se"] = float(terms.std() / math.sqrt(len(terms)))
    return out


# -- naming ------------------------------------------------------------------------------------
def model_name(kl_weight: float | None) -> str:
    """``"ae"`` for the autoencoder, ``"vae-<beta>"`` for a VAE: the keys of the metrics."""
    return "ae" if kl_weight is None else f"vae-{kl_weight:g}"
