"""Tests for kexue.optim.figures: every figure, table and slider of Part II's chapters draws, with
the labels, panels and legends the chapters rely on, from the idea modules and from the small
experiment runs of conftest.py. (The optimiser playground has its own tests, test_playground.py.)"""
import math

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from kexue import classifier
from kexue.optim import dynamics as D
from kexue.optim import gradient_hooks as gh
from kexue.optim import surfaces
from kexue.optim.figures import accumulation as acc_figures
from kexue.optim.figures import adaptive as ad_figures
from kexue.optim.figures import dynamics as D_figures
from kexue.optim.figures import gradient_hooks as gh_figures
from kexue.optim.figures import heun as heun_figures
from kexue.optim.figures import layers as layers_figures
from kexue.optim.figures import layerwise as lw_figures

matplotlib.use("Agg")

F64 = torch.float64


# -- gradient-descent-euler ------------------------------------------------------------------------
def test_dynamics_figures_draw():
    fig = Figure()
    D_figures.plot_gd_vs_flow(fig, lrs=(0.02, 0.08), horizon=1.0)
    assert [ax.get_xlabel() for ax in fig.axes[:2]] == [r"$\theta_1$", r"time $t = n\gamma$"]
    fig = Figure()
    D_figures.plot_euler_error(fig, [0.1, 0.01], [0.2, 0.02], constant=2.0)
    assert "slope 1.000" in fig.axes[0].get_legend().get_texts()[1].get_text()
    fig = Figure()
    snaps = D.noisy_gradient_descent(D.double_well_gradient, [1.0], 0.05, 2.0, 20, chains=50,
                                     record_every=5)
    D_figures.plot_langevin(fig, snaps, 0.05 * 5 * np.arange(5), D.double_well, 0.2)
    assert fig.axes[1].get_xlabel() == r"$\theta$"
    fig = Figure()
    D_figures.plot_momentum(fig, steps=20)
    assert fig.axes[1].get_yscale() == "log" and fig.axes[1].get_xlabel() == "step n"
    fig = Figure()
    D_figures.plot_rescaling(fig, horizon=2.0)
    assert len(fig.axes[0].get_lines()) == 4 and fig.axes[0].get_yscale() == "log"


def test_momentum_explorer_grid_and_frames():
    widget = D_figures.explorer()
    assert np.prod([len(s.grid) for s in widget.sliders]) <= 40
    fig = widget.figure(lr=max(D_figures.EXPLORER_LRS), beta=max(D_figures.EXPLORER_BETAS))
    assert len(fig.axes) == 2 and fig.axes[1].get_yscale() == "log"


# -- writing-an-optimiser: gradient accumulation ---------------------------------------------------
def test_accumulation_table_and_curves(accumulation_comparison):
    _, metrics, artifacts = accumulation_comparison
    header, rows = acc_figures.comparison_rows(metrics)
    assert [row[0] for row in rows] == ["small batch", "accumulated", "large batch"]
    assert all(len(row) == len(header) for row in rows)
    fig = Figure()
    acc_figures.plot_runs(artifacts["histories"], fig)
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch", "epoch"]
    assert len(fig.axes[0].get_legend().get_texts()) == 3


# -- writing-an-optimiser: Heun's method -----------------------------------------------------------
def spd(n=4, seed=0, eigenvalues=(0.5, 1.0, 2.0, 3.0)):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q @ np.diag(eigenvalues[:n]) @ Q.T, rng.standard_normal(n)


def test_heun_figures_draw():
    fig = Figure()
    slopes = heun_figures.plot_orders(*spd(), fig)
    assert slopes["heun"]["local"] == pytest.approx(3, abs=0.1)
    assert [ax.get_title() for ax in fig.axes] == ["error of one step", "error at time T = 1"]
    fig = Figure()
    heun_figures.plot_amplification(fig)
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    for lr in (0.01, 0.105):   # the slider's ends: 0.105 is past gradient descent's limit 2/20
        fig = Figure()
        heun_figures.draw_paths(fig, lr)
        ax1, ax2 = fig.axes
        assert ax2.get_xlabel() == "gradient evaluations"
        labels = [t.get_text() for t in ax1.get_legend().get_texts()]
        assert labels[1:] == ["gradient descent (40 steps)", "Heun (20 steps)"]
    widget = heun_figures.explore_step_size()
    assert widget.sliders[0].grid[0] == 0.01 and widget.sliders[0].grid[-1] == 0.105


