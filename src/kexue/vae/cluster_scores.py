"""Scoring a clustering against the true classes, the four ways the clustering chapter reports.

* :func:`majority_accuracy`: label every cluster with the class most of its members have (the
  post's measure); several clusters may share a class, so it never falls when clusters are split.
* :func:`hungarian_accuracy`: the best one-to-one matching of clusters to classes, found by the
  Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on the contingency table.
* NMI and ARI from scikit-learn (:func:`scores` bundles all four; :data:`SCORES` names them).

Serves chapters/part3-vae/vae-clustering.ipynb (post 5887).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["SCORES", "contingency", "majority_accuracy", "hungarian_accuracy", "scores"]

#: the keys of :func:`scores`, each with its label in the chapter's tables
SCORES = (("majority_acc", "majority acc."), ("hungarian_acc", "Hungarian acc."), ("nmi", "NMI"),
          ("ari", "ARI"))


def _labels(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of integer labels, got shape "
                         f"{values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
    if values.min() < 0:
        raise ValueError(f"{name} must be non-negative, got {values.min()}")
    return values


def contingency(clusters, classes) -> np.ndarray:
    """Counts ``table[c, k]`` of samples in cluster ``c`` with true class ``k``."""
    clusters, classes = _labels(clusters, "clusters"), _labels(classes, "classes")
    if clusters.shape != classes.shape:
        raise ValueError(f"clusters and classes must have one entry per sample, got "
                         f"{clusters.shape} and {classes.shape}")
    table = np.zeros((clusters.max() + 1, classes.max() + 1), dtype=np.int64)
    np.add.at(table, (clusters, classes), 1)
    return table


def _dense_contingency(clusters, classes) -> np.ndarray:
    """:func:`contingency` of the clusters and classes that occur, their ids renumbered 0, 1, ...
    (neither score depends on the ids): sparse ids such as 10**12 cost no more than dense ones."""
    clusters, classes = _labels(clusters, "clusters"), _labels(classes, "classes")
    return contingency(np.unique(clusters, return_inverse=True)[1],
                       np.unique(classes, return_inverse=True)[1])


def majority_accuracy(clusters, classes) -> float:
    """The fraction of samples whose class is the majority class of their cluster."""
    table = _dense_contingency(clusters, classes)
    return float(table.max(1).sum() / table.sum())


def hungarian_accuracy(clusters, classes) -> float:
    """The accuracy of the best one-to-one assignment of clusters to classes."""
    from scipy.optimize import linear_sum_assignment

    table = _dense_contingency(clusters, classes)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def scores(clusters, classes) -> dict:
    """``{"majority_acc", "hungarian_acc", "nmi", "ari"}`` of a clustering."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusters, classes = _labels(clusters, "clusters"), _labels(classes, "classes")
    return {"majority_acc": majority_accuracy(clusters, classes),
            "hungarian_acc": hungarian_accuracy(clusters, classes),
            "nmi": float(normalized_mutual_info_score(classes, clusters)),
            "ari": float(adjusted_rand_score(classes, clusters))}
