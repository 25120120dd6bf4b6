"""Tests for kexue.linalg.matrix_exp: every claim of the chapter det-exp-trace (those of its experiment
and widget are in test_experiments.py and test_figures.py)."""
import itertools
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import torch

from kexue.linalg import matrix_exp as mx

F64 = torch.float64


def rand(n, seed, scale=1.0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=F64) * scale
    if dtype.is_complex:
        A = torch.complex(A, torch.randn(n, n, generator=g, dtype=F64) * scale)
    return A


def contraction(n, seed, norm=0.5):
    G = rand(n, seed)
    return norm * G / torch.linalg.matrix_norm(G, ord=2)


# -- the matrix exponential against scipy ----------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0])
def test_torch_matrix_exp_matches_scipy_expm(n, scale):
    # Both use scaling and squaring with Pade/Taylor approximants accurate to ~1e-15 relative;
    # 1e-10 leaves room for the growth of rounding errors at ||A|| ~ 5 sqrt(n).
    for seed in range(2):
        assert mx.expm_relative_error(rand(n, seed, scale)) < 1e-10
        assert mx.expm_relative_error(rand(n, seed, scale, torch.complex128)) < 1e-10


def test_exp_is_invertible_with_inverse_exp_minus_a():
    A = rand(6, 1)
    prod = torch.linalg.matrix_exp(A) @ torch.linalg.matrix_exp(-A)
    assert torch.allclose(prod, torch.eye(6, dtype=F64), atol=1e-12)


def test_exp_of_sum_factorises_only_for_commuting_matrices():
    A, B = rand(4, 2, 0.7), rand(4, 3, 0.7)
    exp = torch.linalg.matrix_exp
    assert (exp(A + B) - exp(A) @ exp(B)).norm() > 1e-2  # AB != BA: a visible gap
    C = 0.3 * A @ A - A + 2 * torch.eye(4, dtype=F64)  # a polynomial in A commutes with A
    assert torch.allclose(exp(A + C), exp(A) @ exp(C), rtol=1e-12, atol=1e-12)


def test_expm_eig_is_exact_for_diagonalisable_matrices():
    for seed in range(5):
        A = rand(5, seed)
        E = torch.linalg.matrix_exp(A)
        assert (mx.expm_eig(A) - E).norm() / E.norm() < 1e-10
    Z = rand(4, 7, dtype=torch.complex128)
    assert torch.allclose(mx.expm_eig(Z), torch.linalg.matrix_exp(Z), rtol=1e-10, atol=1e-12)


def test_expm_eig_breaks_down_at_a_defective_matrix():
    def case(eps):
        B = torch.tensor([[1.0, 1.0], [eps, 1.0]], dtype=F64)
        E = torch.linalg.matrix_exp(B)
        return (mx.expm_eig(B) - E).norm() / E.norm(), torch.linalg.cond(torch.linalg.eig(B)[1])

    err, _ = case(1e-2)
    assert err < 1e-13
    _, cond = case(1e-10)  # eigenvectors 1/sqrt(eps) apart from parallel: P ill-conditioned
    assert cond > 1e4
    err, _ = case(0.0)  # the Jordan block: no eigenbasis at all
    assert err > 0.1


# -- the identity and its ODE proof ------------------------------------------------------------------
MATRICES = {
    "random": rand(5, 11),
    "random-large": rand(8, 12, scale=2.0),
    "complex": rand(4, 13, dtype=torch.complex128),
    "jordan": torch.tensor([[0.4, 1.0, 0.0], [0.0, 0.4, 1.0], [0.0, 0.0, 0.4]], dtype=F64),
    "nilpotent": torch.triu(rand(4, 14), diagonal=1),
    "rotation-generator": torch.tensor([[0.0, -1.3], [1.3, 0.0]], dtype=F64),
    "example": torch.tensor(mx.EXAMPLE_MATRIX, dtype=F64),
}


