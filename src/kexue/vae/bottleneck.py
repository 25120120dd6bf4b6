"""The variational information bottleneck (Su Jianlin, https://spaces.ac.cn/archives/6181;
Alemi, Fischer, Dillon and Murphy, "Deep variational information bottleneck", ICLR 2017,
arXiv:1612.00410).

A classifier ``x -> z -> y`` with a stochastic code ``p(z|x) = N(mu(x), diag(sigma^2(x)))`` is
asked to pass as little information about ``x`` through ``z`` as its task allows. The mutual
information ``I(x; z)`` needs the marginal ``p(z) = E_x p(z|x)``, which cannot be computed; for
any fixed ``q(z)`` (here ``N(0, I)``)

    I(x; z) = E_x KL(p(z|x) || q(z)) - KL(p(z) || q(z)) <= E_x KL(p(z|x) || q(z)),

so the trainable loss is

    E_x [ E_{z ~ p(z|x)} (-log p(y|z)) + beta * KL(p(z|x) || N(0, I)) ],

a VAE's loss with the label in place of the reconstruction. In eval mode the layer passes the
mean ``mu(x)``.

:func:`gaussian_channel` gives every term of the bound in closed form for a linear-Gaussian
encoder of Gaussian data, where ``I(x; z)`` is known exactly.

Serves chapters/part3-vae/information-bottleneck.ipynb (post 6181); its experiment ``vib-fashion``
is in :mod:`kexue.vae.experiments.bottleneck`, its figures in :mod:`kexue.vae.figures.bottleneck`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .. import classifier, runtime, train
from ..checks import float_tensor, label_tensor, non_negative, positive_int
from .gaussian import kl_standard_normal, kl_to_standard, sample

__all__ = ["VariationalBottleneck", "BottleneckClassifier", "BottleneckLoss",
           "linear_gaussian_layer", "gaussian_channel", "kl_per_dimension", "noisy_accuracy",
           "train_classifier"]


# -- the layer ---------------------------------------------------------------------------------
class VariationalBottleneck(nn.Module):
    """``h -> z``: linear maps to the mean and log-variance of
    ``p(z|h) = N(mu, diag(exp(log_var)))``; in training mode the reparametrised sample
    ``z = mu + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``, in eval mode ``z = mu``. After each
    forward, ``self.kl`` holds ``KL(p(z|h) || N(0, I))`` per sample (summed over the latent
    dimensions; with gradient), and ``self.last`` the batch's ``(mean, log_var)``."""

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.mean = nn.Linear(self.in_features, self.latent_dim)
        self.log_var = nn.Linear(self.in_features, self.latent_dim)
        self.kl: torch.Tensor | None = None
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not isinstance(h, torch.Tensor) or h.ndim != 2 or h.shape[1] != self.in_features:
            raise ValueError(f"the bottleneck takes a batch of shape (n, {self.in_features}), got "
                             f"{tuple(getattr(h, 'shape', ())) or type(h).__name__}")
        mean, log_var = self.mean(h), self.log_var(h)
        self.last = (mean, log_var)
        # the unchecked kernels: a finiteness check here would sync the device every step
        self.kl = kl_to_standard(mean, log_var)
        return sample(mean, log_var, torch.randn_like(mean)) if self.training else mean


class BottleneckClassifier(nn.Module):
    """``x -> body -> z -> logits``: an MLP ``widths[0] -> ... -> widths[-1]`` with ``activation``
    after every layer, then a ``latent_dim``-wide code, then a linear head to ``classes`` logits.
    With ``bottleneck=True`` the code is a :class:`VariationalBottleneck`; without, the same width
    from a plain linear layer (the deterministic network the bottleneck is compared with)."""

    def __init__(self, widths: Sequence[int], latent_dim: int, classes: int, *,
                 bottleneck: bool = True, activation: Callable[[], nn.Module] = nn.ReLU,
                 seed: int | None = None):
        super().__init__()
        widths = list(widths)
        if len(widths) < 2:
            raise ValueError(f"widths must name an input and at least one hidden width, got "
                             f"{widths}")
        latent_dim = positive_int(latent_dim, "latent_dim")
        classes = positive_int(classes, "classes")
        with runtime.seeded_init(seed):
            self.body = nn.Sequential(*classifier.mlp(widths, activation=activation), activation())
            self.code = (VariationalBottleneck(widths[-1], latent_dim) if bottleneck
                         else nn.Linear(widths[-1], latent_dim))
            self.head = nn.Linear(latent_dim, classes)

    @property
    def bottleneck(self) -> VariationalBottleneck | None:
        return self.code if isinstance(self.code, VariationalBottleneck) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.code(self.body(x)))


