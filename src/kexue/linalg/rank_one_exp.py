"""An explicit, always invertible matrix: the exponential of a rank-one matrix (post 6407).

For vectors ``x, y`` in R^k put ``s = <x, y> = yᵀx``. Since ``(x yᵀ)^n = s^(n-1) x yᵀ``,

    exp(x yᵀ) = I + exprel(s) x yᵀ,       exprel(s) = (e^s - 1) / s   (exprel(0) = 1),
    det exp(x yᵀ) = e^s,                  exp(x yᵀ)^(-1) = exp(-x yᵀ) = I - exprel(-s) x yᵀ.

Everything here is batched over leading dimensions, differentiable, and never forms ``0/0``:
``exprel`` is a Taylor polynomial for ``|s| < 1/2`` and ``expm1(s) / s`` elsewhere.
https://spaces.ac.cn/archives/6407

Serves chapters/part1-linear-algebra/explicit-invertible-matrix.ipynb (post 6407); its figures,
widget and comparison table are in :mod:`kexue.linalg.figures`, its experiment
``rank-one-exp-flow`` in :mod:`kexue.linalg.experiments`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..checks import float_tensor, positive, positive_int, real_number
from ..generative.flow import Flow

_FLOATS = (torch.float32, torch.float64)

#: Below this ``|s|`` exprel is summed as a Taylor polynomial; its first omitted term,
#: ``(1/2)^15 / 16!``, is about 1.5e-18, under float64's half-ulp of 1.1e-16.
SERIES_RADIUS = 0.5
#: ``1/(n+1)!`` for n = 0..14: the Taylor coefficients of exprel(s) = sum_n s^n / (n+1)!.
_COEFFS = tuple(1.0 / math.factorial(n + 1) for n in range(15))


# -- input checks ---------------------------------------------------------------------------------
def _check_vectors(x, y, z=None) -> None:
    """x, y (and z): float tensors of shape (..., k), one dtype and device, batch dims broadcasting."""
    named = [("x", x), ("y", y)] + ([("z", z)] if z is not None else [])
    for name, t in named:
        float_tensor(t, name, dtypes=_FLOATS)
        if t.ndim < 1 or t.shape[-1] < 1:
            raise ValueError(f"{name} must have shape (..., k) with k >= 1, got {tuple(t.shape)}")
    for name, t in named[1:]:
        if t.dtype != x.dtype:
            raise TypeError(f"x and {name} must have the same dtype, got {x.dtype} and {t.dtype}")
        if t.device != x.device:
            raise ValueError(f"x and {name} must be on the same device, got {x.device} and {t.device}")
        if t.shape[-1] != x.shape[-1]:
            raise ValueError(f"x and {name} must have the same length k, got {x.shape[-1]} and "
                             f"{t.shape[-1]}")
    try:
        torch.broadcast_shapes(*(t.shape[:-1] for _, t in named))
    except RuntimeError:
        raise ValueError("the batch (leading) dimensions of "
                         + ", ".join(f"{n} {tuple(t.shape)}" for n, t in named)
                         + " do not broadcast") from None


# -- the scalar factor -----------------------------------------------------------------------------
def _exprel(s: torch.Tensor) -> torch.Tensor:
    small = s.abs() < SERIES_RADIUS
    # Each branch only ever sees arguments where it is finite, so no nan reaches the gradient
    # of the branch torch.where does not take.
    s_small = torch.where(small, s, torch.zeros_like(s))
    series = torch.full_like(s, _COEFFS[-1])
    for c in reversed(_COEFFS[:-1]):  # Horner: 1/1! + s (1/2! + s (1/3! + ...))
        series = series * s_small + c
    s_large = torch.where(small, torch.ones_like(s), s)
    return torch.where(small, series, torch.expm1(s_large) / s_large)


def exprel(s: torch.Tensor) -> torch.Tensor:
    """The factor ``(e^s - 1)/s`` of exp(x yᵀ), equal to 1 at ``s = 0``: accurate and differentiable
    for every ``s`` (no ``0/0``, no cancellation), elementwise over a float32/float64 tensor."""
    float_tensor(s, "s", dtypes=_FLOATS)
    return _exprel(s)


def naive_exprel(s: torch.Tensor) -> torch.Tensor:
    """The textbook ``(exp(s) - 1)/s``, for comparison only: it is ``0/0`` at ``s = 0`` and loses
    about ``-log10|s|`` digits near 0, because ``exp(s) - 1`` cancels."""
    float_tensor(s, "s", dtypes=_FLOATS)
    return (torch.exp(s) - 1) / s


# -- the matrix, its inverse, determinant and action -----------------------------------------------
def inner(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``s = <x, y>`` over the last dimension, accumulated in float64, returned in the inputs' dtype."""
    _check_vectors(x, y)
    return _inner(x, y).to(x.dtype)


