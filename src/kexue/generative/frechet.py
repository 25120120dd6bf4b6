"""The Fréchet distance between two sets of images, on the features of the book's own classifier.

Fit a Gaussian to each set's features, ``N(m1, S1)`` and ``N(m2, S2)``, and take

    FD = ||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)),

the squared 2-Wasserstein distance between the two Gaussians. With Inception-v3's pool features
this is the FID of the GAN literature (and of the EAE paper the post follows,
https://spaces.ac.cn/archives/7343); those weights cannot be downloaded on the machines that build
this book, so the features here are the last hidden layer of an MNIST classifier
(:func:`kexue.classifier.mlp`) trained through ``kexue.train``. The numbers are comparable with
each other, not with published FIDs.

So that every chapter's distances are on one scale, :func:`reference_network` is one fixed
feature classifier per data set (:data:`FEATURES` gives its recipe), trained once with a fixed
seed on the CPU and cached by its recipe; :func:`reference_distance` measures on it, and
:func:`features_id` names it in a record, so a table across chapters can check that two numbers
were measured on the same features.

``tr (S1 S2)^(1/2)`` is computed as the sum of the square roots of the eigenvalues of the symmetric
matrix ``S1^(1/2) S2 S1^(1/2)``, which has the same eigenvalues as ``S1 S2``.

Serves chapters/part3-vae/entropy-autoencoder.ipynb (post 7343), the flows of Part IV
(chapters/part4-flows/), and any chapter that compares a generative model's samples with data.
"""
from __future__ import annotations

import hashlib
import json
import os

import torch
from torch import nn

from .. import classifier, data
from ..checks import float_tensor, positive_int

__all__ = ["gaussian_moments", "frechet_distance", "feature_classifier", "features",
           "feature_distance", "FEATURES", "features_id", "reference_network",
           "reference_distance", "board", "board_rows"]

#: The recipe of each data set's reference feature network: an MLP 784 -> hidden -> 10 trained on
#: the whole training split with :func:`feature_classifier`.
FEATURES = {
    "mnist": dict(hidden=[256, 128], epochs=5, batch_size=100, lr=1e-3, seed=0),
    "fashion-mnist": dict(hidden=[256, 128], epochs=5, batch_size=100, lr=1e-3, seed=0),
}
_LOADERS = {"mnist": data.mnist, "fashion-mnist": data.fashion_mnist}


