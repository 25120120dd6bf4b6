"""The figures, tables and widgets of Part I's linear-algebra chapters.

* chapters/part1-linear-algebra/det-exp-trace.ipynb (post 6377): det(exp(tA)) against exp(t tr A)
  beside the eigenvalues of exp(tA), its slider over t, and the panels of the
  ``det-exp-trace-hutchinson`` experiment.
* chapters/part1-linear-algebra/nonsquare-determinants.ipynb (post 6096): the parallelogram of two
  vectors of R^3 and its shadow, the frames of its slider, and the samples and band probabilities
  of the ``injective-flow-density`` experiment.
* chapters/part1-linear-algebra/explicit-invertible-matrix.ipynb (post 6407): the table of the
  closed form against generic routines, the accuracy of ``(e^s - 1)/s``, the explorer of
  ``exp(x yᵀ)`` on the plane, and the gaps of the ``rank-one-exp-flow`` experiment.
* chapters/part1-linear-algebra/svd-linear-autoencoder.ipynb (post 4208): the training curves,
  reconstructions and decoder columns of the ``svd-linear-autoencoder`` experiment, and a slider
  over its training snapshots.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .. import viz
from ..checks import positive_int, real_number
from ..widgets import Slider, SliderFigure
from .linear_autoencoder import align_decoder, clip_below
from .matrix_exp import EXAMPLE_MATRIX, _square, det_exp, exp_trace
from .nonsquare import volume
from .rank_one_exp import adversarial_cases, compare_with_generic, exprel, factor_errors, rank_one_exp


# -- det-exp-trace: the identity and the Hutchinson estimator --------------------------------------
def _example() -> torch.Tensor:
    return torch.tensor(EXAMPLE_MATRIX, dtype=torch.float64)


def draw_det_exp(fig, t: float, A: torch.Tensor | None = None, t_range=(-2.0, 2.0)) -> None:
    """Left: det(exp(sA)) (dots) and exp(s tr A) (line) over s, marked at s = t.
    Right: the eigenvalues e^{t lambda_i} of exp(tA) in the complex plane, on their paths;
    their product is det(exp(tA))."""
    A = _example() if A is None else _square(A, real=True)
    t = real_number(t, "t")
    lo, hi = (real_number(v, "t_range") for v in t_range)
    if not lo < hi:
        raise ValueError(f"t_range must be increasing, got {t_range}")
    s = torch.linspace(lo, hi, 81, dtype=A.dtype)
    tr = torch.trace(A)
    dets = torch.linalg.det(torch.linalg.matrix_exp(s[:, None, None] * A))
    ft, gt = det_exp(A, t).item(), exp_trace(A, t).item()

    left = fig.add_subplot(1, 2, 1)
    left.plot(s, torch.exp(s * tr), color="C0", lw=2, label=r"$\exp(t\,\mathrm{tr}\,A)$")
    left.plot(s[::4], dets[::4], "o", color="C1", ms=4, label=r"$\det\exp(tA)$")
    left.axvline(t, color="0.6", lw=0.8)
    left.plot([t], [gt], "o", ms=10, mfc="none", mec="C0", mew=2)
    left.plot([t], [ft], "o", ms=5, color="C1")
    left.set_xlabel("t")
    left.set_title(f"t = {t:.2f}: det = {ft:.4f}, exp(t tr A) = {gt:.4f}", fontsize=9)
    left.legend(fontsize=8, loc="upper left")

    right = fig.add_subplot(1, 2, 2)
    lam = torch.linalg.eigvals(A)
    paths = torch.exp(s[:, None].to(lam.dtype) * lam[None, :])
    now = torch.exp(t * lam)
    angle = np.linspace(0, 2 * np.pi, 200)
    right.plot(np.cos(angle), np.sin(angle), ls="--", color="0.7", lw=0.8)
    for i in range(lam.shape[0]):
        right.plot(paths[:, i].real, paths[:, i].imag, color=f"C{i + 2}", lw=0.8, alpha=0.5)
        right.plot([now[i].real], [now[i].imag], "o", color=f"C{i + 2}", ms=7)
    right.axhline(0, color="0.85", lw=0.6)
    right.axvline(0, color="0.85", lw=0.6)
    right.set_aspect("equal", adjustable="datalim")
    right.set_xlabel("Re")
    right.set_ylabel("Im")
    right.set_title(rf"eigenvalues of $\exp(tA)$; product = {torch.prod(now).real.item():.4f}",
                    fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.25)  # fixed: fast


def det_exp_widget(A: torch.Tensor | None = None, num: int = 21):
    """A t slider over [-2, 2] driving :func:`draw_det_exp` (``kx.widgets.SliderFigure``)."""
    A = _example() if A is None else _square(A, real=True)
    num = positive_int(num, "num")
    return SliderFigure(functools.partial(draw_det_exp, A=A),
                        [Slider("t", start=-2.0, stop=2.0, num=num, value=1.0, description="t")],
                        figsize=(8, 3.4), title="det(exp(tA)) against exp(t tr A)")


def plot_hutchinson(fig, artifacts: dict) -> None:
    """Left: variance of the m-probe trace estimate against m, measured and exact (var_1 / m).
    Right: the running mean of the stochastic log det(I + A) estimates, +- 2 standard errors."""
    required = {"probes", "variance", "variance_exact", "logdet_running", "logdet_stderr",
                "logdet_exact"}
    missing = required - set(artifacts)
    if missing:
        raise KeyError(f"artifacts lack {sorted(missing)}")
    m = np.asarray(artifacts["probes"], dtype=float)
    left = fig.add_subplot(1, 2, 1)
    left.loglog(m, artifacts["variance"], "o", color="C1", label="measured")
    left.loglog(m, artifacts["variance_exact"] / m, color="C0", label=r"exact $v_1/m$")
    left.set_xlabel("probes m")
    left.set_ylabel("variance of the trace estimate")
    left.legend(fontsize=8)

    right = fig.add_subplot(1, 2, 2)
    run, se = np.asarray(artifacts["logdet_running"]), np.asarray(artifacts["logdet_stderr"])
    k = np.arange(1, len(run) + 1)[1:]  # from m = 2: one draw has no standard error
    run, se = run[1:], se[1:]
    right.fill_between(k, run - 2 * se, run + 2 * se, color="C1", alpha=0.25, lw=0)
    right.plot(k, run, color="C1", label=r"running mean $\pm 2$ s.e.")
    right.axhline(artifacts["logdet_exact"], color="C0", label=r"$\log\det(I+A)$ (slogdet)")
    right.set_xscale("log")
    right.set_xlabel("probes m")
    right.set_ylabel(r"estimate of $\log\det(I+A)$")
    right.legend(fontsize=8)
    fig.tight_layout()


def hutchinson_rows(metrics: dict, config: dict) -> list[list[str]]:
    """Rows ``[quantity, theory, measured]`` of a ``det-exp-trace-hutchinson`` run: the variance
    law of the trace estimate, its bias, the series truncation (against its bound
    d ρ^(N+1) / ((N+1)(1-ρ))) and the stochastic log det(I + A) against ``slogdet``."""
    missing = {"variance_slope", "logdet_exact", "logdet_z"} - set(metrics)
    if missing:
        raise KeyError(f"metrics lack {sorted(missing)}: pass a det-exp-trace-hutchinson run's")
    r, (d, rho, n) = metrics, (config[k] for k in ("dim", "norm", "terms"))
    bound = d * rho ** (n + 1) / ((n + 1) * (1 - rho))      # d sum_{k>N} rho^k / k
    z_law = "N(0, 1): abs < 3 in 99.7% of runs"
    return [["slope of log Var(T_m) against log m", "-1", f"{r['variance_slope']:.3f}"],
            ["single-probe variance / exact v_1", "1", f"{r['variance_ratio_1_probe']:.3f}"],
            ["bias of the trace estimate (in standard errors)", z_law, f"{r['trace_bias_z']:.2f}"],
            ["series truncation error of log det(I+A)", f"<= {bound:.0e} (exercise 4)",
             f"{r['logdet_series_truncation_error']:.1e}"],
            [f"stochastic log det(I+A), {config['logdet_probes']} probes",
             f"{r['logdet_exact']:.4f} (slogdet)",
             f"{r['logdet_estimate']:.4f} ± {r['logdet_stderr']:.4f}"],
            ["its deviation from the truncated series (in standard errors)", z_law,
             f"{r['logdet_z']:.2f}"]]


# -- nonsquare-determinants: the parallelogram and the injective flow ------------------------------
def parallelogram_vectors(angle_deg: float, len_x: float = 2.5, len_y: float = 2.0):
    """Two vectors of R^3 with lengths len_x, len_y at angle ``angle_deg`` in a tilted plane
