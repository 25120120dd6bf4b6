"""The experiment ``logit-adjustment-lt``: post 7615's logit adjustment on long-tailed MNIST and
Fashion-MNIST. Serves chapters/part7-classifiers/logit-adjustment.ipynb (post 7615).

The training set follows the CIFAR-10-LT protocol (Cao et al. 2019): ``n_max`` images of class 0
falling geometrically to ``n_max / ratio`` of class 9 (:func:`kexue.classifiers.long_tail
.long_tail_indices`), drawn from the training split by the seed; a balanced validation set comes
from the training images left over. The same MLP, from the same initial weights, is trained by
plain cross-entropy, by the logit-adjusted loss and by the reweighted loss; the cross-entropy
model is also corrected post hoc. Every classifier is scored by its **balanced accuracy** on the
whole test split: the mean of the per-class accuracies, which is what a test set with equal class
counts measures (Fashion-MNIST's test split has 1,000 images a class; MNIST's is nearly, not
exactly, balanced, 892 to 1,135 a class, so its plain accuracy is a slightly different number).
"""
from __future__ import annotations

import statistics
import time

import torch

from ... import classifier, data, runtime, train
from ...experiments import Headline, Reference, experiment
from ..logit_adjustment import (
    balanced_accuracy,
    class_prior,
    loss_function,
    per_class_accuracy,
    posthoc_logits,
)
from ..long_tail import balanced_indices, long_tail_counts, long_tail_indices

__all__ = ["DATASETS", "REPORTED", "run_logit_adjustment"]

#: the data sets the experiment knows: name -> (loader, class names)
DATASETS = {"mnist": (data.mnist, [str(d) for d in range(10)]),
            "fashion-mnist": (data.fashion_mnist, list(data.FASHION_CLASSES))}

#: the four classifiers compared; "post-hoc" is the cross-entropy model corrected at prediction
CLASSIFIERS = ("cross-entropy", "post-hoc", "logit-adjusted", "reweighted")

#: balanced test accuracies on CIFAR-10-LT (ratio 100, ResNet-32) of the reference
#: implementation (google-research/logit_adjustment, README "Results")
REPORTED = {"cross-entropy": 0.7136, "post-hoc": 0.7732, "logit-adjusted": 0.7789}


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "per_seed": values}


@torch.no_grad()
def _logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _train(config: dict, method: str, prior: torch.Tensor, tau: float, x, y, seed: int,
           description: str) -> tuple[torch.nn.Module, float]:
    """An MLP ``784 -> hidden -> 10`` from ``seed``'s weights, trained with Adam on ``method``'s
    loss through ``kexue.train`` (so that an interrupted reproduce resumes it); and the seconds."""
    model = classifier.mlp([x.shape[1], *config["hidden"], 10], seed=seed).to(x.device)
    start = time.perf_counter()
    train.fit_adam(model, loss_function(method, prior, tau), (x, y), lr=config["lr"],
                   batch_size=min(config["batch_size"], len(x)), epochs=config["epochs"],
                   seed=seed, description=description)
    return model.eval(), time.perf_counter() - start


def _scores(logits: torch.Tensor, y: torch.Tensor) -> dict:
    predictions = logits.argmax(1)
    return {"balanced_acc": balanced_accuracy(predictions, y, 10),
            "acc": float((predictions == y).double().mean()),
            "per_class_acc": per_class_accuracy(predictions, y, 10).tolist()}


