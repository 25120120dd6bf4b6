"""Optimal transport as a linear programme (kexue.gans.transport), against POT."""

import numpy as np
import ot
import pytest
import scipy.optimize
import torch
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import cdist

from kexue.gans import transport

# (n, m, seed) of the random discrete problems
SIZES = [(5, 7, 0), (12, 9, 1), (1, 6, 2), (8, 1, 3), (20, 25, 4)]


def _problem(n, m, seed, cost="euclidean"):
    """Dirichlet histograms on random 2-D points, with the Euclidean cost or i.i.d. uniform costs
    (a generic cost: the optimal plan is unique with n + m - 1 positive entries, and so are the
    potentials up to the shift)."""
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
    if cost == "euclidean":
        C = transport.cost_matrix(rng.normal(size=(n, 2)), rng.normal(size=(m, 2)))
    else:
        C = rng.random((n, m))
    return p, q, C


def _check_optimal_pair(p, q, C, f, g, cost, plan=None):
    """Dual feasibility, the dual value and (given a plan) complementary slackness."""
    slack = C - f[:, None] - g[None, :]
    assert slack.min() >= -1e-9
    assert p @ f + q @ g == pytest.approx(cost, abs=1e-9)
    if plan is not None:
        assert np.abs(slack[plan > 1e-12]).max() <= 1e-9


def test_cost_matrix_matches_scipy_and_pot():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(transport.cost_matrix(x, y), cdist(x, y), rtol=1e-12)
    np.testing.assert_allclose(transport.cost_matrix(x, y, power=2), ot.dist(x, y), rtol=1e-10)
    # torch input, of any float dtype, gives a float64 numpy array
    C = transport.cost_matrix(torch.from_numpy(x).float(), torch.from_numpy(y))
    assert isinstance(C, np.ndarray) and C.dtype == np.float64
    np.testing.assert_allclose(C, cdist(x, y), rtol=1e-6)