@pytest.mark.parametrize("name", MATRICES)
@pytest.mark.parametrize("t", [-1.5, 0.0, 0.7, 1.0])
def test_det_exp_equals_exp_trace(name, t):
    A = MATRICES[name]
    lhs, rhs = mx.det_exp(A, t), mx.exp_trace(A, t)
    assert abs(lhs - rhs) / abs(rhs) < 1e-10  # float64 det of a well-conditioned exp(tA)


def test_identity_against_an_ode_solver():
    # Independent of matrix_exp: integrate X' = A X, X(0) = I, and take det X(t).
    A = torch.tensor(mx.EXAMPLE_MATRIX, dtype=F64).numpy()
    ts = np.linspace(0, 2, 9)
    sol = scipy.integrate.solve_ivp(lambda t, x: (A @ x.reshape(3, 3)).ravel(), (0, 2),
                                    np.eye(3).ravel(), t_eval=ts, rtol=1e-11, atol=1e-13)
    dets = [np.linalg.det(x.reshape(3, 3)) for x in sol.y.T]
    assert np.allclose(dets, np.exp(ts * np.trace(A)), rtol=1e-8)


@pytest.mark.parametrize("t", [-1.0, 0.0, 0.5, 2.0])
def test_f_prime_equals_f_times_trace(t):
    A = rand(4, 21)
    f, df = mx.det_exp_derivative(A, t)
    assert torch.isclose(df, f * torch.trace(A), rtol=1e-10)
    h = 1e-5  # central difference: error ~ h^2 f''' / 6, about 1e-10 relative here
    fd = (mx.det_exp(A, t + h) - mx.det_exp(A, t - h)) / (2 * h)
    assert torch.isclose(df, fd, rtol=1e-7)


@pytest.mark.parametrize("A, t, expected", [
    ([[800.0, 1.0], [0.0, -1.0]], 1.0, math.inf),        # exp(A) overflows, so does det
    ([[800.0, 1.0], [0.0, -2000.0]], 1.0, 0.0),          # exp(A) overflows, det underflows
    ([[-400.0, 1.0], [0.0, 50.0]], -2.0, math.exp(700)),
    ([[800.0, 5.0], [0.0, -790.0]], 1.0, math.exp(10)),  # exp(A) overflows, det does not
])
def test_det_exp_where_the_exponential_overflows_is_what_exp_trace_gives(A, t, expected):
    A = torch.tensor(A, dtype=F64)
    assert not torch.isfinite(torch.linalg.matrix_exp(t * A)).all()
    assert mx.exp_trace(A, t).item() == pytest.approx(expected, rel=1e-12)
    assert mx.det_exp(A, t).item() == pytest.approx(expected, rel=1e-10)
    A32 = torch.tensor([[100.0, 1.0], [0.0, -1.0]])  # e^100 overflows float32
    assert mx.det_exp(A32).item() == mx.exp_trace(A32).item() == math.inf


def test_sympy_general_2x2():
    assert mx.sympy_check_2x2() == 0


def test_sympy_ode_proof_steps_for_general_3x3():
    checks = mx.sympy_check_ode_proof(3)
    assert checks["jacobi"] == 0
    assert all(R.is_zero_matrix for R in checks["series_derivative"])
    assert checks["chain"] == 0
    assert checks["ode_solution"] == 0


def test_sympy_taylor_coefficients_for_general_3x3():
    coeffs = mx.sympy_check_series(3, 4)
    assert len(coeffs) == 5 and all(c == 0 for c in coeffs)


def test_sympy_triangular_and_jordan_3x3():
    assert mx.sympy_check_triangular() == (0, 0)


def test_exp_parametrised_linear_layer_log_det_is_trace():
    # A flow layer x -> exp(A) x: its Jacobian is exp(A), so log|det J| = tr A with no O(n^3) work.
    A = rand(5, 31)
    x = torch.randn(5, dtype=F64)
    J = torch.autograd.functional.jacobian(lambda v: torch.linalg.matrix_exp(A) @ v, x)
    sign, logabsdet = torch.linalg.slogdet(J)
    assert sign == 1 and torch.isclose(logabsdet, torch.trace(A), rtol=1e-12)


