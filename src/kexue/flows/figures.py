"""The figures and tables of the NICE chapter, drawn from the experiment ``nice-mnist``
(:mod:`kexue.flows.experiments`) and its published page model: the loss by epoch against the
post's, the table set beside the run without noise (``nice-mnist-noise-free``), the learned
scale as an image, samples across temperatures, an interpolation between two test digits, and the explorer whose page view runs the flow's inverse in JavaScript.

Serves chapters/part4-flows/nice.ipynb (post 5776) and chapters/part4-flows/iresnet.ipynb
(post 6482): the fixed-point convergence, the trade-off in c and the precomputed frames.
"""
from __future__ import annotations

import torch

from .. import published
from ..checks import positive_int
from ..generative.flow import interpolate
from .nice import AdditiveCoupling, DiagonalScale, FlowSequence, Reverse

__all__ = ["record_rows", "noise_rows", "plot_loss", "plot_scale", "plot_temperatures",
           "plot_interpolation", "inverse_program", "explorer", "plot_fixed_point", "plot_c_tradeoff",
           "draw_temperature_frame", "draw_path_frame"]


def _reached(model_metrics: dict):
    """The first epoch whose training loss was at or below the post's, or "not reached"."""
    return model_metrics["epoch_reaching_post"] or "not reached"


def record_rows(metrics: dict) -> list[list]:
    """Rows of (what, the post's model, the page model) from a ``nice-mnist`` record's metrics."""
    if not isinstance(metrics, dict) or "model" not in metrics or "page_model" not in metrics:
        raise ValueError("metrics must be those of a nice-mnist record (with 'model' and "
                         "'page_model')")
    a, b = metrics["model"], metrics["page_model"]

    def both(fmt, get):
        return [fmt.format(get(a)), fmt.format(get(b))]

    return [
        ["weights", *both("{:,}", lambda m: m["parameters"])],
        ["training loss, last epoch (post's convention, nats)",
         *both("{:.0f}", lambda m: m["final_train_post_loss"])],
        ["first epoch at or below the post's -2200", *both("{}", _reached)],
        ["test loss, same noise (post's convention, nats)",
         *both("{:.0f}", lambda m: m["test_post_loss"])],
        ["test bits per dimension (8-bit images, upper bound)",
         *both("{:.3f}", lambda m: m["test_bits_per_dim"])],
        *[[f"Fréchet distance of samples at T = {t}",
           *both("{:.1f}", lambda m, t=t: m["frechet_by_temperature"][t])]
          for t in a["frechet_by_temperature"]],
        ["training time (s)", *both("{:.0f}", lambda m: m["train_seconds"])],
    ]


def noise_rows(with_noise: dict, without_noise: dict) -> list[list]:
    """Rows of (what, with the post's noise, without it) for the post's model, from the metrics of
    the ``nice-mnist`` and ``nice-mnist-noise-free`` records."""
    for metrics, name in ((with_noise, "nice-mnist"), (without_noise, "nice-mnist-noise-free")):
        if not isinstance(metrics, dict) or "model" not in metrics:
            raise ValueError(f"metrics must be those of a {name} record (with 'model')")
    a, b = with_noise["model"], without_noise["model"]
    return [
        ["noise on the training images", "U[−0.01, 0]", "none"],
        ["training loss, last epoch (post's convention, nats)",
         f"{a['final_train_post_loss']:.0f}", f"{b['final_train_post_loss']:.0f}"],
        ["first epoch at or below the post's -2200", _reached(a), _reached(b)],
        ["test loss, images as in training (post's convention, nats)",
         f"{a['test_post_loss']:.0f}", f"{b['test_post_loss']:.0f}"],
        ["test bits per dimension (8-bit images, upper bound)",
         f"{a['test_bits_per_dim']:.2f}", f"{b['test_bits_per_dim']:.2f}"],
        ["Fréchet distance of samples at T = 0.75",
         f"{a['frechet_by_temperature']['0.75']:.1f}",
         f"{b['frechet_by_temperature']['0.75']:.1f}"],
    ]


