"""The table and figures of the NVAE chapter, drawn from the metrics and artifacts of the
experiment ``nvae-mnist`` (:mod:`kexue.vae.experiments.nvae`): the likelihood table beside the
paper's number, the training curves with the KL warm-up, and samples at several temperatures.

Serves chapters/part3-vae/nvae.ipynb (post 7574).
"""
from __future__ import annotations

import math

import torch

from ..nvae import NVAE

__all__ = ["nll_rows", "NLL_HEADER", "plot_training", "draw_samples", "plot_temperatures"]


def nll_rows(records: dict) -> list[list]:
    """Rows (model, profile, training, K x test images, NLL, test ELBO) of the NLL table, one
    pair (NVAE, plain MLP VAE) per record in ``records`` (label -> a record's metrics), then the
    NVAE paper's number."""
    rows = []
    for label, m in records.items():
        for name, r in (("our NVAE", m), ("plain MLP VAE", m["mlp_vae"])):
            secs = r["train_seconds"]
            took = f"{secs:.0f} s" if secs < 120 else f"{secs / 60:.1f} min"
            rows.append([name, label, f"{r['steps']} steps ({r['epochs']:.2f} epochs), {took}",
                         f"{m['k']} × {m['n_test']}",
                         f"{r['nll']:.1f} ± {r['nll_se']:.1f}", f"{-r['test_elbo']:.1f}"])
    rows.append(["NVAE (Vahdat & Kautz, 2020)", "paper", "about 21 h on two V100s",
                 "importance sampled", "78.01", "—"])
    return rows


NLL_HEADER = ["model", "run", "training", "K × test images", "NLL (nats)", "−ELBO (nats)"]


def plot_training(fig, rows: list[dict], kl_weights: list[float]) -> None:
    """Left: the training batches' negative ELBO and reconstruction term against the step; right:
    the KL term and the warm-up weight it trained with."""
    if not rows:
        raise ValueError("rows must hold the training history (at least one logged row)")
    step = [r["step"] for r in rows]
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(step, [-r["elbo"] for r in rows], label="−ELBO = recon + KL")
    ax.plot(step, [r["recon"] for r in rows], label="recon: −log p(x|z)")
    ax.set(xlabel="step", ylabel="nats per image", title="training batches")
    ax.legend()
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(step, [r["kl"] for r in rows], color="C2", label="KL (all groups)")
    ax.set(xlabel="step", ylabel="KL (nats per image)", title="KL term and its warm-up weight")
    twin = ax.twinx()
    twin.plot(range(1, len(kl_weights) + 1), kl_weights, color="C3", ls="--", label="KL weight β")
    twin.set(ylabel="β", ylim=(0, 1.05))
    ax.legend(handles=ax.get_lines() + twin.get_lines(), loc="center right")
    fig.tight_layout()


def draw_samples(fig, model: NVAE, temperature: float, *, n: int = 36, seed: int = 0) -> None:
    """``n`` samples (pixel probabilities) at ``temperature``; the same seed gives the same noise
    at every temperature, so frames differ by the temperature alone."""
    from ... import viz

    images = model.sample(n, temperature=temperature, generator=torch.Generator().manual_seed(seed))
    viz.image_grid(images[:, 0].cpu(), ncols=int(math.sqrt(n)) or 1, ax=fig.add_subplot(1, 1, 1),
                   title=f"samples at temperature {temperature:.2f}")


def plot_temperatures(fig, model: NVAE, temperatures=(0.0, 0.5, 0.8, 1.0), *, n: int = 12,
                      seed: int = 0) -> None:
    """One row of ``n`` samples per temperature, from the same noise."""
    from ... import viz

    for i, t in enumerate(temperatures):
        images = model.sample(n, temperature=t, generator=torch.Generator().manual_seed(seed))
        viz.image_grid(images[:, 0].cpu(), ncols=n, ax=fig.add_subplot(len(temperatures), 1, i + 1),
                       title=f"T = {t:g}")
    fig.tight_layout()
