"""Figures of the ``adaptive-optimisers-2d`` experiment (:mod:`kexue.optim.adaptive`): each
optimiser's path and loss at its best learning rate on every surface, and the final loss against
the learning rate.

Serves chapters/part2-optimisation/adaptive-learning-rates.ipynb (post 6234).
"""
from __future__ import annotations

import numpy as np

from ..adaptive import OPTIMISERS

MAIN = ("SGD", "momentum", "RMSprop", "Adam")


_COLOURS = {"SGD": "C0", "momentum": "C1", "RMSprop": "C2", "RMSprop (norm)": "C4", "Adam": "C3"}


def _contours(ax, s, n: int = 160) -> None:
    X, Y, L = s.grid(n)
    L = np.asarray(L, dtype=float)
    low = max(L.min(), 1e-3 * L.max() if L.min() <= 0 else L.min())
    ax.contour(X, Y, L, levels=np.geomspace(max(low, 1e-3), L.max(), 14), colors="0.75",
               linewidths=0.7)
    for m in s.minima:
        ax.plot(*m, marker="*", color="k", ms=10, ls="none")
    ax.plot(*s.start, marker="o", color="k", ms=5, ls="none")
    ax.set(xlim=s.xlim, ylim=s.ylim, xlabel="$x$", ylabel="$y$", title=s.title)


def plot_trajectories(artifacts: dict, fig, optimisers=MAIN) -> None:
    """One panel per surface: each optimiser's path at its best learning rate over the contours
    (start: dot; minimum: star)."""
    names = list(artifacts["runs"])
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        _contours(ax, artifacts["surfaces"][name])
        for opt in optimisers:
            run = artifacts["runs"][name][opt]
            path = run["path"].numpy()
            ax.plot(path[:, 0], path[:, 1], lw=1.1, color=_COLOURS[opt],
                    label=f"{opt}, lr {run['lr']:.2g}")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()


def plot_losses(artifacts: dict, fig, optimisers=tuple(OPTIMISERS)) -> None:
    """One panel per surface: the loss along each optimiser's run at its best learning rate, and
    the threshold (dashed)."""
    names = list(artifacts["runs"])
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        for opt in optimisers:
            run = artifacts["runs"][name][opt]
            ax.plot(run["losses"].clamp_min(1e-30).numpy(), lw=1.1, color=_COLOURS[opt],
                    label=f"{opt}, lr {run['lr']:.2g}")
        ax.axhline(artifacts["threshold"], color="k", ls="--", lw=0.8)
        ax.set(yscale="log", ylim=(1e-30, None), xlabel="step", ylabel="loss",
               title=artifacts["surfaces"][name].title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()


def plot_sweep(artifacts: dict, fig, optimisers=tuple(OPTIMISERS)) -> None:
    """One panel per surface: the final loss against the learning rate for each optimiser; a run
    that diverged is marked x at the top (one row per optimiser)."""
    lrs = artifacts["lrs"].numpy()
    names = list(artifacts["runs"])
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        top = 1e4
        for k, opt in enumerate(optimisers):
            final = artifacts["runs"][name][opt]["final_losses"].numpy()
            ok = np.isfinite(final)
            ax.plot(lrs[ok], np.clip(final[ok], 1e-30, None), "o-", ms=3, lw=1,
                    color=_COLOURS[opt], label=opt)
            ax.plot(lrs[~ok], np.full((~ok).sum(), top * 10.0 ** (1.5 * k)), "x",
                    color=_COLOURS[opt])
        ax.axhline(artifacts["threshold"], color="k", ls="--", lw=0.8)
        ax.set(xscale="log", yscale="log", ylim=(1e-30, top * 10.0 ** (1.5 * len(optimisers))),
               xlabel="learning rate",
               ylabel="final loss", title=artifacts["surfaces"][name].title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
