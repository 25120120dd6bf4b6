"""Figures of gradients changed by hooks (:mod:`kexue.optim.gradient_hooks`): optimiser paths with a
projected gradient, and gradient norms before and after clipping.

Serves chapters/part2-optimisation/layerwise-learning-rates.ipynb (post 6418).
"""
from __future__ import annotations

import numpy as np
import torch

from ..gradient_hooks import projected_paths


def plot_projected_paths(surface, fig, direction=(2.0, 1.0), steps: int = 60) -> None:
    """Left: the paths of :func:`projected_paths` over the surface's contours, with the line
    ``start + span(direction)^perp`` where a projected-gradient method must stay. Right: each path's
    distance from that line."""
    paths = projected_paths(surface, direction, steps=steps)
    u = torch.as_tensor(direction, dtype=torch.float64)
    u = u / u.norm()
    start = torch.tensor(surface.start, dtype=torch.float64)
    ax, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    X, Y, L = surface.grid(120)
    ax.contour(X, Y, np.log1p(L), levels=15, colors="0.8", linewidths=0.6)
    t = np.linspace(-10, 10, 2)
    x0, y0 = surface.start
    ax.plot(x0 - t * float(u[1]), y0 + t * float(u[0]), color="C2", lw=1, ls=":",
            label="allowed line")
    for i, (label, path) in enumerate(paths.items()):
        style = dict(color=f"C{i // 2}", ls="-" if i % 2 == 0 else "--", lw=1.4 if i % 2 == 0 else 1)
        ax.plot(path[:, 0], path[:, 1], marker=".", ms=3, label=label, **style)
        ax2.plot(((path - start) @ u).abs().clamp_min(1e-17), label=label, **style)
    ax.plot(*surface.start, "ko", ms=5)
    ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="$x$", ylabel="$y$",
           title="gradient with its $u$-component removed")
    ax.legend(fontsize=8, loc="lower right")
    ax2.set(yscale="log", xlabel="step", ylabel=r"$|u^\top(\theta_t-\theta_0)|$",
            title="distance from the allowed line")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()


def plot_clipping(result: dict, ax) -> None:
    """Bars of :func:`kexue.optim.gradient_hooks.clipping_comparison`: each parameter's gradient norm
    raw and after the two kinds of clipping, with the bound."""
    x = np.arange(len(result["names"]))
    for i, (key, label) in enumerate([("raw", "raw"), ("global", "global clip_grad_norm_"),
                                      ("per_parameter", "per-parameter hook")]):
        ax.bar(x + (i - 1) * 0.27, result[key], 0.27, label=label, color=f"C{i}")
    ax.axhline(result["max_norm"], color="k", ls="--", lw=1, label=f"bound c = {result['max_norm']:g}")
    ax.set_xticks(x, result["names"], rotation=20, fontsize=8)
    ax.set(yscale="log", ylabel=r"$\|\nabla_{\theta_i} L\|_2$", title="gradient norm per parameter")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
