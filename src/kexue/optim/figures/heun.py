"""Figures of Heun's method as an optimiser (:mod:`kexue.optim.heun`): its order of accuracy, its
amplification factors, a slider over the step size on the ill-conditioned quadratic, and the
figure and table of a ``heun-vs-sgd-mnist`` record.

Serves chapters/part2-optimisation/writing-an-optimiser.ipynb (post 5879).
"""
from __future__ import annotations

import numpy as np

from ...widgets import Slider, SliderFigure
from .. import surfaces
from ..dynamics import loglog_slope
from ..heun import amplification, euler_path, global_errors, heun_path, local_errors


def plot_orders(A, x0, fig, T: float = 1.0) -> dict:
    """Left: one-step errors against the step size; right: errors at time ``T``; Euler and Heun,
    with their fitted slopes. Returns the slopes."""
    lrs = np.logspace(-3, -1, 7)
    counts = [10, 20, 40, 80, 160]
    slopes = {}
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for method, colour in (("euler", "C3"), ("heun", "C0")):
        local = local_errors(A, x0, lrs, method)
        glrs, glob = global_errors(A, x0, T, counts, method)
        slopes[method] = {"local": loglog_slope(lrs, local), "global": loglog_slope(glrs, glob)}
        ax1.loglog(lrs, local, "o-", color=colour,
                   label=f"{method}: slope {slopes[method]['local']:.2f}")
        ax2.loglog(glrs, glob, "o-", color=colour,
                   label=f"{method}: slope {slopes[method]['global']:.2f}")
    ax1.set(xlabel="step size $\\eta$", ylabel="$|x_1 - x(\\eta)|$", title="error of one step")
    ax2.set(xlabel="step size $\\eta = T/N$", ylabel=f"$|x_N - x({T:g})|$",
            title=f"error at time T = {T:g}")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    return slopes


def plot_amplification(fig) -> None:
    """Per two gradient evaluations, the factor on an eigen-component of curvature ``lam``:
    two gradient-descent steps vs one Heun step, both at step size ``lr``, against ``lr lam``."""
    x = np.linspace(0, 2.2, 221)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, np.abs(amplification("euler-twice", -x)), color="C3",
            label="two gradient-descent steps: $(1-\\eta\\lambda)^2$")
    ax.plot(x, np.abs(amplification("heun", -x)), color="C0",
            label="one Heun step: $1-\\eta\\lambda+(\\eta\\lambda)^2/2$")
    ax.axhline(1, color="gray", lw=0.8)
    ax.axhline(0.5, color="C0", lw=0.8, ls=":")
    ax.set(xlabel="$\\eta\\lambda$ (step size × curvature)", ylabel="|factor| per 2 gradients",
           ylim=(0, 1.5), title="contraction of one eigen-component of a quadratic")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()


def draw_paths(fig, lr: float, evaluations: int = 40, surface=None, background=None) -> None:
    """Gradient descent and Heun from the surface's start with the same number of gradient
    evaluations (Heun takes half as many steps), on the contours, beside the exact flow; right:
    the loss against gradient evaluations. ``background`` is :func:`path_background`'s output
    (computed here when not given; a slider computes it once)."""
    from matplotlib import ticker

    surface = surface or surfaces.get("quadratic")
    X, Y, L, flow = background or path_background(surface)
    gd = euler_path(surface.gradient, surface.start, lr, evaluations)
    hn = heun_path(surface.gradient, surface.start, lr, evaluations // 2)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax1.contour(X, Y, L, levels=np.geomspace(0.05, L.max(), 14), colors="0.75", linewidths=0.7)
    ax1.plot(flow[:, 0], flow[:, 1], color="k", lw=1, ls="--", label="gradient flow")
    ax1.plot(gd[:, 0], gd[:, 1], ".-", color="C3", lw=1, ms=4,
             label=f"gradient descent ({len(gd) - 1} steps)")
    ax1.plot(hn[:, 0], hn[:, 1], "o-", color="C0", lw=1.2, ms=4, label=f"Heun ({len(hn) - 1} steps)")
    ax1.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="x", ylabel="y",
            title=f"{surface.title}, η = {lr:.3f}")
    ax1.legend(fontsize=8, loc="lower right")
    with np.errstate(over="ignore", invalid="ignore"):
        ax2.plot(np.arange(len(gd)), surface.value(gd[:, 0], gd[:, 1]), ".-", color="C3",
                 label="gradient descent")
        ax2.plot(2 * np.arange(len(hn)), surface.value(hn[:, 0], hn[:, 1]), "o-", color="C0",
                 label="Heun")
    ax2.set(yscale="log", xlabel="gradient evaluations", ylabel="loss",
            title="loss per gradient evaluation", xlim=(0, evaluations), ylim=(1e-4, 1e3))
    # plain tick labels, no minor ticks: mathtext labels would dominate the time of a frame
    ax2.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.yaxis.set_minor_locator(ticker.NullLocator())
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.25)  # fast: no tight_layout


