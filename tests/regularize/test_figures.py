"""The figures, tables and widgets of the regularisation chapters (kexue.regularize.figures) draw.
Those that need a record of ``lipschitz-mnist`` are tested on a tiny run in test_experiments.py."""
import pytest
import torch
from matplotlib.figure import Figure

from kexue.regularize import figures
from kexue.regularize.lipschitz import mlp
from kexue.regularize.semi_supervised import perturbation_frames, perturbed


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
    models = {"VAT": art["vat_model"], "labels only": art["baseline_model"]}
    frames = perturbation_frames(models, art["x_eval"][:3], art["y_eval"][:3], [0.0, 2.0])
    widget = figures.explore_perturbation(frames, n_images=2)
    assert [len(s.grid) for s in widget.sliders] == [2, 2]
    picture, bars = widget.figure(epsilon=2.0, image=1).axes
    heights = [[p.get_height() for p in bars.patches[10 * k:10 * (k + 1)]] for k in range(2)]
    for k, model in enumerate(models.values()):  # the bars are each model's probabilities there
        expected = perturbed(model, art["x_eval"][:3], 2.0)[1][1]  # the same batch, image 1
        assert torch.allclose(torch.tensor(heights[k]), expected.double(), atol=1e-6)
    with pytest.raises(ValueError, match="n_images must be at most the 3 images"):
        figures.explore_perturbation(frames, n_images=4)


def test_perturbation_frames_are_what_perturbed_gives(tiny_artifacts):
    art = tiny_artifacts
    model, x = art["vat_model"].train(), art["x_eval"]
    frames = perturbation_frames({"a": model}, x, art["y_eval"], [0.0, 1.5])
    assert model.training                               # the model's mode is left as it was
    d, p = perturbed(model, x, 1.5)
    assert torch.equal(frames["directions"][0], d) and frames["probabilities"].shape == (1, 2, 5, 10)
    assert torch.allclose(frames["probabilities"][0, 1], p, atol=1e-6)
    assert torch.allclose(frames["probabilities"][0, 0], perturbed(model, x, 0.0)[1])
    assert frames["names"] == ["a"] and frames["epsilons"].tolist() == [0.0, 1.5]
