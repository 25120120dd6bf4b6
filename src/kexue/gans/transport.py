"""Optimal transport between two discrete distributions, as a linear programme and its dual.

Put ``n`` points ``x_i`` with masses ``p_i`` and ``m`` points ``y_j`` with masses ``q_j``, and a
cost ``C_ij = c(x_i, y_j) >= 0`` of moving a unit of mass from ``x_i`` to ``y_j``. A transport plan
``Gamma`` (n x m) says how much mass goes from each ``x_i`` to each ``y_j``; flattened row by row,
``Gamma = (gamma(x1, y1), gamma(x1, y2), ..., gamma(x2, y1), ...)``, the optimal transport cost is
the linear programme (the primal)

    C[p, q] = min_Gamma { <Gamma, C> : A Gamma = b, Gamma >= 0 },

where ``A`` ((n + m) x nm) stacks the n row-sum constraints ``sum_j Gamma_ij = p_i`` on the m
column-sum constraints ``sum_i Gamma_ij = q_j``, and ``b = (p, q)``. Its dual is

    max_F { <b, F> : A^T F <= C } = max_{f, g} { sum_i p_i f_i + sum_j q_j g_j : f_i + g_j <= C_ij },

with ``F = (f, g)``; by strong duality of linear programming the two optima are equal. The dual
has one free direction: ``(f + t, g - t)`` is feasible and has the same value for every ``t``,
because ``sum p = sum q = 1`` (the matching fact on the primal side: the rows of ``A`` add up to the
same all-ones vector in both blocks, so ``A`` has rank ``n + m - 1``).

When the two point sets are one set and ``c`` is a metric (``c(x, x) = 0``, symmetric, triangle
inequality), the maximum is also reached with ``g = -f``, and the dual becomes the
Kantorovich-Rubinstein form

    W_1[p, q] = max_f { sum_i (p_i - q_i) f_i : f_i - f_j <= C_ij } = max_{|f|_L <= 1} E_p f - E_q f,

the objective of the WGAN critic. In one dimension, with ``c(x, y) = |x - y|``, the cost has the
closed form ``W_1 = integral |F_p(t) - F_q(t)| dt`` in the two cumulative distribution functions.

The linear programmes are solved with HiGHS through ``scipy.optimize.linprog``.

Serves chapters/part5-gans/wasserstein-gan.ipynb (post 6280).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch
from scipy.optimize import linprog

from ..checks import float_tensor, positive, positive_int

__all__ = [
    "cost_matrix",
    "transport_constraints",
    "TransportPlan",
    "optimal_transport",
    "dual_optimal_transport",
    "kantorovich_rubinstein",
    "wasserstein_1d",
]

#: How far from one a histogram's total may be (it is then rescaled to sum to exactly one).
SUM_TOLERANCE = 1e-9
#: The slack, relative to ``max(1, max C)``, allowed in the metric axioms of a cost matrix.
METRIC_TOLERANCE = 1e-9


def _array(x, name: str, ndim: int) -> np.ndarray:
    """``x`` (a numpy array or torch tensor of floats, finite, non-empty, ``ndim``-D) in float64."""
    t = float_tensor(x, name, ndim=ndim, nonempty=True, numpy_ok=True)
    return np.array(t.detach().to("cpu", torch.float64).numpy())


def _histogram(p, name: str) -> np.ndarray:
    """``p`` as a float64 probability vector: non-negative entries summing to one (to within
    ``SUM_TOLERANCE``), rescaled to sum to exactly one."""
    p = _array(p, name, 1)
    if (p < 0).any():
        raise ValueError(f"{name} must have non-negative entries (a histogram), got minimum {p.min()!r}")
    total = p.sum()
    if abs(total - 1) > SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to one (a probability histogram), got a sum of {total!r}")
    return p / total


def _problem(p, q, C) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``(p, q, C)``: two histograms and a non-negative cost matrix of matching shape."""
    C = _array(C, "C", 2)
    if (C < 0).any():
        raise ValueError(f"C must have non-negative entries (a cost), got minimum {C.min()!r}")
    p, q = _histogram(p, "p"), _histogram(q, "q")
    if len(p) != C.shape[0]:
        raise ValueError(f"p must have one entry per row of C ({C.shape[0]}), got {len(p)}")
    if len(q) != C.shape[1]:
        raise ValueError(f"q must have one entry per column of C ({C.shape[1]}), got {len(q)}")
    return p, q, C


