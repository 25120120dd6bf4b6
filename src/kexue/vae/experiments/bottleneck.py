"""The experiment ``vib-fashion`` of the variational information bottleneck: Fashion-MNIST
classifiers with and without the bottleneck (:mod:`kexue.vae.bottleneck`), their accuracy clean
and under input noise, and the KL that bounds ``I(x; z)``. A full run publishes what the page
draws (the first seed's KL per dimension, training curves and noisy-image predictions), so that the
page shows the full run.

Serves chapters/part3-vae/information-bottleneck.ipynb (post 6181).
"""
from __future__ import annotations

import statistics

import torch

from ... import data, published, runtime
from ...checks import non_negative
from ...experiments import Headline, Reference, experiment, results_dir
from ..bottleneck import kl_per_dimension, noisy_accuracy, train_classifier

__all__ = ["run_vib_fashion", "full_run"]

#: how many evaluation images the page's noise explorer shows, and a run keeps predictions for
EXPLORER_IMAGES = 8


def _predictions(models, x: torch.Tensor, noise: torch.Tensor, sigmas) -> torch.Tensor:
    """``[model, sigma, image]``: each model's predicted class of ``x + sigma * noise``."""
    with torch.no_grad():
        return torch.stack([torch.stack([m.eval()(x + s * noise).argmax(1) for s in sigmas])
                            for m in models])


def _publish(artifacts: dict) -> dict:
    """The first seed's KL per dimension (``beta > 0``), training curves (the cross-entropy, and
    the KL, 0 where ``beta = 0``, per logged step) and the explorer's images, noise, classes and
    predictions."""
    rows = artifacts["rows"]
    return {"kl": torch.stack([k for k in artifacts["kl"] if k is not None]),
            "epoch": torch.tensor([r["epoch"] for r in rows[0]]),
            "ce": torch.tensor([[r["ce"] for r in run] for run in rows]),
            "kl_curve": torch.tensor([[r.get("kl", 0.0) for r in run] for run in rows]),
            **{k: artifacts[k] for k in ("x_eval", "y_eval", "noise", "predictions")}}


def full_run() -> dict | None:
    """The committed full run in the form the page's figures take (as a run's artifacts, without
    the models), or None where no full record publishes one."""
    found = published.load("vib-fashion", results_dir())
    if found is None:
        return None
    record, t = found
    m = record["metrics"]
    positive = iter(t["kl"])
    epochs = t["epoch"].tolist()
    rows = [[{"epoch": e, "ce": c, "kl": k} for e, c, k in zip(epochs, ce, kl)]
            for ce, kl in zip(t["ce"].tolist(), t["kl_curve"].tolist())]
    return {"record": record, "betas": m["betas"], "sigmas": m["sigmas"], "acc": m["acc"],
            "kl": [None if b == 0 else next(positive) for b in m["betas"]], "rows": rows,
            **{k: t[k] for k in ("x_eval", "y_eval", "noise", "predictions")}}


def _fashion(n_train: int, n_eval: int, validation: int, seed: int, device):
    """A seeded random ``n_train`` of Fashion-MNIST's training images and ``n_eval`` evaluation
    images: the test set's first or, with ``validation > 0``, held-out training images that are
    not among the ``n_train`` (for tuning, never the test set)."""
    images, labels = data.fashion_mnist("train")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    if validation > 0:
        held, perm = perm[:validation], perm[validation:]
        x_eval, y_eval = images[held][:n_eval], labels[held][:n_eval]
    else:
        x_eval, y_eval = (t[:n_eval] for t in data.fashion_mnist("test"))
    if n_train > len(perm):
        raise ValueError(f"only {len(perm)} training images are left for n_train={n_train}")
    pick = perm[:n_train]
    return (data.as_float(images[pick], device=device), labels[pick].to(device),
            data.as_float(x_eval, device=device), y_eval.to(device))


