"""Tests for kexue.linalg.figures: the figures, widgets and tables of Part I's linear-algebra
chapters draw, show what they claim, and check their input. (The figures of the linear autoencoder
are drawn from a comparison run, in test_experiments.py.)"""
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from kexue import experiments
from kexue.linalg import figures as fg
from kexue.linalg import matrix_exp as mx
from kexue.linalg import rank_one_exp as r1
from kexue.widgets import Slider, SliderFigure

F64 = torch.float64


# -- det-exp-trace: the widget ---------------------------------------------------------------------
@pytest.mark.parametrize("t", [-2.0, 0.0, 1.3])
def test_draw_det_exp_runs(t):
    fig = Figure()
    fg.draw_det_exp(fig, t)
    left, right = fig.axes
    assert f"t = {t:.2f}" in left.get_title()
    value = mx.exp_trace(torch.tensor(mx.EXAMPLE_MATRIX, dtype=F64), t).item()
    assert f"{value:.4f}" in right.get_title()  # product of eigenvalues = exp(t tr A)


def test_det_exp_widget():
    w = fg.det_exp_widget()
    assert len(w.sliders[0].grid) == 21 and w.sliders[0].value == 1.0
    assert w.png(t=0.4).startswith(b"\x89PNG")
    w2 = fg.det_exp_widget(torch.tensor([[0.0, -2.0], [1.0, 0.5]], dtype=F64), num=5)
    assert len(w2.figure(t=-1.0).axes) == 2


def test_det_exp_figure_input_validation():
    with pytest.raises(ValueError, match="t_range must be increasing"):
        fg.draw_det_exp(Figure(), 0.0, t_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="num must be a positive int"):
        fg.det_exp_widget(num=1.5)



# -- nonsquare-determinants ------------------------------------------------------------------------
@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 180.0])
def test_parallelogram_vectors_and_area(angle):
    x, y = fg.parallelogram_vectors(angle)
    assert math.isclose(np.linalg.norm(x), 2.5) and math.isclose(np.linalg.norm(y), 2.0)
    assert math.isclose(x @ y, 5.0 * math.cos(math.radians(angle)), abs_tol=1e-12)
    fig = Figure()
    area = fg.plot_parallelogram(fig.add_subplot(projection="3d"), x, y)
    assert math.isclose(area, np.linalg.norm(np.cross(x, y)), abs_tol=1e-7)
    with pytest.raises(ValueError, match="vectors of R\\^3"):
        fg.plot_parallelogram(fig.add_subplot(projection="3d"), x[:2], y)


def test_parallelogram_widget_frames_draw():
    widget = SliderFigure(fg.draw_parallelogram, [Slider("angle", start=0, stop=180, num=3)])
    for angle in (0.0, 90.0):
        assert widget.png(angle=angle).startswith(b"\x89PNG")


def test_flow_figure_draws_from_the_artifacts():
    rec = experiments.run("injective-flow-density", profile="quick", n_samples=5_000, chunk=5_000)
    fig = Figure()
    fg.plot_injective_flow(fig, rec.artifacts)
    assert len(fig.axes) == 3  # sphere, colour bar, bands
    with pytest.raises(KeyError, match="artifacts lack 'points'"):
        fg.plot_injective_flow(Figure(), {})


# -- explicit-invertible-matrix --------------------------------------------------------------------
def test_comparison_table_of_adversarial_cases():
    header, table = fg.comparison_rows()
    assert len(table) == len(r1.adversarial_cases()) and all(len(row) == len(header) for row in table)
    assert table[3][0] == "s ≈ 50" and table[3][header.index("closed form")] < 1e-9


def test_rank_one_figures_draw():
    fig = Figure()
    fg.plot_factor_errors(fig, num=9)
    assert len(fig.axes) == 2
    widget = fg.rank_one_map_widget()
    for s, t in ((-2.0, 0.0), (0.0, 0.0), (2 / 3, 1.5)):
        assert widget.png(s=s, t=t).startswith(b"\x89PNG")
    assert len(widget.sliders[0].grid) * len(widget.sliders[1].grid) <= 60


def test_result_rows_of_the_two_experiments():
    rec = experiments.run("injective-flow-density", profile="quick", n_samples=5_000, chunk=5_000)
    rows = fg.injective_flow_rows(rec.metrics)
    assert [row[1] for row in rows][::2] == [1, 0] and rows[0][2].startswith(f"{rec.metrics['mass']:.4f}")
    hutch = experiments.run("det-exp-trace-hutchinson", profile="quick", dim=8, trials=20,
                            probes=[1, 2, 4], logdet_probes=64)
    rows = fg.hutchinson_rows(hutch.metrics, hutch.config)
    assert len(rows) == 6 and rows[4][0] == "stochastic log det(I+A), 64 probes"
    assert rows[3][1] == f"<= {8 * 0.5 ** 41 / (41 * 0.5):.0e} (exercise 4)"  # terms = 40
    with pytest.raises(KeyError, match="injective-flow-density"):
        fg.injective_flow_rows(hutch.metrics)
    with pytest.raises(KeyError, match="det-exp-trace-hutchinson"):
        fg.hutchinson_rows(rec.metrics, hutch.config)
