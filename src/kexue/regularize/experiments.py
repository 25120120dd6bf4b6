"""The registered experiments of Part II's regularisation chapters: their drivers (data, configs,
seeds, metrics) and the helpers only they use.

* ``lipschitz-mnist``: ReLU MLPs on MNIST without a constraint, with weight decay, with spectral
  normalisation and with a gradient penalty, their Lipschitz constants bracketed and their accuracy
  under noise measured; a full run publishes the noise explorer's images and predictions.
  Serves chapters/part2-optimisation/lipschitz-constraints.ipynb (post 6051).
* ``vat-mnist-100``: semi-supervised MNIST with 100 labels, a labels-only baseline against virtual
  adversarial training; a full run publishes its first seed's training curves and the perturbation
  explorer's frames for the page.
  Serves chapters/part2-optimisation/noise-and-adversarial-training.ipynb (post 7466).
"""
from __future__ import annotations

import contextlib
import copy
import statistics
import time
from typing import Callable

import torch
from torch import nn

from .. import classifier, data, published, runtime, train
from ..checks import positive_int
from ..experiments import Headline, Reference, experiment, results_dir
from ..gradients import (
    SpectralNorm,
    converge_spectral_norms,
    difference_quotients,
    gradient_penalty,
    interpolate,
    jacobian_norms,
    layer_spectral_norms,
    linear_layers,
    lipschitz_upper_bound,
    random_projection,
)
from .lipschitz import certified_radius, mlp, noise_accuracy
from .semi_supervised import (
    accuracy,
    perturbation_frames,
    split_labelled,
    top_confusions,
    train_model,
)


# -- lipschitz-mnist: Lipschitz-constrained classifiers on MNIST --------------------------------
def _classifier_variants(config: dict) -> dict:
    """Name -> (model builder, extra loss term or None) for the chapter's classifiers."""
    widths = [784, *([config["hidden"]] * config["depth"]), 10]
    weight_decay, gp_weight = config["weight_decay"], config["gp_weight"]

    def l2(model, x, y, generator):  # the post's lambda ||W||_F^2, summed over the layers
        return weight_decay * sum((layer.weight ** 2).sum() for layer in linear_layers(model))

    def penalty(model, x, y, generator):  # one-sided, at random interpolates of training images
        between = interpolate(x, x[torch.randperm(len(x), generator=generator).to(x.device)],
                              generator)
        return gp_weight * gradient_penalty(random_projection(model, generator), between,
                                            one_sided=True, target=config["gp_target"])

    variants = {"plain": (lambda g: mlp(widths, generator=g), None),
                "weight decay": (lambda g: mlp(widths, generator=g), l2)}
    for K in config["sn_scales"]:
        variants[f"spectral norm, K={K:g}"] = (
            lambda g, K=K: mlp(widths, spectral_norm=True, scale=None if K == 1 else K,
                               generator=g), None)
    variants["gradient penalty"] = (lambda g: mlp(widths, generator=g), penalty)
    return variants


def classifier_loss(extra=None, generator: torch.Generator | None = None) -> Callable:
    """``loss_fn(model, x, y)`` for :mod:`kexue.train`: cross-entropy, plus
    ``extra(model, x, y, generator)`` where given (a penalty)."""

    def loss_fn(model, xb, yb):
        ce, metrics = classifier.classification_loss(model, xb, yb)
        loss = ce if extra is None else ce + extra(model, xb, yb, generator)
        return loss, {"ce": ce, **metrics}

    return loss_fn


def train_classifier(build, extra, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
                     batch_size: int, seed: int) -> tuple[nn.Sequential, train.History]:
    """Train ``build(generator)`` with Adam on :func:`classifier_loss` through ``kexue.train``."""
    generator = torch.Generator().manual_seed(seed)
    model = build(generator).to(x.device)
    history = train.Trainer(model, torch.optim.Adam(model.parameters(), lr=lr),
                            classifier_loss(extra, generator), (x, y), batch_size=batch_size,
                            seed=seed).fit(epochs=epochs)
    return model.eval(), history