def _solve(**problem):
    """``linprog(method="highs")``, with a RuntimeError if HiGHS does not report an optimum."""
    res = linprog(method="highs", **problem)
    if res.status != 0:
        raise RuntimeError(f"HiGHS did not solve the linear programme (status {res.status}): {res.message}")
    return res


def cost_matrix(x, y, power: float = 1) -> np.ndarray:
    """``C_ij = ||x_i - y_j||^power`` (Euclidean norm) for point clouds ``x`` (n x d) and ``y``
    (m x d), numpy arrays or torch tensors; an n x m float64 numpy array."""
    x, y = _array(x, "x", 2), _array(y, "y", 2)
    power = positive(power, "power")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have points of the same dimension, got {x.shape[1]} and {y.shape[1]}")
    return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1) ** power


def transport_constraints(n: int, m: int, *, sparse: bool = False):
    """The (n + m) x nm matrix ``A`` with ``A vec(Gamma) = (row sums, column sums)`` of an n x m
    plan flattened row by row: ``A = [I_n kron 1_m^T ; 1_n^T kron I_m]``. Its rank is
    ``n + m - 1`` (the two blocks' rows add up to the same all-ones row). A dense float64 array,
    or a ``scipy.sparse`` CSR matrix where ``sparse``."""
    n, m = positive_int(n, "n"), positive_int(m, "m")
    rows = scipy.sparse.kron(scipy.sparse.eye(n), np.ones((1, m)))
    cols = scipy.sparse.kron(np.ones((1, n)), scipy.sparse.eye(m))
    A = scipy.sparse.vstack([rows, cols], format="csr")
    return A if sparse else A.toarray()


@dataclass(frozen=True)
class TransportPlan:
    """An optimal transport plan and an optimal pair of dual potentials.

    ``cost = <plan, C> = sum_i p_i f_i + sum_j q_j g_j`` and ``f_i + g_j <= C_ij``, with equality
    wherever ``plan_ij > 0`` (complementary slackness). ``(f + t, g - t)`` is as optimal for any
    ``t``; in a degenerate problem the potentials need not be unique even up to that shift.
    """

    cost: float
    plan: np.ndarray
    f: np.ndarray
    g: np.ndarray


def optimal_transport(p, q, C) -> TransportPlan:
    """Solve the primal ``min { <Gamma, C> : A Gamma = (p, q), Gamma >= 0 }`` with HiGHS.

    ``p`` (n) and ``q`` (m) are probability histograms, ``C`` (n x m) a non-negative cost. The
    potentials ``(f, g)`` are the constraints' marginals ``d cost / d b`` that HiGHS reports
    (``res.eqlin.marginals``): the solution of the dual ``max { <b, F> : A^T F <= C }``. They are
    one representative of the line ``(f + t, g - t)`` of optimal potentials, whichever HiGHS's
    final basis gives. A RuntimeError if HiGHS fails, or if its potentials are not dual feasible or
    do not reach the primal cost (to 1e-7 relative to ``max(1, max C)``).
    """
    p, q, C = _problem(p, q, C)
    n, m = C.shape
    res = _solve(
        c=C.ravel(),
        A_eq=transport_constraints(n, m, sparse=True),
        b_eq=np.concatenate([p, q]),
        bounds=(0, None),
    )
    plan = np.maximum(res.x.reshape(n, m), 0)
    f, g = res.eqlin.marginals[:n], res.eqlin.marginals[n:]
    cost = float((plan * C).sum())
    scale = 1e-7 * max(1.0, C.max())
    violation = (f[:, None] + g[None, :] - C).max()
    if violation > scale or abs(p @ f + q @ g - cost) > scale:
        raise RuntimeError(
            f"HiGHS's dual potentials are not optimal: constraint violation "
            f"{violation:.3g}, duality gap {cost - p @ f - q @ g:.3g}"
        )
    return TransportPlan(cost=cost, plan=plan, f=f, g=g)