def test_constraint_matrix_is_the_posts():
    n, m = 3, 4
    A = transport.transport_constraints(n, m)
    assert A.shape == (n + m, n * m)
    # the first rows sum over y for each x (blocks of m ones), the last over x for each y
    np.testing.assert_array_equal(A[0], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(A[n], [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    plan = np.random.default_rng(0).random((n, m))
    np.testing.assert_allclose(A @ plan.ravel(), np.r_[plan.sum(1), plan.sum(0)])
    assert np.linalg.matrix_rank(A) == n + m - 1
    np.testing.assert_array_equal(transport.transport_constraints(n, m, sparse=True).toarray(), A)


@pytest.mark.parametrize("n, m, seed", SIZES)
def test_primal_matches_pot(n, m, seed):
    p, q, C = _problem(n, m, seed)
    result = transport.optimal_transport(p, q, C)
    assert result.cost == pytest.approx(ot.emd2(p, q, C), abs=1e-9)
    plan = result.plan
    assert plan.shape == (n, m) and plan.min() >= 0
    np.testing.assert_allclose(plan.sum(1), p, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), q, atol=1e-9)
    assert (plan * C).sum() == pytest.approx(result.cost, abs=1e-12)
    _check_optimal_pair(p, q, C, result.f, result.g, result.cost, plan)


@pytest.mark.parametrize("cost", ["euclidean", "uniform"])
@pytest.mark.parametrize("n, m, seed", SIZES)
def test_potentials_match_pot_up_to_the_shift(n, m, seed, cost):
    # Random histograms and continuous costs make the problem non-degenerate, so the potentials
    # are unique up to (f + t, g - t): f - u and g - v are opposite constants.
    p, q, C = _problem(n, m, seed, cost)
    result = transport.optimal_transport(p, q, C)
    _, log = ot.emd(p, q, C, log=True)
    u, v = log["u"], log["v"]
    _check_optimal_pair(p, q, C, u, v, result.cost)  # POT's pair is optimal too
    shift = result.f - u
    np.testing.assert_allclose(shift, shift[0], atol=1e-7)
    np.testing.assert_allclose(result.g - v, -shift[0], atol=1e-7)


def test_degenerate_problem_reaches_pots_dual_value():
    # Uniform masses on one point set: the identity plan costs 0 and has only n positive entries
    # (fewer than n + m - 1), so the potentials are not unique; compare dual values only.
    x = np.random.default_rng(5).normal(size=(6, 2))
    C, p = transport.cost_matrix(x, x), np.full(6, 1 / 6)
    result = transport.optimal_transport(p, p, C)
    np.testing.assert_allclose(result.plan, np.eye(6) / 6, atol=1e-12)
    _, log = ot.emd(p, p, C, log=True)
    assert result.cost == pytest.approx(0, abs=1e-12)
    assert p @ log["u"] + p @ log["v"] == pytest.approx(p @ result.f + p @ result.g, abs=1e-9)
    _check_optimal_pair(p, p, C, result.f, result.g, 0.0, result.plan)


@pytest.mark.parametrize("cost", ["euclidean", "uniform"])
@pytest.mark.parametrize("n, m, seed", SIZES)
def test_strong_duality(n, m, seed, cost):
    p, q, C = _problem(n, m, seed, cost)
    value, f, g = transport.dual_optimal_transport(p, q, C)
    assert value == pytest.approx(transport.optimal_transport(p, q, C).cost, abs=1e-9)
    assert f[0] == 0
    _check_optimal_pair(p, q, C, f, g, value)


def test_histograms_are_rescaled_within_tolerance():
    p, q, C = _problem(5, 7, 0)
    shifted = transport.optimal_transport(p * (1 + 5e-10), q, C)
    assert shifted.cost == pytest.approx(transport.optimal_transport(p, q, C).cost, abs=1e-12)
    np.testing.assert_allclose(shifted.plan.sum(1), p, atol=1e-12)


def test_solver_failure_raises(monkeypatch):
    p, q, C = _problem(5, 7, 0)
    failed = scipy.optimize.OptimizeResult(status=2, message="infeasible")
    monkeypatch.setattr(transport, "linprog", lambda **kwargs: failed)
    with pytest.raises(RuntimeError, match="did not solve"):
        transport.optimal_transport(p, q, C)
    with pytest.raises(RuntimeError, match="did not solve"):
        transport.dual_optimal_transport(p, q, C)


def test_wrong_sign_of_marginals_is_caught(monkeypatch):
    # the potentials are HiGHS's marginals d cost / d b as they are; negated they break the dual
    p, q, C = _problem(5, 7, 0)
    linprog = scipy.optimize.linprog

    def flipped(**kwargs):
        res = linprog(**kwargs)
        res.eqlin.marginals = -res.eqlin.marginals
        return res

    monkeypatch.setattr(transport, "linprog", flipped)
    with pytest.raises(RuntimeError, match="not optimal"):
        transport.optimal_transport(p, q, C)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_1d_matches_pot(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=10), rng.normal(size=13) + 0.5
    u[3] = u[7] = v[2]  # ties, within and across the samples
    wu, wv = rng.dirichlet(np.ones(10)), rng.dirichlet(np.ones(13))
    assert transport.wasserstein_1d(u, v) == pytest.approx(ot.wasserstein_1d(u, v, p=1), abs=1e-12)
    weighted = transport.wasserstein_1d(u, v, wu, wv)
    assert weighted == pytest.approx(ot.wasserstein_1d(u, v, wu, wv, p=1), abs=1e-12)
    # the closed form is the optimal transport cost with c(x, y) = |x - y|
    C = transport.cost_matrix(u[:, None], v[:, None])
    assert weighted == pytest.approx(transport.optimal_transport(wu, wv, C).cost, abs=1e-9)
    # weights are normalised; torch inputs are accepted
    assert transport.wasserstein_1d(torch.from_numpy(u), v, 3 * wu, wv) == pytest.approx(weighted, abs=1e-12)


def test_wasserstein_1d_of_point_masses():
    assert transport.wasserstein_1d(np.array([0.0]), np.array([2.5])) == pytest.approx(2.5)
    assert transport.wasserstein_1d(np.array([1.0, 1.0]), np.array([1.0])) == 0


def _metrics(n, seed):
    """Metric cost matrices on one set of n points: Euclidean, L1, and shortest paths on a random
    weighted complete graph (generally not a norm's distance)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    W = rng.random((n, n)) + 0.1
    paths = shortest_path(np.triu(W, 1) + np.triu(W, 1).T, directed=False)
    return [transport.cost_matrix(x, x), cdist(x, x, "cityblock"), paths]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kantorovich_rubinstein_equals_the_transport_cost(seed):
    n = 9
    rng = np.random.default_rng(seed + 100)
    p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    q[: seed + 1] = 0  # mass-free points in q's histogram
    q /= q.sum()
    for C in _metrics(n, seed):
        cost = ot.emd2(p, q, C)
        value, f = transport.kantorovich_rubinstein(p, q, C)
        assert value == pytest.approx(cost, abs=1e-9)
        assert f[0] == 0
        assert (f[:, None] - f[None, :] - C).max() <= 1e-9  # 1-Lipschitz in the metric C
        # (f, -f) is an optimal pair of the general dual: the step g = -f of the post
        _check_optimal_pair(p, q, C, f, -f, cost)


def test_kantorovich_rubinstein_on_one_point():
    value, f = transport.kantorovich_rubinstein(np.ones(1), np.ones(1), np.zeros((1, 1)))
    assert value == 0 and f.tolist() == [0.0]


def test_bad_input():
    p, q, C = _problem(3, 4, 0)
    ot_functions = (transport.optimal_transport, transport.dual_optimal_transport)
    for solve in ot_functions:
        with pytest.raises(ValueError, match="p must have non-negative entries"):
            solve(np.array([1.5, -0.5, 0.0]), q, C)
        with pytest.raises(ValueError, match="q must sum to one"):
            solve(p, q * (1 + 1e-8), C)
        with pytest.raises(ValueError, match="p must have one entry per row of C"):
            solve(np.full(4, 0.25), q, C)
        with pytest.raises(ValueError, match="q must have one entry per column of C"):
            solve(p, np.full(3, 1 / 3), C)
        with pytest.raises(ValueError, match="C must have non-negative entries"):
            solve(p, q, -C)
        with pytest.raises(ValueError, match="C must be 2-D"):
            solve(p, q, C.ravel())
        with pytest.raises(ValueError, match="p must be 1-D"):
            solve(p[:, None], q, C)
        with pytest.raises(ValueError, match="p must be non-empty"):
            solve(np.zeros(0), q, C)
        with pytest.raises(ValueError, match="C must be non-empty"):
            solve(p, q, np.zeros((3, 0)))
        with pytest.raises(ValueError, match="C must be finite"):
            solve(p, q, np.full((3, 4), np.inf))

    with pytest.raises(ValueError, match="same dimension"):
        transport.cost_matrix(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="x must be 2-D"):
        transport.cost_matrix(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="y must be non-empty"):
        transport.cost_matrix(np.zeros((3, 1)), np.zeros((0, 1)))
    with pytest.raises(ValueError, match="power must be positive"):
        transport.cost_matrix(np.zeros((3, 1)), np.zeros((3, 1)), power=0)
    with pytest.raises(ValueError, match="m must be a positive int"):
        transport.transport_constraints(3, 0)

    x = np.random.default_rng(0).normal(size=(4, 2))
    D, h = transport.cost_matrix(x, x), np.full(4, 0.25)
    with pytest.raises(ValueError, match="C must be square"):
        transport.kantorovich_rubinstein(p, q, C)
    with pytest.raises(ValueError, match="diagonal must be zero"):
        transport.kantorovich_rubinstein(h, h, D + np.eye(4))
    asymmetric = D.copy()
    asymmetric[0, 1] += 0.1
    with pytest.raises(ValueError, match="must be symmetric"):
        transport.kantorovich_rubinstein(h, h, asymmetric)
    with pytest.raises(ValueError, match="triangle inequality"):
        transport.kantorovich_rubinstein(h, h, D**2)  # the squared distance is not a metric
    with pytest.raises(ValueError, match="q must sum to one"):
        transport.kantorovich_rubinstein(h, h / 2, D)

    u = np.arange(3.0)
    with pytest.raises(ValueError, match="u_weights must have one weight per sample"):
        transport.wasserstein_1d(u, u, u_weights=np.ones(2))
    with pytest.raises(ValueError, match="v_weights must be non-negative with a positive sum"):
        transport.wasserstein_1d(u, u, v_weights=np.array([1.0, -1.0, 0.5]))
    with pytest.raises(ValueError, match="v_weights must be non-negative with a positive sum"):
        transport.wasserstein_1d(u, u, v_weights=np.zeros(3))
    with pytest.raises(ValueError, match="u must be non-empty"):
        transport.wasserstein_1d(np.zeros(0), u)
    with pytest.raises(ValueError, match="v must be 1-D"):
        transport.wasserstein_1d(u, u[:, None])
