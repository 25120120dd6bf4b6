"""Figures of the layers-and-callbacks chapter (:mod:`kexue.optim.layers`): the ``mnist-callbacks``
run (learning rate, validation curves with and without the EMA, where early stopping stopped), the
Swish activations against their lower bound, and a slider over early stopping's patience.

Serves chapters/part2-optimisation/layers-and-callbacks.ipynb (post 5765).
"""
from __future__ import annotations

import torch
from torch import nn

from ...checks import positive_int
from ...widgets import Slider, SliderFigure
from ..layers import ActivationRecorder, Swish, replay_early_stopping, swish_minimum


def _mark_stops(ax, best_step, stopped_step) -> None:
    if best_step is not None:
        ax.axvline(best_step, color="C2", ls="--", lw=1, label=f"best (step {best_step})")
    if stopped_step is not None:
        ax.axvline(stopped_step, color="C3", ls=":", lw=1.5, label=f"stopped (step {stopped_step})")


def plot_run(artifacts: dict, fig) -> None:
    """Three panels of the MNIST run: the learning rate each step used; the validation loss and
    accuracy with the trained weights and with their EMA; where early stopping found its best and
    where it stopped."""
    rows, config = artifacts["rows"], artifacts["config"]
    steps = [r["step"] for r in rows]
    ax1, ax2, ax3 = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    ax1.plot(artifacts["lr_steps"], artifacts["lr"], color="C0", label="recorded")
    ax1.set(xlabel="step", ylabel="learning rate",
            title=f"learning rate: warmup {config['warmup']} steps, then cosine")
    for ax, key, title in ((ax2, "val_loss", "validation loss"), (ax3, "val_acc", "validation accuracy")):
        ax.plot(steps, [r[key] for r in rows], color="C0", label="trained weights")
        ax.plot(steps, [r["ema_" + key] for r in rows], color="C1",
                label=f"EMA, decay {config['ema_decay']}")
        ax.set(xlabel="step", ylabel=key.replace("_", " "), title=title)
    ax2.set_ylim(min(min(r["val_loss"], r["ema_val_loss"]) for r in rows) * 0.9,
                 2.5 * min(r["val_loss"] for r in rows))
    ax3.set_ylim(max(r["val_acc"] for r in rows) - 0.08, max(r["val_acc"] for r in rows) + 0.01)
    for ax in (ax1, ax2, ax3):
        _mark_stops(ax, artifacts["best_step"], artifacts["stopped_step"])
        ax.set_xlim(0, config["steps"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()


def plot_activations(model: nn.Module, x: torch.Tensor, fig) -> dict:
    """Histograms of what each :class:`Swish` of ``model`` outputs on ``x`` (read with an
    :class:`ActivationRecorder`), with the lowest value Swish can take, ``-W(1/e)/beta``.
    Returns each layer's smallest recorded output and that bound."""
    names = [n for n, m in model.named_modules() if isinstance(m, Swish)]
    if not names:
        raise ValueError("the model has no Swish layers")
    betas = {n: float(m.beta.detach()) for n, m in model.named_modules() if n in names}
    with ActivationRecorder(model, names) as rec, torch.no_grad():
        model(x)
    out = {}
    for i, name in enumerate(names):
        a = rec.activations[name].flatten()
        bound = swish_minimum(betas[name])[1]
        ax = fig.add_subplot(1, len(names), i + 1)
        ax.hist(a.numpy(), bins=80, color="C0", log=True)
        ax.axvline(bound, color="C3", ls="--", label=f"$-W(1/e)/\\beta$ = {bound:.3f}")
        ax.set(xlabel="output", ylabel="count", title=f"Swish layer '{name}', $\\beta$ = {betas[name]:.2f}")
        ax.legend(fontsize=8)
        out[name] = {"min": float(a.min()), "bound": bound}
    fig.tight_layout()
    return out


def explore_patience(artifacts: dict, patiences=range(1, 13)):
    """A slider over the patience: where early stopping on the validation loss (left) or accuracy
    (right) of the recorded run would have stopped, which evaluation it would have restored, and
    that evaluation's test accuracy."""
    rows = artifacts["rows"]
    steps = [r["step"] for r in rows]
    patiences = [positive_int(p, "patience") for p in patiences]
    replays = {(key, p): replay_early_stopping([r[key] for r in rows], patience=p,
                                               mode="min" if key == "val_loss" else "max")
               for key in ("val_loss", "val_acc") for p in patiences}

    values = {key: [r[key] for r in rows] for key in ("val_loss", "val_acc")}
    ylims = {"val_loss": (0.9 * min(values["val_loss"]), 2.5 * min(values["val_loss"])),
             "val_acc": (max(values["val_acc"]) - 0.08, max(values["val_acc"]) + 0.01)}

    def draw(fig, patience):
        patience = int(round(patience))
        for i, key in enumerate(("val_loss", "val_acc")):
            ax = fig.add_subplot(1, 2, i + 1)
            ax.plot(steps, values[key], color="C0", marker=".", ms=3)
            replay = replays[key, patience]
            best, stop = steps[replay["best"]], None if replay["stop"] is None else steps[replay["stop"]]
            _mark_stops(ax, best, stop)
            ended = "" if stop is not None else ", no stop before the run's end"
            ax.set(xlabel="step", ylabel=key.replace("_", " "), ylim=ylims[key],
                   title=f"follow {key.replace('_', ' ')}: best's test acc "
                         f"{rows[replay['best']]['test_acc']:.4f}{ended}")
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower left" if key == "val_loss" else "lower right")
        fig.tight_layout()

    return SliderFigure(draw, [Slider("patience", values=patiences, value=6,
                                      description="patience (evaluations)")],
                        figsize=(9, 3.2))