(x lies on the floor x_3 = 0, y rises above it for angles in (0, 180))."""
    angle = math.radians(float(angle_deg))
    u = np.array([1.0, 0.25, 0.0]) / math.sqrt(1.0625)
    w = np.array([0.0, 0.6, 1.0]) - np.array([0.0, 0.6, 1.0]) @ u * u
    w /= np.linalg.norm(w)
    return len_x * u, len_y * (math.cos(angle) * u + math.sin(angle) * w)


def plot_parallelogram(ax, x, y) -> float:
    """Draw x, y and the parallelogram they span on a 3-D axes, with its shadow on the floor
    z = 0 (one of the Cauchy-Binet minors); return its area sqrt(det(B^T B)), B = (x, y)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != (3,) or y.shape != (3,):
        raise ValueError(f"x and y must be vectors of R^3, got shapes {x.shape} and {y.shape}")
    corners = np.stack([np.zeros(3), x, x + y, y])
    shadow = corners * np.array([1.0, 1.0, 0.0])
    ax.add_collection3d(Poly3DCollection([corners], facecolor="tab:blue", alpha=0.35,
                                         edgecolor="tab:blue"))
    ax.add_collection3d(Poly3DCollection([shadow], facecolor="0.5", alpha=0.3, edgecolor="0.4",
                                         linestyle="--"))
    for v, color, name in ((x, "tab:red", "x"), (y, "tab:green", "y")):
        ax.quiver(0, 0, 0, *v, color=color, arrow_length_ratio=0.08, linewidth=2)
        ax.text(*(1.08 * v), name, color=color)
    normal = np.cross(x, y)
    tip = 0.5 * (x + y) + normal / max(np.linalg.norm(normal), 1.0)
    ax.quiver(*(0.5 * (x + y)), *(tip - 0.5 * (x + y)), color="k", arrow_length_ratio=0.15,
              linewidth=1)
    ax.text(*tip, r"$x\times y$", fontsize=8)
    lo, hi = min(corners.min(), -0.5), max(corners.max(), 2.0) + 0.3
    ax.set(xlim=(lo, hi), ylim=(lo, hi), zlim=(0, hi), xlabel="$e_1$", ylabel="$e_2$",
           zlabel="$e_3$")
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=20, azim=-55)
    return float(volume(torch.from_numpy(np.stack([x, y], axis=1))))


