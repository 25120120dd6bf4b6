"""The tables and figure of the mutual-information chapter, from the metrics and artifacts of its
experiments ``vae-information-mnist`` and ``infomax-mnist``
(:mod:`kexue.vae.experiments.mutual_information`): the KL term and its two parts per KL weight,
the features' k-NN and linear-probe accuracies, and nearest neighbours retrieved by each feature
set.

Serves chapters/part3-vae/mutual-information.ipynb (posts 6088 and 6024).
"""
from __future__ import annotations

import torch

from ...checks import float_tensor
from ..autoencoder import model_name

__all__ = ["terms_table", "results_table", "plot_retrieval"]


def terms_table(metrics: dict) -> tuple[list, list]:
    """``(header, rows)``: one row per KL weight, the reconstruction error, the KL term and its
    two estimated parts with their sum (± one standard error)."""
    if not isinstance(metrics, dict) or "kl_weights" not in metrics:
        raise ValueError("metrics must be the metrics of the vae-information-mnist experiment")
    rows = []
    for beta in metrics["kl_weights"]:
        m = metrics[model_name(beta)]
        rows.append([f"β = {beta:g}", f"{m['recon_error']:.2f}", f"{m['mean_kl']:.3f}",
                     f"{m['mutual_information']:.3f} ± {m['mutual_information_se']:.3f}",
                     f"{m['aggregate_kl']:.3f} ± {m['aggregate_kl_se']:.3f}",
                     f"{m['mutual_information'] + m['aggregate_kl']:.3f}",
                     f"{m['residual']:+.3f} ± {m['residual_se']:.3f}", f"{m['log_n']:.2f}"])
    return (["model", "‖x − D(z)‖²", "E KL(p(z|x) ‖ prior)", "I(x; z)", "KL(p(z) ‖ prior)",
             "I + KL(p(z) ‖ prior)", "residual", "log n"], rows)


def results_table(metrics: dict) -> tuple[list, list]:
    """``(header, rows)``: k-NN and linear-probe test accuracy for each feature set."""
    if not isinstance(metrics, dict) or "knn_acc_dim" not in metrics:
        raise ValueError("metrics must be the metrics of the infomax-mnist experiment")
    names = {"pixels": "raw pixels (784)", "random": "untrained encoder, μ(x)",
             "dim": "Deep InfoMax, μ(x)"}
    rows = [[title, f"{metrics[f'knn_acc_{n}']:.3f}", f"{metrics[f'probe_acc_{n}']:.3f}"]
            for n, title in names.items()]
    return ["features", f"{metrics['k']}-NN accuracy (cosine)", "linear probe accuracy"], rows


def plot_retrieval(fig, queries: torch.Tensor, panels: dict, *, title: str | None = None) -> None:
    """For each query image (rows), its nearest images, one panel per feature set: ``panels`` maps
    a panel title to the neighbours' images, ``[query, neighbour, pixels]`` (as
    :func:`kexue.vae.infomax.retrieve` gives them); the query is drawn first, then a gap."""
    from ... import viz

    queries = float_tensor(queries, "queries", ndim=2, nonempty=True).cpu()
    if not isinstance(panels, dict) or not panels:
        raise ValueError("panels must be a non-empty dict of title -> neighbour images")
    blank = torch.zeros_like(queries[:1])  # white in the gray_r colour map
    for i, (name, images) in enumerate(panels.items()):
        images = float_tensor(images, f"panels[{name!r}]", ndim=3).cpu()
        if len(images) != len(queries) or images.shape[2] != queries.shape[1]:
            raise ValueError(f"panels[{name!r}] has shape {tuple(images.shape)}; expected "
                             f"({len(queries)}, neighbours, {queries.shape[1]})")
        tiles = torch.cat([torch.cat([queries[r:r + 1], blank, images[r]])
                           for r in range(len(queries))])
        viz.image_grid(tiles, ncols=images.shape[1] + 2, ax=fig.add_subplot(1, len(panels), i + 1),
                       title=name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