class BottleneckLoss:
    """``loss_fn(model, x, y)`` for :class:`kexue.train.Trainer`: the mean cross-entropy plus
    ``beta`` times the batch mean of the bottleneck's ``KL(p(z|x) || N(0, I))`` (the post's VIB
    loss). With ``beta = 0`` the loss *is* the cross-entropy (the KL is still logged where the
    model has a bottleneck)."""

    def __init__(self, beta: float):
        self.beta = non_negative(beta, "beta")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        bottleneck = getattr(model, "bottleneck", None)
        if self.beta > 0 and bottleneck is None:
            raise ValueError(f"beta = {self.beta} > 0 needs a model with a VariationalBottleneck "
                             "(a BottleneckClassifier built with bottleneck=True)")
        loss, metrics = classifier.classification_loss(model, x, y)
        metrics["ce"] = loss.detach()
        if bottleneck is not None:
            kl = bottleneck.kl.mean()
            metrics["kl"] = kl.detach()
            if self.beta > 0:
                loss = loss + self.beta * kl
        return loss, metrics


# -- the bound on a Gaussian toy problem ----------------------------------------------------------
def _encoder(A, b, noise_var) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(A, b, noise_var)`` in float64, if they describe an encoder
    ``p(z|x) = N(A x + b, diag(noise_var))``."""
    A = float_tensor(A, "A", ndim=2, nonempty=True).double()
    b = float_tensor(b, "b", ndim=1).double()
    noise_var = float_tensor(noise_var, "noise_var", ndim=1).double()
    if b.shape != A.shape[:1] or noise_var.shape != A.shape[:1]:
        raise ValueError(f"for A of shape {tuple(A.shape)}, b and noise_var must have shape "
                         f"({A.shape[0]},); got {tuple(b.shape)} and {tuple(noise_var.shape)}")
    if not bool((noise_var > 0).all()):
        raise ValueError("noise_var must be positive")
    return A, b, noise_var


def linear_gaussian_layer(A: torch.Tensor, b: torch.Tensor, noise_var: torch.Tensor
                          ) -> VariationalBottleneck:
    """A :class:`VariationalBottleneck` (float64) whose encoder is ``p(z|x) = N(A x + b,
    diag(noise_var))``: the mean head is ``(A, b)``, the log-variance head a constant."""
    A, b, noise_var = _encoder(A, b, noise_var)
    layer = VariationalBottleneck(A.shape[1], A.shape[0]).double()
    with torch.no_grad():
        layer.mean.weight.copy_(A)
        layer.mean.bias.copy_(b)
        layer.log_var.weight.zero_()
        layer.log_var.bias.copy_(noise_var.log())
    return layer


def gaussian_channel(A: torch.Tensor, b: torch.Tensor, cov_x: torch.Tensor,
                     noise_var: torch.Tensor) -> dict[str, float]:
    """Closed forms (float64) for data ``x ~ N(0, cov_x)`` and the encoder
    ``p(z|x) = N(A x + b, D)``, ``D = diag(noise_var)``:

    * ``information``: ``I(x; z) = 1/2 log det(I + D^-1 A cov_x A^T)``;
    * ``bound``: ``E_x KL(p(z|x) || N(0, I))
      = 1/2 [tr(A cov_x A^T) + |b|^2 + sum(noise_var - log noise_var - 1)]``;
    * ``gap``: ``KL(p(z) || N(0, I))`` with the marginal ``p(z) = N(b, A cov_x A^T + D)``.

    Then ``information = bound - gap``."""
    A, b, noise_var = _encoder(A, b, noise_var)
    k, d = A.shape
    cov_x = float_tensor(cov_x, "cov_x", ndim=2).double()
    if cov_x.shape != (d, d):
        raise ValueError(f"cov_x must have shape ({d}, {d}) for A of shape {(k, d)}, got "
                         f"{tuple(cov_x.shape)}")
    if not torch.allclose(cov_x, cov_x.T) or float(torch.linalg.eigvalsh(cov_x)[0]) < 0:
        raise ValueError("cov_x must be a symmetric positive semi-definite matrix")
    signal = A @ cov_x @ A.T
    cov_z = signal + torch.diag(noise_var)
    eye = torch.eye(k, dtype=A.dtype)
    information = 0.5 * float(torch.logdet(eye + signal / noise_var[:, None]))
    bound = 0.5 * float(signal.trace() + b @ b + (noise_var - noise_var.log() - 1).sum())
    gap = 0.5 * float(cov_z.trace() + b @ b - k - torch.logdet(cov_z))
    return {"information": information, "bound": bound, "gap": gap}


# -- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def kl_per_dimension(model: BottleneckClassifier, x: torch.Tensor, *, batch_size: int = 4096
                     ) -> torch.Tensor:
    """``E_x KL(p(z_j|x) || N(0, 1))`` for each latent dimension ``j`` (eval mode, on the CPU):
    their sum is the bound on ``I(x; z)``; a dimension with ~0 carries nothing about ``x``."""
    bottleneck = getattr(model, "bottleneck", None)
    if bottleneck is None:
        raise ValueError("the model has no VariationalBottleneck")
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    batch_size = positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    total = torch.zeros(bottleneck.latent_dim, dtype=torch.float64)
    try:
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size])
            mean, log_var = bottleneck.last
            per_dim = kl_standard_normal(mean.unsqueeze(-1), log_var.unsqueeze(-1))  # (n, k)
            total += per_dim.sum(0).double().cpu()
    finally:
        model.train(was_training)
    return total / len(x)


def noisy_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float], *,
                   noise: torch.Tensor | None = None, seed: int = 0) -> list[float]:
    """Accuracy (eval mode) on ``x + sigma * eps`` for each ``sigma``, with one standard-normal
    ``eps`` shaped like ``x`` (``noise``, or drawn from ``seed``) shared by every ``sigma`` (and by
    every model given the same one). Pixels are not clipped."""
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    y = label_tensor(y, "y", n=len(x))
    sigmas = [non_negative(s, "sigma") for s in sigmas]
    if not sigmas:
        raise ValueError("give at least one sigma")
    if noise is None:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
    elif not isinstance(noise, torch.Tensor) or noise.shape != x.shape:
        raise ValueError(f"noise must be a tensor shaped like x {tuple(x.shape)}")
    return [classifier.evaluate(model, x + s * noise, y)["acc"] for s in sigmas]


# -- training ----------------------------------------------------------------------------------
def train_classifier(x: torch.Tensor, y: torch.Tensor, beta: float, *, widths, latent_dim: int,
                     epochs: int, batch_size: int, lr: float, seed: int
                     ) -> tuple[BottleneckClassifier, train.History]:
    """Train a :class:`BottleneckClassifier` with Adam on :class:`BottleneckLoss` through
    :func:`kexue.train.fit_adam` (on the caller's CPU threads): with the bottleneck for
    ``beta > 0``, the deterministic network for ``beta = 0``."""
    beta = non_negative(beta, "beta")
    runtime.seed_everything(seed)
    model = BottleneckClassifier(widths, latent_dim, int(y.max()) + 1, bottleneck=beta > 0,
                                 seed=seed).to(x.device)
    steps_per_epoch = len(x) // batch_size
    history = train.fit_adam(model, BottleneckLoss(beta), (x, y), lr=lr, batch_size=batch_size,
                             epochs=epochs, threads=None, seed=seed,
                             log_every=max(steps_per_epoch * epochs // 20, 1),
                             description=f"beta = {beta:g}, seed {seed}")
    return model, history