def draw_parallelogram(fig, angle: float = 60.0) -> None:
    """Widget frame: the parallelogram of x, y at ``angle`` degrees, and its area against the angle."""
    x, y = parallelogram_vectors(angle)
    grid_spec = fig.add_gridspec(1, 2, width_ratios=(1.2, 1), left=0.02, right=0.97, bottom=0.16,
                                 top=0.88, wspace=0.25)
    ax = fig.add_subplot(grid_spec[0], projection="3d")
    area = plot_parallelogram(ax, x, y)
    ax.set(xlim=(-2, 3), ylim=(-1.5, 3), zlim=(0, 2.5))  # fixed, so frames line up
    ax.set_title(rf"$\sqrt{{\det B^\top B}}$ = {area:.3f},  $|x\times y|$ = "
                 f"{np.linalg.norm(np.cross(x, y)):.3f}", fontsize=9)
    ax2 = fig.add_subplot(grid_spec[1])
    grid = np.linspace(0, 180, 181)
    lx, ly = np.linalg.norm(x), np.linalg.norm(y)
    ax2.plot(grid, lx * ly * np.sin(np.radians(grid)), color="tab:blue",
             label=r"$|x||y|\sin\theta$")
    ax2.plot([angle], [area], "o", color="tab:red", label=r"$\sqrt{\det B^\top B}$")
    ax2.set(xlabel=r"angle $\theta$ between x and y (degrees)", ylabel="area", xlim=(0, 180),
            ylim=(0, 1.1 * lx * ly))
    ax2.legend(loc="lower center", fontsize=8)