def gaussian_moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m, S)``: the mean and the covariance (divisor ``n - 1``, as ``numpy.cov``) of the rows of
    ``features`` (n x p, n >= 2), in float64."""
    features = float_tensor(features, "features", ndim=2, nonempty=True).double()
    if len(features) < 2:
        raise ValueError(f"features must hold at least 2 rows to have a covariance, got "
                         f"{len(features)}")
    centred = features - features.mean(0)
    return features.mean(0), centred.T @ centred / (len(features) - 1)


def _psd_sqrt(S: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(S)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(m1: torch.Tensor, S1: torch.Tensor, m2: torch.Tensor, S2: torch.Tensor
                     ) -> float:
    """``||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` for two Gaussians ``N(m1, S1)``,
    ``N(m2, S2)`` (symmetric positive semi-definite covariances), in float64."""
    m1 = float_tensor(m1, "m1", ndim=1, nonempty=True).double()
    m2 = float_tensor(m2, "m2", ndim=1, nonempty=True).double()
    p = len(m1)
    if len(m2) != p:
        raise ValueError(f"m1 and m2 must have the same length, got {p} and {len(m2)}")
    covs = []
    for name, S in (("S1", S1), ("S2", S2)):
        S = float_tensor(S, name, ndim=2).double()
        if S.shape != (p, p):
            raise ValueError(f"{name} must be {p} x {p} like the means, got {tuple(S.shape)}")
        if not torch.allclose(S, S.T, rtol=1e-6, atol=1e-10 * float(S.abs().max())):
            raise ValueError(f"{name} must be symmetric")
        S = (S + S.T) / 2
        if float(torch.linalg.eigvalsh(S)[0]) < -1e-8 * max(float(S.diagonal().max()), 1e-300):
            raise ValueError(f"{name} must be positive semi-definite")
        covs.append(S)
    S1, S2 = covs
    root = _psd_sqrt(S1)
    cross = torch.linalg.eigvalsh(root @ S2 @ root).clamp_min(0).sqrt().sum()
    return float((m1 - m2).square().sum() + torch.trace(S1) + torch.trace(S2) - 2 * cross)


def feature_classifier(x: torch.Tensor, y: torch.Tensor, *, hidden=(256, 128), epochs: int = 5,
                       batch_size: int = 100, lr: float = 1e-3, seed: int = 0) -> nn.Sequential:
    """An MNIST classifier ``784 -> hidden -> 10`` trained with Adam on ``(x, y)`` (flat images in
    [0, 1] and their labels, on the device) by :func:`kexue.classifier.train_mlp`, returned in eval
    mode. Its last hidden layer gives the :func:`features`."""
    return classifier.train_mlp(x, y, hidden=hidden, classes=10, epochs=epochs,
                                batch_size=batch_size, lr=lr, seed=seed,
                                description="feature classifier")


@torch.no_grad()
def features(model: nn.Sequential, x: torch.Tensor, *, batch_size: int = 2048) -> torch.Tensor:
    """The last hidden layer of ``model`` (everything but its final ``Linear``) for the rows of
    ``x``, in eval mode, ``batch_size`` rows at a time."""
    if not isinstance(model, nn.Sequential) or not isinstance(model[-1], nn.Linear):
        raise TypeError("model must be an nn.Sequential ending in an nn.Linear (a classifier from "
                        "feature_classifier)")
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    body, was_training = model[:-1], model.training
    model.eval()
    try:
        return torch.cat([body(part) for part in x.split(positive_int(batch_size, "batch_size"))])
    finally:
        model.train(was_training)


def feature_distance(model: nn.Sequential, x_a: torch.Tensor, x_b: torch.Tensor) -> float:
    """The Fréchet distance between the Gaussians fitted to the :func:`features` of two image
    sets: "FID" on the book's classifier."""
    return frechet_distance(*gaussian_moments(features(model, x_a)),
                            *gaussian_moments(features(model, x_b)))


def _recipe(dataset: str) -> dict:
    if dataset not in FEATURES:
        raise ValueError(f"dataset must be one of {sorted(FEATURES)}, got {dataset!r}")
    return FEATURES[dataset]


def features_id(dataset: str = "mnist") -> str:
    """A name for ``dataset``'s reference features: the data set and a hash of its recipe (and
    torch's version, which the trained weights depend on). Records store it beside their
    distances."""
    recipe = json.dumps({"dataset": dataset, **_recipe(dataset),
                         "torch": torch.__version__.split("+")[0]}, sort_keys=True)
    return f"{dataset}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def reference_network(dataset: str = "mnist", *, root: str | os.PathLike | None = None
                      ) -> nn.Sequential:
    """``dataset``'s reference feature classifier (:data:`FEATURES`), in eval mode on the CPU:
    loaded from the data cache (``root``, else ``$KEXUE_DATA``, else ``~/.cache/kexue``) under
    ``features/<features_id>.pt``, or trained there first (one CPU thread, a few seconds to a
    minute) and saved."""
    recipe = _recipe(dataset)
    path = data.cache_root(root) / "features" / f"{features_id(dataset)}.pt"
    model = classifier.mlp([784, *recipe["hidden"], 10])
    if path.exists():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()
        except Exception as err:   # a cache file we cannot read is rebuilt, not trusted
            print(f"kexue: retraining the reference features: cannot read {path} ({err})")
    images, labels = _LOADERS[dataset]("train")
    model = feature_classifier(data.as_float(images), labels, **recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    torch.save(model.state_dict(), partial)
    os.replace(partial, path)
    return model


def reference_distance(x_a: torch.Tensor, x_b: torch.Tensor, dataset: str = "mnist") -> float:
    """:func:`feature_distance` on ``dataset``'s :func:`reference_network`: the Fréchet distance
    every chapter reports, so the book's generative models can share one table."""
    model = reference_network(dataset)
    device = x_a.device if isinstance(x_a, torch.Tensor) else torch.device("cpu")
    return feature_distance(model.to(device), x_a, x_b)


def board(records) -> list[dict]:
    """The book's table of generative models: one row ``{"experiment", "model", "distance"}`` per
    sample set in each record (experiment records, as ``results/NAME.json`` holds them) whose
    metrics carry ``"frechet": {"features": features_id, "samples": {label: distance}}``, sorted
    by distance. Every row must have been measured on the same reference features; a record
    measured on others is an error naming it (rerun it)."""
    rows, seen = [], {}
    for record in records:
        entry = (record.get("metrics") or {}).get("frechet") if isinstance(record, dict) else None
        if not entry:
            continue
        seen.setdefault(entry["features"], []).append(record["experiment"])
        rows += [{"experiment": record["experiment"], "model": label, "distance": float(value)}
                 for label, value in entry["samples"].items()]
    if len(seen) > 1:
        raise ValueError("the records were measured on different reference features, so their "
                         "distances are not comparable: "
                         + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(seen.items()))
                         + ". Rerun the older ones (python -m kexue reproduce NAME).")
    return sorted(rows, key=lambda row: row["distance"])


def board_rows(rows: list[dict], chapters: dict) -> list[list]:
    """:func:`board`'s rows as table rows (model, chapter, distance to one decimal); ``chapters``
    maps experiment names to the chapter titles a page shows (others show their names)."""
    return [[row["model"], chapters.get(row["experiment"], row["experiment"]),
             f"{row['distance']:.1f}"] for row in rows]
