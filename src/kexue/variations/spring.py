"""The rotating spring (Su Jianlin, https://spaces.ac.cn/archives/782 and /archives/1311).

A uniform spring of mass ``M``, stiffness ``k`` and natural length ``l0`` (line density
``lambda0 = M / l0``) turns at angular velocity ``omega`` about one end, with no gravity. Everything
depends on one dimensionless number, ``u = omega * sqrt(M / k)``.

* Post 1311 describes the stretched spring by ``m(r)``, the mass between the axis and radius ``r``,
  and makes stationary ``L[m] = 1/2 int_0^l [m' r^2 omega^2 - M k (1/m' + m'/lambda0^2 - 2/lambda0)] dr``
  (kinetic minus elastic energy). Its Euler-Lagrange equation is ``m'' = omega^2 r m'^3 / (M k)``,
  with ``m(0) = 0``, ``m(l) = M`` and ``m'(l) = lambda0`` (the free end carries no tension).
* In material coordinates (``x(s)``: where the point at unstretched distance ``s`` ends up) the same
  functional is ``-V[x]``, ``V[x] = int_0^l0 [k l0 (x' - 1)^2 / 2 - lambda0 omega^2 x^2 / 2] ds``,
  whose Euler-Lagrange equation ``x'' + (u / l0)^2 x = 0`` is linear, with ``x(0) = 0`` and
  ``x'(l0) = 1``. Its solution is ``x(s) = l0 sin(u s / l0) / (u cos u)``, so the stretched length
  is ``l = l0 tan(u) / u``, which diverges as ``u -> pi/2``.

Serves chapters/part1-linear-algebra/rotating-spring.ipynb (posts 782 and 1311); its figures and
explorer are in :mod:`kexue.variations.figures`.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import sympy as sp

from ..checks import positive

#: The divergence point: no equilibrium exists for ``u = omega sqrt(M/k) >= pi/2``.
U_CRITICAL = math.pi / 2


# -- input checks ------------------------------------------------------------------------------
def _u_values(u, *, allow_divergent: bool = False, name: str = "u = omega sqrt(M/k)") -> np.ndarray:
    """``u`` as a float array, checked: finite, ``>= 0`` and (unless allowed) below pi/2."""
    arr = np.asarray(u)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real number or array of them, got {arr.dtype}")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {arr.min():g}")
    if not allow_divergent and np.any(arr >= U_CRITICAL):
        raise ValueError(
            f"{name} must be below pi/2 = {U_CRITICAL:.6f}, got {arr.max():.6g}: the stretched "
            "length l0 tan(u)/u diverges as u -> pi/2 and the spring has no equilibrium beyond it")
    return arr


def _u_scalar(u, *, allow_divergent: bool = False, name: str = "u = omega sqrt(M/k)") -> float:
    if np.ndim(u) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(u)}")
    return float(_u_values(u, allow_divergent=allow_divergent, name=name))


# -- parameters and closed form ----------------------------------------------------------------
def spring_parameter(omega, mass, stiffness) -> float:
    """The one dimensionless number of the problem, ``u = omega sqrt(M / k)``."""
    mass, stiffness = positive(mass, "mass"), positive(stiffness, "stiffness")
    omega = _u_scalar(omega, allow_divergent=True, name="omega")
    return omega * math.sqrt(mass / stiffness)


def stretched_length(u, l0: float = 1.0):
    """The stretched length ``l = l0 tan(u) / u`` (``l0`` at ``u = 0``), for ``0 <= u < pi/2``."""
    l0 = positive(l0, "l0")
    arr = _u_values(u)
    safe = np.where(arr == 0, 1.0, arr)
    ratio = np.where(arr == 0, 1.0, np.tan(safe) / safe)
    return l0 * ratio if ratio.ndim else l0 * float(ratio)


def stretch_profile(s, u, l0: float = 1.0) -> np.ndarray:
    """Where each material point ends up: ``x(s) = l0 sin(u s / l0) / (u cos u)``, ``0 <= s <= l0``."""
    l0 = positive(l0, "l0")
    u = _u_scalar(u)
    s = np.asarray(s, dtype=float)
    if not np.all(np.isfinite(s)) or np.any(s < 0) or np.any(s > l0):
        raise ValueError(f"s must lie in the unstretched spring, 0 <= s <= l0 = {l0:g}")
    if u == 0:
        return s.copy()
    return l0 * np.sin(u * s / l0) / (u * math.cos(u))


# -- the calculus of variations, symbolically ------------------------------------------------------
r, s = sp.symbols("r s", positive=True)
omega, M, k, l0_sym = sp.symbols("omega M k l_0", positive=True)
lambda0 = M / l0_sym


def post_lagrangian():
    """Post 1311's integrand ``F(r, m, m') = m' r^2 omega^2 - M k (1/m' + m'/lambda0^2 - 2/lambda0)``.

    Returns ``(F, m)`` with ``m = m(r)`` a sympy function of ``r``; the functional is ``int F dr / 2``.
    """
    m = sp.Function("m")(r)
    dm = m.diff(r)
    return dm * r**2 * omega**2 - M * k * (1 / dm + dm / lambda0**2 - 2 / lambda0), m


def material_potential():
    """Rotating-frame potential energy density in material coordinates, ``x = x(s)``.

    ``k l0 (x' - 1)^2 / 2`` is the elastic energy of the piece ``ds`` (stiffness ``k l0 / ds``,
    extension ``(x' - 1) ds``); ``-lambda0 omega^2 x^2 / 2`` is its centrifugal potential.
    Returns ``(V, x)``.
    """
    x = sp.Function("x")(s)
    return k * l0_sym * (x.diff(s) - 1) ** 2 / 2 - lambda0 * omega**2 * x**2 / 2, x


def second_variation(eta) -> sp.Expr:
    """``int_0^l0 [k l0 eta'^2 - lambda0 omega^2 eta^2] ds``: the curvature of ``V`` along ``eta(s)``."""
    eta = sp.sympify(eta)
    return sp.simplify(sp.integrate(k * l0_sym * eta.diff(s) ** 2 - lambda0 * omega**2 * eta**2,
                                    (s, 0, l0_sym)))


# -- the numerical solution: shooting on the post's equation ---------------------------------------
def _inward(length: float, u: float, rtol: float, dense: bool):
    """Integrate ``mu'' = u^2 rho mu'^3`` (``mu = m/M``, ``rho = r/l0``) from the free end to the axis."""
    from scipy.integrate import solve_ivp

    def rhs(rho, y):
        return [y[1], u * u * rho * y[1] ** 3]

    sol = solve_ivp(rhs, (length, 0.0), [1.0, 1.0], method="DOP853", rtol=rtol,
                    atol=rtol * 1e-2, dense_output=dense)
    if sol.status != 0:
        raise RuntimeError(f"the inward integration failed: {sol.message}")
    return sol


def shooting_residual(length, u, rtol: float = 1e-12) -> float:
    """Mass left over at the axis, ``m(0) / M``, for a trial stretched length (in units of ``l0``).

    Start at the free end ``r = length`` with ``m = M`` and ``m' = lambda0`` and integrate post 1311's
    Euler-Lagrange equation inwards; the true length is the root of this residual. ``u`` may be
    ``>= pi/2`` here, to see that the residual then has no root.
    """
    length = positive(length, "length")
    u = _u_scalar(u, allow_divergent=True)
    return float(_inward(length, u, positive(rtol, "rtol"), dense=False).y[0, -1])


@dataclasses.dataclass
class ShootingSolution:
    """A converged shooting solution: the stretched length and the mass profile ``m(r)``."""

    u: float
    length: float  # in units of l0
    evaluations: int  # how many inward integrations the bracket and root search took
    _sol: object = dataclasses.field(repr=False)

    def profile(self, num: int = 41) -> tuple[np.ndarray, np.ndarray]:
        """``(s, x)`` in units of ``l0``: the material coordinate ``s = m(r) / lambda0`` at radius ``x = r``."""
        x = np.linspace(0.0, self.length, int(num))
        return self._sol.sol(x)[0], x


def solve_by_shooting(u, rtol: float = 1e-12, max_length: float = 1e6) -> ShootingSolution:
    """The stretched length (units of ``l0``) as the root of :func:`shooting_residual`, by brentq.

    The residual is 1 at zero length and decreases; the bracket is found by doubling the trial
    length. For ``u >= pi/2`` the residual stays positive (it tends to ``1 - pi/(2u)``): no length
    balances the spring, and a ValueError says so.
    """
    from scipy.optimize import brentq

    u = _u_scalar(u, allow_divergent=True)
    rtol, max_length = positive(rtol, "rtol"), positive(max_length, "max_length")
    evaluations = 0

    def g(length):
        nonlocal evaluations
        evaluations += 1
        return shooting_residual(length, u, rtol)

    low, high = 0.5, 2.0  # a spring shorter than l0 cannot hold its mass: g(0.5) > 0 for every u
    while g(high) > 0:
        low, high = high, 2 * high
        if high > max_length:
            raise ValueError(
                f"no stretched length up to {max_length:g} l0 balances the spring at u = {u:.6g}: "
                f"the shooting residual stays positive (its limit is 1 - pi/(2u) = "
                f"{1 - U_CRITICAL / u if u > 0 else float('inf'):.3g}), so the length diverges; "
                "an equilibrium exists only for u < pi/2")
    length = brentq(g, low, high, xtol=1e-13, rtol=4 * np.finfo(float).eps)
    return ShootingSolution(u, length, evaluations, _inward(length, u, rtol, dense=True))


def accuracy_table(us, rtol: float = 1e-12) -> list[dict]:
    """Closed form vs shooting at each ``u``: lengths, relative error and shooting cost."""
    rows = []
    for u in _u_values(np.atleast_1d(us)):
        num = solve_by_shooting(u, rtol)
        exact = stretched_length(u)
        rows.append(dict(u=float(u), closed_form=exact, shooting=num.length,
                         rel_error=abs(num.length - exact) / exact, evaluations=num.evaluations))
    return rows
