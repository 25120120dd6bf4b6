"""The tables and figures of the clustering chapter, drawn from the metrics and artifacts of the
experiments ``vae-cluster-mnist`` and ``vae-cluster-fashion``
(:mod:`kexue.vae.experiments.clustering`): the scores beside the baselines, the contingency table,
each cluster's members and the images decoded from each cluster's prior.

Serves chapters/part3-vae/vae-clustering.ipynb (post 5887).
"""
from __future__ import annotations

import torch

from ..cluster_scores import SCORES
from ..clustering import ClusteringVAE

__all__ = ["results_table", "plot_cluster_members", "plot_conditional_samples", "plot_contingency"]

#: the rows of :func:`results_table`: a key of the metrics ("model": the top level) and its label
METHODS = (("model", "clustering VAE (this chapter)"), ("post_recipe", "the post's recipe: centres from zero"),
           ("gmm_vae", "plain VAE + Gaussian mixture"), ("kmeans_vae", "plain VAE + k-means"),
           ("kmeans_pixels", "k-means on pixels"))


def results_table(metrics: dict, *, post: float | None = None):
    """The experiment's scores as a table: one row per method (median over seeds, with the range
    in brackets when there are several), and the post's reported accuracy."""
    from ...notebook import table

    def cell(entry):
        if isinstance(entry, (int, float)):
            return f"{entry:.3f}"
        if len(entry["per_seed"]) == 1:
            return f"{entry['median']:.3f}"
        return f"{entry['median']:.3f} [{entry['min']:.3f}, {entry['max']:.3f}]"

    rows = []
    for key, name in METHODS:
        source = metrics if key == "model" else metrics.get(key)
        if source is None:
            continue
        if key == "post_recipe":
            name += f" (seed {source['seed']})"
        rows.append([name] + [cell(source[k]) for k, _ in SCORES])
    if post is not None:
        rows.append(["the post (its convolutional model)", f"about {post:.3f}", "", "", ""])
    seeds = len(metrics["runs"])
    header = [f"{metrics['dataset']} test set, {seeds} seed{'s' if seeds > 1 else ''}"]
    return table(header + [label for _, label in SCORES], rows)


def plot_cluster_members(fig, x: torch.Tensor, clusters, *, per_cluster: int = 12,
                         title: str | None = None):
    """One row per cluster: the first ``per_cluster`` test images the model put in it."""
    import numpy as np

    from ...viz import image_grid

    clusters = np.asarray(clusters)
    k = int(clusters.max()) + 1
    rows = []
    for c in range(k):
        members = x[torch.as_tensor(np.flatnonzero(clusters == c)[:per_cluster])]
        blank = torch.zeros(per_cluster - len(members), x.shape[1])
        rows.append(torch.cat([members.cpu().float(), blank]))
    ax = fig.add_subplot(1, 1, 1)
    image_grid(torch.cat(rows), ncols=per_cluster, ax=ax, title=title)
    for c in range(k):
        ax.text(-2, c * 29 + 14, str(c), ha="right", va="center", fontsize=8)
    return ax


def plot_conditional_samples(fig, model: ClusteringVAE, *, per_cluster: int = 12, seed: int = 0,
                             title: str | None = None):
    """One row per cluster y: images decoded from z ~ N(mu_y, I)."""
    from ...viz import image_grid

    generator = torch.Generator(device=model.means.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        images = torch.cat([model.sample(c, per_cluster, generator=generator)
                            for c in range(model.clusters)])
    finally:
        model.train(was_training)
    ax = fig.add_subplot(1, 1, 1)
    image_grid(images, ncols=per_cluster, ax=ax, title=title)
    for c in range(model.clusters):
        ax.text(-2, c * 29 + 14, str(c), ha="right", va="center", fontsize=8)
    return ax


def plot_contingency(ax, clusters, classes, *, class_names=None, title: str | None = None):
    """The contingency table (clusters down, true classes across) as a heat map, each cluster's
    row normalised, with the Hungarian matching outlined."""
    import numpy as np
    from matplotlib.patches import Rectangle
    from scipy.optimize import linear_sum_assignment

    from ..cluster_scores import contingency

    table = contingency(clusters, classes)
    shares = table / np.maximum(table.sum(1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    for r, c in zip(rows, cols):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="tab:red", lw=1.5))
    for r in range(table.shape[0]):
        for c in range(table.shape[1]):
            if table[r, c]:
                ax.text(c, r, str(table[r, c]), ha="center", va="center", fontsize=6,
                        color="white" if shares[r, c] > 0.6 else "black")
    names = class_names or [str(c) for c in range(table.shape[1])]
    ax.set_xticks(range(table.shape[1]), names, rotation=45 if class_names else 0, ha="right"
                  if class_names else "center", fontsize=7)
    ax.set_yticks(range(table.shape[0]))
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    if title:
        ax.set_title(title)
    return ax