def _one_seed(config: dict, name: str, splits: dict, seed: int, first: bool) -> dict:
    """Everything one seed of one data set gives: its training and validation sets, the three
    trained models and the post-hoc correction, the post-hoc tau sweep, and (``first``) the
    logit-adjusted loss trained at every ``loss_taus``."""
    dev = runtime.device()
    images, labels = splits["train"]
    train_idx = long_tail_indices(labels, config["ratio"], n_max=config["n_max"], seed=seed)
    valid_idx = balanced_indices(labels, config["n_valid_per_class"], seed=seed, exclude=train_idx)
    x, y = data.as_float(images[train_idx], device=dev), labels[train_idx].to(dev)
    sets = {"valid": (data.as_float(images[valid_idx], device=dev), labels[valid_idx]),
            "test": splits["test"]}
    prior, tau = class_prior(labels[train_idx], 10), config["tau"]
    models, seconds = {}, {}
    for method in ("cross-entropy", "logit-adjusted", "reweighted"):
        models[method], seconds[method] = _train(
            config, method, prior, tau, x, y, seed,
            f"{name}-LT, {method}{f' (tau {tau:g})' if method == 'logit-adjusted' else ''}, seed {seed}")
    logits = {part: {m: _logits(model, xs).cpu() for m, model in models.items()}
              for part, (xs, _) in sets.items()}
    for part in logits:
        logits[part]["post-hoc"] = posthoc_logits(logits[part]["cross-entropy"], prior, tau)
    out = {"seed": seed, "counts": torch.bincount(labels[train_idx], minlength=10).tolist(),
           "train_seconds": seconds,
           "scores": {part: {m: _scores(logits[part][m], ys) for m in CLASSIFIERS}
                      for part, (_, ys) in sets.items()}}
    sweep = {part: [_scores(posthoc_logits(logits[part]["cross-entropy"], prior, t), ys)
                    for t in config["tau_grid"]] for part, (_, ys) in sets.items()}
    out["posthoc_sweep"] = sweep
    if first:
        loss_sweep = []
        for t in config["loss_taus"]:
            if t == tau:
                model = models["logit-adjusted"]
            else:
                model, _ = _train(config, "logit-adjusted", prior, t, x, y, seed,
                                  f"{name}-LT, logit-adjusted (tau {t:g}), seed {seed}")
            loss_sweep.append({part: _scores(_logits(model, xs).cpu(), ys)
                               for part, (xs, ys) in sets.items()})
        out["loss_sweep"] = loss_sweep
    out["models"] = {m: model.cpu() for m, model in models.items()}
    return out


def _dataset(config: dict, name: str) -> tuple[dict, dict]:
    """The metrics of one data set over the seeds, and its first seed's models."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the known ones are {', '.join(DATASETS)}")
    loader, class_names = DATASETS[name]
    test_images, test_labels = loader("test")
    splits = {"train": loader("train"),
              "test": (data.as_float(test_images, device=runtime.device()), test_labels)}
    runs = [_one_seed(config, name, splits, seed, i == 0) for i, seed in enumerate(config["seeds"])]
    taus = list(config["tau_grid"])
    methods = {}
    for m in CLASSIFIERS:
        test = [r["scores"]["test"][m] for r in runs]
        per_class = [s["per_class_acc"] for s in test]
        methods[m] = {
            "balanced_acc": _spread([s["balanced_acc"] for s in test]),
            "acc": _spread([s["acc"] for s in test]),
            "valid_balanced_acc": _spread([r["scores"]["valid"][m]["balanced_acc"] for r in runs]),
            "per_class_acc": {"median": [statistics.median(c) for c in zip(*per_class)],
                              "per_seed": per_class}}
    best = [taus[max(range(len(taus)), key=lambda i: r["posthoc_sweep"]["valid"][i]["balanced_acc"])]
            for r in runs]
    posthoc = {
        "taus": taus,
        "valid_balanced_acc": {"per_seed": [[s["balanced_acc"] for s in r["posthoc_sweep"]["valid"]]
                                            for r in runs]},
        "test_balanced_acc": {"per_seed": [[s["balanced_acc"] for s in r["posthoc_sweep"]["test"]]
                                           for r in runs]},
        "test_acc": {"per_seed": [[s["acc"] for s in r["posthoc_sweep"]["test"]] for r in runs]},
        "best_tau_valid": _spread(best),
        "test_balanced_acc_at_best_tau": _spread(
            [r["posthoc_sweep"]["test"][taus.index(t)]["balanced_acc"] for r, t in zip(runs, best)]),
        "per_class_test_acc_first_seed": [s["per_class_acc"] for s in runs[0]["posthoc_sweep"]["test"]],
    }
    for key in ("valid_balanced_acc", "test_balanced_acc", "test_acc"):
        posthoc[key]["median"] = [statistics.median(v) for v in zip(*posthoc[key]["per_seed"])]
    first = runs[0]["loss_sweep"]
    loss_taus = {"seed": config["seeds"][0], "taus": list(config["loss_taus"]),
                 "test_balanced_acc": [s["test"]["balanced_acc"] for s in first],
                 "valid_balanced_acc": [s["valid"]["balanced_acc"] for s in first],
                 "test_acc": [s["test"]["acc"] for s in first],
                 "per_class_test_acc": [s["test"]["per_class_acc"] for s in first]}
    metrics = {
        "class_names": class_names,
        "class_counts": runs[0]["counts"],
        "n_train": sum(runs[0]["counts"]), "n_valid": 10 * config["n_valid_per_class"],
        "n_test": len(test_labels), "test_class_counts": torch.bincount(test_labels, minlength=10).tolist(),
        "seeds": list(config["seeds"]),
        "methods": methods,
        "posthoc_tau": posthoc,
        "loss_tau": loss_taus,
        "train_seconds": {m: [round(r["train_seconds"][m], 2) for r in runs]
                          for m in runs[0]["train_seconds"]},
    }
    return metrics, runs[0]["models"]


def run_logit_adjustment(config: dict):
    """For every data set in ``config["datasets"]`` and every seed: the long-tailed training set,
    the balanced validation set, the three trained classifiers and the post-hoc correction, scored
    on the validation set and the test split; the post-hoc ``tau`` swept over ``tau_grid`` and the
    logit-adjusted loss trained at every ``loss_taus`` (first seed only).

    Metrics (per data set under ``datasets[NAME]``): ``methods[CLASSIFIER]`` with
    ``balanced_acc``, ``acc`` (plain test accuracy) and ``valid_balanced_acc`` as ``{"median",
    "per_seed"}`` and ``per_class_acc`` (test; ``median`` over seeds class by class, and
    ``per_seed``); ``posthoc_tau`` (the sweep: balanced accuracies per tau and seed with their
    medians, the tau each seed's validation set picks and the test score there, and the first
    seed's per-class test accuracy at every tau, for the chapter's slider); ``loss_tau`` (first
    seed); the class counts. The flat keys ``DATASET_METHOD`` (e.g. ``fashion_mnist_post_hoc``)
    are the median balanced test accuracies. Artifacts: every data set's first-seed models."""
    counts = long_tail_counts(config["n_max"], 10, config["ratio"])
    if config["tau"] not in config["tau_grid"]:
        raise ValueError(f"tau_grid must hold tau={config['tau']} (the post-hoc method's), got "
                         f"{config['tau_grid']}")
    metrics: dict = {"profile_counts": counts, "datasets": {}}
    artifacts: dict = {"models": {}}
    with runtime.cpu_threads(1, runtime.device()):
        for name in config["datasets"]:
            metrics["datasets"][name], artifacts["models"][name] = _dataset(config, name)
    for name, m in metrics["datasets"].items():
        for method in CLASSIFIERS:
            key = f"{name}_{method}".replace("-", "_")
            metrics[key] = m["methods"][method]["balanced_acc"]["median"]
    return metrics, artifacts


