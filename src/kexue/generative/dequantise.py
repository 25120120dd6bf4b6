"""Likelihoods of 8-bit images from densities: uniform dequantisation and bits per dimension.

A flow (or any density model) gives a density p(y) over continuous y in R^D, but an image is
discrete: pixel levels k in {0, ..., 255}. Give each level an interval of width w,

    level k  ->  [a + k w, a + (k + 1) w),

so that the intervals of different levels do not overlap, and draw y = a + (k + u) w with
u ~ U[0, 1)^D ("uniform dequantisation"). The probability of the image k is the density's mass on
its box, and by Jensen's inequality

    log P(k) = log E_u [ p(y) w^D ] >= E_u [ log p(y) ] + D log w,

so -log P(k) <= E_u[-log p(y)] + D log(1/w): the change-of-variables constant is D log(1/w)
nats per image. The standard convention (Real NVP, Glow, i-ResNet) is a = 0, w = 1/256, i.e.
y = (k + u)/256 in [0, 1)^D, constant D log 256; a density that is uniform on [0, 1)^D then scores
exactly 8 bits per dimension. Reported as bits per dimension,

    bits/dim = (-log P(k)) / (D ln 2).

:class:`Bins` holds (a, w); :func:`dequantise` draws y; :func:`discrete_nll` adds the constant;
:func:`bits_per_dim` and :func:`nats_per_image` convert between the two units.

Serves the normalising flows of Part IV (chapters/part4-flows/), and any chapter that reports a
density model's likelihood of 8-bit images.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ..checks import float_tensor, positive_int

__all__ = ["Bins", "STANDARD", "dequantise", "discrete_nll", "bits_per_dim", "nats_per_image"]

LEVELS = 256


@dataclasses.dataclass(frozen=True)
class Bins:
    """Level k of an 8-bit pixel occupies ``[low + k width, low + (k + 1) width)``."""

    low: float
    width: float

    def __post_init__(self):
        if not math.isfinite(self.low):
            raise ValueError(f"low must be finite, got {self.low!r}")
        if not (math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"width must be a positive number, got {self.width!r}")

    def log_volume(self, dims: int) -> float:
        """log of one image's box, D log w (negative for w < 1)."""
        return positive_int(dims, "dims") * math.log(self.width)


#: y = (k + u) / 256 in [0, 1): the convention of Real NVP, Glow and i-ResNet.
STANDARD = Bins(0.0, 1.0 / LEVELS)


def _levels(pixels) -> torch.Tensor:
    if not isinstance(pixels, torch.Tensor):
        raise TypeError(f"pixels must be a tensor of 8-bit levels, got {type(pixels).__name__}")
    if pixels.is_floating_point() or pixels.is_complex() or pixels.dtype == torch.bool:
        raise TypeError(f"pixels must hold integer levels 0..255 (uint8 or another integer dtype), "
                        f"got {pixels.dtype}: pass the raw images, not images already scaled")
    if pixels.numel() and (int(pixels.min()) < 0 or int(pixels.max()) >= LEVELS):
        raise ValueError(f"pixels must lie in 0..{LEVELS - 1}, got values in "
                         f"[{int(pixels.min())}, {int(pixels.max())}]")
    return pixels


def dequantise(pixels: torch.Tensor, bins: Bins = STANDARD, *,
               generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """y = low + (k + u) width with u ~ U[0, 1), one draw per pixel: a point of the box of
    the discrete image k."""
    if not isinstance(bins, Bins):
        raise TypeError(f"bins must be a Bins, got {type(bins).__name__}")
    k = _levels(pixels)
    u = torch.rand(k.shape, generator=generator, dtype=dtype, device=k.device)
    return bins.low + (k.to(dtype) + u) * bins.width


def discrete_nll(density_nll, dims: int, bins: Bins = STANDARD):
    """The bound on -log P(k), in nats per image: ``density_nll`` (-log p(y) at dequantised y,
    nats per image, a number or a tensor) plus the constant D log(1/w)."""
    if not isinstance(bins, Bins):
        raise TypeError(f"bins must be a Bins, got {type(bins).__name__}")
    if isinstance(density_nll, torch.Tensor):
        float_tensor(density_nll, "density_nll", finite=False)
    return density_nll - bins.log_volume(dims)


def bits_per_dim(nats, dims: int):
    """Nats per image -> bits per dimension: nats / (D ln 2)."""
    return nats / (positive_int(dims, "dims") * math.log(2))


def nats_per_image(bits, dims: int):
    """Bits per dimension -> nats per image: bits D ln 2 (the inverse of :func:`bits_per_dim`)."""
    return bits * positive_int(dims, "dims") * math.log(2)
