"""The figures of the information-bottleneck chapter, drawn from the artifacts of the experiment
``vib-fashion`` (:mod:`kexue.vae.experiments.bottleneck`): accuracy against beta and against input
noise, the KL per latent dimension, the training curves, and a slider over the noise.

Serves chapters/part3-vae/information-bottleneck.ipynb (post 6181).
"""
from __future__ import annotations

from ... import data
from ...checks import positive_int

__all__ = ["results_table", "plot_accuracy_vs_beta", "plot_accuracy_vs_noise", "plot_kl_per_dimension",
           "plot_training", "explore_noise"]


def _beta_label(beta: float) -> str:
    return "no bottleneck" if beta == 0 else f"β = {beta:g}"


def results_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` for :func:`kexue.notebook.table`: per ``beta`` of a ``vib-fashion``
    record, the KL (nats) and the accuracy (%, mean over the seeds) at every noise level."""
    header = ["model", "E KL (nats)"] + [f"accuracy, σ = {s:g} (%)" for s in metrics["sigmas"]]
    rows = [[_beta_label(b).replace("β", "VIB, β"), "—" if kl is None else f"{kl:.1f}",
             *[f"{a:.2f}" for a in acc]]
            for b, kl, acc in zip(metrics["betas"], metrics["kl_nats"], metrics["acc"])]
    return header, rows


def plot_accuracy_vs_beta(artifacts: dict, ax) -> None:
    """Accuracy (%) against ``beta`` (log axis; the deterministic network, ``beta = 0``, as a
    horizontal line), one curve per noise level."""
    betas, sigmas, acc = artifacts["betas"], artifacts["sigmas"], artifacts["acc"]
    from matplotlib import colormaps

    positive_betas = [(b, i) for i, b in enumerate(betas) if b > 0]
    colours = colormaps["viridis"]([j / max(len(sigmas) - 1, 1) * 0.85 for j in range(len(sigmas))])
    for j, s in enumerate(sigmas):
        ax.plot([b for b, _ in positive_betas], [acc[i][j] for _, i in positive_betas], "o-",
                color=colours[j], label=f"σ = {s:g}")
        if 0.0 in betas:
            ax.axhline(acc[betas.index(0.0)][j], color=colours[j], ls="--", lw=1)
    ax.set(xscale="log", xlabel="β (KL weight)", ylabel="accuracy (%)",
           title="accuracy against β (dashed: no bottleneck)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, title="input noise", title_fontsize=8)


def plot_accuracy_vs_noise(artifacts: dict, ax, highlight: int | None = None) -> None:
    """Accuracy (%) against the input-noise scale ``sigma``, one curve per ``beta``
    (``highlight``: the index of one ``beta`` drawn bold, the others faded)."""
    betas, sigmas, acc = artifacts["betas"], artifacts["sigmas"], artifacts["acc"]
    for i, b in enumerate(betas):
        faded = highlight is not None and i != highlight
        ax.plot(sigmas, acc[i], "o-" if b > 0 else "s--", color=f"C{i}", label=_beta_label(b),
                alpha=0.3 if faded else 1.0, lw=2.5 if highlight == i else 1.5, ms=4)
    ax.set(xlabel="input noise σ (pixels in [0, 1])", ylabel="accuracy (%)",
           title="accuracy under Gaussian input noise")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_kl_per_dimension(artifacts: dict, ax) -> None:
    """For each ``beta > 0``: the latent dimensions' mean KL (nats), sorted in decreasing order, on
    a log axis; the sum over dimensions (the bound on ``I(x; z)``) in the legend."""
    for i, (b, kl) in enumerate(zip(artifacts["betas"], artifacts["kl"])):
        if kl is None:
            continue
        values = kl.sort(descending=True).values.clamp_min(1e-6).numpy()
        ax.plot(range(1, len(values) + 1), values, "o-", ms=3, color=f"C{i}",
                label=f"β = {b:g}: total {float(kl.sum()):.1f} nats")
    ax.set(yscale="log", xlabel="latent dimension (sorted)", ylabel="E KL per dimension (nats)",
           title="what passes the bottleneck")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def plot_training(artifacts: dict, fig) -> None:
    """Two panels over training: the cross-entropy for every ``beta``, and the KL (nats per
    example) for every ``beta > 0``."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, (b, rows) in enumerate(zip(artifacts["betas"], artifacts["rows"])):
        epochs = [r["epoch"] for r in rows]
        ax1.plot(epochs, [r["ce"] for r in rows], color=f"C{i}", label=_beta_label(b))
        if b > 0:
            ax2.plot(epochs, [r["kl"] for r in rows], color=f"C{i}", label=_beta_label(b))
    ax1.set(xlabel="epoch", ylabel="cross-entropy (nats)",
            title="training cross-entropy (sampled codes)")
    ax2.set(yscale="log", xlabel="epoch", ylabel="KL (nats per example)",
            title="KL(p(z|x) ‖ N(0, I)) during training")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()


def explore_noise(artifacts: dict, n_images: int = 8):
    """A slider over the noise ``sigma``: the first evaluation images with that noise, and under
    them what each model predicts (green: right, red: wrong; the run's ``predictions``), with its
    accuracy at that ``sigma``."""
    from ... import viz, widgets

    betas, sigmas = artifacts["betas"], artifacts["sigmas"]
    n_images = positive_int(n_images, "n_images")
    if n_images > len(artifacts["y_eval"]):
        raise ValueError(f"n_images must be at most the {len(artifacts['y_eval'])} images the run "
                         f"kept predictions for, got {n_images}")
    x = artifacts["x_eval"][:n_images]
    y = artifacts["y_eval"][:n_images]
    noise = artifacts["noise"][:n_images]
    predictions = artifacts["predictions"][:, :, :n_images]
    pad, row_height = 6, 12
    width = n_images * (28 + pad) - pad

    def draw(fig, sigma):
        j = min(range(len(sigmas)), key=lambda k: abs(sigmas[k] - sigma))
        ax = fig.add_axes((0.0, 0.0, 1.0, 0.9))
        ax.imshow(viz.tile_images((x + sigmas[j] * noise).clamp(0, 1), ncols=n_images, pad=pad,
                                  pad_value=0.0), cmap="gray_r", vmin=0, vmax=1)
        rows = [("true class", None, y)] + [
            (f"{_beta_label(b)} ({artifacts['acc'][i][j]:.1f}%)", i, predictions[i][j])
            for i, b in enumerate(betas)]
        for r, (label, i, classes) in enumerate(rows):
            top = 28 + (r + 0.6) * row_height
            ax.text(-pad, top, label, ha="right", va="center", fontsize=10)
            for k in range(n_images):
                colour = "k" if i is None else ("C2" if classes[k] == y[k] else "C3")
                ax.text(k * (28 + pad) + 14, top, data.FASHION_CLASSES[int(classes[k])],
                        ha="center", va="center", fontsize=9.5, color=colour)
        ax.set(xlim=(-92, width + 3), ylim=(28 + (len(rows) + 0.2) * row_height, -1))
        ax.set_axis_off()
        ax.set_title(f"test images with Gaussian noise σ = {sigmas[j]:g}, and each model's "
                     "prediction (accuracy on all test images)", fontsize=10)

    return widgets.SliderFigure(draw, [widgets.Slider("sigma", values=sigmas,
                                                      value=sigmas[len(sigmas) // 2],
                                                      description="noise σ")],
                                figsize=(10, 3.0))
