"""det(exp A) = exp(tr A): the two sides, the ODE proof checked symbolically, log det = tr log,
and the Hutchinson trace estimator that makes the trace side cheap for flows.

Follows Su Jianlin, 《恒等式 det(exp(A)) = exp(Tr(A)) 赏析》 (2019-02-18),
https://spaces.ac.cn/archives/6377. The Hutchinson estimator and the stochastic series for
log det(I + A) are the book's addition (they are how flow models use the identity).

Serves chapters/part1-linear-algebra/det-exp-trace.ipynb (post 6377); its figures and widget are in
:mod:`kexue.linalg.figures`, its experiment ``det-exp-trace-hutchinson`` in
:mod:`kexue.linalg.experiments`.
"""
from __future__ import annotations

import numpy as np
import torch

from ..checks import float_tensor, positive_int, real_number
from ..trace_estimators import PROBES, hutchinson_estimates, logdet_series_estimates, probe_vectors

#: A fixed non-symmetric 3x3 example: eigenvalues 0.219 +- 1.922i and 0.062, trace 0.5.
EXAMPLE_MATRIX = ((0.5, -2.0, 0.3), (1.8, 0.1, -0.4), (0.2, 0.6, -0.1))

#: Probe distributions of the Hutchinson estimator (both have E[eps eps^T] = I).


# -- input checks --------------------------------------------------------------------------------
def _square(A, name: str = "A", *, real: bool = False) -> torch.Tensor:
    """``A`` itself, after checking it is a finite, non-empty, square floating (or complex) matrix."""
    A = float_tensor(A, name, complex_ok=not real)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {tuple(A.shape)}")
    return A


def _contraction(A: torch.Tensor, name: str = "A") -> torch.Tensor:
    """``A`` after checking the post's convergence condition for ln(I + A): spectral norm < 1."""
    norm = torch.linalg.matrix_norm(A, ord=2).item()
    if not norm < 1:
        raise ValueError(f"the series for ln(I + {name}) needs ||{name}||_2 < 1, got {norm:.4g}")
    return A


