"""Tests for kexue.variations.spring: the rotating spring (posts 782 and 1311)."""
import math

import numpy as np
import pytest
import sympy as sp
from sympy.calculus.euler import euler_equations

from kexue.variations import spring as S

r, s, omega, M, k, l0 = S.r, S.s, S.omega, S.M, S.k, S.l0_sym
lam0 = M / l0
U = omega * sp.sqrt(M / k)
US = [0.3, 0.6, 0.9, 1.2, 1.4, 1.5, 1.55, 1.56]


# -- the Euler-Lagrange equations -------------------------------------------------------------
def test_post_euler_lagrange_is_the_expected_ode():
    F, m = S.post_lagrangian()
    (eq,) = euler_equations(F, m, r)
    # F has no m, so EL is -d/dr (dF/dm') = -d/dr (r^2 w^2 + M k / m'^2) = 0, written out by hand:
    expected = -2 * r * omega**2 + 2 * M * k * m.diff(r, 2) / m.diff(r) ** 3
    assert sp.simplify(eq.lhs - eq.rhs - expected) == 0


def test_post_first_integral():
    F, m = S.post_lagrangian()
    p = sp.Symbol("p", positive=True)
    dF = sp.diff(F.subs(m.diff(r), p), p)
    assert sp.simplify(dF - (r**2 * omega**2 + M * k / p**2 - M * k / lam0**2)) == 0


def test_material_euler_lagrange_is_linear_oscillator():
    V, x = S.material_potential()
    (eq,) = euler_equations(V, x, s)
    assert sp.simplify(eq.lhs - eq.rhs - (-lam0 * omega**2 * x - k * l0 * x.diff(s, 2))) == 0
    # divided by -k l0: x'' + (u / l0)^2 x
    assert sp.simplify((eq.lhs - eq.rhs) / (-k * l0) - (x.diff(s, 2) + (U / l0) ** 2 * x)) == 0


def test_post_functional_is_minus_twice_the_material_potential():
    # r = x(s), m'(r) = lambda0 / x'(s), dr = x'(s) ds turns F dr into -2 V ds
    F, m = S.post_lagrangian()
    V, x = S.material_potential()
    X, p = sp.symbols("X p", positive=True)
    F_sub = F.subs(m.diff(r), lam0 / p).subs(r, X) * p
    V_sub = V.subs(x.diff(s), p).subs(x, X)
    assert sp.simplify(F_sub + 2 * V_sub) == 0


# -- the closed form --------------------------------------------------------------------------
def closed_x():
    return l0 * sp.sin(U * s / l0) / (U * sp.cos(U))


def test_closed_form_solves_material_problem():
    V, x = S.material_potential()
    (eq,) = euler_equations(V, x, s)
    xs = closed_x()
    assert sp.simplify((eq.lhs - eq.rhs).subs(x, xs).doit()) == 0
    assert sp.simplify(xs.subs(s, 0)) == 0
    assert sp.simplify(xs.diff(s).subs(s, l0) - 1) == 0          # free end: no tension
    assert sp.simplify(xs.subs(s, l0) - l0 * sp.tan(U) / U) == 0  # l = l0 tan(u)/u


def test_closed_form_density_solves_post_problem():
    # m(r) = (M/u) asin(u cos(u) r / l0), the inverse of x(s) times lambda0
    F, m = S.post_lagrangian()
    (eq,) = euler_equations(F, m, r)
    mr = M / U * sp.asin(U * sp.cos(U) * r / l0)
    assert sp.simplify((eq.lhs - eq.rhs).subs(m, mr).doit()) == 0
    length = l0 * sp.tan(U) / U
    dm_end = mr.diff(r).subs(r, length)
    first_integral = r**2 * omega**2 + M * k / mr.diff(r) ** 2 - M * k / lam0**2
    assert sp.simplify(first_integral - length**2 * omega**2) == 0   # the post's C = l^2 w^2
    vals = {M: 2.0, k: 3.0, l0: 0.7}
    for u in US:
        at = {**vals, omega: u / math.sqrt(2.0 / 3.0)}
        assert float(dm_end.subs(at)) == pytest.approx(2.0 / 0.7, rel=1e-12)   # m'(l) = lambda0
        assert float(mr.subs(r, length).subs(at)) == pytest.approx(2.0, rel=1e-12)  # m(l) = M


