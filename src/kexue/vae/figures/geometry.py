"""The tables and figures of the VAE-geometry chapter, drawn from the metrics of the experiment
``vae-geometry-mnist`` and from what :func:`kexue.vae.experiments.geometry.figure_data` computes of
its models (a full run publishes that): the codes as points and blobs, decoded grids of the latent
plane, interpolations, and the comparison across KL weights.

Serves chapters/part3-vae/vae-geometry.ipynb (post 7725).
"""
from __future__ import annotations

import torch

from ...checks import float_tensor, label_tensor
from ..autoencoder import model_name

__all__ = ["summary_tables", "model_title", "plot_latent_clouds", "plot_decoded_grid",
           "plot_interpolations", "plot_kl_weight_comparison"]


def summary_tables(metrics: dict) -> tuple[tuple[list, list], tuple[list, list]]:
    """Two tables ``(header, rows)`` of an experiment's metrics, one row per model: what each
    model keeps of the image (reconstruction errors, KL, blob sizes, the ELBO's gap), and how its
    codes cover the prior (the aggregated posterior's moments and KLs). A dash where a quantity
    has no meaning for the autoencoder."""
    if not isinstance(metrics, dict) or "kl_weights" not in metrics:
        raise ValueError("metrics must be the metrics of the vae-geometry-mnist experiment")
    names = ["ae"] + [model_name(b) for b in metrics["kl_weights"]]
    dash = "—"
    keep, cover = [], []
    for name in names:
        m = metrics[name]
        vae = "kl" in m
        pm = lambda key: f"{m[key]:.3f} ± {m[key + '_se']:.3f}" if vae else dash
        keep.append([model_title(name, tex=False),
                     f"{m['recon_error']:.2f}",
                     f"{m['recon_error_sampled']:.2f}" if vae else dash,
                     f"{m['kl']:.3f}" if vae else dash,
                     ", ".join(f"{s:.3f}" for s in m["median_sigma"]) if vae else "0",
                     f"{m['elbo_gap_mean']:.3f}" if vae else dash])
        C = m["aggregate_cov"]
        cover.append([keep[-1][0], ", ".join(f"{v:+.2f}" for v in m["aggregate_mean"]),
                      f"{C[0][0]:.2f}, {C[0][1]:.2f}, {C[1][1]:.2f}",
                      f"{m['moment_kl_to_prior']:.3f}", pm("aggregate_to_prior_kl"),
                      pm("prior_to_aggregate_kl")])
    return ((["model", "‖x − D(μ)‖²", "‖x − D(z)‖², z sampled", "mean KL (nats)",
              "median σ₁, σ₂", "mean ELBO gap (nats)"], keep),
            (["model", "mean m", "covariance C₁₁, C₁₂, C₂₂", "KL(N(m, C) ‖ prior)",
              "KL(q ‖ prior)", "KL(prior ‖ q), holes"], cover))


def _colours(labels: torch.Tensor):
    import matplotlib

    return matplotlib.colormaps["tab10"](labels.numpy() % 10)


def plot_latent_clouds(ax, codes: torch.Tensor, labels: torch.Tensor,
                       log_var: torch.Tensor | None = None, *, title: str | None = None,
                       legend: bool = True) -> None:
    """The codes of test images as points coloured by digit and, with ``log_var`` (that of the
    first ``k <= n`` codes), their 1-sigma ellipses (axes ``sigma_1``, ``sigma_2``); the circles of
    radius 1 and 2 (solid, dashed) mark the prior N(0, I)."""
    from matplotlib.collections import EllipseCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    codes = _points(codes)
    labels = label_tensor(labels, "labels", n=len(codes)).cpu()
    colours = _colours(labels)
    ax.scatter(codes[:, 0], codes[:, 1], s=3, c=colours, alpha=0.6, linewidths=0)
    if log_var is not None:
        log_var = float_tensor(log_var, "log_var", ndim=2).detach().cpu()
        if log_var.shape[1] != 2 or len(log_var) > len(codes):
            raise ValueError(f"log_var must be that of the first k of the {len(codes)} codes "
                             f"(k x 2), got shape {tuple(log_var.shape)}")
        k = len(log_var)
        sigma = log_var.mul(0.5).exp()
        ax.add_collection(EllipseCollection(
            2 * sigma[:, 0].numpy(), 2 * sigma[:, 1].numpy(), 0, units="xy",
            offsets=codes[:k].numpy(), offset_transform=ax.transData, facecolors=colours[:k],
            edgecolors=colours[:k], alpha=0.25, linewidths=0.5))
    for radius in (1, 2):
        ax.add_patch(Circle((0, 0), radius, fill=False, color="k", lw=1,
                            ls="--" if radius == 2 else "-"))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title)
    if legend:
        handles = [Line2D([], [], marker="o", ls="", color=c, label=str(d), markersize=4)
                   for d, c in zip(range(10), _colours(torch.arange(10)))]
        ax.legend(handles=handles, fontsize=6, loc="upper right", ncol=2, title="digit",
                  title_fontsize=6, framealpha=0.7, handletextpad=0.1, columnspacing=0.4)


