"""The encoders and decoders Part III's models share.

:class:`GaussianEncoder` maps x to the mean and log-variance of p(z|x) = N(mu(x), diag(sigma^2(x)));
:func:`mlp_decoder` maps z back to pixel intensities in (0, 1). Decoders are plain
``nn.Sequential`` stacks of ``Linear`` layers and element-wise activations, so the latent-space
explorer can export them and run them in a web page's JavaScript.

Serves chapters/part3-vae/vae-geometry.ipynb (post 7725), chapters/part3-vae/vae-clustering.ipynb
(post 5887), chapters/part3-vae/entropy-autoencoder.ipynb (post 7343),
chapters/part3-vae/vq-vae.ipynb (post 6760), chapters/part3-vae/mutual-information.ipynb (post 6024)
and chapters/part3-vae/nvae.ipynb (post 7574).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..checks import float_tensor, positive_int
from ..classifier import mlp
from ..runtime import seeded_init

__all__ = ["GaussianEncoder", "mlp_decoder", "check_batch"]


class GaussianEncoder(nn.Module):
    """x -> (mean, log_var) of a diagonal Gaussian over a ``widths[-1]``-dimensional latent: an
    MLP ``widths[0] -> ... -> widths[-2]`` with ``activation`` after every layer, then two linear
    heads."""

    def __init__(self, widths, *, activation: Callable[[], nn.Module] = nn.ReLU,
                 seed: int | None = None):
        super().__init__()
        widths = list(widths)
        if len(widths) < 3:
            raise ValueError(f"widths must name an input, at least one hidden and a latent width, "
                             f"got {widths}")
        self.latent_dim = positive_int(widths[-1], "the latent width")
        with seeded_init(seed):
            self.body = nn.Sequential(mlp(widths[:-1], activation=activation), activation())
            self.mean = nn.Linear(widths[-2], widths[-1])
            self.log_var = nn.Linear(widths[-2], widths[-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.log_var(h)


def mlp_decoder(widths, *, activation: Callable[[], nn.Module] = nn.ReLU,
                seed: int | None = None) -> nn.Sequential:
    """z -> pixels: ``mlp(widths)`` followed by a sigmoid, so every output lies in (0, 1)."""
    return nn.Sequential(*mlp(widths, activation=activation, seed=seed), nn.Sigmoid())


def check_batch(x, width: int, name: str = "x") -> torch.Tensor:
    """``x`` if it is a float tensor of shape (n, width), n >= 1. Models call it on every batch,
    so it checks only what needs no device sync (not finiteness)."""
    x = float_tensor(x, name, ndim=2, nonempty=True, finite=False)
    if x.shape[1] != width:
        raise ValueError(f"{name} must have {width} columns, got shape {tuple(x.shape)}")
    return x
