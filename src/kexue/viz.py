"""Figures shared across chapters: image grids, labelled strips of images (samples at several
settings, interpolations) and training curves."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch


def tile_images(images, ncols: int = 10, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile ``[N, H, W]`` (or ``[N, H*W]`` square) images into one ``[rows*(H+pad)-pad, ...]`` array."""
    arr = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, float)
    if arr.ndim == 2:
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(f"flat images must be square, got {arr.shape[1]} pixels")
        arr = arr.reshape(len(arr), side, side)
    if arr.ndim != 3 or len(arr) == 0:
        raise ValueError(f"images must be a non-empty [N, H, W] or [N, H*W] array, got {arr.shape}")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    n, h, w = arr.shape
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), pad_value, dtype=float)
    for i, img in enumerate(arr):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = img
    return out


def image_grid(images, ncols: int = 10, ax=None, title: str | None = None, cmap: str = "gray_r",
               vmin: float | None = 0.0, vmax: float | None = 1.0):
    """Show images in a grid on ``ax`` (a new figure if None); return the axes."""
    import matplotlib.pyplot as plt

    tiled = tile_images(images, ncols, pad_value=vmin if vmin is not None else 0.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 0.9 * tiled.shape[1] / 29 + 1), 0.9 * tiled.shape[0] / 29 + 0.5))
    ax.imshow(tiled, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def image_rows(rows, labels: Sequence[str], ax=None, title: str | None = None,
               cmap: str = "gray_r"):
    """Rows of images of equal length (each ``[n, H, W]`` or ``[n, H*W]``), each labelled at its
    left: a sample grid by setting, or an interpolation strip. Pixels are clipped to [0, 1]."""
    rows = [r.detach().cpu().float() if isinstance(r, torch.Tensor) else torch.as_tensor(r).float()
            for r in rows]
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError("rows must be a non-empty list of image sets of one length")
    labels = list(labels)
    if len(labels) != len(rows):
        raise ValueError(f"labels must name each of the {len(rows)} rows, got {len(labels)}")
    flat = [r.reshape(len(r), -1) for r in rows]
    if len({r.shape[1] for r in flat}) != 1:
        raise ValueError("every row's images must have the same number of pixels")
    ax = image_grid(torch.cat(flat).clamp(0, 1), ncols=len(rows[0]), ax=ax, title=title, cmap=cmap)
    side = tile_images(rows[0][:1]).shape[0]
    for k, label in enumerate(labels):
        ax.text(-2, k * (side + 1) + side / 2, label, ha="right", va="center", fontsize=8)
    return ax


def curves(series: Mapping[str, Sequence[float]], x: Sequence[float] | None = None, ax=None,
           xlabel: str = "step", ylabel: str = "", logy: bool = False, title: str | None = None):
    """Plot named series (e.g. from a :class:`kexue.train.History`) against ``x``; return the axes."""
    import matplotlib.pyplot as plt

    if not series:
        raise ValueError("no series to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for name, ys in series.items():
        ys = np.asarray(ys, dtype=float)
        xs = np.arange(1, len(ys) + 1) if x is None else np.asarray(x, dtype=float)
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r} has {len(ys)} points but x has {len(xs)}")
        ax.plot(xs, ys, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax
