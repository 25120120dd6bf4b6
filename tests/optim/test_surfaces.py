"""The loss surfaces: closed-form gradients equal autograd's, minima are stationary, bad input is refused."""
import numpy as np
import pytest
import torch

from kexue.optim import surfaces

ALL = [surfaces.get(name) for name in sorted(surfaces.SURFACES)]


@pytest.mark.parametrize("surface", ALL, ids=lambda s: s.name)
def test_gradient_matches_autograd(surface):
    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([surface.xlim[0], surface.ylim[0]], dtype=torch.float64)
    hi = torch.tensor([surface.xlim[1], surface.ylim[1]], dtype=torch.float64)
    points = (lo + (hi - lo) * torch.rand(64, 2, generator=g, dtype=torch.float64)).requires_grad_()
    surface(points).sum().backward()
    gx, gy = surface.gradient(points[:, 0].detach(), points[:, 1].detach())
    torch.testing.assert_close(torch.stack([gx, gy], dim=1), points.grad, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("surface", ALL, ids=lambda s: s.name)
def test_minima_are_stationary_zeros_inside_the_view(surface):
    for x, y in surface.minima:
        assert abs(surface.value(x, y)) < 1e-9
        assert np.hypot(*surface.gradient(x, y)) < 1e-4
        assert surface.xlim[0] < x < surface.xlim[1] and surface.ylim[0] < y < surface.ylim[1]


@pytest.mark.parametrize("surface", ALL, ids=lambda s: s.name)
def test_javascript_formulas_are_the_python_ones(surface):
    """The playground evaluates these strings in the page; here they are evaluated as Python
    (the formulas use only arithmetic and ``**``, the same in both languages)."""
    for x, y in [(0.3, -1.2), (-2.0, 0.7), surface.start]:
        env = {"x": x, "y": y}
        assert eval(surface.javascript["value"], {}, env) == pytest.approx(surface.value(x, y), rel=1e-12)
        assert eval(surface.javascript["gradient"], {}, env) == pytest.approx(
            list(surface.gradient(x, y)), rel=1e-12)


def test_grid_and_bad_input():
    X, Y, L = surfaces.get("quadratic").grid(5)
    assert X.shape == Y.shape == L.shape == (5, 5) and L.min() >= 0
    with pytest.raises(KeyError, match="unknown surface"):
        surfaces.get("banana")
    with pytest.raises(ValueError, match="kappa"):
        surfaces.ill_conditioned_quadratic(0.5)
    with pytest.raises(ValueError, match="b must be positive"):
        surfaces.rosenbrock(b=0)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        surfaces.get("rosenbrock")(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="grid size"):
        surfaces.get("himmelblau").grid(1)