# -- logarithms ------------------------------------------------------------------------------------
def spd(n, seed):
    G = rand(n, seed)
    return G @ G.mT + 0.5 * torch.eye(n, dtype=F64)


def test_logm_spd_matches_scipy_and_log_det_is_trace_log():
    for seed in range(3):
        B = spd(6, seed)
        L = mx.logm_spd(B)
        ref = scipy.linalg.logm(B.numpy())
        assert np.allclose(L.numpy(), ref, atol=1e-10)
        assert torch.allclose(torch.linalg.matrix_exp(L), B, rtol=1e-10, atol=1e-10)
        assert torch.isclose(torch.trace(L), torch.linalg.slogdet(B).logabsdet, rtol=1e-12)
        assert math.isclose(np.trace(ref).real, torch.linalg.slogdet(B).logabsdet.item(), rel_tol=1e-10)


def test_log_det_is_trace_log_for_a_non_symmetric_exponential():
    A = rand(5, 41, 0.5)  # B = exp(A) has the real logarithm A
    B = torch.linalg.matrix_exp(A)
    sign, logabsdet = torch.linalg.slogdet(B)
    assert sign == 1 and torch.isclose(logabsdet, torch.trace(A), rtol=1e-12)


def test_rotation_has_many_logarithms_all_with_trace_zero():
    alpha = 0.8
    J = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)
    R = torch.tensor([[math.cos(alpha), -math.sin(alpha)], [math.sin(alpha), math.cos(alpha)]],
                     dtype=F64)
    for k in range(-2, 3):
        L = (alpha + 2 * math.pi * k) * J
        assert torch.allclose(torch.linalg.matrix_exp(L), R, atol=1e-12)
        assert torch.trace(L) == 0
    assert math.isclose(torch.linalg.det(R).item(), 1.0, rel_tol=1e-14)


def test_log_series_matches_scipy_logm_and_inverts_exp():
    A = contraction(6, 51, norm=0.5)
    L = mx.log_series(A, 60)  # truncation: ||tail|| <= sum_{k>60} 0.5^k / k < 1e-19
    I = torch.eye(6, dtype=F64)
    assert np.allclose(L.numpy(), scipy.linalg.logm((I + A).numpy()), atol=1e-12)
    assert torch.allclose(torch.linalg.matrix_exp(L), I + A, atol=1e-12)
    assert torch.isclose(mx.logdet_series(A, 60), torch.linalg.slogdet(I + A).logabsdet, rtol=1e-12)


# -- Hutchinson -------------------------------------------------------------------------------------
def test_rademacher_estimator_is_exactly_unbiased_by_enumeration():
    # Average over all 2^8 sign vectors: exactly tr A, with exactly the stated variance.
    A = rand(8, 61)
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=8)), dtype=F64)
    q = ((signs @ A) * signs).sum(1)
    assert torch.isclose(q.mean(), torch.trace(A), atol=1e-12)
    assert torch.isclose(q.var(unbiased=False), mx.hutchinson_variance(A), rtol=1e-12)