def test_heun_table_and_figure_of_the_mnist_comparison(heun_comparison):
    _, metrics, artifacts = heun_comparison
    header, rows = heun_figures.comparison_rows(metrics)
    assert len(rows) == 2 and all(len(row) == len(header) for row in rows)
    assert rows[1][0] == "0.4" and rows[1][1] == 8 and rows[1][5] == 4
    fig = Figure()
    heun_figures.plot_mnist_runs(metrics, artifacts["curves"], fig)
    assert fig.axes[1].get_xlabel() == "gradient evaluations"


# -- adaptive-learning-rates -----------------------------------------------------------------------
def test_adaptive_figures(adaptive_record):
    for plot in (ad_figures.plot_trajectories, ad_figures.plot_losses, ad_figures.plot_sweep):
        fig = Figure(figsize=(12, 4))
        plot(adaptive_record.artifacts, fig)
        axes = fig.get_axes()
        assert len([ax for ax in axes if ax.get_title()]) == 3
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes if ax.get_title())
        assert all(ax.get_legend() is not None for ax in axes if ax.get_title())


# -- layerwise-learning-rates ----------------------------------------------------------------------
def test_layerwise_table_and_figure(layerwise_record):
    header, rows = lw_figures.summary_table(layerwise_record.metrics)
    assert len(header) == 7 and [r[0] for r in rows] == ["×0.1", "×1", "×10"]
    assert all(len(r) == len(header) for r in rows)
    fig = Figure(figsize=(13, 3.8))
    lw_figures.plot_layerwise_runs(layerwise_record.artifacts, fig)
    assert [ax.get_title() for ax in fig.get_axes()][1] == "how far hidden1's weight moves"


def test_draw_surface_paths_draws_labelled_panels():
    fig = Figure(figsize=(12, 3.6))
    lw_figures.draw_surface_paths(fig, 2.0, surfaces.get("quadratic"), steps=10)
    axes = fig.get_axes()
    assert len(axes) == 3
    assert all(ax.get_xlabel() and ax.get_title() for ax in axes)
    assert "×λ² = 4" in axes[0].get_title() and "×λ = 2" in axes[1].get_title()


def test_plot_projected_paths_labels_its_panels():
    fig = Figure(figsize=(11, 4))
    gh_figures.plot_projected_paths(surfaces.get("quadratic"), fig, steps=10)
    assert [ax.get_xlabel() for ax in fig.get_axes()] == ["$x$", "step"]


def test_plot_clipping_draws_the_norms():
    model = classifier.mlp((5, 7, 3), activation=nn.Tanh, seed=0, dtype=F64)
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(40, 5, generator=g, dtype=F64), torch.randn(40, 3, generator=g, dtype=F64)
    result = gh.clipping_comparison(model, lambda m: ((m(X) - Y) ** 2).mean() * 30, (), 0.1)
    fig = Figure()
    gh_figures.plot_clipping(result, fig.add_subplot())
    assert fig.get_axes()[0].get_ylabel()
    assert len(fig.get_axes()[0].patches) == 3 * len(result["names"])
    assert math.isclose(fig.get_axes()[0].get_lines()[0].get_ydata()[0], 0.1)


# -- layers-and-callbacks --------------------------------------------------------------------------
def test_mnist_figures_and_explorer(callbacks_record):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    layers_figures.plot_run(callbacks_record.artifacts, fig)
    assert len(fig.axes) == 3 and fig.axes[0].get_xlabel() == "step"
    fig = plt.figure()
    a = callbacks_record.artifacts
    mins = layers_figures.plot_activations(a["model"], a["x_test"], fig)
    assert len(fig.axes) == 2 and sorted(mins) == ["1", "3"]
    assert all(v["min"] >= v["bound"] - 1e-6 for v in mins.values())  # never below Swish's minimum
    plt.close("all")
    widget = layers_figures.explore_patience(a, patiences=[1, 2, 3])
    assert widget.sliders[0].grid == [1.0, 2.0, 3.0]
    frame = widget.figure(patience=2)
    assert len(frame.axes) == 2 and "test acc" in frame.axes[0].get_title()
