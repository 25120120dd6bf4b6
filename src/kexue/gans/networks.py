"""The players of Part V's GANs on 28 × 28 images, DCGAN-style (Radford et al. 2016), and small
multilayer players for two-dimensional toys.

The image generator maps a code ``z`` of ``latent`` normal coordinates through a dense layer to
``2w`` channels of 7 × 7, then two transposed convolutions (kernel 4, stride 2) to 14 × 14 and
28 × 28, with batch norm and ReLU between and a sigmoid at the end (pixels in [0, 1]). The
discriminator mirrors it: two strided convolutions with LeakyReLU(0.2), then a dense layer to one
score. It has no batch norm: WGAN-GP's penalty is per example, and batch norm would mix them.

Serves chapters/part5-gans/wasserstein-gan.ipynb (post 6280),
chapters/part5-gans/single-loss-gan.ipynb (post 6387) and
chapters/part5-gans/orthogonal-gan.ipynb (post 6409).
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import positive_int

#: the images every player here works on
IMAGE_SHAPE = (1, 28, 28)


def image_generator(latent: int = 64, width: int = 32) -> nn.Sequential:
    """z (latent) -> dense -> (2 width, 7, 7) -> ConvT -> (width, 14, 14) -> ConvT -> (1, 28, 28),
    batch norm and ReLU between, sigmoid last."""
    latent, width = positive_int(latent, "latent"), positive_int(width, "width")
    return nn.Sequential(
        nn.Linear(latent, 2 * width * 7 * 7), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (2 * width, 7, 7)),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Sigmoid(),
    )


def image_discriminator(width: int = 32, outputs: int | None = None) -> nn.Sequential:
    """(1, 28, 28) -> Conv -> (width, 14, 14) -> Conv -> (2 width, 7, 7) -> dense -> one score
    (or ``outputs`` numbers, an encoder's code), LeakyReLU(0.2) between; images may come flat
    (784) or as (1, 28, 28)."""
    width = positive_int(width, "width")
    size = 1 if outputs is None else positive_int(outputs, "outputs")
    body = [_AsImages(),
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Flatten()]
    head = nn.Linear(2 * width * 7 * 7, size)   # made after the body: the same draws as before
    return nn.Sequential(*body, head, *([nn.Flatten(0)] if outputs is None else []))


class _AsImages(nn.Module):
    """Rows of 784 pixels or (1, 28, 28) images, as (1, 28, 28) images; anything else is refused."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] == IMAGE_SHAPE:
            return x
        if x.ndim == 2 and x.shape[1] == 784:
            return x.view(-1, *IMAGE_SHAPE)
        raise ValueError(f"the discriminator takes images of shape (n, 1, 28, 28) or (n, 784), "
                         f"got {tuple(x.shape)}")


def mlp_player(sizes, *, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Dense layers of ``sizes`` (input first, output last) with ``activation`` between; a single
    output is returned as a vector (a critic's score per row)."""
    sizes = [positive_int(s, "a layer size") for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output size, got {sizes}")
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.pop()
    if sizes[-1] == 1:
        layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)