def _points(codes) -> torch.Tensor:
    codes = float_tensor(codes, "codes", ndim=2, nonempty=True).detach().cpu()
    if codes.shape[1] != 2:
        raise ValueError(f"codes must be 2-D points (n x 2), got shape {tuple(codes.shape)}")
    return codes


def plot_decoded_grid(ax, images: torch.Tensor, lim, *, title: str | None = None) -> None:
    """Draw the ``n * n`` decoded images of a grid over ``lim = (z1_min, z1_max, z2_min,
    z2_max)`` (:func:`kexue.vae.autoencoder.latent_grid`'s order), each at its point of the
    plane, so the axes read as latent coordinates."""
    from ... import viz

    images = float_tensor(images, "images", ndim=2, nonempty=True).detach().cpu()
    n = round(len(images) ** 0.5)
    if n * n != len(images):
        raise ValueError(f"images must be the n * n images of a square grid, got {len(images)}")
    x0, x1, y0, y1 = (float(v) for v in lim)
    dx, dy = (x1 - x0) / max(n - 1, 1), (y1 - y0) / max(n - 1, 1)
    ax.imshow(viz.tile_images(images, ncols=n, pad=0), cmap="gray_r", vmin=0, vmax=1,
              extent=(x0 - dx / 2, x1 + dx / 2, y0 - dy / 2, y1 + dy / 2), interpolation="nearest")
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title)


def plot_interpolations(fig, strips: dict, x_a: torch.Tensor, x_b: torch.Tensor) -> None:
    """One row per entry of ``strips`` (title -> the decoded straight line between the codes of
    ``x_a`` and ``x_b``, ``[steps, 784]``); a last row blends the two images' pixels instead."""
    from ... import viz

    if not isinstance(strips, dict) or not strips:
        raise ValueError("strips must be a non-empty dict of title -> decoded images")
    steps = len(next(iter(strips.values())))
    t = torch.linspace(0, 1, steps)[:, None]
    rows = [*strips.items(), ("pixels blended", (1 - t) * x_a.cpu() + t * x_b.cpu())]
    for i, (name, images) in enumerate(rows):
        viz.image_grid(images, ncols=steps, ax=fig.add_subplot(len(rows), 1, i + 1), title=name)
    fig.tight_layout()


def model_title(name: str, *, tex: bool = True) -> str:
    """``"autoencoder"`` or ``"VAE, beta = 1"``, the beta in TeX for figures or in Unicode for
    tables."""
    if name == "ae":
        return "autoencoder"
    beta = name.removeprefix("vae-")
    return f"VAE, $\\beta = {beta}$" if tex else f"VAE, β = {beta}"


def plot_kl_weight_comparison(fig, data: dict, *, suffix: str = "") -> None:
    """One row per model of ``data`` (:func:`kexue.vae.experiments.geometry.figure_data`: the
    autoencoder, then the VAEs by KL weight): the codes with their ellipses; the decoded grid (for
    a VAE over [-2.5, 2.5]^2 of the prior, for the autoencoder over its codes' central box); the
    interpolations between each pair of test images. ``suffix`` follows each row's title."""
    from ... import viz

    names = [key for key in data if key not in ("labels", "ends")]
    if not names:
        raise ValueError("data must hold at least one model's figure data (see figure_data)")
    gs = fig.add_gridspec(len(names), 3, width_ratios=[1, 1, 1.4])
    for row, name in enumerate(names):
        d = data[name]
        plot_latent_clouds(fig.add_subplot(gs[row, 0]), d["codes"], data["labels"],
                           d.get("log_var"), title=f"{model_title(name)}: codes{suffix}",
                           legend=row == 0)
        plot_decoded_grid(fig.add_subplot(gs[row, 1]), d["grid"], d["limits"].tolist(),
                          title="decoded grid")
        strips = d["strips"]
        viz.image_grid(strips.reshape(-1, strips.shape[-1]), ncols=strips.shape[1],
                       ax=fig.add_subplot(gs[row, 2]), title="interpolations between test images")
    fig.tight_layout()
