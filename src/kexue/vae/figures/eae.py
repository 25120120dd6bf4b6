"""The table and figures of the entropic-autoencoder chapter, drawn from the metrics and artifacts
of the experiment ``eae-mnist`` (:mod:`kexue.vae.experiments.eae`): the Fréchet distances and code
entropies, each model's samples, and two coordinates of its codes.

Serves chapters/part3-vae/entropy-autoencoder.ipynb (post 7343).
"""
from __future__ import annotations

from ...checks import positive_int
from ..eae import MODELS, TITLES

__all__ = ["results_table", "plot_samples", "plot_code_marginals"]


def results_table(metrics: dict) -> tuple[list[str], list[list]]:
    """``(header, rows)``: per model, the Fréchet distance of its samples (ours), the test
    reconstruction error, and its test codes' entropy estimate beside that of as many N(0, I)
    samples; the floor row last."""
    if not isinstance(metrics, dict) or "fid_floor" not in metrics:
        raise ValueError("metrics must be the metrics of the eae-mnist experiment")
    dash = "—"
    rows = [[TITLES[name], f"{metrics[name]['fid']:.2f}", f"{metrics[name]['recon_error']:.2f}",
             f"{metrics[name]['entropy_knn']:.2f}", f"{metrics[name]['entropy_knn_normal']:.2f}"]
            for name in MODELS if name in metrics]
    rows.append([TITLES["floor"], f"{metrics['fid_floor']:.2f}", dash, dash, dash])
    return (["model", "Fréchet distance (our features)", "test ‖x − D(E(x))‖²",
             "codes' 1-NN entropy (nats)", "same for N(0, I) samples"], rows)


def plot_samples(fig, samples: dict, *, n: int = 40, ncols: int = 10) -> None:
    """One panel per entry of ``samples`` (name -> images n x 784): its first ``n`` images."""
    from ... import viz

    if not isinstance(samples, dict) or not samples:
        raise ValueError("samples must be a non-empty dict of name -> images")
    n = positive_int(n, "n")
    for i, (name, images) in enumerate(samples.items()):
        viz.image_grid(images[:n], ncols=ncols, ax=fig.add_subplot(1, len(samples), i + 1),
                       title=TITLES.get(name, name))
    fig.tight_layout()


def plot_code_marginals(axes, codes: dict, *, coordinates=(0, 1)) -> None:
    """For each entry of ``codes`` (name -> test codes n x d), on its own axes: the scatter of two
    ``coordinates`` over the circles of radius 1 and 2 of N(0, I)."""
    from matplotlib.patches import Circle

    i, j = coordinates
    if len(axes) != len(codes):
        raise ValueError(f"give one axes per model: {len(axes)} axes for {len(codes)} models")
    for ax, (name, z) in zip(axes, codes.items()):
        ax.scatter(z[:, i], z[:, j], s=2, alpha=0.4, linewidths=0)
        for radius in (1, 2):
            ax.add_patch(Circle((0, 0), radius, fill=False, color="k", lw=1,
                                ls="--" if radius == 2 else "-"))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set(xlabel=f"$z_{i + 1}$", ylabel=f"$z_{j + 1}$", title=TITLES.get(name, name))