def plot_loss(ax, runs: dict, *, target: float | None = None, title: str | None = None):
    """The training loss per epoch (post's convention) of each named run, and the post's value."""
    for name, losses in runs.items():
        ax.plot(range(1, len(losses) + 1), losses, marker="o", ms=3, label=name)
    if target is not None:
        ax.axhline(target, color="C3", ls="--", lw=1, label=f"the post's {target:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean ½‖z‖² − log|det| (nats)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def _scale(flow: FlowSequence) -> DiagonalScale:
    if not isinstance(flow, FlowSequence) or not isinstance(flow.flows[-1], DiagonalScale):
        raise TypeError("flow must be a NICE (a FlowSequence ending in a DiagonalScale)")
    return flow.flows[-1]


def plot_scale(fig, flow: FlowSequence, *, title: str | None = None):
    """The learned prior standard deviation exp(-s_i) of each of the 784 output dimensions, as a
    28 x 28 image (the output's positions are a reordering of the pixels', not the pixels)."""
    s = _scale(flow).log_scale.detach().cpu()
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow((-s).exp().reshape(28, 28).numpy(), cmap="viridis", norm="log")
    fig.colorbar(image, ax=ax, label="exp(−s), the prior's standard deviation")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


@torch.no_grad()
def plot_temperatures(fig, flow: FlowSequence, *, temperatures=(0.0, 0.25, 0.5, 0.75, 1.0),
                      n: int = 10, seed: int = 0, title: str | None = None):
    """One row per temperature T of g(T ε) for the same ``n`` draws ε: T = 0 is the mode of the
    prior mapped back, T = 1 the model's own samples."""
    from ..viz import image_rows

    eps = torch.randn(positive_int(n, "n"), flow.dim, generator=torch.Generator().manual_seed(seed))
    flow.eval()
    rows = [flow.inverse(float(t) * eps) for t in temperatures]
    return image_rows(rows, [f"T = {t:g}" for t in temperatures], ax=fig.add_subplot(1, 1, 1),
                      title=title)


def plot_interpolation(fig, flow: FlowSequence, pairs, *, steps: int = 10,
                       title: str | None = None):
    """One row per pair (x_a, x_b) of test images: the straight line between their codes mapped
    back (:func:`kexue.generative.flow.interpolate`), ends included."""
    from ..viz import image_rows

    rows = [interpolate(flow, a, b, steps) for a, b in pairs]
    return image_rows(rows, [""] * len(rows), ax=fig.add_subplot(1, 1, 1), title=title)


def inverse_program(flow: FlowSequence) -> dict:
    """A NICE's inverse as the steps the flow explorer's page runs
    (:data:`kexue.widgets.flow_explorer.FORMAT`): the flows' inverses in reverse order, each
    coupling's net exported with float16 weights."""
    from ..widgets.flow_explorer import FORMAT
    from ..widgets.page_networks import _f16, export_network

    if not isinstance(flow, FlowSequence):
        raise TypeError(f"flow must be a FlowSequence of NICE's layers, got {type(flow).__name__}")
    steps = []
    for f in reversed(flow.flows):
        if isinstance(f, DiagonalScale):
            steps.append({"type": "scale", "log_scale": _f16(f.log_scale)})
        elif isinstance(f, Reverse):
            steps.append({"type": "reverse"})
        elif isinstance(f, AdditiveCoupling):
            # the inverse undoes the forward: a forward that adds m subtracts it, and vice versa
            steps.append({"type": "coupling", "partition": f.partition, "moved": f.moved,
                          "op": "subtract" if f.sign > 0 else "add",
                          "net": export_network(f.net, "coupling net")})
        else:
            raise TypeError(f"the page cannot run a {type(f).__name__}; NICE's layers only")
    return {"format": FORMAT, "dim": flow.dim, "steps": steps}


@torch.no_grad()
def explorer(flow: FlowSequence, images: torch.Tensor, pairs, *, title: str | None = None):
    """The flow explorer on ``flow``: samples at a temperature, and walks between the codes of
    ``images[a]`` and ``images[b]`` for each (a, b) in ``pairs``."""
    from ..widgets import flow_explorer

    flow = flow.eval()
    codes = flow(images)[0]

    def inverse(z):
        return flow.inverse(z.to(codes.dtype)).reshape(len(z), -1)

    return flow_explorer(inverse, inverse_program(flow),
                         pairs=[(codes[a], codes[b]) for a, b in pairs],
                         names=[f"test images {a} and {b}" for a, b in pairs], title=title)


def plot_fixed_point(ax, steps_by_c: dict, *, title: str | None = None):
    """||x_(n+1) - x_n|| against n for each c (log scale), with the rate c^n through the first
    step: the fixed-point inverse converges at least that fast."""
    import numpy as np

    for k, (c, steps) in enumerate(steps_by_c.items()):
        n = np.arange(len(steps))
        ax.semilogy(n, steps, marker="o", ms=3, color=f"C{k}", label=f"c = {c}")
        ax.semilogy(n, steps[0] * float(c) ** n, ls="--", lw=1, color=f"C{k}")
    ax.set_xlabel("iteration n")
    ax.set_ylabel("largest ‖x_(n+1) − x_n‖")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_c_tradeoff(fig, sweep: dict, *, title: str | None = None):
    """Three panels against c: the inverse's error after a fixed number of iterations, the
    variance of one probe's log-det estimate, and the test bits per dimension."""
    cs = [float(c) for c in sweep]
    panels = [("inverse_error", "inverse error", True),
              ("log_det_variance", "log-det estimate variance", True),
              ("test_bits_per_dim", "test bits per dimension", False)]
    axes = fig.subplots(1, 3)
    for ax, (key, label, log) in zip(axes, panels):
        ax.plot(cs, [sweep[c][key] for c in sweep], marker="o")
        ax.set_xlabel("c")
        ax.set_title(label, fontsize=9)
        if log:
            ax.set_yscale("log")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return axes


def draw_temperature_frame(fig, frames: torch.Tensor, temperatures, *, temperature: float):
    """The SliderFigure frame at ``temperature``: the precomputed images (8-bit, one row of
    ``frames`` per temperature of ``temperatures``) of the same draws mapped back."""
    from ..viz import image_grid

    temperatures = [float(t) for t in temperatures]
    k = min(range(len(temperatures)), key=lambda i: abs(temperatures[i] - float(temperature)))
    ax = fig.add_subplot(1, 1, 1)
    image_grid(published.from_levels(frames[k]), ncols=len(frames[k]), ax=ax,
               title=f"g(T ε), T = {temperatures[k]:g}")
    return ax


def draw_path_frame(fig, frames: torch.Tensor, *, pair: float, t: float):
    """The SliderFigure frame for ``pair`` (an index into the first axis of ``frames``) at point
    ``t`` in [0, 1] of the line between the two codes: the two ends and the image between."""
    from ..viz import image_rows

    row = published.from_levels(frames[int(round(pair))])
    k = int(round(float(t) * (len(row) - 1)))
    images = torch.stack([row[0], row[k], row[-1]])
    return image_rows([images], [""], ax=fig.add_subplot(1, 1, 1),
                      title=f"x_a, the point t = {k / (len(row) - 1):.3g} between, x_b")
