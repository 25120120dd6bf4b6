"""The figures, tables and widgets of Part II's regularisation chapters.

* chapters/part2-optimisation/lipschitz-constraints.ipynb (post 6051): power iteration's error,
  1-D WGAN critics, accuracy under noise and the Lipschitz bracket of the ``lipschitz-mnist``
  classifiers, their table, and a slider over the noise level.
* chapters/part2-optimisation/noise-and-adversarial-training.ipynb (posts 7234 and 7466): the
  remainder of the second-order noise formula, the training curves of ``vat-mnist-100`` and a
  slider along a trained model's virtual adversarial direction.
"""
from __future__ import annotations

import torch
from matplotlib.ticker import NullFormatter

from .. import viz, widgets
from ..checks import positive_int
from .lipschitz import matrix_with_singular_values, optimal_critic_1d, power_iteration_errors
from .noise import fitted_order


# -- lipschitz-constraints -----------------------------------------------------------------------
def plot_power_iteration(fig, ratios=(0.5, 0.8, 0.95), iterations: int = 40, seed: int = 0) -> None:
    """The relative error of the power-iteration estimate against the number of rounds, for
    ``64 x 32`` matrices with ``sigma_2 / sigma_1`` in ``ratios``, beside the predicted rate
    ``(sigma_2 / sigma_1)^(4k)``."""
    ax = fig.add_subplot(1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    k = torch.arange(1, iterations + 1)
    for i, rho in enumerate(ratios):
        rho = float(rho)
        s = torch.cat([torch.tensor([1.0, rho]), rho * torch.linspace(0.6, 0.0, 30)])
        errors = -power_iteration_errors(matrix_with_singular_values(s, 64, 32, generator),
                                         iterations, torch.randn(32, generator=generator,
                                                                 dtype=torch.float64))
        ax.semilogy(k, errors.clamp_min(1e-17), "o-", ms=3, color=f"C{i}",
                    label=f"$\\sigma_2/\\sigma_1={rho:g}$")
        ax.semilogy(k, errors[0] * rho ** (4 * (k - 1)), "--", color=f"C{i}", lw=1)
    ax.axhline(torch.finfo(torch.float64).eps, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="rounds $k$", ylabel="$1-\\hat\\sigma_k/\\|W\\|_2$", ylim=(1e-17, 1),
           title="power iteration: error (dots) and $(\\sigma_2/\\sigma_1)^{4k}$ (dashed)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()


def plot_critics(fig, real: torch.Tensor, fake: torch.Tensor, critics: dict) -> None:
    """Left: histograms of the two samples. Right: each critic (shifted so that its mean over the
    fake sample is 0) beside the optimal 1-Lipschitz critic of :func:`optimal_critic_1d`."""
    real, fake = real.detach().cpu().double(), fake.detach().cpu().double()
    lo, hi = float(torch.cat([real, fake]).min()), float(torch.cat([real, fake]).max())
    t = torch.linspace(lo, hi, 400, dtype=torch.float64)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax1.hist(real.numpy(), bins=60, alpha=0.6, density=True, label="real $P$")
    ax1.hist(fake.numpy(), bins=60, alpha=0.6, density=True, label="fake $Q$")
    ax1.set(xlabel="$x$", ylabel="density", title="the two samples")
    ax1.legend(fontsize=8)
    best = optimal_critic_1d(real, fake)
    ax2.plot(t, best(t) - best(fake).mean(), "k", lw=2.5, alpha=0.35, label="optimal, $|f'|=1$")
    for name, critic in critics.items():
        dtype = next(critic.parameters()).dtype
        with torch.no_grad():
            values = critic(t[:, None].to(dtype))[:, 0].double()
            shift = critic(fake[:, None].to(dtype)).mean().double()
        ax2.plot(t, values - shift, lw=1.3, label=name)
    ax2.set(xlabel="$x$", ylabel="$f(x)$", title="critics (mean over fake = 0)")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()


def plot_noise_accuracy(metrics: dict, fig) -> None:
    """Left: test accuracy against the noise level for every model. Right: each model's Lipschitz
    constant bracketed: the product bound from above, the largest Jacobian norm and the largest
    difference quotient from below (log scale)."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    sigmas = metrics["sigmas"]
    names = list(metrics["models"])
    for i, name in enumerate(names):
        ax1.plot(sigmas, metrics["models"][name]["noise_acc"], "o-", ms=3, color=f"C{i}",
                 label=name)
    ax1.set(xlabel="noise $\\sigma$ (per pixel)", ylabel="test accuracy", ylim=(0, 1),
            title="accuracy on $x+\\sigma z$")
    ax1.legend(fontsize=8)
    pos = range(len(names))
    for key, marker, label in (("upper_bound", "v", "upper: $\\prod\\|W_l\\|_2$"),
                               ("jacobian_max", "^", "lower: $\\max_x\\|J(x)\\|_2$"),
                               ("pair_max", "o", "lower: max difference quotient")):
        ax2.scatter(pos, [metrics["models"][n][key] for n in names], marker=marker, s=40,
                    label=label)
    for i, name in enumerate(names):
        m = metrics["models"][name]
        ax2.plot([i, i], [m["pair_max"], m["upper_bound"]], color="gray", lw=1, zorder=0)
    ax2.set_xticks(list(pos), [n.replace(", ", "\n") for n in names], fontsize=8)
    ax2.set(yscale="log", ylabel="Lipschitz constant", title="bounds on the Lipschitz constant")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()


def explore_noise(metrics: dict, artifacts: dict):
    """A slider over every other measured noise level: the accuracy curves with the level marked,
    and a few noisy test images with every model's predictions (green right, red wrong)."""
    sigmas = artifacts["sigmas"]
    examples = artifacts["examples"]
    names = list(examples["predictions"])
    labels = examples["labels"].tolist()

    def draw(fig, sigma):
        i = min(range(len(sigmas)), key=lambda j: abs(sigmas[j] - sigma))
        grid = fig.add_gridspec(1, 2, width_ratios=[1, 1.8])
        ax = fig.add_subplot(grid[0])
        for k, name in enumerate(names):
            ax.plot(sigmas, metrics["models"][name]["noise_acc"], color=f"C{k}", label=name)
        ax.axvline(sigmas[i], color="k", lw=1, ls="--")
        ax.set(xlabel="noise $\\sigma$", ylabel="test accuracy", ylim=(0, 1),
               title=f"$\\sigma={sigmas[i]:g}$")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = fig.add_subplot(grid[1])
        images = examples["x"] + sigmas[i] * examples["z"]
        viz.image_grid(images.clamp(0, 1), ncols=len(images), ax=ax,
                       title=f"noisy test images (true labels {' '.join(map(str, labels))})")
        width = images.shape[1] ** 0.5 + 1
        for k, name in enumerate(names):
            row = examples["predictions"][name][i].tolist()
            for j, (p, t) in enumerate(zip(row, labels)):
                ax.text(j * width + width / 2, 30 + 7 * k, str(p), ha="center", va="top",
                        fontsize=8, color="tab:green" if p == t else "tab:red")
            ax.text(-2, 30 + 7 * k, name, ha="right", va="top", fontsize=7)
        ax.set_ylim(30 + 7 * len(names), -1)
        fig.tight_layout()

    levels = sigmas[::2]  # every other measured level: fewer frames for the static page
    return widgets.SliderFigure(draw, [widgets.Slider("sigma", values=levels,
                                                      value=levels[len(levels) // 2],
                                                      description="noise σ")], figsize=(11, 3.6))


def results_table(metrics: dict, sigma: float = 0.5) -> tuple[list[str], list[list]]:
    """``(header, rows)`` for :func:`kexue.notebook.table`: one row per model of a
    ``lipschitz-mnist`` record, with its accuracy under noise of level ``sigma``."""
    if sigma not in metrics["sigmas"]:
        raise ValueError(f"sigma must be one of the measured levels {metrics['sigmas']}, "
                         f"got {sigma}")
    at = metrics["sigmas"].index(sigma)
    header = ["model", "test acc.", f"acc., σ={sigma:g}", "upper: ∏‖W‖₂", "lower: max ‖J(x)‖₂",
              "lower: max quotient", "median certified radius", "ms / step"]
    rows = [[name, f"{m['test_acc']:.2%}", f"{m['noise_acc'][at]:.2%}", m["upper_bound"],
             m["jacobian_max"], m["pair_max"], m["median_certified_radius"], m["ms_per_step"]]
            for name, m in metrics["models"].items()]
    return header, rows


# -- noise-and-adversarial-training ---------------------------------------------------------------
def plot_taylor_gaps(sigmas, rows: dict[str, torch.Tensor], ax) -> None:
    """Log-log plot of each named series of gaps against ``sigma``, with a ``sigma^4`` guide line
    just above the lowest series."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    for label, gaps in rows.items():
        ax.loglog(sigmas, gaps, "o-", label=f"{label} (slope {fitted_order(sigmas, gaps):.2f})")
    anchor = 3 * min(float(g[0]) for g in rows.values())  # just above the lowest series
    ax.loglog(sigmas, anchor * (sigmas / sigmas[0]) ** 4, "k--", lw=1, label=r"$\propto\sigma^4$")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(sigmas.tolist(), [f"{float(v):g}" for v in sigmas])
    ax.set(xlabel=r"noise scale $\sigma$", ylabel="|noisy loss - penalised loss|",
           title="second-order formula: remainder")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def plot_training(artifacts: dict, fig) -> None:
    """Two panels over the first seed's training: the cross-entropy on the labelled batches for
    both models, and VAT's two unlabelled terms (the virtual adversarial KL and the entropy)."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for key, label in (("baseline_rows", "labels only"), ("vat_rows", "VAT + EntMin")):
        rows = artifacts[key]
        ax1.plot([r["step"] for r in rows], [r["ce"] for r in rows], "o-", ms=3, label=label)
    ax1.set(yscale="log", xlabel="step", ylabel="cross-entropy", title="labelled batches")
    rows = artifacts["vat_rows"]
    steps = [r["step"] for r in rows]
    ax2.plot(steps, [r["vat"] for r in rows], "o-", ms=3, color="C1",
             label=r"VAT: KL$(p(\cdot|x)\,\|\,p(\cdot|x+\epsilon d))$")
    if "entropy" in rows[-1]:
        ax2.plot(steps, [r["entropy"] for r in rows], "s--", ms=3, color="C2",
                 label="entropy of $p(\\cdot|x)$")
    ax2.set(yscale="log", xlabel="step", ylabel="nats", title="unlabelled batches (VAT model)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()


def explore_perturbation(frames: dict, n_images: int | None = None):
    """A slider over ``eps`` and the test image: the image pushed along its virtual adversarial
    direction (for each model along its own), and every model's predicted probabilities there, from
    the frames of :func:`~kexue.regularize.semi_supervised.perturbation_frames`."""
    available = len(frames["y"])
    n_images = available if n_images is None else positive_int(n_images, "n_images")
    if n_images > available:
        raise ValueError(f"n_images must be at most the {available} images the frames hold, "
                         f"got {n_images}")
    epsilons = frames["epsilons"].tolist()
    names, x, y = frames["names"], frames["x"], frames["y"]

    def draw(fig, epsilon, image):
        i, e = int(round(image)), epsilons.index(epsilon)
        pictures = []
        for d in frames["directions"]:
            pictures += [(x[i] + epsilon * d[i]).view(28, 28).clamp(0, 1), torch.zeros(28, 4)]
        ax = fig.add_subplot(1, 2, 1)
        ax.imshow(torch.cat(pictures[:-1], dim=1).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"x + {epsilon:g} d   (left to right: {', '.join(names)})", fontsize=9)
        bar = fig.add_subplot(1, 2, 2)
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            p = frames["probabilities"][k, e, i]
            bar.bar(torch.arange(10) + (k - (len(names) - 1) / 2) * width, p.numpy(), width=width,
                    color=f"C{k}", label=f"{name}: {int(p.argmax())} ({float(p.max()):.2f})")
        bar.axvline(int(y[i]), color="C2", lw=6, alpha=0.25, label=f"true class {int(y[i])}")
        bar.set(ylim=(0, 1.05), xticks=range(10), xlabel="class", ylabel="probability")
        bar.legend(fontsize=7, loc="upper left")
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.2, top=0.88, wspace=0.15)

    return widgets.SliderFigure(draw, [
        widgets.Slider("epsilon", values=epsilons, value=epsilons[len(epsilons) // 2],
                       description="ε (L2, pixels in [0,1])"),
        widgets.Slider("image", values=list(range(n_images)), value=0, description="test image")],
        figsize=(9, 2.8))