def test_hutchinson_samples_are_the_quadratic_forms_of_the_probes():
    A = rand(5, 62)
    E = mx.probe_vectors(5, 7, generator=torch.Generator().manual_seed(3))
    assert set(E.unique().tolist()) <= {-1.0, 1.0}
    q = mx.hutchinson_samples(A, 7, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(q, torch.einsum("ip,ij,jp->p", E, A, E))


def gaussian_moments(A):
    """Variance v of eps^T A eps for Gaussian eps, and kappa4 (its fourth cumulant):
    with lambda the eigenvalues of S = (A + A^T)/2, v = 2 sum lambda^2, kappa4 = 48 sum lambda^4."""
    lam = torch.linalg.eigvalsh((A + A.mT) / 2)
    return 2 * (lam**2).sum().item(), 48 * (lam**4).sum().item()


def test_gaussian_estimator_unbiased_with_the_stated_variance():
    A, N = rand(6, 63), 40_000
    q = mx.hutchinson_samples(A, N, distribution="gaussian", generator=torch.Generator().manual_seed(0))
    v, k4 = gaussian_moments(A)
    assert math.isclose(mx.hutchinson_variance(A, "gaussian").item(), v, rel_tol=1e-12)
    # 5 standard errors: a false failure has probability < 1e-6
    assert abs(q.mean().item() - torch.trace(A).item()) < 5 * math.sqrt(v / N)
    # the sample variance has variance (mu4 - v^2) / N = (kappa4 + 2 v^2) / N
    assert abs(q.var().item() - v) < 5 * math.sqrt((k4 + 2 * v**2) / N)


@pytest.mark.parametrize("m", [1, 4, 16])
def test_variance_of_m_probe_estimate_falls_as_one_over_m(m):
    A, R = rand(6, 64), 4000
    gen = torch.Generator().manual_seed(m)
    means = torch.stack([mx.hutchinson_trace(A, m, distribution="gaussian", generator=gen)
                         for _ in range(R)])
    v, k4 = gaussian_moments(A)
    # the m-probe mean has cumulants v/m and k4/m^3, so its sample variance over R trials has
    # standard error sqrt((k4/m^3 + 2 (v/m)^2) / R)
    assert abs(means.var().item() - v / m) < 5 * math.sqrt((k4 / m**3 + 2 * (v / m) ** 2) / R)


def test_stochastic_log_det_series_is_unbiased():
    A, N = contraction(6, 65), 20_000
    q = mx.logdet_series_samples(A, 30, N, generator=torch.Generator().manual_seed(1))
    exact = mx.logdet_series(A, 30)  # the same truncated series with exact traces
    se = q.std().item() / math.sqrt(N)  # CLT at N = 20000
    assert abs(q.mean().item() - exact.item()) < 5 * se
    estimate = mx.logdet_series(A, 30, 64, generator=torch.Generator().manual_seed(2))
    assert estimate.shape == () and torch.isfinite(estimate)


# -- input validation ------------------------------------------------------------------------------
def test_input_validation():
    A = rand(3, 0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        mx.det_exp([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(TypeError, match="floating or complex dtype"):
        mx.exp_trace(torch.eye(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="square matrix"):
        mx.det_exp(torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ValueError, match="square matrix"):
        mx.expm_eig(torch.zeros(0, 0, dtype=F64))
    with pytest.raises(ValueError, match="non-finite"):
        mx.det_exp(torch.tensor([[1.0, float("nan")], [0.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="t must be finite"):
        mx.det_exp(A, float("inf"))
    with pytest.raises(ValueError, match=r"t \* A must be finite"):
        mx.det_exp(torch.full((2, 2), 1e300, dtype=F64), 1e10)
    with pytest.raises(TypeError, match="t must be a real number"):
        mx.exp_trace(A, "1")
    with pytest.raises(TypeError, match="real floating dtype"):
        mx.det_exp_derivative(A.to(torch.complex128), 1.0)
    with pytest.raises(TypeError, match="real floating dtype"):
        mx.hutchinson_trace(A.to(torch.complex128), 4)
    with pytest.raises(ValueError, match="symmetric"):
        mx.logm_spd(A)
    with pytest.raises(ValueError, match="positive definite"):
        mx.logm_spd(-spd(3, 0))
    with pytest.raises(ValueError, match=r"\|\|A\|\|_2 < 1"):
        mx.log_series(A, 10)
    with pytest.raises(ValueError, match=r"\|\|A\|\|_2 < 1"):
        mx.logdet_series_samples(contraction(3, 0, norm=1.2), 10, 4)
    with pytest.raises(ValueError, match="terms must be a positive int"):
        mx.log_series(contraction(3, 0), 0)
    with pytest.raises(ValueError, match="num must be a positive int"):
        mx.hutchinson_samples(A, 0)
    with pytest.raises(ValueError, match="distribution must be one of"):
        mx.hutchinson_trace(A, 4, distribution="uniform")
    with pytest.raises(ValueError, match="distribution must be one of"):
        mx.hutchinson_variance(A, "uniform")
