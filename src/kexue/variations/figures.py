"""Figures and the explorer of the rotating spring (Su Jianlin, https://spaces.ac.cn/archives/782
and /archives/1311): the stretched length against ``u = omega sqrt(M/k)``, the shooting residual,
and a slider over ``u``.

Serves chapters/part1-linear-algebra/rotating-spring.ipynb (posts 782 and 1311).
"""
from __future__ import annotations

import numpy as np

from ..widgets import Slider, SliderFigure
from .spring import (
    U_CRITICAL,
    _u_scalar,
    shooting_residual,
    solve_by_shooting,
    stretch_profile,
    stretched_length,
)


def plot_divergence(fig, us_residual=(1.0, 1.4, 1.55, U_CRITICAL, 1.8)) -> None:
    """Left: ``l / l0`` against ``u`` (closed form, shooting, small-u series). Right: the shooting
    residual against the trial length for several ``u``, with its limit ``1 - pi/(2u)``."""
    ax1, ax2 = fig.subplots(1, 2)
    grid = np.linspace(0, 1.565, 300)
    ax1.semilogy(grid, stretched_length(grid), "k", label=r"$\tan u / u$")
    ax1.semilogy(grid, 1 + grid**2 / 3 + 2 * grid**4 / 15, "C2--", label=r"$1 + u^2/3 + 2u^4/15$")
    pts = [0.3, 0.6, 0.9, 1.2, 1.4, 1.5, 1.55]
    ax1.semilogy(pts, [solve_by_shooting(p, rtol=1e-10).length for p in pts], "C1o",
                 label="shooting")
    ax1.axvline(U_CRITICAL, color="C3", ls=":", label=r"$u = \pi/2$")
    ax1.set(xlabel=r"$u = \omega\sqrt{M/k}$", ylabel=r"$l / l_0$", title="stretched length")
    ax1.legend(fontsize=8)
    trial = np.geomspace(0.5, 1e4, 35)
    for i, u in enumerate(us_residual):
        label = r"$u = \pi/2$" if u == U_CRITICAL else fr"$u = {u:.2f}$"
        ax2.semilogx(trial, [shooting_residual(t, u, 1e-8) for t in trial], color=f"C{i}",
                     label=label)
        ax2.axhline(1 - U_CRITICAL / u, color=f"C{i}", ls=":", lw=0.8)
        if u < U_CRITICAL:
            ax2.plot(stretched_length(u), 0, "o", color=f"C{i}")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set(xlabel=r"trial length $L / l_0$", ylabel=r"residual $m(0) / M$",
            title="shooting residual (dots: roots; dotted: limits)", ylim=(-0.2, 0.6))
    ax2.legend(fontsize=8)
    fig.tight_layout()


def draw_explorer(fig, u: float) -> None:
    """The widget's frame at ``u``: the stretch profile ``x(s)`` (closed form and shooting) and
    ``l / l0`` against ``u`` with the current value marked."""
    u = _u_scalar(u)
    ax1, ax2 = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.28)
    s_grid = np.linspace(0, 1, 101)
    num = solve_by_shooting(u, rtol=1e-10)
    s_num, x_num = num.profile(15)
    ax1.plot(s_grid, s_grid, color="0.6", ls=":", label="unstretched")
    ax1.plot(s_grid, stretch_profile(s_grid, u), "k", label="closed form")
    ax1.plot(s_num, x_num, "C1o", ms=4, label="shooting")
    ax1.set(xlabel="unstretched position s / l0", ylabel="stretched position x / l0",
            title=f"u = {u:.2f}:  l / l0 = {num.length:.4g}")
    ax1.legend(fontsize=8, loc="upper left")
    grid = np.linspace(0, 1.565, 200)
    ax2.plot(grid, stretched_length(grid), "k")
    ax2.plot([u], [num.length], "C1o")
    ax2.axvline(U_CRITICAL, color="C3", ls=":")
    ax2.set_yscale("log")
    ax2.set_yticks([1, 10, 100], ["1", "10", "100"])
    ax2.minorticks_off()
    ax2.set(xlabel="u = ω √(M/k)", ylabel="l / l0", title="diverges at u = π/2")


def explorer():
    """A :class:`kexue.widgets.SliderFigure` over ``u`` from 0 to 1.56 (just below pi/2)."""
    return SliderFigure(draw_explorer, [Slider("u", start=0.0, stop=1.56, num=21, value=1.2,
                                               description="u = ω√(M/k)")], figsize=(8, 3.2),
                        title="The rotating spring")
