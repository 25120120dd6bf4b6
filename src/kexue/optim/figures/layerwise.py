"""Figures of per-layer learning rates (:mod:`kexue.optim.layerwise`): the table and curves of a
``layerwise-lr-mnist`` record, and a slider over ``lam`` for a reparametrised coordinate on a 2-D
surface.

Serves chapters/part2-optimisation/layerwise-learning-rates.ipynb (post 6418).
"""
from __future__ import annotations

import numpy as np
import torch

from ...widgets import Slider, SliderFigure
from .. import surfaces
from ..layerwise import RULES, surface_paths


# -- the MNIST experiment -------------------------------------------------------------------------
def summary_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of the experiment's metrics, one row per multiplier, for
    :func:`kexue.notebook.table`."""
    layers = list(metrics["runs"][0]["movement"])
    header = ["rate of the layer", "final training loss", "test accuracy",
              *[f"movement of {n}" for n in layers], "reparametrise vs groups"]
    rows = [[f"×{r['multiplier']:g}", f"{r['final_train_loss']:.3f}", f"{r['test_acc']:.4f}",
             *[f"{r['movement'][n]:.2f}" for n in layers],
             f"{r['max_gap_reparametrise_vs_groups']:.1e}"] for r in metrics["runs"]]
    return header, rows


def plot_layerwise_runs(artifacts: dict, fig) -> None:
    """Three panels, one line (or bar) per multiplier of the chosen layer: the training loss; how
    far that layer's weight has moved from its start; every layer's movement at the end."""
    runs, layer, layers = artifacts["runs"], artifacts["layer"], artifacts["layers"]
    ax1, ax2, ax3 = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    width = 0.8 / len(runs)
    for i, (m, run) in enumerate(sorted(runs.items())):
        label = f"{layer} ×{m:g}"
        ax1.plot([r["step"] for r in run["history"]], [r["loss"] for r in run["history"]],
                 color=f"C{i}", label=label)
        ax2.plot([r["step"] for r in run["movement"]], [r[layer] for r in run["movement"]],
                 color=f"C{i}", label=label)
        ax3.bar(np.arange(len(layers)) + (i - (len(runs) - 1) / 2) * width,
                [run["movement"][-1][n] for n in layers], width, color=f"C{i}", label=label)
    ax1.set(yscale="log", xlabel="step", ylabel="training loss (cross-entropy)",
            title="training loss")
    ax2.set(xlabel="step", ylabel=r"$\|W_t-W_0\|_F\,/\,\|W_0\|_F$",
            title=f"how far {layer}'s weight moves")
    ax3.set_xticks(np.arange(len(layers)), layers)
    ax3.set(ylabel=r"$\|W-W_0\|_F\,/\,\|W_0\|_F$ at the end", title="every layer, at the end")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()


# -- a picture on a 2-D surface -------------------------------------------------------------------
#: the explorer's optimisers: SGD at a rate that is stable but slow along the flat x direction
EXPLORE_OPTIMIZERS = {"SGD": (torch.optim.SGD, dict(lr=0.08)),
                      "Adam": (torch.optim.Adam, dict(lr=0.1))}


def draw_surface_paths(fig, lam: float, surface, grid=None, steps: int = 40) -> None:
    """One panel per optimiser of :data:`EXPLORE_OPTIMIZERS`: the paths of :func:`surface_paths`
    (``x`` reparametrised by ``lam``) over the contours; a last panel with their losses."""
    X, Y, L = grid if grid is not None else surface.grid(100)
    n = len(EXPLORE_OPTIMIZERS)
    axes = [fig.add_subplot(1, n + 1, i + 1) for i in range(n + 1)]
    loss_ax = axes[-1]
    for i, (name, (cls, settings)) in enumerate(EXPLORE_OPTIMIZERS.items()):
        paths = surface_paths(surface, lam, cls, settings, layer="x", steps=steps)
        ax = axes[i]
        ax.contour(X, Y, np.log1p(L), levels=10, colors="0.75", linewidths=0.6)
        ax.plot(*paths["plain"].T, color="0.55", ls="--", lw=1, label=r"plain ($\lambda=1$)")
        ax.plot(*paths["reparametrised"].T, color=f"C{i}", lw=1.6, label=r"$x=\lambda\phi$")
        ax.plot(*paths["equivalent"].T, "o", color=f"C{i}", mfc="none", ms=4,
                label="rate group")
        ax.plot(*surface.start, "ko", ms=4)
        power = RULES[cls]["power"]
        losses = {kind: surface.value(*paths[kind].T) for kind in ("plain", "reparametrised")}
        diverges = ", diverges" if losses["reparametrised"][-1] > losses["reparametrised"][0] else ""
        ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="$x$", ylabel="$y$",
               title=f"{name}: x's rate ×λ{'²' if power == 2 else ''} = {lam ** power:.3g}{diverges}")
        ax.legend(fontsize=7, loc="lower right")
        for kind, style in (("plain", "--"), ("reparametrised", "-")):
            loss_ax.plot(np.clip(losses[kind], 1e-12, 1e6), color=f"C{i}", ls=style,
                         label=f"{name}{', plain' if kind == 'plain' else ''}")
    loss_ax.set(yscale="log", xlabel="step", ylabel="loss", title="loss")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.9, wspace=0.3)


#: the explorer's values of lam: around 1, through SGD's one-step value sqrt(1 / 0.08) ~ 3.54,
#: past its stability limit sqrt(2 / 0.08) = 5
EXPLORE_LAMS = (0.5, 0.7, 1.0, 1.4, 2.0, 2.5, 3.0, 3.54, 4.0, 4.5, 5.2, 6.0)


def explore_surface_paths(surface_name: str = "quadratic", lams=EXPLORE_LAMS):
    """A slider over ``lam`` for :func:`draw_surface_paths` on the named surface."""
    surface = surfaces.get(surface_name)
    grid = surface.grid(100)
    return SliderFigure(lambda fig, lam: draw_surface_paths(fig, lam, surface, grid),
                        [Slider("lam", values=lams, value=1.0, description="λ (x = λφ)")],
                        figsize=(12, 3.6))
