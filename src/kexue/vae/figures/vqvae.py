"""The figures of the VQ-VAE chapter, drawn from the artifacts of the experiment ``vqvae-mnist``
(:mod:`kexue.vae.experiments.vqvae`): reconstructions from the code grid, the codebook's usage,
one code of a grid swapped for another, and images decoded from grids the prior samples.

Serves chapters/part3-vae/vq-vae.ipynb (post 6760).
"""
from __future__ import annotations

import torch

from ...checks import non_negative_int, positive_int
from ..code_prior import CodePrior
from ..networks import check_batch
from ..vqvae import GRID, SIDE, VQVAE

__all__ = ["plot_reconstructions", "plot_usage", "draw_code_swap", "plot_samples"]


def plot_reconstructions(fig, model: VQVAE, x: torch.Tensor, *, n: int = 12, title: str | None = None):
    """Two rows: ``n`` images of ``x`` and their reconstructions from the code grid."""
    from ...viz import image_grid

    x = check_batch(x[:n], SIDE * SIDE)
    with torch.no_grad():
        recon = model(x)["recon"]
    ax = fig.add_subplot(1, 1, 1)
    image_grid(torch.cat([x, recon]).cpu(), ncols=len(x), ax=ax, title=title)
    for row, name in enumerate(("input", "decoded")):
        ax.text(-2, row * 29 + 14, name, ha="right", va="center", fontsize=8)
    return ax


def plot_usage(ax, counts, *, title: str | None = None):
    """A bar per code, sorted by use: the share of the test set's grid cells it takes."""
    import numpy as np

    counts = np.asarray(counts, dtype=float)
    order = np.argsort(-counts, kind="stable")
    share = counts[order] / counts.sum()
    ax.bar(np.arange(len(counts)), share, width=0.9, color="C0")
    ax.axhline(1 / len(counts), color="C3", lw=1, ls="--", label="uniform use, 1/K")
    ax.set_xlabel("code, sorted by use")
    ax.set_ylabel("share of grid cells")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def draw_code_swap(fig, model: VQVAE, image: torch.Tensor, *, cell: float, code: float):
    """The SliderFigure frame: ``image`` (784,), its decoded code grid, and the decoding after
    the code at raster position ``cell`` (0..48) is replaced by ``code``; the cell is outlined."""
    from matplotlib.patches import Rectangle

    cell, code = int(round(cell)), int(round(code))
    if not 0 <= cell < GRID * GRID:
        raise ValueError(f"cell must be in [0, {GRID * GRID}), got {cell}")
    if not 0 <= code < model.num_codes:
        raise ValueError(f"code must be in [0, {model.num_codes}), got {code}")
    grid = model.codes(image.reshape(1, -1))
    edited = grid.clone()
    edited.view(-1)[cell] = code
    pictures = torch.cat([image.reshape(1, -1), model.decode_codes(grid), model.decode_codes(edited)])
    r, c = divmod(cell, GRID)
    titles = ("input", f"decoded (code {int(grid.view(-1)[cell])} here)", f"code {code} at ({r}, {c})")
    for k, (picture, name) in enumerate(zip(pictures, titles)):
        ax = fig.add_subplot(1, 3, k + 1)
        ax.imshow(picture.reshape(SIDE, SIDE).detach().cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.add_patch(Rectangle((c * 4 - 0.5, r * 4 - 0.5), 4, 4, fill=False, color="C3", lw=1.5))
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    return fig


def plot_samples(fig, vqvae: VQVAE, prior: CodePrior, *, n: int = 36, ncols: int = 12,
                 temperature: float = 1.0, seed: int = 0, title: str | None = None):
    """``n`` images decoded from code grids drawn from the prior."""
    from ...viz import image_grid

    n = positive_int(n, "n")
    non_negative_int(seed, "seed")
    grids = prior.sample(n, temperature=temperature, generator=torch.Generator().manual_seed(seed))
    ax = fig.add_subplot(1, 1, 1)
    image_grid(vqvae.decode_codes(grids).cpu(), ncols=ncols, ax=ax, title=title)
    return ax