def dual_optimal_transport(p, q, C) -> tuple[float, np.ndarray, np.ndarray]:
    """``(value, f, g)``: the dual ``max { sum_i p_i f_i + sum_j q_j g_j : f_i + g_j <= C_ij }``
    solved directly (``f``, ``g`` free), with the shift ``(f + t, g - t)`` pinned by ``f_0 = 0``.
    By strong duality ``value`` equals :func:`optimal_transport`'s cost."""
    p, q, C = _problem(p, q, C)
    n, m = C.shape
    bounds = [(0, 0)] + [(None, None)] * (n + m - 1)
    res = _solve(
        c=-np.concatenate([p, q]),
        A_ub=transport_constraints(n, m, sparse=True).T,
        b_ub=C.ravel(),
        bounds=bounds,
    )
    f, g = res.x[:n], res.x[n:]
    return float(p @ f + q @ g), f, g


def _check_metric(C: np.ndarray) -> None:
    """A ValueError unless ``C`` is square, zero on the diagonal, symmetric and satisfies the
    triangle inequality ``C_ik <= C_ij + C_jk``, each to ``METRIC_TOLERANCE * max(1, max C)``."""
    if C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be square (costs between the points of one set), got shape {C.shape}")
    tol = METRIC_TOLERANCE * max(1.0, C.max())
    if np.abs(np.diag(C)).max() > tol:
        raise ValueError(
            f"C must be a metric: its diagonal must be zero, got max |C_ii| = {np.abs(np.diag(C)).max():.3g}"
        )
    if np.abs(C - C.T).max() > tol:
        raise ValueError(
            f"C must be a metric: it must be symmetric, got max |C - C^T| = {np.abs(C - C.T).max():.3g}"
        )
    for j in range(len(C)):
        excess = (C - C[:, j : j + 1] - C[j : j + 1, :]).max()
        if excess > tol:
            raise ValueError(
                f"C must be a metric: the triangle inequality C_ik <= C_ij + C_jk fails "
                f"through j = {j} by {excess:.3g}"
            )


def kantorovich_rubinstein(p, q, C) -> tuple[float, np.ndarray]:
    """``(value, f)``: ``max { sum_i (p_i - q_i) f_i : f_i - f_j <= C_ij }`` for two histograms on one
    point set with a metric cost ``C`` (n x n), the dual with ``g = -f``; ``f`` is 1-Lipschitz in
    the metric ``C``, pinned by ``f_0 = 0``. It equals :func:`optimal_transport`'s cost; a
    ValueError if ``C`` is not a metric (see the module's ``METRIC_TOLERANCE``)."""
    p, q, C = _problem(p, q, C)
    _check_metric(C)
    n = len(C)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    pairs = np.arange(len(i))
    A = scipy.sparse.csr_array(
        (np.r_[np.ones(len(i)), -np.ones(len(i))], (np.r_[pairs, pairs], np.r_[i, j])), shape=(len(i), n)
    )
    bounds = [(0, 0)] + [(None, None)] * (n - 1)
    res = _solve(c=q - p, A_ub=A if len(i) else None, b_ub=C[i, j] if len(i) else None, bounds=bounds)
    f = res.x
    return float((p - q) @ f), f


def _sample_weights(w, name: str, n: int) -> np.ndarray:
    """Weights for ``n`` samples, normalised to sum to one (uniform if ``w`` is None)."""
    if w is None:
        return np.full(n, 1 / n)
    w = _array(w, name, 1)
    if len(w) != n:
        raise ValueError(f"{name} must have one weight per sample ({n}), got {len(w)}")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            f"{name} must be non-negative with a positive sum, got minimum {w.min()!r} and sum {w.sum()!r}"
        )
    return w / w.sum()


def wasserstein_1d(u, v, u_weights=None, v_weights=None) -> float:
    """``W_1 = integral |F_u(t) - F_v(t)| dt`` between the empirical distributions of the 1-D samples
    ``u`` and ``v``, each sample weighted by ``u_weights`` / ``v_weights`` (uniform if None;
    normalised to sum to one). The CDFs are step functions, so the integral is a finite sum over
    the gaps between the sorted pooled samples."""
    u, v = _array(u, "u", 1), _array(v, "v", 1)
    wu, wv = _sample_weights(u_weights, "u_weights", len(u)), _sample_weights(v_weights, "v_weights", len(v))
    t = np.sort(np.concatenate([u, v]))

    def cdf(x, w):  # F(t_k) = total weight of the samples <= t_k, for the left end of each gap
        order = np.argsort(x, kind="stable")
        cumulative = np.concatenate([[0.0], np.cumsum(w[order])])
        return cumulative[np.searchsorted(x[order], t[:-1], side="right")]

    return float(np.sum(np.abs(cdf(u, wu) - cdf(v, wv)) * np.diff(t)))