def test_stretched_length_and_profile_numbers():
    for u in US:
        assert S.stretched_length(u, l0=2.5) == pytest.approx(2.5 * math.tan(u) / u, rel=1e-14)
    assert S.stretched_length(0.0) == 1.0
    assert np.allclose(S.stretched_length(np.array(US)), np.tan(US) / np.array(US), rtol=1e-14)
    grid = np.linspace(0, 2.0, 9)
    assert np.allclose(S.stretch_profile(grid, 0.0, l0=2.0), grid)
    x = S.stretch_profile(grid, 1.2, l0=2.0)
    assert x[-1] == pytest.approx(S.stretched_length(1.2, l0=2.0), rel=1e-14)
    assert np.all(np.diff(x) > 0)  # no folding below pi/2


def test_spring_parameter():
    assert S.spring_parameter(2.0, 3.0, 12.0) == pytest.approx(1.0)
    assert S.spring_parameter(0, 1.0, 1.0) == 0.0


# -- small u -------------------------------------------------------------------------------
def test_small_u_series():
    u = sp.Symbol("u", positive=True)
    series = sp.series(sp.tan(u) / u, u, 0, 6).removeO()
    assert sp.expand(series - (1 + u**2 / 3 + 2 * u**4 / 15)) == 0
    # numerically: the remainder after 1 + u^2/3 is ~ 2u^4/15
    for v in (1e-2, 3e-2):
        assert S.stretched_length(v) - 1 - v**2 / 3 == pytest.approx(2 * v**4 / 15, rel=1e-2)


def test_point_mass_comparison_exercise():
    # massless spring, point mass q M at its end: k (l - l0) = q M w^2 l, i.e. in units of l0
    # (l - 1) = q u^2 l, solved by l = 1 / (1 - q u^2)
    u, q = sp.symbols("u q", positive=True)
    point = 1 / (1 - q * u**2)
    assert sp.simplify((point - 1) - q * u**2 * point) == 0
    assert sp.series(point.subs(q, 1), u, 0, 4).removeO() == 1 + u**2        # all of M at the end
    third = sp.series(point.subs(q, sp.Rational(1, 3)) - sp.tan(u) / u, u, 0, 5).removeO()
    assert sp.simplify(third - (sp.Rational(1, 9) - sp.Rational(2, 15)) * u**4) == 0  # M/3: agrees to u^2


# -- stability and the divergence ----------------------------------------------------------------
def test_second_variation_along_lowest_mode():
    eta = sp.sin(sp.pi * s / (2 * l0))
    assert sp.simplify(S.second_variation(eta) - k / 2 * ((sp.pi / 2) ** 2 - U**2)) == 0


def test_lowest_mode_is_fundamental_vibration():
    # -k l0 eta'' = lambda0 w1^2 eta with eta(0) = 0, eta'(l0) = 0 at w1 = (pi/2) sqrt(k/M)
    eta = sp.sin(sp.pi * s / (2 * l0))
    w1 = sp.pi / 2 * sp.sqrt(k / M)
    assert sp.simplify(-k * l0 * eta.diff(s, 2) - lam0 * w1**2 * eta) == 0
    assert eta.subs(s, 0) == 0 and sp.simplify(eta.diff(s).subs(s, l0)) == 0
    # and it is the lowest: the fixed-free -d^2/ds^2 on [0, 1] has smallest eigenvalue (pi/2)^2.
    n = 400
    h = 1.0 / n
    A = (np.diag(np.full(n, 2.0)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)) / h**2
    A[-1, -2] = -2.0 / h**2  # ghost node for eta'(1) = 0
    lowest = np.sort(np.linalg.eigvals(A).real)[0]
    assert lowest == pytest.approx((np.pi / 2) ** 2, rel=1e-4)  # second-order scheme, h^2 ~ 6e-6