def seconds_per_step(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor, *,
                     repeats: int = 30) -> float:
    """The fastest of ``repeats`` forward and backward passes of ``loss_fn`` on the batch
    ``(x, y)``, on a copy of ``model`` in training mode: the cost of a step's gradient, with
    interference from other processes filtered out by the minimum."""
    repeats = positive_int(repeats, "repeats")
    model = copy.deepcopy(model).train()
    times = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = loss_fn(model, x, y)
        (out[0] if isinstance(out, tuple) else out).backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, sigmas, n_jacobian: int,
            generator: torch.Generator) -> dict:
    """Everything the chapter reports about one trained classifier on test data ``(x, y)``."""
    with torch.no_grad():
        logits = model(x)
    upper = lipschitz_upper_bound(model)
    jac = torch.cat([jacobian_norms(model, x[i:i + 500]) for i in range(0, n_jacobian, 500)])
    half = len(x) // 2
    radius = certified_radius(logits, y, upper)
    return {
        "test_acc": int((logits.argmax(1) == y).sum()) / len(y),
        "upper_bound": upper,
        "layer_norms": layer_spectral_norms(model),
        "jacobian_max": float(jac.max()),
        "jacobian_median": float(jac.median()),
        "pair_max": float(difference_quotients(model, x[:half], x[half:2 * half]).max()),
        "noise_acc": noise_accuracy(model, x, y, sigmas, generator),
        "median_certified_radius": float(radius.median()),
    }


def _noisy_examples(models: dict, x: torch.Tensor, y: torch.Tensor, sigmas, seed: int) -> dict:
    """A few test images ``x``, one noise draw ``z`` (the explorer shows ``x + sigma z`` at every
    level), and every model's predicted labels on them (``predictions[name][level, image]``)."""
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        predictions = {name: torch.stack([m(x + s * z).argmax(1) for s in sigmas])
                       for name, m in models.items()}
    return {"x": x, "z": z, "labels": y, "predictions": predictions}


def _publish_lipschitz(artifacts: dict) -> dict:
    """The noise explorer's images, noise, labels and every model's predictions."""
    examples = artifacts["examples"]
    return {**{k: examples[k] for k in ("x", "z", "labels")},
            **{f"predictions.{name}": p for name, p in examples["predictions"].items()}}


def lipschitz_full_run() -> dict | None:
    """The committed full run as the page's noise explorer takes it: ``{"record", "metrics",
    "artifacts"}`` (the artifacts holding ``sigmas`` and ``examples``), or None."""
    found = published.load("lipschitz-mnist", results_dir())
    if found is None:
        return None
    record, t = found
    predictions = published.state_dict(t, "predictions")
    examples = {**{k: t[k] for k in ("x", "z", "labels")},
                "predictions": {name: predictions[name] for name in record["metrics"]["models"]}}
    return {"record": record, "metrics": record["metrics"],
            "artifacts": {"sigmas": record["metrics"]["sigmas"], "examples": examples}}


@experiment(
    "lipschitz-mnist",
    quick=dict(n_train=4000, n_test=2000, epochs=4, hidden=128, depth=2, batch_size=128, lr=1e-3,
               weight_decay=1e-3, sn_scales=[1, 4], gp_weight=1.0, gp_target=1.0,
               n_jacobian=500, sigmas=[round(0.1 * i, 1) for i in range(11)], seed=0),
    full=dict(n_train=60000, n_test=10000, epochs=5, hidden=256, depth=2, batch_size=128, lr=1e-3,
              weight_decay=1e-3, sn_scales=[1, 4], gp_weight=1.0, gp_target=1.0,
              n_jacobian=2000, sigmas=[round(0.1 * i, 1) for i in range(11)], seed=0),
    metric="sn_upper_bound",
    headline=Headline("Lipschitz bound of the spectrally normalised net", 0.01, "lower"),
    description="Train ReLU MLP classifiers on MNIST without a constraint, with weight decay, with "
                "spectral normalisation (Lipschitz budget K = 1 and 4) and with a one-sided "
                "gradient penalty; measure each one's Lipschitz constant from above (product of "
                "the layers' exact spectral norms) and below (largest Jacobian norm at test "
                "images, largest difference quotient between test images), its test accuracy, "
                "and its accuracy under Gaussian input noise.",
    post=6051,
    publish=_publish_lipschitz,
    reference=Reference(value="<= 1 by construction",
                        metric="Lipschitz bound of a spectrally normalised network",
                        where="post 6051, section 谱归一化 (spectral normalisation)"),
)
def run_lipschitz_mnist(config: dict):
    """The chapter's experiment. Returns metrics per model (under ``models``) with the headline
    ``sn_upper_bound`` (the K = 1 network's exact product bound), and the trained models, the
    noise levels and a few noisy test images with every model's predictions as artifacts.

    On the CPU it runs on one thread (see :func:`kexue.runtime.cpu_threads`). Denormal floats are
    flushed to zero while it runs (where the CPU supports it): weight decay drives the weights of
    MNIST's always-blank border pixels towards 0 until they are denormal, where x86 CPUs compute
    slowly: without the flush, the full run's weight-decay network trained several times slower
    than the plain one.
    """
    flushed = torch.set_flush_denormal(True)
    try:
        with runtime.cpu_threads(1, runtime.device()):
            return _run_lipschitz_mnist(config)
    finally:
        if flushed:
            torch.set_flush_denormal(False)  # PyTorch's default


