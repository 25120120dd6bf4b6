"""The stopping chapter's figures (post 7500): the floor under the self-terminating layer's stop
probability with greedy search's bound marked, and stop probabilities along decoded outputs."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from kexue.sequences import figures, stopping


def test_stop_floor_draws_each_floor_and_marks_the_bound_where_it_passes_one_half():
    epsilons = (0.01, 0.03, 0.1)
    ax = figures.stop_floor(epsilons, steps=80)
    lines = ax.get_lines()
    curves = [line for line in lines if line.get_label().startswith("ε = ")]
    assert [line.get_label() for line in curves] == ["ε = 0.01", "ε = 0.03", "ε = 0.1"]
    for line, epsilon in zip(curves, epsilons):
        np.testing.assert_allclose(line.get_ydata(), 1 - (1 - epsilon) ** (np.arange(80) + 1))
    dots = [line for line in lines if line.get_marker() == "o"]
    # ε = 0.01 passes 1/2 at L = 69, inside the 80 steps drawn; 0.03 at L = 23, 0.1 at L = 7
    bounds = [stopping.greedy_length_bound(e) for e in epsilons]
    assert bounds == [69, 23, 7]
    assert [float(d.get_xdata()[0]) for d in dots] == [b - 1 for b in bounds]
    for dot, epsilon in zip(dots, epsilons):
        y = float(dot.get_ydata()[0])
        assert y > 0.5 and 1 - (1 - epsilon) ** (float(dot.get_xdata()[0])) <= 0.5
    assert any(line.get_linestyle() == "--" and set(line.get_ydata()) == {0.5} for line in lines)
    plt.close(ax.figure)


def test_stop_floor_leaves_out_a_bound_past_the_steps_drawn():
    ax = figures.stop_floor((0.01,), steps=30)
    assert not [line for line in ax.get_lines() if line.get_marker() == "o"]
    plt.close(ax.figure)


def test_stop_probabilities_draw_every_path_and_the_floor():
    curves = {"self-terminating": [[0.05, 0.2, 0.9], [0.04, 0.6]], "softmax": [[0.0, 0.1, 0.7, 0.99]]}
    ax = figures.stop_probabilities(curves, epsilon=0.03)
    lines = ax.get_lines()
    assert len(lines) == 4
    assert [line.get_color() for line in lines[:3]] == ["C0", "C0", "C1"]
    np.testing.assert_allclose(lines[2].get_ydata(), [0.0, 0.1, 0.7, 0.99])
    floor = lines[3]
    np.testing.assert_allclose(floor.get_ydata(), stopping.eos_floor(0.03, 4).numpy())
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert labels == ["self-terminating", "softmax", "floor, ε = 0.03"]
    plt.close(ax.figure)


def test_stop_probabilities_reject_a_path_that_is_not_a_sequence():
    with pytest.raises(ValueError, match="'softmax' must be a non-empty 1-D sequence"):
        figures.stop_probabilities({"softmax": [[[0.1, 0.2]]]})
    with pytest.raises(ValueError, match="non-empty"):
        figures.stop_probabilities({"softmax": [[]]})
    plt.close("all")


def test_stop_probabilities_of_one_step_still_show_the_floor():
    ax = figures.stop_probabilities({"softmax": [[0.1]], "self-terminating": [[0.04]]}, epsilon=0.03)
    floor = ax.get_lines()[-1]
    assert len(floor.get_xdata()) == 2 and ax.get_xlim() == (-0.5, 1.5)
    plt.close(ax.figure)
