"""Figures of the gradient-descent-euler chapter, drawn from :mod:`kexue.optim.dynamics`: gradient
descent against the exact flow, Euler's first-order error, the Langevin picture of noisy gradient
descent, momentum as a damped oscillator and its rescaling, and a slider explorer of momentum.

Serves chapters/part2-optimisation/gradient-descent-euler.ipynb (post 5655).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ...checks import positive
from ...widgets import Slider, SliderFigure
from .. import surfaces
from ..dynamics import (
    _beta,
    damped_quadratic_flow,
    gradient_descent,
    loglog_slope,
    momentum_descent,
    physical_parameters,
    quadratic_flow,
    rescale_momentum,
    stationary_density,
    surface_gradient,
)


def _contours(ax, surface, n: int = 160) -> None:
    X, Y, Z = surface.grid(n)
    ax.contour(X, Y, Z, levels=np.geomspace(max(Z.min(), 1e-3) + 1e-2, Z.max(), 14), colors="0.75",
               linewidths=0.7)
    for m in surface.minima:
        ax.plot(*m, "k*", ms=8)
    ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel=r"$\theta_1$", ylabel=r"$\theta_2$")


def plot_gd_vs_flow(fig, kappa: float = 20.0, lrs=(0.01, 0.05, 0.09), horizon: float = 3.0) -> None:
    """Left: gradient-descent iterates for several learning rates and the exact flow
    ``exp(-tA) theta_0`` on the ill-conditioned quadratic ``A = diag(1, kappa)``.
    Right: the gap ``||theta_n - theta(n lr)||`` against time."""
    surface = surfaces.get("quadratic", kappa=kappa)
    A = torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64))
    ax1, ax2 = fig.subplots(1, 2)
    _contours(ax1, surface)
    t = np.linspace(0, horizon, 400)
    flow = quadratic_flow(A, surface.start, t).numpy()
    ax1.plot(flow[:, 0], flow[:, 1], "k", lw=1.2, zorder=5, label="exact flow")
    for i, lr in enumerate(lrs):
        n = math.ceil(horizon / lr)
        path = gradient_descent(surface_gradient(surface), surface.start, lr, n).numpy()
        ax1.plot(path[:, 0], path[:, 1], "o-", color=f"C{i}", ms=2.5, lw=0.8,
                 label=fr"GD, $\gamma = {lr:g}$ ($\gamma\kappa = {lr * kappa:.2g}$)")
        exact = quadratic_flow(A, surface.start, lr * np.arange(n + 1)).numpy()
        ax2.plot(lr * np.arange(n + 1), np.linalg.norm(path - exact, axis=1), color=f"C{i}",
                 label=fr"$\gamma = {lr:g}$")
    ax1.set_title(f"gradient descent and the gradient flow (κ = {kappa:g})")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.set(xlabel=r"time $t = n\gamma$", ylabel=r"$\|\theta_n - \theta(n\gamma)\|$",
            title="distance from the exact flow")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()


def plot_euler_error(fig, lrs, errors, constant: float | None = None) -> None:
    """Error after ``T / lr`` steps against ``lr`` (log-log) with the fitted slope, and the
    leading-order line ``constant * lr`` when given."""
    lrs, errors = np.asarray(lrs, float), np.asarray(errors, float)
    ax = fig.add_subplot(1, 1, 1)
    ax.loglog(lrs, errors, "o", color="C0", label="measured")
    slope = loglog_slope(lrs, errors)
    coef = np.polyfit(np.log(lrs), np.log(errors), 1)
    ax.loglog(lrs, np.exp(np.polyval(coef, np.log(lrs))), "C0-", lw=1,
              label=f"least-squares fit, slope {slope:.3f}")
    if constant is not None:
        ax.loglog(lrs, constant * lrs, "k--", lw=1, label=r"leading term $C\gamma$")
    ax.set(xlabel=r"learning rate (step) $\gamma$", ylabel=r"$\|\theta_{T/\gamma} - \theta(T)\|$",
           title="gradient descent is first order")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()


def plot_langevin(fig, snapshots, times, loss: Callable, sigma2: float, lo: float = -2.2,
                  hi: float = 2.2, traces: int = 4) -> None:
    """Left: a few noisy-GD chains over time, hopping between the wells. Right: the histogram of
    the final states of all chains against ``exp(-2L/sigma^2)`` (and the density with the
    factor 2 left out, dashed)."""
    snapshots = np.asarray(snapshots)[..., 0]
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    for i in range(min(traces, snapshots.shape[1])):
        ax1.plot(times, snapshots[:, i], lw=0.6)
    ax1.set(xlabel=r"time $t = n\gamma$", ylabel=r"$\theta$", ylim=(lo, hi),
            title=f"{min(traces, snapshots.shape[1])} of {snapshots.shape[1]} noisy-GD chains")
    ax1.grid(alpha=0.3)
    grid = np.linspace(lo, hi, 801)
    ax2.hist(snapshots[-1], bins=60, range=(lo, hi), density=True, color="C0", alpha=0.45,
             label="final states")
    ax2.plot(grid, stationary_density(loss, sigma2, grid), "k", lw=1.5,
             label=r"$\propto e^{-2L/\sigma^2}$")
    ax2.plot(grid, stationary_density(loss, 2 * sigma2, grid), "C3--", lw=1,
             label=r"$\propto e^{-L/\sigma^2}$")
    energy = loss(grid)
    twin = ax2.twinx()
    twin.plot(grid, energy, color="0.5", lw=0.8)
    twin.set_ylabel(r"$L(\theta)$ (grey)", color="0.4")
    ax2.set(xlabel=r"$\theta$", ylabel="density", title=fr"stationary density, $\sigma^2 = {sigma2:g}$")
    ax2.legend(fontsize=8, loc="upper center")
    fig.tight_layout()


def plot_momentum(fig, lr: float = 0.01, beta: float = 0.9, kappa: float = 20.0, steps: int = 120
                  ) -> None:
    """On the quadratic ``diag(1, kappa)``: plain GD and heavy ball with the same learning rate, and
    the exact damped oscillator the heavy ball discretises. Left: paths. Right: distance to the
    minimum against the step (the oscillator against ``t / gamma``)."""
    surface = surfaces.get("quadratic", kappa=kappa)
    grad = surface_gradient(surface)
    A = torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64))
    gamma, lam = physical_parameters(lr, beta)
    ax1, ax2 = fig.subplots(1, 2)
    _contours(ax1, surface)
    gd = gradient_descent(grad, surface.start, lr, steps).numpy()
    hb = momentum_descent(grad, surface.start, lr, beta, steps).numpy()
    t = np.linspace(0, steps * gamma, 600)
    ode = damped_quadratic_flow(A, surface.start, lam, t).numpy()
    ode_label = fr"$\ddot\theta + {lam:.2f}\,\dot\theta = -\nabla L$"
    ax1.plot(ode[:, 0], ode[:, 1], "k", lw=1.5, label=ode_label)
    ax1.plot(hb[:, 0], hb[:, 1], "o", color="C1", ms=2.5,
             label=fr"momentum, $\alpha = {lr:g}$, $\beta = {beta:g}$")
    ax1.plot(gd[:, 0], gd[:, 1], "o-", color="C0", ms=2.5, lw=0.8, label=fr"GD, $\gamma = {lr:g}$")
    ax1.set_title(f"{steps} steps each (κ = {kappa:g})")
    ax1.legend(fontsize=7, loc="lower right")
    n = np.arange(steps + 1)
    ax2.semilogy(t / gamma, np.linalg.norm(ode, axis=1), "k", lw=1, label=r"oscillator at $t = n\gamma$")
    ax2.semilogy(n, np.linalg.norm(hb, axis=1), "o", color="C1", ms=2.5, label="momentum")
    ax2.semilogy(n, np.linalg.norm(gd, axis=1), color="C0", label="GD")
    ax2.set(xlabel="step n", ylabel=r"$\|\theta_n\|$", title="distance to the minimum")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()


def plot_rescaling(fig, lr: float = 0.01, beta: float = 0.9, r: float = 0.25, kappa: float = 20.0,
                   horizon: float = 12.0) -> None:
    """``|theta_1|`` against physical time on the quadratic ``diag(1, kappa)`` for heavy ball
    ``(lr, beta)``, ``(r lr, 1 - (1 - beta) sqrt(r))`` and ``(r lr, beta)``, with the damped
    oscillator of the first as a thin line."""
    surface = surfaces.get("quadratic", kappa=kappa)
    grad = surface_gradient(surface)
    A = torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64))
    ax = fig.add_subplot(1, 1, 1)
    t = np.linspace(0, horizon, 800)
    _, lam = physical_parameters(lr, beta)
    ax.plot(t, np.abs(damped_quadratic_flow(A, surface.start, lam, t).numpy()[:, 0]), color="0.6",
            lw=3, alpha=0.5, label=fr"oscillator, $\lambda = {lam:.3f}$")
    new_lr, new_beta = rescale_momentum(lr, beta, r)
    runs = [((lr, beta), "C1", "-", "reference"), ((new_lr, new_beta), "C2", "--", "rescaled β (rule)"),
            ((new_lr, beta), "C3", ":", "same β")]
    for (a, b), color, ls, what in runs:
        g, _ = physical_parameters(a, b)
        n = math.ceil(horizon / g)
        path = momentum_descent(grad, surface.start, a, b, n).numpy()
        ax.plot(g * np.arange(n + 1), np.abs(path[:, 0]), color=color, ls=ls,
                label=fr"{what}: $\alpha = {a:g}$, $\beta = {b:.4g}$")
    ax.set(yscale="log", ylim=(3e-4, 10), xlabel=r"physical time $t = n\gamma$",
           ylabel=r"$|\theta_1|$", title=fr"learning rate $\times\,{r:g}$: does the trajectory survive?")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()


EXPLORER_LRS = (0.01, 0.03, 0.06, 0.1)


EXPLORER_BETAS = (0.0, 0.5, 0.7, 0.9, 0.95, 0.98)


def draw_momentum_explorer(fig, lr: float, beta: float, kappa: float = 20.0, steps: int = 80) -> None:
    """The widget's frame: heavy ball ``(lr, beta)`` and plain GD with the same ``lr`` on the
    quadratic ``diag(1, kappa)``: paths (left) and loss against step (right). Plain-text labels
    (no mathtext) keep each frame fast to draw."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lr, beta = positive(lr, "lr"), _beta(beta)
    surface = surfaces.get("quadratic", kappa=kappa)
    grad = surface_gradient(surface)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.88, wspace=0.25)
    _contours(ax1, surface, n=100)
    ax1.set(xlabel="θ₁", ylabel="θ₂")
    runs = [(momentum_descent(grad, surface.start, lr, beta, steps), "C1", f"momentum, β = {beta:g}"),
            (gradient_descent(grad, surface.start, lr, steps), "C0", "GD")]
    for path, color, label in runs:
        p = path.numpy()
        shown = np.clip(p, [surface.xlim[0], surface.ylim[0]], [surface.xlim[1], surface.ylim[1]])
        ax1.plot(shown[:, 0], shown[:, 1], "o-", color=color, ms=2, lw=0.7, label=label)
        loss = surface.value(p[:, 0], p[:, 1])
        ax2.semilogy(np.arange(steps + 1), np.clip(loss, 1e-10, 1e3), color=color, label=label)
    ax1.set_title(f"α = {lr:g}, β = {beta:g}: {steps} steps (κ = {kappa:g})")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.yaxis.set_major_locator(FixedLocator([1e-9, 1e-6, 1e-3, 1.0, 1e3]))
    ax2.yaxis.set_minor_locator(NullLocator())
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{round(math.log10(v))}"))
    ax2.set(xlabel="step", ylabel="loss", ylim=(1e-10, 1e3), title="loss (clipped to the plot)")
    ax2.grid(alpha=0.3)


def explorer():
    """A :class:`kexue.widgets.SliderFigure` over the learning rate and beta (24 frames)."""
    return SliderFigure(draw_momentum_explorer,
                        [Slider("lr", values=EXPLORER_LRS, value=0.03, description="learning rate α"),
                         Slider("beta", values=EXPLORER_BETAS, value=0.9, description="momentum β")],
                        figsize=(8.5, 3.4), title="Momentum on an ill-conditioned quadratic")
