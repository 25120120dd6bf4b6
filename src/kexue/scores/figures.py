"""The figures of the denoising chapter.

Serves chapters/part5-gans/denoising-score.ipynb (post 7038).
"""
from __future__ import annotations

import numpy as np
import torch

from .denoising import GaussianMixture


def plot_score_field(ax, mixture: GaussianMixture, sigma: float, learned=None, *, span: float = 3.0,
                     points: int = 15, title: str | None = None) -> None:
    """The noisy mixture's score ``grad log p_sigma`` on a grid (black arrows) over its density
    (grey shades), and a learned score at the same points (red arrows) where given
    (``learned(y) -> score``, float64 rows in and out)."""
    g = np.linspace(-span, span, 200)
    xx, yy = np.meshgrid(g, g)
    grid = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1))
    noisy = mixture.noisy(sigma)
    ax.contourf(xx, yy, noisy.log_prob(grid).exp().view(200, 200).numpy(), levels=12, cmap="Greys")
    c = np.linspace(-span, span, points)
    cx, cy = np.meshgrid(c, c)
    at = torch.as_tensor(np.stack([cx.ravel(), cy.ravel()], 1))
    true = noisy.score(at).numpy()
    scale = np.abs(true).max() * points / 2
    ax.quiver(cx, cy, true[:, 0], true[:, 1], color="k", scale=scale, width=0.004,
              label="closed form")
    if learned is not None:
        got = np.asarray(learned(at))
        ax.quiver(cx, cy, got[:, 0], got[:, 1], color="C3", scale=scale, width=0.004, alpha=0.7,
                  label="trained denoiser")
    ax.set_aspect("equal")
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def plot_samples_2d(fig, real: torch.Tensor, runs: dict, *, title: str | None = None) -> None:
    """Samples from the mixture (grey) and from each of ``runs`` (name -> points, red)."""
    axes = fig.subplots(1, len(runs), sharex=True, sharey=True)
    for ax, (name, points) in zip(np.atleast_1d(axes), runs.items()):
        ax.scatter(*np.asarray(real).T, s=2, color="0.7", label="the mixture")
        ax.scatter(*np.asarray(points).T, s=2, color="C3", label="Langevin")
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
    np.atleast_1d(axes)[0].legend(fontsize=8, markerscale=4, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