def _run_lipschitz_mnist(config: dict):
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x, y, xt, yt = classifier.mnist_subset(config["n_train"], config["n_test"], config["seed"], dev)
    sigmas = config["sigmas"]
    models, results, histories = {}, {}, {}
    for name, (build, extra) in _classifier_variants(config).items():
        start = time.perf_counter()
        model, history = train_classifier(build, extra, x, y, epochs=config["epochs"],
                                          lr=config["lr"], batch_size=config["batch_size"],
                                          seed=config["seed"])
        seconds = time.perf_counter() - start
        results[name] = measure(model, xt, yt, sigmas=sigmas, n_jacobian=config["n_jacobian"],
                                generator=torch.Generator(dev).manual_seed(config["seed"] + 1))
        results[name]["train_time_s"] = round(seconds, 2)
        results[name]["ms_per_step"] = 1000 * seconds_per_step(
            model, classifier_loss(extra, torch.Generator().manual_seed(0)),
            x[:config["batch_size"]], y[:config["batch_size"]])
        if any(isinstance(mod, SpectralNorm) for mod in model.modules()):
            results[name]["converged"] = _after_convergence(model, xt, yt, config["n_jacobian"])
        models[name], histories[name] = model.cpu(), history.rows
    examples = _noisy_examples(models, xt[:8].cpu(), yt[:8].cpu(), sigmas, config["seed"])
    metrics = {"sn_upper_bound": results["spectral norm, K=1"]["upper_bound"]
               if "spectral norm, K=1" in results else None,
               "models": results, "sigmas": sigmas, "n_train": len(x), "n_test": len(xt)}
    artifacts = {"models": models, "histories": histories, "sigmas": sigmas,
                 "examples": examples}
    return metrics, artifacts


def _after_convergence(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_jacobian: int
                       ) -> dict:
    """For a spectrally normalised classifier: ``sigma_2 / sigma_1`` of each raw weight, and the
    bound, largest Jacobian norm and accuracy of a copy after 200 more power-iteration rounds."""
    ratios = []
    for layer in linear_layers(model):
        s = torch.linalg.svdvals(layer.parametrizations.weight.original.detach().double())
        ratios.append(float(s[1] / s[0]))
    model = converge_spectral_norms(copy.deepcopy(model), 200).eval()
    return {"raw_sigma_ratios": ratios, "upper_bound": lipschitz_upper_bound(model),
            "jacobian_max": float(jacobian_norms(model, x[:n_jacobian]).max()),
            "test_acc": classifier.evaluate(model, x, y)["acc"]}