_COMMON = dict(datasets=["mnist", "fashion-mnist"], ratio=100, tau=1.0, lr=1e-3)

experiment(
    "logit-adjustment-lt", post=7615, metric="fashion_mnist_logit_adjusted",
    headline=Headline("balanced test accuracy, Fashion-MNIST-LT (ratio 100), logit-adjusted loss "
                      "(median of seeds)", 0.005, None),
    quick=dict(_COMMON, seeds=[0], n_max=300, n_valid_per_class=20, hidden=[64], epochs=8,
               batch_size=64, tau_grid=[0.0, 0.5, 1.0, 1.5, 2.0], loss_taus=[0.5, 1.0]),
    full=dict(_COMMON, seeds=[0, 1, 2, 3, 4], n_max=5000, n_valid_per_class=200, hidden=[512, 256],
              epochs=20, batch_size=128, tau_grid=[0.25 * i for i in range(13)],
              loss_taus=[0.5, 1.0, 1.5, 2.0]),
    description="Post 7615's logit adjustment on long-tailed MNIST and Fashion-MNIST (the "
                "CIFAR-10-LT protocol, ratio 100; in the full profile 5,000 images of the first "
                "class falling geometrically to 50 of the last): an MLP trained by plain cross-entropy, corrected "
                "post hoc (logits - tau log p(y)), trained on the logit-adjusted loss "
                "(softmax of logits + tau log p(y)) and on the loss reweighted by 1/p(y); balanced "
                "accuracy (mean per-class accuracy) on the whole test split, median of seeds; the "
                "post-hoc tau swept and picked on a balanced validation set.",
    reference=Reference(
        value=REPORTED["logit-adjusted"],
        metric="balanced test accuracy, CIFAR-10-LT (ratio 100), logit-adjusted loss (ERM 0.7136, "
               "post-hoc 0.7732, adjusted loss 0.7789): what the method did on harder data, not a "
               "like-for-like target",
        where="Menon et al. 2020 (arXiv:2007.07314), the paper post 7615 follows: its reference "
              "implementation's README (google-research/logit_adjustment, 'Results')"),
)(run_logit_adjustment)