def path_background(surface, n: int = 100, t_end: float = 20.0):
    """``(X, Y, L, flow)``: a contour grid of ``surface`` and its gradient flow from the start up to
    time ``t_end`` (scipy's ``solve_ivp``, tight tolerances)."""
    from scipy.integrate import solve_ivp

    X, Y, L = surface.grid(n)
    sol = solve_ivp(lambda t, p: -np.array(surface.gradient(p[0], p[1])), (0.0, t_end),
                    np.array(surface.start, dtype=np.float64), t_eval=np.linspace(0, t_end, 400),
                    rtol=1e-8, atol=1e-10)
    return X, Y, L, sol.y.T


def explore_step_size(evaluations: int = 40):
    """A slider over the step size: gradient descent and Heun on the ill-conditioned quadratic
    (curvatures 1 and 20, so both are stable for step sizes below 2/20 = 0.1)."""
    surface = surfaces.get("quadratic")
    background = path_background(surface)
    lrs = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.095, 0.1, 0.105]
    return SliderFigure(
        lambda fig, lr: draw_paths(fig, lr, evaluations, surface, background),
        [Slider("lr", values=lrs, value=0.07, description="step size η")],
        figsize=(10, 3.8))


def plot_mnist_runs(metrics: dict, curves: dict, fig) -> None:
    """Left: final training loss against the step size, SGD and Heun; right: the training loss of
    each method's best run against gradient evaluations."""
    from matplotlib import ticker

    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for method, colour, label in (("sgd", "C3", "SGD"), ("heun", "C0", "Heun")):
        rows = [r for r in metrics["runs"] if r["method"] == method and not r["diverged"]]
        ax1.loglog([r["lr"] for r in rows], [r["train_loss"] for r in rows], "o-", color=colour,
                   label=label)
        best = metrics[f"best_{method}"]
        curve = curves[(method, best["lr"])]
        ax2.semilogy([r["evals"] for r in curve], [r["train_loss"] for r in curve], "o-",
                     color=colour, label=f"{label}, $\\eta$ = {best['lr']:g}")
    lrs = sorted({r["lr"] for r in metrics["runs"]})
    ax1.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    ax1.xaxis.set_minor_locator(ticker.NullLocator())
    ax1.set(xlabel="step size $\\eta$", ylabel="final training loss",
            title="same number of gradient evaluations")
    ax2.set(xlabel="gradient evaluations", ylabel="training loss (whole set)",
            title="best step size of each")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()


def comparison_rows(metrics: dict) -> tuple[list[str], list[list]]:
    """``(header, rows)`` for a table of an experiment record's runs: one row per step size,
    SGD's and Heun's training loss, test accuracy and seconds side by side."""
    runs = {(r["method"], r["lr"]): r for r in metrics["runs"]}
    header = ["η", "SGD steps", "SGD train loss", "SGD test acc", "SGD s",
              "Heun steps", "Heun train loss", "Heun test acc", "Heun s"]
    rows = []
    for lr in sorted({r["lr"] for r in metrics["runs"]}):
        row = [f"{lr:g}"]
        for method in ("sgd", "heun"):
            r = runs[(method, lr)]
            loss = r["train_loss"] if isinstance(r["train_loss"], str) else f"{r['train_loss']:.4f}"
            row += [r["steps"], loss, f"{r['test_acc']:.2%}", f"{r['seconds']:.1f}"]
        rows.append(row)
    return header, rows
