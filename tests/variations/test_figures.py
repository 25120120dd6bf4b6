"""Tests for kexue.variations.figures: the rotating spring's figures and explorer draw."""
import pytest
from matplotlib.figure import Figure

from kexue.variations import figures as fg
from kexue.variations import spring as S


def test_explorer_draws():
    widget = fg.explorer()
    (slider,) = widget.sliders
    assert len(slider.grid) <= 30 and slider.grid[0] == 0 and max(slider.grid) < S.U_CRITICAL
    for u in (0.0, 1.56):
        fig = Figure()
        fg.draw_explorer(fig, u)
        assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="diverges"):
        fg.draw_explorer(Figure(), S.U_CRITICAL)


def test_plot_divergence_draws():
    fig = Figure()
    fg.plot_divergence(fig, us_residual=(1.0, 1.8))
    assert len(fig.axes) == 2