# -- vat-mnist-100: semi-supervised MNIST with 100 labels ----------------------------------------
def run_seed(config: dict, seed: int) -> dict:
    """One seed: the labelled split, then the baseline and VAT models (the MLP of ``widths``, or
    the :func:`~kexue.regularize.semi_supervised.cnn` where the config names ``channels``);
    accuracies on the evaluation set (the test set, or a validation split carved from the training
    set when ``config["validation"] > 0``, for tuning)."""
    dev = runtime.device()
    images, labels = data.mnist("train")
    g = torch.Generator().manual_seed(seed)
    n_val = config["validation"]
    if n_val > 0:  # tune on held-out training images, never on the test set
        perm = torch.randperm(len(labels), generator=g)
        x_eval, y_eval = images[perm[:n_val]], labels[perm[:n_val]]
        images, labels = images[perm[n_val:]], labels[perm[n_val:]]
    else:
        x_eval, y_eval = data.mnist("test")
    labelled, unlabelled = split_labelled(labels, config["per_class"], g)
    if config["n_unlabelled"] < len(unlabelled):
        keep = torch.randperm(len(unlabelled), generator=g)[:config["n_unlabelled"]]
        unlabelled = unlabelled[keep]
    x_l, y_l = data.as_float(images[labelled], device=dev), labels[labelled].to(dev)
    x_u = data.as_float(images[unlabelled], device=dev)
    n_eval = config["n_eval"]
    x_eval, y_eval = data.as_float(x_eval[:n_eval], device=dev), y_eval[:n_eval].to(dev)
    common = dict(seed=seed, lr=config["lr"], decay_from=config["decay_from"],
                  widths=config["widths"], channels=config.get("channels", ()),
                  labelled_batch=config["labelled_batch"],
                  unlabelled_batch=config["unlabelled_batch"])
    t0 = time.perf_counter()
    base, base_hist = train_model(x_l, y_l, x_u, steps=config["baseline_steps"],
                                  description=f"baseline, seed {seed}", **common)
    t1 = time.perf_counter()
    vat, vat_hist = train_model(x_l, y_l, x_u, steps=config["steps"], alpha=config["alpha"],
                                beta=config["beta"], epsilon=config["epsilon"], xi=config["xi"],
                                iterations=config["iterations"], description=f"VAT, seed {seed}",
                                **common)
    t2 = time.perf_counter()
    return {"seed": seed, "n_unlabelled": len(x_u), "baseline": accuracy(base, x_eval, y_eval),
            "vat": accuracy(vat, x_eval, y_eval), "confusions": top_confusions(vat, x_eval, y_eval),
            "baseline_s": t1 - t0, "vat_s": t2 - t1,
            "vat_model": vat, "baseline_model": base, "vat_rows": vat_hist.rows,
            "baseline_rows": base_hist.rows,
            "x_eval": x_eval, "y_eval": y_eval}