def plot_injective_flow(fig, artifacts: dict) -> None:
    """Left: samples pushed onto the sphere, coloured by the predicted density p_X. Right: band
    probabilities exactly, from the pushed samples, and from integrating p_X over the sphere."""
    for key in ("points", "log_density", "edges", "exact", "pushed", "density"):
        if key not in artifacts:
            raise KeyError(f"artifacts lack {key!r}; pass the artifacts of injective-flow-density")
    grid_spec = fig.add_gridspec(1, 2, width_ratios=(1.1, 1), left=0.0, right=0.97, bottom=0.14,
                                 top=0.9, wspace=0.3)
    ax = fig.add_subplot(grid_spec[0], projection="3d")
    pts = artifacts["points"]
    sc = ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=artifacts["log_density"], s=2,
                    cmap="viridis")
    fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.12, label=r"$\log p_X(x)$")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", zlabel="$x_3$", xlim=(-1, 1), ylim=(-1, 1),
           zlim=(-1, 1))
    ax.set_title("samples $g(z)$ on the sphere", fontsize=10)
    ax.set_box_aspect((1, 1, 1))
    ax2 = fig.add_subplot(grid_spec[1])
    edges = artifacts["edges"]
    mids, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    ax2.bar(mids, artifacts["exact"], width=0.9 * width, color="0.8", label="exact")
    ax2.plot(mids, artifacts["pushed"], "o", color="tab:red", label="fraction of pushed samples")
    ax2.plot(mids, artifacts["density"], "x", color="tab:blue", ms=8,
             label=r"$\int_{band} p(z)/\sqrt{\det J^\top J}\, dA$")
    ax2.set(xlabel="band of height $x_3$", ylabel="probability")
    ax2.legend(fontsize=8)


def injective_flow_rows(metrics: dict) -> list[list]:
    """Rows ``[quantity, exact, Monte Carlo]`` of an ``injective-flow-density`` run: the total
    mass of p_X with and without the area factor, and the largest error over the bands."""
    if "mass" not in metrics or "band_max_abs_err_pushed" not in metrics:
        raise KeyError("metrics lack 'mass': pass an injective-flow-density run's")
    m = metrics
    return [["∫ p_Z(z) / √det(JᵀJ) dA over the sphere", 1,
             f"{m['mass']:.4f} ± {m['mass_stderr']:.4f}"],
            ["∫ p_Z(z) dA, the area factor forgotten", f"{m['mass_without_jacobian_exact']:.4f}",
             f"{m['mass_without_jacobian']:.4f}"],
            ["largest band error, fraction of pushed samples", 0,
             f"{m['band_max_abs_err_pushed']:.4f}"],
            ["largest band error, integral of p_X over the band", 0,
             f"{m['band_max_abs_err_density']:.4f}"]]


# -- explicit-invertible-matrix: exp(x yᵀ) against generic routines --------------------------------
def comparison_rows(cases: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
                    ) -> tuple[list[str], list[list]]:
    """``(header, rows)`` of :func:`compare_with_generic` over ``cases`` (default
    :func:`adversarial_cases`), for :func:`kexue.notebook.table`."""
    cases = cases or adversarial_cases()
    results = {name: compare_with_generic(x, y) for name, (x, y) in cases.items()}
    cols = list(next(iter(results.values())))
    def cell(value):
        if math.isinf(value):
            return "wrong sign"
        return "singular" if math.isnan(value) else value

    rows = [[name] + [cell(row[c]) for c in cols] for name, row in results.items()]
    return ["case"] + cols, rows