def test_shooting_residual_matches_closed_form():
    # m(0)/M = 1 - atan(u L)/u for a trial length L, for any u (also past pi/2)
    for u in (0.5, 1.2, S.U_CRITICAL, 2.0):
        for L in (0.7, 3.0, 50.0):
            assert S.shooting_residual(L, u) == pytest.approx(1 - math.atan(u * L) / u, abs=1e-10)
    assert S.shooting_residual(1e4, 2.0, rtol=1e-9) == pytest.approx(1 - np.pi / 4, abs=1e-4)


def test_shooting_agrees_with_closed_form():
    # rtol 1e-12 in the integration; the root's error is amplified by ~ u^2 L <= 150 here,
    # so 1e-9 relative leaves a margin (measured: 6e-15 at u = 0.3 up to 2e-12 at u = 1.56).
    for row in S.accuracy_table(US):
        assert row["rel_error"] < 1e-9, row
    sol = S.solve_by_shooting(1.4)
    s_num, x_num = sol.profile(21)
    assert np.allclose(S.stretch_profile(s_num, 1.4), x_num, rtol=1e-9, atol=1e-9)
    assert s_num[0] == pytest.approx(0, abs=1e-10) and s_num[-1] == pytest.approx(1.0)


def test_shooting_finds_no_equilibrium_past_pi_over_2():
    for u in (S.U_CRITICAL, 1.7):
        with pytest.raises(ValueError, match="diverges"):
            S.solve_by_shooting(u, max_length=1e4)


# -- input validation -------------------------------------------------------------------------
@pytest.mark.parametrize("u", [S.U_CRITICAL, 1.6, 3.0, [0.5, 1.6]])
def test_divergent_u_rejected(u):
    with pytest.raises(ValueError, match=r"diverges as u -> pi/2"):
        S.stretched_length(u)


def test_bad_inputs_rejected():
    with pytest.raises(ValueError, match="must be >= 0"):
        S.stretched_length(-0.1)
    with pytest.raises(ValueError, match="finite"):
        S.stretched_length(float("nan"))
    with pytest.raises(TypeError, match="real number"):
        S.stretched_length(True)
    with pytest.raises(ValueError, match="l0 must be positive"):
        S.stretched_length(0.5, l0=0.0)
    with pytest.raises(ValueError, match="mass must be positive"):
        S.spring_parameter(1.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="stiffness must be positive"):
        S.spring_parameter(1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="omega must be >= 0"):
        S.spring_parameter(-1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="0 <= s <= l0"):
        S.stretch_profile([0.5, 1.5], 0.5)
    with pytest.raises(ValueError, match="must be a scalar"):
        S.stretch_profile([0.5], [0.5, 0.6])
    with pytest.raises(ValueError, match="diverges"):
        S.stretch_profile([0.5], 1.58)
    with pytest.raises(ValueError, match="length must be positive"):
        S.shooting_residual(0.0, 1.0)


def test_tension_density_and_folding_claims():
    # exercise 2: T(s) = k l0 (x' - 1); T(0) is the whole centrifugal force; density at the axis
    x = l0 * sp.sin(U * s / l0) / (U * sp.cos(U))
    tension = k * l0 * (x.diff(s) - 1)
    centrifugal = sp.integrate(lam0 * omega**2 * x, (s, 0, l0))
    assert sp.simplify(tension.subs(s, 0) - centrifugal) == 0
    assert sp.simplify(tension.subs(s, l0)) == 0
    assert sp.simplify(lam0 / x.diff(s).subs(s, 0) - lam0 * sp.cos(U)) == 0
    # past pi/2 the stationary point of the linear problem folds back through the axis (x' < 0)
    at = {M: 1, k: 1, l0: 1, omega: 1.6}
    assert float(x.diff(s).subs(s, 0).subs(at)) < 0 and float(x.subs(s, sp.Rational(1, 2)).subs(at)) < 0