@experiment(
    "vib-fashion",
    quick=dict(seeds=[0], n_train=5000, n_eval=10000, validation=0, widths=[784, 256],
               latent_dim=64, betas=[0.0, 1e-3, 1e-2, 1e-1], sigmas=[0.0, 0.2, 0.4, 0.6, 0.8],
               epochs=5, batch_size=100, lr=1e-3, headline_beta=1e-1, cpu_threads=1),
    full=dict(seeds=[0, 1, 2], n_train=60000, n_eval=10000, validation=0, widths=[784, 512, 512],
              latent_dim=128, betas=[0.0, 1e-3, 1e-2, 1e-1], sigmas=[0.0, 0.2, 0.4, 0.6, 0.8],
              epochs=20, batch_size=100, lr=1e-3, headline_beta=1e-1, cpu_threads=1),
    metric="test_acc_vib",
    headline=Headline("test accuracy (%) with the bottleneck", 0.3, "higher"),
    description="Fashion-MNIST MLP classifiers with a variational information bottleneck (KL "
                "weight beta > 0) and without (beta = 0, the same network with a deterministic "
                "code): clean test accuracy (%) and accuracy under Gaussian input noise of "
                "several sigma, mean over seeds; the KL (nats) that bounds I(x; z) per beta. The "
                "headline is the clean accuracy at headline_beta = 0.1, the weight of the post's "
                "own code.",
    post=6181,
    publish=_publish,
    reference=Reference(value="89%+ with VIB, 88%+ without",
                        metric="validation accuracy on IMDB (a text CNN; not Fashion-MNIST)",
                        where="post 6181, section 结果观察与实现 (results and "
                              "implementation)"),
)
def run_vib_fashion(config: dict):
    """For every seed, one classifier per ``beta`` (``beta = 0``: no bottleneck) on its own random
    ``n_train`` training images; accuracies (%) on the evaluation images, clean and with noise of
    each ``sigma`` (one noise draw per seed, shared by all models). Artifacts: the first seed's
    models, training histories and KL per latent dimension, and its first
    :data:`EXPLORER_IMAGES` evaluation images, their noise and every model's predictions."""
    dev = runtime.device()
    betas = [non_negative(b, "beta") for b in config["betas"]]
    if config["headline_beta"] not in betas or config["headline_beta"] == 0:
        raise ValueError("headline_beta must be one of the positive betas")
    per_seed, first = [], {"models": [], "rows": [], "kl": []}
    with runtime.cpu_threads(config["cpu_threads"], dev):
        for n, seed in enumerate(config["seeds"]):
            x, y, x_eval, y_eval = _fashion(config["n_train"], config["n_eval"],
                                            config["validation"], seed, dev)
            noise = torch.randn(x_eval.shape, generator=torch.Generator().manual_seed(1000 + seed)
                                ).to(x_eval)
            rows = []
            for beta in betas:
                model, history = train_classifier(
                    x, y, beta, widths=config["widths"], latent_dim=config["latent_dim"],
                    epochs=config["epochs"], batch_size=config["batch_size"], lr=config["lr"],
                    seed=seed)
                acc = noisy_accuracy(model, x_eval, y_eval, config["sigmas"], noise=noise)
                kl = kl_per_dimension(model, x_eval) if beta > 0 else None
                rows.append({"acc": [100 * a for a in acc], "kl": kl})
                if n == 0:
                    first["models"].append(model.cpu())
                    first["rows"].append(history.rows)
                    first["kl"].append(kl)
            per_seed.append(rows)
            if n == 0:
                shown = slice(0, EXPLORER_IMAGES)
                first.update(x_eval=x_eval[shown].cpu(), y_eval=y_eval[shown].cpu(),
                             noise=noise[shown].cpu(),
                             predictions=_predictions(first["models"], x_eval[shown].cpu(),
                                                      noise[shown].cpu(), config["sigmas"]))
    n_seeds = len(per_seed)
    acc = [[statistics.fmean(per_seed[s][i]["acc"][j] for s in range(n_seeds))
            for j in range(len(config["sigmas"]))] for i in range(len(betas))]
    rate = [None if b == 0 else statistics.fmean(float(per_seed[s][i]["kl"].sum())
                                                 for s in range(n_seeds))
            for i, b in enumerate(betas)]
    active = [None if b == 0 else statistics.fmean(int((per_seed[s][i]["kl"] > 0.01).sum())
                                                   for s in range(n_seeds))
              for i, b in enumerate(betas)]
    head = betas.index(config["headline_beta"])
    metrics = {
        "test_acc_vib": acc[head][0], "test_acc_plain": acc[betas.index(0.0)][0]
        if 0.0 in betas else None,
        "betas": betas, "sigmas": list(config["sigmas"]), "seeds": list(config["seeds"]),
        "acc": acc, "acc_per_seed": [[r["acc"] for r in rows] for rows in per_seed],
        "kl_nats": rate, "active_dims": active,
        "evaluated_on": "validation" if config["validation"] > 0 else "test",
    }
    artifacts = {"betas": betas, "sigmas": list(config["sigmas"]), "acc": acc,
                 "models": first["models"], "rows": first["rows"], "kl": first["kl"],
                 **{k: first[k] for k in ("x_eval", "y_eval", "noise", "predictions")}}
    return metrics, artifacts
