"""The figures and tables of Part V's chapters.

Serves chapters/part5-gans/variational-gan.ipynb (post 5716) and
chapters/part5-gans/wasserstein-gan.ipynb (post 6280).
"""
from __future__ import annotations

import numpy as np

from .wgan import CONSTRAINTS

#: how the chapters name each constraint
CONSTRAINT_TITLES = {"weight-clipping": "weight clipping (c = 0.01)",
                     "gradient-penalty": "gradient penalty (λ = 10)",
                     "spectral-norm": "spectral normalisation"}


def plot_plan(ax, x, y, plan, *, title: str | None = None) -> None:
    """A transport plan between two weighted point sets in the plane: a segment from ``x_i`` to
    ``y_j`` for every positive ``plan[i, j]``, as thick as the mass it carries; the points' areas
    are their masses (the plan's row and column sums)."""
    x, y, plan = np.asarray(x), np.asarray(y), np.asarray(plan)
    scale = 12 / plan.max()
    for i, j in zip(*np.nonzero(plan > 1e-12)):
        ax.plot([x[i, 0], y[j, 0]], [x[i, 1], y[j, 1]], color="0.4", lw=scale * plan[i, j],
                zorder=1)
    ax.scatter(*x.T, s=900 * plan.sum(1), color="C0", label="x (mass p)", zorder=2)
    ax.scatter(*y.T, s=900 * plan.sum(0), color="C1", label="y (mass q)", zorder=2)
    ax.set_aspect("equal")
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def plot_ring_tracks(fig, metrics: dict, *, title: str | None = None) -> None:
    """For each constraint of ``wgan-ring-2d``, the critic's gap and the exact W1 of the same
    samples as training proceeds."""
    axes = fig.subplots(1, len(CONSTRAINTS), sharey=True)
    for ax, constraint in zip(axes, CONSTRAINTS):
        run = metrics[constraint]
        ax.plot(run["steps"], run["exact_w1"], "k--", label="exact W1 (linear programme)")
        ax.plot(run["steps"], run["critic_gap"], "o-", color="C3", label="critic's gap")
        ax.set_title(CONSTRAINT_TITLES[constraint], fontsize=9)
        ax.set_xlabel("critic steps")
    axes[0].set_ylabel("distance")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)


def plot_ring_samples(fig, artifacts: dict, *, title: str | None = None) -> None:
    """The real ring and each constraint's generator's samples at the end of training."""
    axes = fig.subplots(1, len(CONSTRAINTS), sharex=True, sharey=True)
    real = np.asarray(artifacts["real"])
    for ax, constraint in zip(axes, CONSTRAINTS):
        made = np.asarray(artifacts[constraint])
        ax.scatter(*real.T, s=2, color="0.7", label="data")
        ax.scatter(*made.T, s=2, color="C3", label="generator")
        ax.set_title(CONSTRAINT_TITLES[constraint], fontsize=9)
        ax.set_aspect("equal")
    axes[0].legend(fontsize=8, markerscale=4, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)


def plot_wgan_track(fig, metrics: dict, *, title: str | None = None) -> None:
    """The critic's gap on held-out images (its W1 estimate) and the Fréchet distance of as many
    samples, over training, side by side, with their correlation in the title."""
    track = metrics["track"]
    left, right = fig.subplots(1, 2)
    left.plot(track["step"], track["critic_gap"], "o-", color="C3")
    left.set(xlabel="critic steps", ylabel="E f(test images) − E f(samples)",
             title="the critic's estimate of W1")
    right.plot(track["step"], track["frechet"], "o-", color="C0")
    right.set(xlabel="critic steps", ylabel="Fréchet distance", yscale="log",
              title="Fréchet distance (reference features)")
    for ax in (left, right):
        ax.title.set_fontsize(9)
    fig.suptitle((title + "; " if title else "")
                 + f"Pearson r = {metrics['gap_frechet_pearson']:.2f}, "
                   f"Spearman ρ = {metrics['gap_frechet_spearman']:.2f}", fontsize=10)


def ring_rows(metrics: dict) -> list[list]:
    """Rows of (constraint, final gap, final exact W1, their ratio, correlation over training)."""
    return [[CONSTRAINT_TITLES[c], f"{m['critic_gap'][-1]:.3f}", f"{m['exact_w1'][-1]:.3f}",
             f"{m['final_gap_over_w1']:.2f}", f"{m['pearson']:.2f}"]
            for c, m in ((c, metrics[c]) for c in CONSTRAINTS)]


def wgan_rows(metrics: dict) -> list[list]:
    """The WGAN-GP record as (quantity, value) rows."""
    return [["Fréchet distance, 10k samples vs test set", f"{metrics['frechet_distance']:.1f}"],
            ["critic's gap on held-out images at the end", f"{metrics['final_critic_gap']:.2f}"],
            ["Pearson r (gap, Fréchet) over training", f"{metrics['gap_frechet_pearson']:.2f}"],
            ["Spearman ρ (gap, Fréchet) over training", f"{metrics['gap_frechet_spearman']:.2f}"],
            ["critic / generator steps", f"{metrics['critic_steps']} / "
                                         f"{metrics['generator_steps']}"],
            ["training time (s)", f"{metrics['train_seconds']:.0f}"]]


def weight_label(weight: float) -> str:
    return "plain GAN" if weight == 0 else f"with the post's term (λ = {weight:g})"


def plot_vi_tracks(fig, metrics: dict, *, title: str | None = None) -> None:
    """For every run of ``dcgan-vi-mnist``, after each epoch: the Fréchet distance of its samples
    (left) and the divergence of their class histogram from uniform (right), coloured by whether
    the run has the post's term."""
    left, right = fig.subplots(1, 2)
    weights = sorted({run["weight"] for run in metrics["runs"].values()})
    for run in metrics["runs"].values():
        colour = f"C{weights.index(run['weight'])}"
        label = weight_label(run["weight"]) if run["seed"] == min(
            r["seed"] for r in metrics["runs"].values()) else None
        left.plot(run["epochs"], run["frechet"], "o-", color=colour, label=label, ms=3)
        right.plot(run["epochs"], run["kl_from_uniform"], "o-", color=colour, ms=3)
    left.set(xlabel="epoch", ylabel="Fréchet distance", yscale="log",
             title="samples against test images")
    right.set(xlabel="epoch", ylabel="KL(classes ‖ uniform), nats",
              title="class histogram of the samples")
    for ax in (left, right):
        ax.title.set_fontsize(9)
    left.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)


def vi_rows(metrics: dict) -> list[list]:
    """Per run of ``dcgan-vi-mnist``: the variant, the seed, and at the end the Fréchet distance,
    the classes found, the divergence from uniform and whether it counts as collapsed."""
    return [[weight_label(run["weight"]), run["seed"], f"{run['final']['frechet']:.1f}",
             run["final"]["classes_found"], f"{run['final']['kl_from_uniform']:.3f}",
             "yes" if run["collapsed"] else "no"]
            for run in sorted(metrics["runs"].values(), key=lambda r: (r["weight"], r["seed"]))]