#: the perturbation explorer: its first test images, its steps ``eps`` (L2, pixels in [0, 1]) and
#: its models, in the order of the frames' first axis
EXPLORER_IMAGES, EXPLORER_EPSILONS = 3, (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
EXPLORER_MODELS = ("VAT", "labels only")
#: the logged training curves a full run publishes: (rows, key) -> published name
_CURVES = {("baseline_rows", "step"): "baseline_step", ("baseline_rows", "ce"): "baseline_ce",
           ("baseline_rows", "acc"): "baseline_acc", ("vat_rows", "step"): "vat_step",
           ("vat_rows", "ce"): "vat_ce", ("vat_rows", "acc"): "vat_acc",
           ("vat_rows", "vat"): "vat_kl", ("vat_rows", "entropy"): "vat_entropy"}


def _publish_vat(artifacts: dict) -> dict:
    """The first seed's training curves and the explorer's frames (without the model names)."""
    curves = {name: torch.tensor([r[key] for r in artifacts[rows]])
              for (rows, key), name in _CURVES.items()
              if all(key in r for r in artifacts[rows])}  # no entropy without EntMin
    frames = {k: v for k, v in artifacts["explorer"].items() if k != "names"}
    return {**curves, **{f"explorer.{k}": v for k, v in frames.items()}}


def vat_full_run() -> dict | None:
    """The committed full run as the page draws it: ``{"record", "baseline_rows", "vat_rows",
    "explorer"}`` (rows as a run logs them, the frames of
    :func:`~kexue.regularize.semi_supervised.perturbation_frames`), or None."""
    found = published.load("vat-mnist-100", results_dir())
    if found is None:
        return None
    record, t = found
    shown = {"record": record, "baseline_rows": [], "vat_rows": []}
    for rows in ("baseline_rows", "vat_rows"):
        columns = {key: t[name].tolist() for (r, key), name in _CURVES.items()
                   if r == rows and name in t}
        shown[rows] = [dict(zip(columns, values)) for values in zip(*columns.values())]
        for row in shown[rows]:
            row["step"] = int(row["step"])
    shown["explorer"] = {"names": list(EXPLORER_MODELS),
                         **published.state_dict(t, "explorer")}
    return shown


#: vat-mnist-100's full profile; vat-mnist-100-cnn changes only the network and the step count
_VAT_FULL = dict(seeds=[0, 1, 2], per_class=10, validation=0, n_unlabelled=60000, n_eval=10000,
                 widths=[784, 512, 256, 10], steps=6000, baseline_steps=1000, labelled_batch=64,
                 unlabelled_batch=128, lr=2e-3, decay_from=0.5, alpha=1.0, beta=1.0, epsilon=1.0,
                 xi=1e-2, iterations=2, cpu_threads=1)
PAPER_ACCURACY = 98.64  # Miyato et al. 2018, VAT on MNIST with 100 labels: 1.36% test error


@experiment(
    "vat-mnist-100",
    quick=dict(seeds=[0], per_class=10, validation=0, n_unlabelled=5000, n_eval=2000,
               widths=[784, 256, 10], steps=300, baseline_steps=300, labelled_batch=50,
               unlabelled_batch=64, lr=2e-3, decay_from=0.5, alpha=1.0, beta=1.0, epsilon=1.0,
               xi=1e-2, iterations=2, cpu_threads=1),
    full=_VAT_FULL,
    metric="test_acc_vat",
    headline=Headline("test accuracy (%), median of seeds", 0.2, "higher"),
    description="Semi-supervised MNIST with 100 labels (10 per class, chosen by the seed), the "
                "rest of the training set unlabelled: an MLP with batch-norm trained on the labels "
                "only, "
                "against the same MLP trained with virtual adversarial training (two power "
                "iterations) plus entropy minimisation on the unlabelled images; test accuracy (%) "
                "per seed and the median. Hyper-parameters chosen on a validation split.",
    post=7466,
    publish=_publish_vat,
    reference=Reference(value=PAPER_ACCURACY, metric="test accuracy (%), VAT, MNIST, 100 labels",
                        where="Miyato et al. 2018 (arXiv:1704.03976), the VAT paper post 7466 "
                              "follows: 1.36% test error"),
)
def run_vat_mnist_100(config: dict):
    """Every seed in ``config["seeds"]``: its own labelled split, a baseline and a VAT model.
    Accuracies are in percent on the test set (or on the validation split when tuning). On the CPU
    the run uses ``cpu_threads`` threads (one by default: the matrices are small and a shared
    machine's cores are contended, where two threads are much slower than one)."""
    threads = (runtime.cpu_threads(config["cpu_threads"], runtime.device())
               if config["cpu_threads"] else contextlib.nullcontext())
    with threads:
        runs = [run_seed(config, seed) for seed in config["seeds"]]
    base = [100 * r["baseline"] for r in runs]
    vat = [100 * r["vat"] for r in runs]
    metrics = {
        "test_acc_vat": statistics.median(vat), "test_acc_baseline": statistics.median(base),
        "vat_acc_per_seed": vat, "baseline_acc_per_seed": base, "seeds": list(config["seeds"]),
        "evaluated_on": "validation" if config["validation"] > 0 else "test",
        "n_labelled": 10 * config["per_class"], "n_unlabelled": runs[0]["n_unlabelled"],
        "vat_top_confusions_per_seed": [r["confusions"] for r in runs],
        "seconds_per_seed": [round(r["baseline_s"] + r["vat_s"], 1) for r in runs],
    }
    first = runs[0]
    artifacts = {key: first[key] for key in ("vat_model", "baseline_model", "vat_rows",
                                              "baseline_rows", "x_eval", "y_eval")}
    shown = slice(0, EXPLORER_IMAGES)
    artifacts["explorer"] = perturbation_frames(
        dict(zip(EXPLORER_MODELS, (first["vat_model"], first["baseline_model"]))),
        first["x_eval"][shown], first["y_eval"][shown], EXPLORER_EPSILONS)
    return metrics, artifacts


experiment(
    "vat-mnist-100-cnn",
    quick=dict(_VAT_FULL, seeds=[0], n_unlabelled=2000, n_eval=1000, channels=[4, 8],
               widths=[392, 32, 10], steps=40, baseline_steps=40, unlabelled_batch=32),
    full=dict(_VAT_FULL, channels=[16, 32], widths=[1568, 128, 10], steps=2000),
    metric="test_acc_vat",
    headline=Headline("test accuracy (%), median of seeds", 0.2, "higher"),
    description="vat-mnist-100's VAT + EntMin (the same labelled splits, losses and "
                "hyper-parameters) with a small convolutional network in place of the MLP: two "
                "3x3 convolutions of 16 and 32 channels with batch-norm and 2x2 pooling, a hidden "
                "layer of 128, batch-norm on the logits; 2000 steps. Chosen on validation splits, "
                "where it ends the MLP's 4-9 confusions.",
    post=7466,
    reference=Reference(value=PAPER_ACCURACY, metric="test accuracy (%), VAT, MNIST, 100 labels",
                        where="Miyato et al. 2018 (arXiv:1704.03976), the VAT paper post 7466 "
                              "follows: 1.36% test error"),
)(run_vat_mnist_100)