def plot_factor_errors(fig, s_min: float = 1e-15, s_max: float = 30.0, num: int = 91) -> None:
    """Two panels: relative error of ``(e^s - 1)/s`` and of its derivative against ``|s|`` (the worse
    of ``±s``), naive formula against :func:`exprel`, float32 and float64."""
    mag = np.logspace(np.log10(s_min), np.log10(s_max), num)
    # float32 inputs: use values exactly representable in float32, so errors are the formula's own
    mag = mag.astype(np.float32).astype(np.float64)
    pos, neg = factor_errors(mag), factor_errors(-mag)
    floor = 1e-18
    styles = {"naive": dict(ls="--"), "stable": dict(ls="-")}
    colours = {"float32": "C3", "float64": "C0"}
    for i, what in enumerate(("value", "derivative")):
        ax = fig.add_subplot(1, 2, i + 1)
        for name in ("naive", "stable"):
            for dt in ("float32", "float64"):
                key = f"{name} {dt} {what}"
                err = np.maximum(np.maximum(pos[key], neg[key]), floor)
                ax.loglog(mag, np.minimum(err, 1e6), color=colours[dt], label=f"{name}, {dt}",
                          **styles[name])
        for dt, eps in (("float32", np.finfo(np.float32).eps), ("float64", np.finfo(np.float64).eps)):
            ax.axhline(eps, color=colours[dt], lw=0.6, alpha=0.5)
        ax.set_ylim(floor / 2, 2e6)
        ax.set_xlabel(r"$|s| = |\langle x, y\rangle|$")
        ax.set_ylabel("relative error")
        ax.set_title(r"$(e^s - 1)/s$" if what == "value" else "its derivative (autograd)")
        ax.grid(alpha=0.3, which="major")
        if i == 0:
            ax.legend(fontsize=8)
    fig.tight_layout()


def draw_rank_one_map(fig, s: float = 0.5, t: float = 1.5) -> None:
    """Widget frame: ``A = exp(x yᵀ)`` in R^2, ``|x| = 1``, ``y = s x + t x⊥`` (so ``<x, y> = s``).
    Left: the unit square and circle and their images under ``A`` (area ``e^s``); right: the factor
    ``(e^s - 1)/s`` and ``det A = e^s`` against ``s``."""
    alpha = math.radians(25.0)
    x = torch.tensor([math.cos(alpha), math.sin(alpha)], dtype=torch.float64)
    x_perp = torch.tensor([-math.sin(alpha), math.cos(alpha)], dtype=torch.float64)
    y = s * x + t * x_perp
    a = rank_one_exp(x, y).numpy()
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=float)
    theta = np.linspace(0, 2 * np.pi, 121)
    circle = np.stack([np.cos(theta), np.sin(theta)], 1)

    ax = fig.add_subplot(1, 2, 1)
    ax.fill(*square.T, color="0.85", label="unit square")
    ax.plot(*circle.T, color="0.6", lw=0.8)
    ax.fill(*(square @ a.T).T, color="C0", alpha=0.35, label=rf"image, area $e^s$ = {math.exp(s):.3g}")
    ax.plot(*(circle @ a.T).T, color="C0", lw=1.2)
    ax.annotate("", xy=x.numpy(), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="C3"))
    ax.text(*(1.08 * x.numpy()), r"$x$", color="C3")
    ax.set_aspect("equal")
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-3.5, 3.5)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(rf"$\exp(xy^\top)$: $\langle x,y\rangle$ = {s:.2g}, $|y - sx|$ = {t:g}", fontsize=9)

    ax = fig.add_subplot(1, 2, 2)
    grid = torch.linspace(-2, 2, 201, dtype=torch.float64)
    ax.plot(grid, exprel(grid), color="C0", label=r"$(e^s - 1)/s$")
    ax.plot(grid, torch.exp(grid), color="C2", label=r"$\det = e^s$")
    ax.plot(grid, exprel(-grid), color="C1", ls="--", label=r"$(1 - e^{-s})/s$ (inverse)")
    value = float(exprel(torch.tensor(s, dtype=torch.float64)))
    ax.plot([s], [value], "o", color="C0")
    ax.plot([s], [math.exp(s)], "o", color="C2")
    ax.set_ylim(0, 7.5)
    ax.set_xlabel(r"$s = \langle x, y\rangle$")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.14, top=0.9, wspace=0.2)