def _inner(x, y):
    """``<x, y>`` in float64 (float32 on MPS, which has none). The sum is the one ill-conditioned
    step (huge, nearly orthogonal vectors), and for large |s| the factor e^s turns an absolute
    error in s into a relative one: so float32 inputs get s, and exprel(s), in float64 too."""
    acc = x.dtype if x.device.type == "mps" else torch.float64
    return (x.to(acc) * y.to(acc)).sum(-1)


def rank_one_exp(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``exp(x yᵀ) = I + (e^s - 1)/s · x yᵀ`` with ``s = <x, y>``.

    x, y of shape (..., k), batch dimensions broadcasting, give (..., k, k). Where ``x_i`` or
    ``y_j`` is 0 the entry is exactly that of I, also once the factor overflows (s > 709 in
    float64, 93 in float32) and ``inf · 0`` would be nan."""
    _check_vectors(x, y)
    c = _exprel(_inner(x, y)).to(x.dtype)
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    term = c[..., None, None] * x[..., :, None] * y[..., None, :]
    return eye + torch.where(term.isnan(), 0.0, term)  # nan only as inf * 0: the term is 0


def rank_one_exp_inverse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``exp(x yᵀ)^(-1) = exp(-x yᵀ) = I - (1 - e^(-s))/s · x yᵀ``: the closed form at ``-x``."""
    _check_vectors(x, y)
    return rank_one_exp(-x, y)


def rank_one_exp_logdet(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``log det exp(x yᵀ) = tr(x yᵀ) = <x, y>`` (the determinant ``e^s`` is always positive)."""
    return inner(x, y)


def rank_one_exp_apply(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, *,
                       inverse: bool = False) -> torch.Tensor:
    """``exp(±x yᵀ) z = z ± exprel(±s) <y, z> x`` in O(k), without forming the k×k matrix."""
    _check_vectors(x, y, z)
    x = -x if inverse else x
    return _apply_with(_exprel(_inner(x, y)).to(x.dtype), x, y, z)


def _apply_with(c, x, y, z):
    """``z + c <y, z> x``: the action of ``I + c x yᵀ`` (plain-precision ``<y, z>`` is normwise
    stable here: its error is that of any product with a matrix of norm ``|c| |x| |y|``)."""
    return z + (c * (y * z).sum(-1))[..., None] * x


# -- the derivation, checked symbolically ----------------------------------------------------------
def _symbolic_vectors(k: int):
    import sympy as sp

    k = positive_int(k, "k")
    x = sp.Matrix(sp.symbols(f"x1:{k + 1}"))
    y = sp.Matrix(sp.symbols(f"y1:{k + 1}"))
    return x, y, (y.T * x)[0]


def symbolic_power_residual(k: int = 3, n: int = 4):
    """``(x yᵀ)^n - s^(n-1) x yᵀ`` expanded, for symbolic x, y in R^k: the zero matrix."""
    import sympy as sp

    x, y, s = _symbolic_vectors(k)
    outer = x * y.T
    return sp.expand(outer ** n - s ** (n - 1) * outer)


def symbolic_series_sum():
    """``sum_{n>=1} s^(n-1)/n!`` in closed form (sympy): ``(e^s - 1)/s``, and its limit at 0."""
    import sympy as sp

    s, n = sp.symbols("s"), sp.symbols("n", integer=True, positive=True)
    total = sp.simplify(sp.summation(s ** (n - 1) / sp.factorial(n), (n, 1, sp.oo)))
    return total, sp.limit(total, s, 0)


def symbolic_det_and_inverse(k: int = 3):
    """For symbolic x, y in R^k and ``c = (e^s - 1)/s``: ``det(I + c x yᵀ) - e^s`` and
    ``(I + c x yᵀ)(I - c' x yᵀ) - I`` with ``c' = (1 - e^(-s))/s``, simplified (both zero)."""
    import sympy as sp

    x, y, s = _symbolic_vectors(k)
    eye, outer = sp.eye(k), x * y.T
    a = eye + (sp.exp(s) - 1) / s * outer
    a_inv = eye - (1 - sp.exp(-s)) / s * outer
    return sp.simplify(a.det() - sp.exp(s)), sp.simplify(a * a_inv - eye)


# -- an exact reference, and how the generic routines fare ----------------------------------------
def exact_rank_one_exp(x: torch.Tensor, y: torch.Tensor, *, inverse: bool = False,
                       digits: int = 50) -> tuple[torch.Tensor, float]:
    """``exp(±x yᵀ)`` of the given 1-D float vectors to full float64 accuracy, and the exact ``s``:
    ``s = <x, y>`` summed exactly in rationals, ``exprel(±s)`` in mpmath with ``digits`` digits."""
    from fractions import Fraction

    import mpmath

    _check_vectors(x, y)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"x and y must be 1-D, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    exact = sum(Fraction(a) * Fraction(b) for a, b in zip(x.tolist(), y.tolist()))
    with mpmath.workdps(digits):
        s = mpmath.mpf(exact.numerator) / exact.denominator
        arg = -s if inverse else s
        c = mpmath.expm1(arg) / arg if arg != 0 else mpmath.mpf(1)
        c = -c if inverse else c
        mat = [[float((i == j) + c * mpmath.mpf(a) * mpmath.mpf(b)) for j, b in enumerate(y.tolist())]
               for i, a in enumerate(x.tolist())]
        return torch.tensor(mat, dtype=torch.float64), float(s)


def adversarial_cases(k: int = 6, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Float64 pairs ``(x, y)`` in R^k on which generic routines struggle (k >= 2)."""
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an int >= 2, got {k!r}")
    gen = torch.Generator().manual_seed(seed)

    def pair(target):
        x, y = torch.randn(2, k, generator=gen, dtype=torch.float64)
        return x, y + (target - x @ y) / (x @ x) * x

    shear_x = torch.zeros(k, dtype=torch.float64)
    shear_y = torch.zeros(k, dtype=torch.float64)
    shear_x[:2] = 1e4
    shear_y[0], shear_y[1] = 1e4, -1e4
    big_x, big_y = pair(0.0)
    return {
        "s = 0 exactly, x, y of norm 1.4e4": (shear_x, shear_y),
        "huge, nearly orthogonal": (1e4 * big_x / big_x.norm(), 1e4 * big_y / big_y.norm()),
        "s ≈ 1e-12": pair(1e-12),
        "s ≈ 50": pair(50.0),
        "s ≈ -50": pair(-50.0),
    }


def compare_with_generic(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Relative (Frobenius) errors against :func:`exact_rank_one_exp` of the closed forms and of
    ``torch.linalg.matrix_exp``, ``scipy.linalg.expm``, ``torch.linalg.inv``; and the log-det
    errors of ``<x, y>`` and of ``torch.linalg.slogdet`` (inf where it reports a negative sign).
    Where LAPACK finds the matrix singular in floating point, ``torch.linalg.inv`` raises; its
    error is then nan."""
    import scipy.linalg

    exact, s = exact_rank_one_exp(x, y)
    exact_inv, _ = exact_rank_one_exp(x, y, inverse=True)
    a = rank_one_exp(x, y)
    outer = torch.outer(x, y)

    def rel(m, ref):
        return float(torch.linalg.norm(m - ref) / torch.linalg.norm(ref))

    sign, logabs = torch.linalg.slogdet(a)
    try:
        torch_inv = rel(torch.linalg.inv(a), exact_inv)
    except torch.linalg.LinAlgError:
        torch_inv = math.nan
    return {
        "s": s,
        "closed form": rel(a, exact),
        "torch matrix_exp": rel(torch.linalg.matrix_exp(outer), exact),
        "scipy expm": rel(torch.from_numpy(scipy.linalg.expm(outer.numpy())), exact),
        "closed-form inverse": rel(rank_one_exp_inverse(x, y), exact_inv),
        "torch inv": torch_inv,
        "logdet <x,y>": abs(float(inner(x, y)) - s),
        "torch slogdet": abs(float(logabs) - s) if sign > 0 else math.inf,
    }


# -- the factor's accuracy against mpmath (for the figure) -----------------------------------------
def factor_errors(s: np.ndarray) -> dict[str, np.ndarray]:
    """Relative errors of the naive and stable ``(e^s - 1)/s`` and of their autograd derivatives,
    in float32 and float64, against mpmath; keys like ``"stable float32 value"``."""
    import mpmath

    s = np.asarray(s, dtype=np.float64)
    with mpmath.workdps(60):
        ref_val = np.array([float(mpmath.expm1(v) / v) for v in map(mpmath.mpf, s)])
        ref_der = np.array([float(((v - 1) * mpmath.exp(v) + 1) / v ** 2) for v in map(mpmath.mpf, s)])
    out = {}
    for dtype in _FLOATS:
        for name, fn in (("naive", naive_exprel), ("stable", exprel)):
            t = torch.tensor(s, dtype=dtype, requires_grad=True)
            val = fn(t)
            (der,) = torch.autograd.grad(val.sum(), t)
            for what, got, ref in (("value", val, ref_val), ("derivative", der, ref_der)):
                err = np.abs(got.detach().double().numpy() - ref) / np.abs(ref)
                key = f"{name} {str(dtype).split('.')[-1]} {what}"
                out[key] = np.where(np.isfinite(err), err, np.inf)
    return out


# -- an invertible layer with a free log-determinant ----------------------------------------------
class RankOneExpLinear(Flow):
    """The invertible affine layer ``z -> exp(u_m v_mᵀ) ... exp(u_1 v_1ᵀ) z + b``: a linear
    :class:`~kexue.generative.flow.Flow`, trained with :func:`kexue.generative.flow.nll_per_dim`.

    One factor has 2k parameters against a general matrix's k², so the post suggests a product of
    several; ``log |det|`` of the layer is ``sum_i <u_i, v_i>``, and the inverse is explicit too.
    """

    def __init__(self, dim: int, factors: int = 1, *, init_scale: float = 0.1,
                 dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None):
        super().__init__()
        dim, factors = positive_int(dim, "dim"), positive_int(factors, "factors")
        init_scale = positive(init_scale, "init_scale")
        if dtype not in _FLOATS:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.dim, shape = dim, (factors, dim)
        self.u = torch.nn.Parameter(init_scale * torch.randn(shape, generator=generator, dtype=dtype))
        self.v = torch.nn.Parameter(init_scale * torch.randn(shape, generator=generator, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.zeros(dim, dtype=dtype))

    def _check_input(self, z):
        float_tensor(z, "z", dtypes=_FLOATS)
        if z.ndim < 1 or z.shape[-1] != self.u.shape[-1]:
            raise ValueError(f"z must have shape (..., {self.u.shape[-1]}), got {tuple(z.shape)}")
        if z.dtype != self.u.dtype:
            raise TypeError(f"z must have the layer's dtype {self.u.dtype}, got {z.dtype}")

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W z + b, log det W)`` for ``z`` of shape (..., k); ``log det W = sum_i <u_i, v_i>`` is
        the same for every input."""
        self._check_input(z)
        s = _inner(self.u, self.v)
        for c, u, v in zip(_exprel(s).to(z.dtype), self.u, self.v):
            z = _apply_with(c, u, v, z)
        return z + self.bias, s.sum().to(z.dtype)

    def inverse(self, out: torch.Tensor) -> torch.Tensor:
        """``W^(-1) (out - b) = exp(-u_1 v_1ᵀ) ... exp(-u_m v_mᵀ) (out - b)``."""
        self._check_input(out)
        z = out - self.bias
        coeffs = _exprel(-_inner(self.u, self.v)).to(z.dtype)
        for c, u, v in zip(reversed(coeffs), reversed(self.u), reversed(self.v)):
            z = _apply_with(c, -u, v, z)
        return z

    def matrix(self) -> torch.Tensor:
        """The k×k linear part ``W`` (formed explicitly; for checks and figures)."""
        w = torch.eye(self.u.shape[-1], dtype=self.u.dtype, device=self.u.device)
        for e in rank_one_exp(self.u, self.v):
            w = e @ w
        return w


# -- how many factors does a linear flow need? -----------------------------------------------------
def _check_data(data) -> None:
    float_tensor(data, "data", dtypes=_FLOATS)
    if data.ndim != 2 or data.shape[0] <= data.shape[1]:
        raise ValueError(f"data must have shape (n, k) with n > k samples, got {tuple(data.shape)}")


def gaussian_data(n: int, dim: int, *, cond: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` samples of a correlated Gaussian in R^dim: ``mean + Q diag(sigma) R eps`` with random
    orthogonal Q, R and singular values log-spaced over ``[cond^(-1/2), cond^(1/2)]``."""
    n, dim = positive_int(n, "n"), positive_int(dim, "dim")
    if real_number(cond, "cond") < 1:
        raise ValueError(f"cond must be a finite number >= 1, got {cond!r}")
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    r, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    sigma = torch.logspace(-0.5, 0.5, dim, base=cond, dtype=torch.float64)
    mean = torch.randn(dim, generator=generator, dtype=torch.float64)
    eps = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return eps @ (q * sigma @ r).T + mean


def gaussian_nll_floor(data: torch.Tensor) -> float:
    """The least mean negative log-likelihood per dimension any affine flow to N(0, I) can reach:
    that of the fitted Gaussian, ``(1 + log 2π)/2 + log det(Σ̂) / (2k)`` nats."""
    _check_data(data)
    k = data.shape[-1]
    cov = torch.cov(data.T, correction=0)
    return float(0.5 * (1 + math.log(2 * math.pi)) + torch.linalg.slogdet(cov).logabsdet / (2 * k))


def _whitening_plan(data: torch.Tensor, m: int):
    """Eigen-decomposition of the data covariance and the directions m factors can whiten: the m
    largest eigenvalues above 1 and the m smallest below 1 (see :func:`optimal_gap`)."""
    _check_data(data)
    if not isinstance(m, int) or isinstance(m, bool) or m < 0:
        raise ValueError(f"m must be a non-negative int, got {m!r}")
    lam, vecs = torch.linalg.eigh(torch.cov(data.double().T, correction=0))
    order = torch.argsort(lam)
    above = [int(i) for i in order.flip(0) if lam[i] > 1][:m]
    below = [int(i) for i in order if lam[i] < 1][:m]
    return lam, vecs, above, below


def optimal_gap(data: torch.Tensor, m: int) -> float:
    """The least NLL gap (nats per dimension, above :func:`gaussian_nll_floor`) a product of m
    rank-one exponentials can reach on ``data`` with covariance eigenvalues λ_i:

        (1/k) Σ_{i not whitened} (λ_i - 1 - log λ_i) / 2,

    where the whitened directions are the m largest λ > 1 and the m smallest λ < 1. (W - I has rank
    ≤ m, so WᵀW has at most m eigenvalues above 1 and at most m below; one factor can whiten a pair
    λ_i > 1 > λ_j, or a single direction.)"""
    lam, _, above, below = _whitening_plan(data, m)
    keep = torch.ones_like(lam, dtype=torch.bool)
    keep[above + below] = False
    return float(0.5 * (lam - 1 - lam.log())[keep].sum() / len(lam))


def optimal_flow(data: torch.Tensor, m: int) -> RankOneExpLinear:
    """A float64 :class:`RankOneExpLinear` with m factors whose NLL gap is :func:`optimal_gap`,
    built explicitly: factor f whitens the pair (v_i, v_j) of eigenvectors with λ_i > 1 > λ_j by
    ``B = rotation(θ) diag(λ_i^-1/2, λ_j^-1/2)``, ``cos θ = (1 + ab)/(a + b)``, so that B has the
    eigenvalue 1 and B - I = u wᵀ; then ``exp(x yᵀ) = I + u wᵀ`` for ``x = u``, ``y = w s/<u, w>``,
    ``s = log(1 + <u, w>)``."""
    lam, vecs, above, below = _whitening_plan(data, m)
    k = len(lam)
    layer = RankOneExpLinear(k, m, dtype=torch.float64)
    w_total = torch.eye(k, dtype=torch.float64)
    with torch.no_grad():
        for f in range(m):
            idx = ([above[f]] if f < len(above) else []) + ([below[f]] if f < len(below) else [])
            if not idx:  # nothing left to whiten: the identity factor, x = y = 0
                layer.u[f].zero_()
                layer.v[f].zero_()
                continue
            scales = lam[idx].rsqrt()
            if len(idx) == 2:
                a, b = scales.tolist()
                theta = math.acos((1 + a * b) / (a + b))
                rot = torch.tensor([[math.cos(theta), -math.sin(theta)],
                                    [math.sin(theta), math.cos(theta)]], dtype=torch.float64)
                block = rot * scales
            else:
                block = torch.diag(scales)
            plane = vecs[:, idx]
            update = plane @ (block - torch.eye(len(idx), dtype=torch.float64)) @ plane.T  # rank one
            left, sing, right = torch.linalg.svd(update)
            u, w = left[:, 0] * sing[0], right[0]
            t = float(u @ w)
            s = math.log1p(t)
            layer.u[f] = u
            layer.v[f] = w * (s / t if t != 0 else 1.0)
            w_total = rank_one_exp(layer.u[f], layer.v[f]) @ w_total
        layer.bias.copy_(-w_total @ data.double().mean(0))
    return layer
