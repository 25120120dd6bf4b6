"""Figures of gradient accumulation (:mod:`kexue.optim.accumulation`): the training curves and the
table of an ``accumulation-mnist`` record.

Serves chapters/part2-optimisation/writing-an-optimiser.ipynb (post 6794).
"""
from __future__ import annotations


def plot_runs(histories: dict, fig) -> None:
    """Training loss and accuracy (means over each logged window) against epochs, one line per run."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    styles = {"small batch": dict(color="C3"), "accumulated": dict(color="C0", lw=3, alpha=0.5),
              "large batch": dict(color="k", ls="--")}
    for name, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax1.plot(epochs, [r["loss"] for r in rows], label=name, **styles.get(name, {}))
        ax2.plot(epochs, [r["acc"] for r in rows], label=name, **styles.get(name, {}))
    ax1.set(xlabel="epoch", ylabel="training loss (window mean)", yscale="log",
            title="cross-entropy while training")
    ax2.set(xlabel="epoch", ylabel="training accuracy (window mean)", title="accuracy while training")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()


def comparison_rows(metrics: dict) -> tuple[list[str], list[list]]:
    """``(header, rows)`` for a table of an ``accumulation-mnist`` record: one row per run."""
    header = ["run", "batch", "k", "optimiser steps", "train loss", "train acc", "test acc", "seconds"]
    rows = [[name, r["batch"], r["k"], r["optimizer_steps"], f"{r['train_loss']:.4f}",
             f"{r['train_acc']:.2%}", f"{r['test_acc']:.2%}", f"{r['seconds']:.1f}"]
            for name, r in metrics["runs"].items()]
    return header, rows