def rank_one_map_widget():
    """The chapter's explorer: sliders for ``s = <x, y>`` and the orthogonal part ``t`` of ``y``."""
    return SliderFigure(draw_rank_one_map,
                        [Slider("s", start=-2, stop=2, num=13, value=2 / 3, description="s = <x, y>"),
                         Slider("t", values=[0.0, 1.5], value=1.5, description="|y - s x|")],
                        figsize=(8, 3.6), title="exp(x yᵀ) acting on the plane")


def plot_flow(fig, record) -> None:
    """Two panels from a ``rank-one-exp-flow`` record: the trained and the optimal NLL gap against
    the number of factors m (gaps below 1e-16 drawn at 1e-16), and the training curves (float32
    losses, so drawn down to 1e-7 only)."""
    metrics, histories = record.metrics, record.artifacts["histories"]
    floor = 1e-16
    ax = fig.add_subplot(1, 2, 1)
    ax.semilogy(metrics["factors"], np.maximum(metrics["gap_nats_per_dim"], floor), "o", ms=7,
                label="trained (Adam)")
    ax.semilogy(metrics["factors"], np.maximum(metrics["optimal_gap_nats_per_dim"], floor), "k_",
                ms=14, mew=2, label="optimum, optimal_gap")
    ax.axvline(record.config["dim"] / 2, color="0.5", ls=":", label=r"$m = k/2$")
    ax.set_xticks(metrics["factors"])
    ax.set_xlim(min(metrics["factors"]) - 0.5, max(metrics["factors"]) + 0.5)
    ax.set_xlabel("number of rank-one factors m")
    ax.set_ylabel("NLL gap (nats / dim)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    resolution = 1e-7  # the training loss is a float32 number of size ~1
    for m, h in histories.items():
        ax.semilogy(np.arange(1, len(h) + 1), np.maximum(h, resolution), label=f"m = {m}")
    ax.axhline(resolution, color="0.5", ls=":", lw=0.8)
    ax.set_xlabel("Adam step")
    ax.set_ylabel("training NLL gap (nats / dim)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()


# -- svd-linear-autoencoder: training, reconstructions, the explorer -------------------------------
def _curve_data(rows: list[dict]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    steps = [r["step"] for r in rows]
    return (steps, torch.tensor([r["angles_deg"] for r in rows]),
            torch.tensor([r["error"] for r in rows]))


def plot_training(artifacts: dict, fig) -> None:
    """Three panels over training: every principal angle of the linear autoencoder (the largest
    of the ReLU-output one dashed); both errors over the SVD optimum; the linear one's excess."""
    steps, angles, errors = _curve_data(artifacts["linear_rows"])
    relu_steps, relu_angles, relu_errors = _curve_data(artifacts["relu_rows"])
    optimum = artifacts["optimum"]
    ax1, ax2, ax3 = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    k = angles.shape[1]
    for i in range(k):
        ax1.plot(steps, angles[:, i].clamp_min(1e-6), color=(0.1, 0.3 + 0.6 * i / max(k - 1, 1), 0.8),
                 lw=1)
    ax1.plot(relu_steps, relu_angles[:, -1], "k--", lw=1.2, label="largest, ReLU output")
    ax1.set(yscale="log", xlabel="step", ylabel="degrees",
            title=f"principal angles to span$(V_{{{artifacts['k']}}})$")
    ax1.legend(fontsize=8)
    ax2.plot(steps, errors / optimum, label="linear autoencoder")
    ax2.plot(relu_steps, relu_errors / optimum, "k--", label="ReLU output")
    ax2.axhline(1, color="C3", lw=1, label="SVD optimum $E^*$")
    ax2.axhline(artifacts["clipped_error"] / optimum, color="C2", lw=1, ls=":",
                label="SVD, then ReLU")
    low = float(min(relu_errors.min(), torch.tensor(artifacts["clipped_error"]))) / optimum
    ax2.set(ylim=(low - 0.01, 1 + 2 * (1 - low) + 0.01), xlabel="step", ylabel="$E / E^*$",
            title="error over the SVD optimum")
    ax2.legend(fontsize=8)
    ax3.plot(steps[1:], (errors[1:] / optimum - 1).clamp_min(1e-12))
    ax3.set(xscale="log", yscale="log", xlabel="step", ylabel="$E / E^* - 1$",
            title="linear: excess error")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    fig.tight_layout()


def _pixels(artifacts: dict, centred: torch.Tensor) -> torch.Tensor:
    return (centred + artifacts["mean"]).float()


def plot_reconstructions(artifacts: dict, fig) -> None:
    """Rows: test images; the rank-k SVD reconstruction; the linear autoencoder's; the SVD one with
    negative pixels set to 0; the autoencoder trained with that ReLU on its output."""
    test = artifacts["test"].to(torch.float64)
    V = artifacts["basis"]
    floor = -artifacts["mean"].to(torch.float64)
    svd = test @ V @ V.T
    with torch.no_grad():
        linear, relu = (artifacts[name](test.to(artifacts[name].decoder.dtype)).double()
                        for name in ("linear", "relu"))
    rows = [(test, "test images"), (svd, f"rank-{artifacts['k']} SVD"),
            (linear, "linear autoencoder"), (clip_below(svd, floor), "SVD, then ReLU on pixels"),
            (relu, "autoencoder trained with ReLU on pixels")]
    for i, (images, title) in enumerate(rows):
        viz.image_grid(_pixels(artifacts, images), ncols=len(test),
                       ax=fig.add_subplot(len(rows), 1, i + 1), title=title)
    fig.tight_layout()


def plot_decoder_columns(artifacts: dict, fig, n: int = 8) -> None:
    """Rows: the top right-singular vectors; the trained decoder's columns as they are; the decoder
    after the k x k map that aligns it with the singular vectors. Each image scaled to its max |.|."""
    V = artifacts["basis"]
    W2 = artifacts["linear"].decoder.detach().double()
    n = min(n, V.shape[1])
    rows = [(V, "right-singular vectors $v_1, v_2, \\dots$"), (W2, "decoder columns (as trained)"),
            (align_decoder(W2, V), "decoder columns $\\times\\, C$ (aligned)")]
    for i, (M, title) in enumerate(rows):
        images = M[:, :n].T
        tiled = viz.tile_images(images / images.abs().amax(dim=1, keepdim=True), ncols=n,
                                pad_value=0.0)
        ax = fig.add_subplot(len(rows), 1, i + 1)
        ax.imshow(tiled, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()


def explore_training(artifacts: dict, n_images: int = 6):
    """A slider over the training snapshots: the largest angle so far, and the linear
    autoencoder's reconstructions of test images at that step beside the SVD's."""
    snapshots = artifacts["snapshots"]
    if len(snapshots) < 2:
        raise ValueError("the run kept fewer than 2 snapshots; nothing to explore")
    steps, angles, _ = _curve_data(artifacts["linear_rows"])
    test = artifacts["test"][:n_images].to(torch.float64)
    V = artifacts["basis"]

    def draw(fig, step):
        step = int(round(step))
        W1, W2 = snapshots[step]
        ax = fig.add_subplot(1, 2, 1)
        ax.plot(steps, angles[:, -1], color="C0")
        at = steps.index(step)
        ax.plot([step], [angles[at, -1]], "o", color="C3")
        ax.set(yscale="log", xlabel="step", ylabel="largest angle (degrees)",
               title=f"step {step}: largest angle {float(angles[at, -1]):.3g}°")
        ax.grid(alpha=0.3)
        recon = test @ W1.double().T @ W2.double().T
        grid = torch.cat([_pixels(artifacts, test), _pixels(artifacts, recon),
                          _pixels(artifacts, test @ V @ V.T)])
        viz.image_grid(grid, ncols=n_images, ax=fig.add_subplot(1, 2, 2),
                       title="test / autoencoder / SVD")
        fig.tight_layout()

    return SliderFigure(draw, [Slider("step", values=sorted(snapshots), value=max(snapshots),
                                      description="training step")],
                        figsize=(9, 3.2))