# -- the two sides of the identity ---------------------------------------------------------------
def det_exp(A: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    """f(t) = det(exp(tA)): a matrix exponential, then a determinant (the expensive side).

    Where exp(tA) overflows it is det(exp(tA/m))^m, m = 2, 4, ... the least that keeps exp(tA/m)
    finite (exp(tA) = exp(tA/m)^m; the trace is not used): inf or 0 where f(t) is out of range, not
    nan. Like any determinant of exp(tA), it loses the small eigenvalues e^(t lambda) of a stiff A
    (real parts far apart) to rounding."""
    X = float_tensor(real_number(t, "t") * _square(A), "t * A", complex_ok=True)
    E, m = torch.linalg.matrix_exp(X), 1.0
    while not bool(torch.isfinite(E).all()):
        m *= 2
        E = torch.linalg.matrix_exp(X / m)
    return torch.linalg.det(E) ** m


def exp_trace(A: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    """exp(t tr A): a trace, then a scalar exponential (the cheap side)."""
    A = _square(A)
    return torch.exp(real_number(t, "t") * torch.trace(A))


def det_exp_derivative(A: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(t), f'(t)) for f(t) = det(exp(tA)), f' by autograd through ``matrix_exp`` and ``det``.

    The ODE proof says f'(t) = f(t) tr A.
    """
    A = _square(A, real=True)
    s = torch.tensor(real_number(t, "t"), dtype=A.dtype, device=A.device, requires_grad=True)
    f = torch.linalg.det(torch.linalg.matrix_exp(s * A))
    (df,) = torch.autograd.grad(f, s)
    return f.detach(), df


def expm_eig(A: torch.Tensor) -> torch.Tensor:
    """exp(A) = P exp(Lambda) P^{-1} from the eigendecomposition A = P Lambda P^{-1}.

    Exact only for diagonalisable A, and inaccurate when P is ill-conditioned (A close to a
    defective matrix). Real input gives the real part of the (complex) result.
    """
    A = _square(A)
    lam, P = torch.linalg.eig(A)
    out = torch.linalg.solve(P, P * torch.exp(lam), left=False)  # X P = P diag(e^lambda)
    return out.real if A.is_floating_point() else out


def expm_relative_error(A: torch.Tensor) -> float:
    """||torch.linalg.matrix_exp(A) - scipy.linalg.expm(A)||_F / ||scipy.linalg.expm(A)||_F."""
    from scipy.linalg import expm

    A = _square(A)
    ours = torch.linalg.matrix_exp(A).cpu().numpy()
    ref = expm(A.cpu().numpy())
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))


# -- logarithms ----------------------------------------------------------------------------------
def logm_spd(B: torch.Tensor) -> torch.Tensor:
    """The real logarithm of a symmetric positive definite B: V diag(log w) V^T from B = V diag(w) V^T."""
    B = _square(B, "B", real=True)
    scale = torch.linalg.matrix_norm(B, ord=2)
    if (B - B.mT).abs().max() > 1e-10 * scale:
        raise ValueError("B must be symmetric")
    w, V = torch.linalg.eigh(B)
    if w.min() <= 0:
        raise ValueError(f"B must be positive definite, its smallest eigenvalue is {w.min().item():.4g}")
    return (V * torch.log(w)) @ V.mT


def log_series(A: torch.Tensor, terms: int) -> torch.Tensor:
    """ln(I + A) = sum_{k=1}^{terms} (-1)^{k-1} A^k / k, the series the post uses (||A||_2 < 1)."""
    A = _contraction(_square(A))
    terms = positive_int(terms, "terms")
    power, out = A, A.clone()
    for k in range(2, terms + 1):
        power = power @ A
        out = out + ((-1) ** (k - 1) / k) * power
    return out


# -- Hutchinson's trace estimator ----------------------------------------------------------------
def hutchinson_samples(A: torch.Tensor, num_probes: int, *, distribution: str = "rademacher",
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """The single-probe estimates eps_i^T A eps_i, i = 1..num_probes; each has mean tr A.

    Only the products A eps are used (:func:`kexue.trace_estimators.hutchinson_estimates`), so A
    could as well be a Jacobian reached by autograd.
    """
    A = _square(A, real=True)
    E = probe_vectors(A.shape[0], num_probes, distribution=distribution, generator=generator,
                      dtype=A.dtype, device=A.device)
    return hutchinson_estimates(lambda V: A @ V, E, dim=0)


def hutchinson_trace(A: torch.Tensor, num_probes: int, *, distribution: str = "rademacher",
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """tr A ~ (1/m) sum_i eps_i^T A eps_i: unbiased, with variance (single-probe variance) / m."""
    return hutchinson_samples(A, num_probes, distribution=distribution, generator=generator).mean()


def hutchinson_variance(A: torch.Tensor, distribution: str = "rademacher") -> torch.Tensor:
    """Exact variance of one probe's estimate eps^T A eps, with S = (A + A^T)/2:
    2 (||S||_F^2 - sum_i S_ii^2) for Rademacher probes, 2 ||S||_F^2 for Gaussian ones."""
    A = _square(A, real=True)
    if distribution not in PROBES:
        raise ValueError(f"distribution must be one of {PROBES}, got {distribution!r}")
    S = (A + A.mT) / 2
    var = 2 * (S**2).sum()
    return var - 2 * (torch.diagonal(S) ** 2).sum() if distribution == "rademacher" else var


def logdet_series_samples(A: torch.Tensor, terms: int, num_probes: int, *,
                          distribution: str = "rademacher",
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-probe estimates of log det(I + A) = tr ln(I + A) = sum_k (-1)^{k-1} tr(A^k) / k,
    each tr(A^k) replaced by eps^T A^k eps with one probe eps shared by all k (||A||_2 < 1).

    Each estimate is unbiased for the series truncated after ``terms`` terms and costs ``terms``
    products A v (:func:`kexue.trace_estimators.logdet_series_estimates`).
    """
    A = _contraction(_square(A, real=True))
    terms = positive_int(terms, "terms")
    E = probe_vectors(A.shape[0], num_probes, distribution=distribution, generator=generator,
                      dtype=A.dtype, device=A.device)
    return logdet_series_estimates(lambda V: A @ V, E, terms, dim=0)


def logdet_series(A: torch.Tensor, terms: int, num_probes: int | None = None, *,
                  distribution: str = "rademacher",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """log det(I + A) as tr of the truncated series for ln(I + A): with exact traces when
    ``num_probes`` is None, else the mean of ``num_probes`` Hutchinson estimates."""
    if num_probes is None:
        return torch.trace(log_series(A, terms))
    return logdet_series_samples(A, terms, num_probes, distribution=distribution,
                                 generator=generator).mean()


# -- symbolic checks (sympy) ---------------------------------------------------------------------
def sympy_check_2x2():
    """det(exp(A)) - exp(tr A), simplified, for the general symbolic A = [[a, b], [c, d]]
    with sympy's own matrix exponential. The identity holds iff this is 0."""
    import sympy as sp

    a, b, c, d = sp.symbols("a b c d")
    A = sp.Matrix([[a, b], [c, d]])
    return sp.simplify(A.exp().det() - sp.exp(A.trace()))


def sympy_check_ode_proof(n: int = 3) -> dict:
    """Each step of the ODE proof for a general symbolic n x n A, as residuals that must be 0.

    * ``jacobi``: the number of (i, j) with d det(M) / d m_ij != adj(M)_ji, for a general
      symbolic M (Jacobi's formula: d det M = tr(adj(M) dM)).
    * ``series_derivative``: d/dt S_N(t) - A S_{N-1}(t) and d/dt S_N(t) - S_{N-1}(t) A for the
      truncated exponential series S_N(t) = sum_{k<=N} t^k A^k / k!, N = 4: term by term,
      (exp tA)' = A exp tA = exp(tA) A.
    * ``chain``: sum_ij (d det M / d m_ij) (A M)_ij - det(M) tr(A): with M' = A M this is
      f'(t) - f(t) tr A for f = det M, for every M (invertible or not).
    * ``ode_solution``: sympy's solution of f' = f tr A, f(0) = 1, minus exp(t tr A).
    """
    import sympy as sp

    n = positive_int(n, "n")
    t = sp.symbols("t")
    A = sp.Matrix(n, n, sp.symbols(f"a0:{n * n}"))
    M = sp.Matrix(n, n, sp.symbols(f"m0:{n * n}"))
    det, adj = M.det(), M.adjugate()
    jacobi = sum(sp.expand(sp.diff(det, M[i, j]) - adj[j, i]) != 0 for i in range(n) for j in range(n))

    powers = [sp.eye(n)]
    for _ in range(4):
        powers.append((powers[-1] * A).expand())

    def series(N):
        return sum((t**k / sp.factorial(k) * powers[k] for k in range(N + 1)), sp.zeros(n, n))

    dS = series(4).diff(t)
    series_derivative = ((dS - A * series(3)).expand(), (dS - series(3) * A).expand())
    AM = A * M
    chain = sp.expand(sum(sp.diff(det, M[i, j]) * AM[i, j] for i in range(n) for j in range(n))
                      - det * A.trace())
    f = sp.Function("f")
    sol = sp.dsolve(sp.Eq(f(t).diff(t), A.trace() * f(t)), f(t), ics={f(0): 1}).rhs
    return {"jacobi": sp.Integer(jacobi), "series_derivative": series_derivative, "chain": chain,
            "ode_solution": sp.simplify(sol - sp.exp(t * A.trace()))}


def sympy_check_series(n: int = 3, order: int = 4) -> list:
    """Coefficients of t^0..t^order of det(exp(tA)) - exp(t tr A) for a general symbolic n x n A.

    exp(tA) enters as its Taylor coefficients A^k / k!; the determinant is expanded by the
    Leibniz formula with every product truncated after t^order. All must be 0.
    """
    import itertools

    import sympy as sp
    from sympy.combinatorics import Permutation

    n, order = positive_int(n, "n"), positive_int(order, "order")
    A = sp.Matrix(n, n, sp.symbols(f"a0:{n * n}"))
    powers = [sp.eye(n)]
    for _ in range(order):
        powers.append((powers[-1] * A).expand())
    entry = [[[powers[k][i, j] / sp.factorial(k) for k in range(order + 1)] for j in range(n)]
             for i in range(n)]

    def times(p, q):  # product of two polynomials in t (coefficient lists), truncated
        return [sp.expand(sum(p[i] * q[k - i] for i in range(k + 1))) for k in range(order + 1)]

    det = [sp.Integer(0)] * (order + 1)
    for perm in itertools.permutations(range(n)):
        term = [sp.Integer(1)] + [sp.Integer(0)] * order
        for i in range(n):
            term = times(term, entry[i][perm[i]])
        sign = Permutation(list(perm)).signature()
        det = [det[k] + sign * term[k] for k in range(order + 1)]
    tr = A.trace()
    return [sp.expand(det[k] - tr**k / sp.factorial(k)) for k in range(order + 1)]


def sympy_check_triangular() -> tuple:
    """det(exp(T)) - exp(tr T), simplified, for the general upper-triangular 3x3
    T = [[l1, x, y], [0, l2, z], [0, 0, l3]] and for the 3x3 Jordan block with eigenvalue l1.
    (Every complex matrix is similar to an upper-triangular one, by Schur's theorem.)"""
    import sympy as sp

    l1, l2, l3, x, y, z = sp.symbols("lambda1:4 x y z")
    T = sp.Matrix([[l1, x, y], [0, l2, z], [0, 0, l3]])
    J = sp.Matrix([[l1, 1, 0], [0, l1, 1], [0, 0, l1]])
    return tuple(sp.simplify(M.exp().det() - sp.exp(M.trace())) for M in (T, J))
