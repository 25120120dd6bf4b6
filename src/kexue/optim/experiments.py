"""Part II's experiments: every driver registered with :mod:`kexue.experiments` for the optimisation
chapters, with the helpers that run it (data, configurations, seeds, metrics) and read its record.
The optimisers, layers and rules they run live in the idea modules (:mod:`kexue.optim.accumulation`,
:mod:`kexue.optim.heun`, ...); the figures and tables in :mod:`kexue.optim.figures`.

Serves chapters/part2-optimisation/writing-an-optimiser.ipynb (posts 5879, 6794),
chapters/part2-optimisation/adaptive-learning-rates.ipynb (post 6234),
chapters/part2-optimisation/layerwise-learning-rates.ipynb (post 6418) and
chapters/part2-optimisation/layers-and-callbacks.ipynb (post 5765).
"""
from __future__ import annotations

import contextlib
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import classifier, runtime, train
from ..checks import float_tensor, positive, positive_int
from ..experiments import Headline, Reference, committed_record, experiment
from .accumulation import Accumulate, max_difference
from .adaptive import OPTIMISERS, steps_to, surface, sweep
from .heun import Heun
from .layers import Swish, record_schedule, warmup_cosine
from .layerwise import effective_parameters, mlp, param_groups, reparametrise


# -- writing-an-optimiser.ipynb: gradient accumulation on MNIST (post 6794, section 实验) --------
def compare_batch_sizes(train_data, test_data, *, k: int, micro_batch: int, epochs: int, lr: float,
                        hidden: int, seed: int) -> tuple[dict, dict]:
    """Post 6794's check: Adam on micro-batches of ``micro_batch``; the same wrapped in
    ``Accumulate(., k)``; Adam on batches of ``k * micro_batch``. Same start, same data order,
    same number of epochs. The network is the post's ReLU MLP ``784 -> hidden -> hidden -> 10``
    without its dropout, whose masks would differ between micro-batches and the big batch.
    Returns ``(metrics, artifacts)`` with per-run train/test loss and accuracy, wall time and
    training history (four windows an epoch), and the largest parameter difference between the
    last two runs."""
    runs = {"small batch": (micro_batch, 1), "accumulated": (micro_batch, k),
            "large batch": (micro_batch * k, 1)}
    metrics, models, histories = {}, {}, {}
    for name, (batch, accumulate) in runs.items():
        model = classifier.mlp((784, hidden, hidden, 10), seed=seed).to(train_data[0].device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        if accumulate > 1:
            optimizer = Accumulate(optimizer, accumulate)
        steps_per_epoch = len(train_data[0]) // batch
        start = time.perf_counter()
        history = train.fit(model, optimizer, classifier.classification_loss, train_data,
                            batch_size=batch, epochs=epochs, seed=seed,
                            log_every=max(1, steps_per_epoch // 4),
                            description=f"{name} (batch {batch}, k={accumulate})")
        seconds = time.perf_counter() - start
        train_eval = classifier.evaluate(model, *train_data)
        test_eval = classifier.evaluate(model, *test_data)
        metrics[name] = {"batch": batch, "k": accumulate, "optimizer_steps": epochs * len(
            train_data[0]) // (batch * accumulate), "train_loss": train_eval["loss"],
            "train_acc": train_eval["acc"], "test_loss": test_eval["loss"],
            "test_acc": test_eval["acc"], "seconds": seconds, "history": history.rows}
        models[name], histories[name] = model, history.rows
    gap = max_difference(models["accumulated"], models["large batch"])
    summary = {"runs": metrics, "max_param_diff_accumulated_vs_large": gap,
               "test_acc_accumulated": metrics["accumulated"]["test_acc"]}
    return summary, {"histories": histories}


def accumulation_full_run() -> dict | None:
    """The committed full record of ``accumulation-mnist`` with the training histories that
    :func:`kexue.optim.figures.accumulation.plot_runs` draws: ``{"record", "histories"}``, or
    None without one."""
    record = committed_record("accumulation-mnist")
    runs = record and record["metrics"]["runs"]
    if not runs or "history" not in next(iter(runs.values())):
        return None
    return {"record": record, "histories": {name: r["history"] for name, r in runs.items()}}


@experiment(
    "accumulation-mnist",
    quick=dict(n_train=600, n_test=2000, k=10, micro_batch=1, epochs=2, lr=1e-3, hidden=64, seed=0),
    full=dict(n_train=60000, n_test=10000, k=100, micro_batch=1, epochs=3, lr=1e-3, hidden=512,
              seed=0),
    metric="test_acc_accumulated",
    headline=Headline("test accuracy, batch 1 accumulated over k steps", 0.002, "higher"),
    description="Post 6794's check of gradient accumulation on MNIST: an MLP trained by Adam on "
                "batches of 1, by Adam wrapped in Accumulate(k) on batches of 1, and by Adam on "
                "batches of k; same start and data order.",
    post=6794,
    reference=Reference(value="batch 1: loss ~0.4, val acc < 97%; accumulated k=100: loss ~0.02, "
                              "val acc 98%+, like batch 100",
                        metric="training loss and validation accuracy",
                        where="post 6794, section 实验 (experiments)"),
)
def run_accumulation_mnist(config: dict):
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x, y, xt, yt = classifier.mnist_subset(config["n_train"], config["n_test"], config["seed"], dev)
    if config["n_train"] % (config["k"] * config["micro_batch"]):
        raise ValueError("n_train must be a multiple of k * micro_batch, so that the accumulated "
                         "and the large-batch runs see the same batches")
    return compare_batch_sizes((x, y), (xt, yt), k=config["k"], micro_batch=config["micro_batch"],
                               epochs=config["epochs"], lr=config["lr"], hidden=config["hidden"],
                               seed=config["seed"])


# -- writing-an-optimiser.ipynb: Heun against SGD on MNIST at equal gradient evaluations -------
class Evaluate(train.Callback):
    """Every ``every`` optimiser steps (and at the start), the loss and accuracy on the whole
    training set and on the test set, with the number of gradient evaluations spent so far
    (``evals_per_step`` per step)."""

    def __init__(self, train_data, test_data, every: int, evals_per_step: int):
        self.train_data, self.test_data = train_data, test_data
        self.every, self.evals_per_step = positive_int(every, "every"), evals_per_step
        self.rows: list[dict] = []

    def _record(self, trainer) -> None:
        tr = classifier.evaluate(trainer.model, *self.train_data)
        te = classifier.evaluate(trainer.model, *self.test_data)
        self.rows.append({"step": trainer.step, "evals": trainer.step * self.evals_per_step,
                          "train_loss": tr["loss"], "train_acc": tr["acc"],
                          "test_loss": te["loss"], "test_acc": te["acc"]})

    def on_train_begin(self, trainer):
        if trainer.step == 0 and not self.rows:
            self._record(trainer)

    def on_step_end(self, trainer, logs):
        if trainer.step % self.every == 0:
            self._record(trainer)

    def state_dict(self):
        return {"rows": list(self.rows)}

    def load_state_dict(self, state):
        self.rows = list(state["rows"])


def compare_with_sgd(train_data, test_data, *, lrs, evaluations: int, batch: int, hidden: int,
                     eval_every: int, seed: int) -> tuple[dict, dict]:
    """For each step size: SGD for ``evaluations`` steps and Heun for ``evaluations / 2`` steps
    (each costs ``evaluations`` gradients), same start, same batch order; the loss on the whole
    training set, test accuracy and wall time. Heun's two gradients in a step use the same batch.
    Returns ``(metrics, artifacts)``: a row per run, each method's best run with its curve, and
    every run's curve."""
    evaluations = positive_int(evaluations, "evaluations")
    if evaluations % 2 or eval_every % 2 or evaluations % eval_every:
        raise ValueError("evaluations and eval_every must be even, and evaluations a multiple "
                         "of eval_every")
    runs, curves = [], {}
    for lr in lrs:
        lr = positive(lr, "lr")
        for method in ("sgd", "heun"):
            model = classifier.mlp((784, hidden, hidden, 10), seed=seed).to(train_data[0].device)
            per_step = 1 if method == "sgd" else 2
            probe = Evaluate(train_data, test_data, eval_every // per_step, per_step)
            if method == "sgd":
                trainer = train.Trainer(model, torch.optim.SGD(model.parameters(), lr=lr),
                                        classifier.classification_loss, train_data, batch_size=batch,
                                        seed=seed, callbacks=[probe], description=f"SGD lr={lr}")
            else:
                trainer = train.Trainer(model, Heun(model.parameters(), lr=lr),
                                        classifier.classification_loss, train_data, batch_size=batch,
                                        seed=seed, callbacks=[probe], description=f"Heun lr={lr}")
            start = time.perf_counter()
            trainer.fit(steps=evaluations // per_step)
            seconds = time.perf_counter() - start
            end = probe.rows[-1]
            diverged = not np.isfinite(end["train_loss"])
            runs.append({"method": method, "lr": lr, "steps": trainer.step,
                         "evaluations": trainer.step * per_step, "seconds": round(seconds, 3),
                         "train_loss": end["train_loss"] if not diverged else "diverged",
                         "test_acc": end["test_acc"], "diverged": diverged})
            curves[(method, lr)] = probe.rows
    best = {m: min((r for r in runs if r["method"] == m and not r["diverged"]),
                   key=lambda r: r["train_loss"]) for m in ("sgd", "heun")}
    metrics = {"runs": runs, **{f"best_{m}": {
        **{k: best[m][k] for k in ("lr", "train_loss", "test_acc")},
        "curve": curves[(m, best[m]["lr"])]} for m in ("sgd", "heun")},
               "test_acc_gap": best["heun"]["test_acc"] - best["sgd"]["test_acc"]}
    return metrics, {"curves": curves}


def heun_full_run() -> dict | None:
    """The committed full record of ``heun-vs-sgd-mnist`` as
    :func:`kexue.optim.figures.heun.plot_mnist_runs` takes it: ``{"record", "metrics",
    "curves"}`` with the curves of each method's best run, or None without one."""
    record = committed_record("heun-vs-sgd-mnist")
    if record is None or "curve" not in record["metrics"]["best_sgd"]:
        return None
    m = record["metrics"]
    return {"record": record, "metrics": m,
            "curves": {(k, m[f"best_{k}"]["lr"]): m[f"best_{k}"]["curve"] for k in ("sgd", "heun")}}


@experiment(
    "heun-vs-sgd-mnist",
    quick=dict(n_train=2000, n_test=2000, hidden=32, batch=32, evaluations=300, eval_every=60,
               lrs=[0.2, 0.4, 0.8, 1.6], seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=256, batch=100, evaluations=6000, eval_every=300,
              lrs=[0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6], seed=0),
    metric="test_acc_gap",
    headline=Headline("test accuracy, best Heun minus best SGD", 0.002, "higher"),
    description="An MLP on MNIST trained by SGD and by the Heun optimiser at several step sizes, "
                "with the same number of gradient evaluations (a Heun step costs two); the gap "
                "is the best Heun run's test accuracy minus the best SGD run's (best by training "
                "loss).",
    post=5879,
    reference=Reference(value="works poorly (no numbers given)", metric="Heun/RK optimisers in training",
                        where="post 5879, note after the Heun optimiser (侵入式优化器)"),
)
def run_heun_vs_sgd(config: dict):
    runtime.seed_everything(config["seed"])
    x, y, xt, yt = classifier.mnist_subset(config["n_train"], config["n_test"], config["seed"],
                                           runtime.device())
    return compare_with_sgd((x, y), (xt, yt), lrs=config["lrs"], evaluations=config["evaluations"],
                            batch=config["batch"], hidden=config["hidden"],
                            eval_every=config["eval_every"], seed=config["seed"])


def train_losses(metrics: dict) -> dict:
    """``{(method, lr): final training loss}`` from a record's runs, ``inf`` for a diverged run."""
    return {(r["method"], r["lr"]): float("inf") if r["diverged"] else r["train_loss"]
            for r in metrics["runs"]}


# -- adaptive-learning-rates.ipynb: every optimiser over a grid of learning rates on each surface ---
def compare_on_surfaces(names, steps, lrs, threshold: float,
                        optimisers=tuple(OPTIMISERS)) -> tuple[dict, dict]:
    """Run every optimiser at every learning rate in ``lrs`` on each surface in ``names`` (for
    ``steps[i]`` steps on the ``i``-th), and pick each optimiser's best rate on the grid: the one
    whose loss gets below ``threshold`` and stays there soonest (ties, and when none gets there:
    the lowest final loss). Returns ``(metrics, artifacts)``."""
    names, steps = list(names), list(steps)
    if len(names) != len(steps) or not names:
        raise ValueError(f"give one step count per surface, got {len(names)} surfaces and "
                         f"{len(steps)} step counts")
    lrs = float_tensor(torch.as_tensor(lrs, dtype=torch.float64), "lrs", ndim=1, nonempty=True)
    metrics, runs = {}, {}
    for name, n in zip(names, steps):
        s = surface(name)
        metrics[name], runs[name] = {}, {}
        for opt in optimisers:
            result = sweep(s, opt, lrs, n)
            reached = steps_to(result["losses"], threshold)
            final = result["losses"][-1]
            key = [((k if k is not None else math.inf), float(f)) for k, f in zip(reached, final)]
            best = min(range(len(lrs)), key=key.__getitem__)
            metrics[name][opt] = {
                "best_lr": float(lrs[best]), "steps_to_threshold": reached[best],
                "final_loss": float(final[best]),
                "n_reaching": sum(k is not None for k in reached),
                "n_diverged": int(torch.isinf(final).sum()), "n_lrs": len(lrs)}
            runs[name][opt] = {"lr": float(lrs[best]), "path": result["paths"][:, best],
                               "losses": result["losses"][:, best], "final_losses": final,
                               "steps_to_threshold": reached}
    artifacts = {"surfaces": {name: surface(name) for name in names}, "runs": runs,
                 "lrs": lrs, "threshold": threshold}
    return metrics, artifacts


@experiment(
    "adaptive-optimisers-2d",
    quick=dict(surfaces=["quadratic", "quadratic-rotated", "rosenbrock"], steps=[1000, 1000, 2000],
               lr_min=1e-4, lr_max=1.0, lrs_per_decade=4, threshold=1e-4),
    full=dict(surfaces=["quadratic", "quadratic-rotated", "rosenbrock"], steps=[3000, 3000, 10000],
              lr_min=1e-5, lr_max=3.0, lrs_per_decade=8, threshold=1e-4),
    metric="adam_rosenbrock_steps",
    headline=Headline("Adam's steps to the Rosenbrock minimum", 1, "lower"),
    description="SGD, heavy-ball momentum (0.9), RMSprop (alpha 0.99; per coordinate and with "
                "one rate from the gradient norm) and Adam (0.9, 0.999) on an ill-conditioned "
                "quadratic (kappa 20), the same turned by 45 degrees, and Rosenbrock's valley, "
                "each over a log grid of learning rates (float64): steps until the loss stays "
                "below the threshold at the best rate, the final loss, and how many rates of the "
                "grid reach the threshold or diverge.",
    post=6234,
)
def run_adaptive_optimisers_2d(config: dict):
    """The chapter's comparison on the 2-D surfaces."""
    decades = math.log10(config["lr_max"] / config["lr_min"])
    lrs = torch.logspace(math.log10(config["lr_min"]), math.log10(config["lr_max"]),
                         round(decades * config["lrs_per_decade"]) + 1, dtype=torch.float64)
    metrics, artifacts = compare_on_surfaces(config["surfaces"], config["steps"], lrs,
                                             config["threshold"])
    rosenbrock = metrics.get("rosenbrock", {}).get("Adam", {})
    metrics["adam_rosenbrock_steps"] = rosenbrock.get("steps_to_threshold")
    return metrics, artifacts


# -- layerwise-learning-rates.ipynb: the MNIST experiment --------------------------------------
class WeightMovement(train.Callback):
    """Every ``every`` steps (and before the first), the relative distance
    ``||W_t - W_0||_F / ||W_0||_F`` of each named layer's weight (``theta``, whatever trains it)."""

    def __init__(self, layers, every: int):
        self.layers, self.every = list(layers), positive_int(every, "every")
        self.rows: list[dict] = []

    def on_train_begin(self, trainer):
        if not self.rows:
            self.start = {name: trainer.model.get_submodule(name).weight.detach().clone()
                          for name in self.layers}
            self.record(trainer.model, 0)

    def record(self, model, step):
        with torch.no_grad():
            moved = {name: float((model.get_submodule(name).weight - w0).norm() / w0.norm())
                     for name, w0 in self.start.items()}
        self.rows.append({"step": step, **moved})

    def on_step_end(self, trainer, logs):
        if trainer.step % self.every == 0:
            self.record(trainer.model, trainer.step)


def train_with_multiplier(X, y, *, layer: str, multiplier: float, method: str, lr: float,
                          momentum: float, steps: int, batch_size: int, hidden: int, seed: int,
                          every: int):
    """Train :func:`kexue.optim.layerwise.mlp` on ``(X, y)`` by SGD (rate ``lr``, ``momentum``)
    with ``layer`` at rate ``lr * multiplier``, set by ``method`` ``"reparametrise"`` or
    ``"groups"``; return the model, the training history and the :class:`WeightMovement` of every
    linear layer."""
    if method not in ("reparametrise", "groups"):
        raise ValueError(f"method must be 'reparametrise' or 'groups', got {method!r}")
    model = mlp((X.shape[1], hidden, hidden, int(y.max()) + 1),
                generator=torch.Generator().manual_seed(seed)).to(X.device, X.dtype)
    if method == "reparametrise":
        reparametrise(model, {layer: multiplier}, torch.optim.SGD)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    else:
        optimizer = torch.optim.SGD(param_groups(model, {layer: multiplier}, lr), lr=lr,
                                    momentum=momentum)
    probe = WeightMovement([n for n, m in model.named_children() if isinstance(m, nn.Linear)],
                           every)
    history = train.Trainer(model, optimizer, classifier.classification_loss, (X, y),
                            batch_size=batch_size, seed=seed, callbacks=[probe], log_every=every,
                            description=f"{layer} x{multiplier:g} ({method})").fit(steps=steps)
    return model, history, probe


@experiment(
    "layerwise-lr-mnist",
    quick=dict(n_train=2000, n_test=2000, hidden=100, layer="hidden1", multipliers=[0.1, 1.0, 10.0],
               lr=0.05, momentum=0.9, steps=200, batch_size=100, every=10, seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=100, layer="hidden1",
              multipliers=[0.1, 1.0, 10.0], lr=0.05, momentum=0.9, steps=6000, batch_size=100,
              every=100, seed=0),
    metric="movement_ratio",
    headline=Headline("distance moved, fast layer / others (ratio)", 0.01, None),
    description="An MLP 784-100-100-10 on MNIST trained by SGD with momentum, its first layer at "
                "0.1x, 1x and 10x the base learning rate, each set twice: by the reparametrisation "
                "theta = lam phi (lam = sqrt(multiplier)) and by an optimiser parameter group. "
                "Measures how far each layer's weight moves, the losses and the gap between the "
                "two ways.",
    post=6418,
)
def run_layerwise_lr(config: dict):
    """Headline: ``movement_ratio``, how much further the chosen layer's weight moves at the
    largest multiplier than at 1x (relative distance from its start, at the end of training)."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device(float64=True)
    X, y, Xt, yt = classifier.mnist_subset(config["n_train"], config["n_test"], config["seed"], dev)
    X, Xt = X.double(), Xt.double()
    layer, runs, metrics = config["layer"], {}, {"runs": []}
    settings = {k: config[k] for k in ("lr", "momentum", "steps", "batch_size", "hidden", "seed",
                                       "every")}
    for m in config["multipliers"]:
        out = {method: train_with_multiplier(X, y, layer=layer, multiplier=m, method=method,
                                             **settings)
               for method in ("reparametrise", "groups")}
        (model, history, probe), (model_g, _, _) = out["reparametrise"], out["groups"]
        theta, theta_g = effective_parameters(model), effective_parameters(model_g)
        gap = max(float((theta[n] - theta_g[n]).abs().max() / theta_g[n].abs().max())
                  for n in theta_g)
        runs[m] = {"history": history.rows, "movement": probe.rows}
        metrics["runs"].append({
            "multiplier": m, "final_train_loss": history.last("loss"),
            "test_acc": classifier.evaluate(model, Xt, yt)["acc"],
            "movement": {n: probe.rows[-1][n] for n in probe.layers},
            "max_gap_reparametrise_vs_groups": gap, "curves": runs[m]})
    by_m = {r["multiplier"]: r for r in metrics["runs"]}
    base, top = by_m.get(1.0), by_m[max(by_m)]
    if base is None:
        raise ValueError("multipliers must include 1.0, the baseline")
    metrics["movement_ratio"] = top["movement"][layer] / base["movement"][layer]
    first = {m: runs[m]["movement"][1][layer] for m in (1.0, max(by_m))}  # after `every` steps
    metrics["early_movement_ratio"] = first[max(by_m)] / first[1.0]
    return metrics, {"runs": runs, "layer": layer, "layers": probe.layers}


def layerwise_full_run() -> dict | None:
    """The committed full record of ``layerwise-lr-mnist`` as the artifacts that
    :func:`kexue.optim.figures.layerwise.plot_layerwise_runs` draws (its training curves and
    movements, every ``every`` steps, kept in the record's metrics), plus ``"record"``; None
    without one."""
    record = committed_record("layerwise-lr-mnist")
    if record is None or "curves" not in record["metrics"]["runs"][0]:
        return None
    runs = {r["multiplier"]: r["curves"] for r in record["metrics"]["runs"]}
    return {"record": record, "runs": runs, "layer": record["config"]["layer"],
            "layers": list(record["metrics"]["runs"][0]["movement"])}


# -- layers-and-callbacks.ipynb: the chapter's MNIST run ---------------------------------------
def _mnist_splits(config: dict, device: torch.device) -> dict:
    """A seeded random ``n_train + n_val`` of the MNIST training images, cut into a training and
    a validation set, and the first ``n_test`` test images."""
    n_train, n_val = config["n_train"], config["n_val"]
    x, y, x_test, y_test = classifier.mnist_subset(n_train + n_val, config["n_test"],
                                                   config["seed"], device)
    return {"train": (x[:n_train], y[:n_train]), "val": (x[n_train:], y[n_train:]),
            "test": (x_test, y_test)}


def build_run(config: dict, *, checkpoint=None, best_path=None, device=None) -> dict:
    """The MNIST run of the chapter, ready to ``trainer.fit(steps=config["steps"])``: a Swish MLP,
    SGD with momentum, a warmup + cosine schedule, and the callbacks

    ``[LearningRateMonitor, StepScheduler, EMA, Evaluate, EarlyStopping(, SaveBest)]``;

    ``Evaluate`` computes validation loss and accuracy and test accuracy, with the trained weights
    and with the EMA's, every ``eval_every`` steps; early stopping follows the validation loss.
    Returns the trainer and its parts by name.
    """
    device = device or runtime.device()
    splits = _mnist_splits(config, device)
    model = classifier.mlp((784, config["hidden"], config["hidden"], 10), activation=Swish,
                           seed=config["seed"]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    schedule = warmup_cosine(optimizer, warmup=config["warmup"], total=config["steps"],
                             floor=config["lr_floor"])
    ema = train.EMA(model, config["ema_decay"])

    def scores(model) -> dict:
        out = {}
        for prefix, weights in (("", contextlib.nullcontext()), ("ema_", ema.averaged())):
            with weights:
                for split in ("val", "test"):
                    scored = classifier.evaluate(model, *splits[split])
                    out[f"{prefix}{split}_loss"] = scored["loss"]
                    out[f"{prefix}{split}_acc"] = scored["acc"]
        return out

    evaluate = train.Evaluate(scores, every=config["eval_every"])
    mode = "min" if config["monitor"].endswith("loss") else "max"
    stopper = train.EarlyStopping(evaluate, config["monitor"], mode=mode, patience=config["patience"])
    callbacks = [train.LearningRateMonitor(), train.StepScheduler(schedule), ema, evaluate, stopper]
    if best_path is not None:
        callbacks.append(train.SaveBest(evaluate, config["monitor"], mode=mode, path=best_path))
    trainer = train.Trainer(model, optimizer, classifier.classification_loss, splits["train"],
                            batch_size=config["batch_size"], seed=config["seed"],
                            callbacks=callbacks, checkpoint=checkpoint,
                            log_every=config["eval_every"], description="Swish MLP on MNIST")
    return {"trainer": trainer, "model": model, "ema": ema, "evaluate": evaluate,
            "stopper": stopper, "lr": callbacks[0], "splits": splits}


@experiment(
    "mnist-callbacks",
    quick=dict(n_train=3000, n_val=1000, n_test=2000, hidden=128, batch_size=64, steps=900,
               warmup=60, lr=0.1, lr_floor=0.0, ema_decay=0.98, eval_every=30, monitor="val_acc", patience=6,
               seed=0),
    full=dict(n_train=55000, n_val=5000, n_test=10000, hidden=512, batch_size=128, steps=12000,
              warmup=500, lr=0.1, lr_floor=0.0, ema_decay=0.999, eval_every=430, monitor="val_acc", patience=6,
              seed=0),
    metric="test_acc_ema",
    headline=Headline("test accuracy with EMA weights", 0.001, "higher"),
    description="A Swish MLP (trainable beta, hand-written backward) trained on MNIST by SGD with "
                "momentum through kexue.train, with a warmup + cosine learning rate, an EMA of the "
                "weights, early stopping on the validation accuracy (restoring the best weights) and a "
                "best-model checkpoint; test accuracy of the trained, averaged and restored weights.",
    post=5765,
)
def run_mnist_callbacks(config: dict):
    """Train; report test accuracy with the last trained weights, their EMA, and the best weights
    restored by early stopping (which the best-model checkpoint must hold too)."""
    runtime.seed_everything(config["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(config, best_path=Path(tmp) / "best.pt")
        trainer, model = run["trainer"], run["model"]
        trainer.fit(steps=config["steps"])
        best_file = torch.load(Path(tmp) / "best.pt", map_location="cpu", weights_only=False)
    x_test, y_test = run["splits"]["test"]
    evaluate, stopper = run["evaluate"], run["stopper"]
    last = evaluate.rows[-1]
    # early stopping put the best weights back
    restored_acc = classifier.evaluate(model, x_test, y_test)["acc"]
    same = all(torch.equal(v.cpu(), best_file["model"][k]) for k, v in model.state_dict().items())
    metrics = {
        "test_acc_last": last["test_acc"], "test_acc_ema": last["ema_test_acc"],
        "test_acc_best": restored_acc,
        "monitor_best": stopper.best, "best_step": stopper.best_step,
        "stopped_step": stopper.stopped_step, "steps_run": trainer.step,
        "best_checkpoint_matches": same,
        "beta": [float(m.beta.detach()) for m in model if isinstance(m, Swish)],
        "evaluations": evaluate.rows,  # the curves the page replays early stopping on
    }
    artifacts = {"rows": evaluate.rows, "lr_steps": run["lr"].steps, "lr": run["lr"].lr,
                 "model": model.cpu(), "config": dict(config), "best_step": stopper.best_step,
                 "stopped_step": stopper.stopped_step, "x_test": x_test[:500].cpu()}
    return metrics, artifacts


def callbacks_full_run() -> dict | None:
    """The committed full record of ``mnist-callbacks`` in the form of the run's artifacts that
    :func:`kexue.optim.figures.layers.plot_run`, :func:`ema_advantage` and the patience explorer
    take (its evaluations, the learning rate of every step it ran, recomputed from the config by
    the same scheduler), plus ``"record"``; None without one."""
    record = committed_record("mnist-callbacks")
    if record is None or "evaluations" not in record["metrics"]:
        return None
    c, m = record["config"], record["metrics"]
    lr = record_schedule(lambda opt: warmup_cosine(opt, warmup=c["warmup"], total=c["steps"],
                                                   floor=c["lr_floor"]), m["steps_run"], c["lr"])
    return {"record": record, "rows": m["evaluations"], "lr_steps": list(range(1, len(lr) + 1)),
            "lr": lr, "config": c, "best_step": m["best_step"], "stopped_step": m["stopped_step"]}


def resume_check(config: dict, interrupt_at: int, directory) -> dict:
    """Run ``config`` once straight through, and once interrupted after step ``interrupt_at``
    and resumed from the trainer's checkpoint in a fresh process-like setting (new model, new
    callbacks, another RNG state); return the largest differences between the two ends."""
    positive_int(interrupt_at, "interrupt_at")
    if interrupt_at >= config["steps"]:
        raise ValueError(f"interrupt_at must be before the last step {config['steps']}")
    dev = torch.device("cpu")
    straight = build_run(config, device=dev)
    straight["trainer"].progress = False
    straight["trainer"].fit(steps=config["steps"])
    path = Path(directory) / "mnist-callbacks.pt"
    path.unlink(missing_ok=True)
    first = build_run(config, checkpoint=path, device=dev)
    first["trainer"].callbacks.append(train.InterruptAt(interrupt_at))  # last, after the others
    first["trainer"].progress = False
    with contextlib.suppress(KeyboardInterrupt):
        first["trainer"].fit(steps=config["steps"])
    checkpoint_step = torch.load(path, weights_only=False)["step"]
    torch.manual_seed(12345)  # another RNG state and other weights: the checkpoint must restore both
    resumed = build_run(config, checkpoint=path, device=dev)
    with torch.no_grad():
        for p in resumed["model"].parameters():
            p.normal_()
    resumed["trainer"].progress = False
    resumed["trainer"].fit(steps=config["steps"])

    def max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        return max(float((x - y).abs().max()) for x, y in zip(a, b))

    return {
        "checkpoint_step": checkpoint_step,
        "weights": max_diff(list(straight["model"].state_dict().values()),
                            list(resumed["model"].state_dict().values())),
        "ema": max_diff(straight["ema"].average, resumed["ema"].average),
        "evaluations_equal": straight["evaluate"].rows == resumed["evaluate"].rows,
        "lr_equal": straight["lr"].lrs == resumed["lr"].lrs,
        "stopped_step": (straight["stopper"].stopped_step, resumed["stopper"].stopped_step),
        "steps": (straight["trainer"].step, resumed["trainer"].step),
    }


def ema_advantage(artifacts: dict, start_weight: float = 0.01) -> list[dict]:
    """The mean of (EMA - trained weights) in validation accuracy and loss over three phases of a
    recorded run: while the average still gives its starting point ``theta_0`` a weight
    ``decay^t > start_weight``; then while the learning rate is above half its peak; then below."""
    start_weight = positive(start_weight, "start_weight")
    decay, peak = artifacts["config"]["ema_decay"], max(artifacts["lr"])
    lr_at = dict(zip(artifacts["lr_steps"], artifacts["lr"]))
    phases = {f"start (weight of theta_0 above {start_weight:g})": [],
              "learning rate above half its peak": [], "learning rate below half its peak": []}
    names = list(phases)
    for row in artifacts["rows"]:
        phase = (0 if decay ** row["step"] > start_weight else
                 1 if lr_at[row["step"]] > peak / 2 else 2)
        phases[names[phase]].append(row)
    out = []
    for name, rows in phases.items():
        if rows:
            out.append({"phase": name, "evaluations": len(rows),
                        "steps": (rows[0]["step"], rows[-1]["step"]),
                        "acc": sum(r["ema_val_acc"] - r["val_acc"] for r in rows) / len(rows),
                        "loss": sum(r["ema_val_loss"] - r["val_loss"] for r in rows) / len(rows)})
    return out
