"""The figures, tables and widgets of the regularisation chapters (kexue.regularize.figures) draw.
Those that need a record of ``lipschitz-mnist`` are tested on a tiny run in test_experiments.py."""
import torch
from matplotlib.figure import Figure

from kexue.regularize import figures
from kexue.regularize.lipschitz import mlp


def test_plot_critics_draws():
    g = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(32, generator=g) * 0.5 - 2, torch.randn(32, generator=g) * 0.5 + 2])
    fake = torch.randn(64, generator=g) + 0.5
    fig = Figure()
    figures.plot_critics(fig, real, fake, {"a": mlp([1, 4, 1], generator=torch.Generator().manual_seed(0))})
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2


def test_plot_power_iteration_draws():
    fig = Figure()
    figures.plot_power_iteration(fig, ratios=(0.5,), iterations=5)
    assert fig.axes[0].get_xlabel() == "rounds $k$" and len(fig.axes[0].lines) == 3


def test_plot_taylor_gaps_draws():
    sigmas = [0.04, 0.02, 0.01, 0.005]
    ax = Figure().add_subplot()
    figures.plot_taylor_gaps(sigmas, {"a": torch.tensor(sigmas) ** 4}, ax)
    assert len(ax.lines) == 2 and "slope 4.00" in ax.get_legend().get_texts()[0].get_text()


def test_vat_figures_draw(tiny_artifacts):
    art = tiny_artifacts
    fig = Figure()
    figures.plot_training(art, fig)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 2
    widget = figures.explore_perturbation(art, n_images=2, epsilons=[0.0, 2.0])
    assert [len(s.grid) for s in widget.sliders] == [2, 2]
    assert len(widget.figure(epsilon=2.0, image=1).axes) == 2
