"""Two-dimensional loss surfaces on which Part II's optimisers are watched at work.

Each :class:`Surface` gives the loss ``value(x, y)`` and its gradient ``gradient(x, y)`` in closed
form, written with arithmetic alone so that the same code works on Python floats, NumPy arrays and
torch tensors (the tests check the gradient against autograd). ``javascript`` holds the same two
formulas for the static optimiser playground, which runs the update rules in the page.

Serves chapters/part2-optimisation/gradient-descent-euler.ipynb (post 5655),
chapters/part2-optimisation/writing-an-optimiser.ipynb (post 5879),
chapters/part2-optimisation/adaptive-learning-rates.ipynb (post 6234) and
chapters/part2-optimisation/layerwise-learning-rates.ipynb (post 6418).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Surface:
    """A loss ``L(x, y)`` with its gradient, a start point, a view box and its minima."""

    name: str
    title: str
    value: Callable
    gradient: Callable           # (x, y) -> (dL/dx, dL/dy)
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    javascript: dict             # {"value": "...", "gradient": "[..., ...]"} in x and y

    def __call__(self, point: torch.Tensor) -> torch.Tensor:
        """``L`` at a tensor of points of shape ``(..., 2)`` (differentiable: for torch optimisers)."""
        if not isinstance(point, torch.Tensor) or point.ndim < 1 or point.shape[-1] != 2:
            raise ValueError(f"{self.name}: expected a tensor of shape (..., 2), got "
                             f"{getattr(point, 'shape', type(point).__name__)}")
        return self.value(point[..., 0], point[..., 1])

    def grid(self, n: int = 200):
        """``(X, Y, L)`` NumPy arrays over the view box, for contour plots."""
        import numpy as np

        if not isinstance(n, int) or n < 2:
            raise ValueError(f"grid size n must be an int >= 2, got {n!r}")
        X, Y = np.meshgrid(np.linspace(*self.xlim, n), np.linspace(*self.ylim, n))
        return X, Y, self.value(X, Y)


def ill_conditioned_quadratic(kappa: float = 20.0) -> Surface:
    """``L = (x^2 + kappa y^2) / 2``: curvatures 1 and ``kappa``, so plain gradient descent must
    keep its step below ``2 / kappa`` and then crawls along ``x``."""
    kappa = float(kappa)
    if not kappa >= 1.0:
        raise ValueError(f"kappa is the condition number and must be >= 1, got {kappa}")
    return Surface(
        name="quadratic", title=f"ill-conditioned quadratic (κ = {kappa:g})",
        value=lambda x, y: 0.5 * (x * x + kappa * y * y),
        gradient=lambda x, y: (x, kappa * y),
        start=(-4.0, 1.5), xlim=(-5.0, 5.0), ylim=(-2.5, 2.5), minima=((0.0, 0.0),),
        javascript={"value": f"0.5 * (x * x + {kappa!r} * y * y)", "gradient": f"[x, {kappa!r} * y]"})


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """``L = (a - x)^2 + b (y - x^2)^2``: a curved, flat-bottomed valley with its minimum at
    ``(a, a^2)``."""
    a, b = float(a), float(b)
    if not b > 0:
        raise ValueError(f"rosenbrock: b must be positive, got {b}")
    return Surface(
        name="rosenbrock", title=f"Rosenbrock (a = {a:g}, b = {b:g})",
        value=lambda x, y: (a - x) ** 2 + b * (y - x * x) ** 2,
        gradient=lambda x, y: (-2 * (a - x) - 4 * b * x * (y - x * x), 2 * b * (y - x * x)),
        start=(-1.5, 2.0), xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), minima=((a, a * a),),
        javascript={"value": f"({a!r} - x) ** 2 + {b!r} * (y - x * x) ** 2",
                    "gradient": f"[-2 * ({a!r} - x) - 4 * {b!r} * x * (y - x * x), "
                                f"2 * {b!r} * (y - x * x)]"})


def himmelblau() -> Surface:
    """``L = (x^2 + y - 11)^2 + (x + y^2 - 7)^2``: four minima of value 0, so where an optimiser
    ends depends on its path."""
    return Surface(
        name="himmelblau", title="Himmelblau (four minima)",
        value=lambda x, y: (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2,
        gradient=lambda x, y: (4 * x * (x * x + y - 11) + 2 * (x + y * y - 7),
                               2 * (x * x + y - 11) + 4 * y * (x + y * y - 7)),
        start=(-0.5, -0.5), xlim=(-5.0, 5.0), ylim=(-5.0, 5.0),
        minima=((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848127)),
        javascript={"value": "(x * x + y - 11) ** 2 + (x + y * y - 7) ** 2",
                    "gradient": "[4 * x * (x * x + y - 11) + 2 * (x + y * y - 7), "
                                "2 * (x * x + y - 11) + 4 * y * (x + y * y - 7)]"})


SURFACES = {"quadratic": ill_conditioned_quadratic, "rosenbrock": rosenbrock, "himmelblau": himmelblau}


def get(name: str, **params) -> Surface:
    """The surface called ``name`` (one of :data:`SURFACES`), built with ``params``."""
    if name not in SURFACES:
        raise KeyError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}")
    return SURFACES[name](**params)
