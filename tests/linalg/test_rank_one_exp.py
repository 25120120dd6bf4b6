"""Tests of kexue.linalg.rank_one_exp: exp(x yᵀ) = I + (e^s - 1)/s x yᵀ, and the chapter's claims
(those of its experiment, table and figures are in test_experiments.py and test_figures.py).

Tolerances are multiples of the dtype's machine epsilon (float64 2.2e-16, float32 1.2e-7), scaled
where stated by the conditioning of the quantity compared.
"""
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats
import sympy
import torch

from kexue.generative.flow import nll_per_dim
from kexue.linalg import rank_one_exp as r

EPS64 = torch.finfo(torch.float64).eps
EPS32 = torch.finfo(torch.float32).eps


def rel(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def pair_with_inner(k, s, gen, dtype=torch.float64):
    """Random x, y in R^k with <x, y> = s (up to rounding)."""
    x, y = torch.randn(2, k, generator=gen, dtype=torch.float64)
    y = y + (s - x @ y) / (x @ x) * x
    return x.to(dtype), y.to(dtype)


# -- the derivation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k,n", [(1, 5), (2, 3), (3, 4)])
def test_power_of_outer_product_symbolic(k, n):
    assert r.symbolic_power_residual(k, n) == sympy.zeros(k, k)


def test_series_sums_to_exprel_with_limit_one():
    total, limit = r.symbolic_series_sum()
    s = sympy.Symbol("s")
    assert sympy.simplify(total - (sympy.exp(s) - 1) / s) == 0
    assert limit == 1


def test_symbolic_determinant_and_inverse():
    det_residual, inv_residual = r.symbolic_det_and_inverse(3)
    assert det_residual == 0
    assert inv_residual == sympy.zeros(3, 3)


# -- exprel -----------------------------------------------------------------------------------------
S_GRID = np.concatenate([-np.logspace(-300, 2.8, 400), [0.0], np.logspace(-300, 2.8, 400),
                         [0.5, -0.5, np.nextafter(0.5, 0), np.nextafter(-0.5, 0)]])


def test_exprel_matches_scipy_float64():
    got = r.exprel(torch.tensor(S_GRID)).numpy()
    ref = scipy.special.exprel(S_GRID)
    # expm1 and the series are each accurate to a few ulps; one division adds one more
    np.testing.assert_allclose(got, ref, rtol=4 * EPS64, atol=0)


def test_exprel_matches_scipy_float32():
    s32 = torch.tensor(S_GRID[np.abs(S_GRID) < 80], dtype=torch.float32)  # e^88 overflows float32
    got = r.exprel(s32).double().numpy()
    ref = scipy.special.exprel(s32.double().numpy())
    np.testing.assert_allclose(got, ref, rtol=4 * EPS32, atol=0)


def test_exprel_is_one_at_zero_and_continuous_through_the_series_radius():
    assert r.exprel(torch.zeros(3, dtype=torch.float64)).tolist() == [1.0, 1.0, 1.0]
    for edge in (r.SERIES_RADIUS, -r.SERIES_RADIUS):
        inside = torch.tensor(np.nextafter(edge, 0.0), dtype=torch.float64)
        outside = torch.tensor(edge, dtype=torch.float64)
        assert abs(float(r.exprel(inside) - r.exprel(outside))) < 4 * EPS64


def test_exprel_limits():
    s = torch.tensor([-1e6, -800.0, 700.0], dtype=torch.float64)
    got = r.exprel(s)
    assert got[0] == pytest.approx(1e-6, rel=1e-15) and got[1] == pytest.approx(1 / 800, rel=1e-15)
    assert got[2] == pytest.approx(math.expm1(700) / 700, rel=4 * EPS64)


def test_naive_formula_fails_near_zero_where_exprel_does_not():
    s = torch.tensor([1e-10, 1e-13, -1e-13, 0.0], dtype=torch.float64)
    naive, stable = r.naive_exprel(s), r.exprel(s)
    ref = torch.from_numpy(scipy.special.exprel(s.numpy()))
    assert torch.isnan(naive[-1])  # 0/0
    # exp(s) - 1 keeps only the digits of s above eps: relative error up to ~eps/|s|
    assert (torch.abs(naive[:3] - ref[:3]) / ref[:3]).min() > 1e5 * EPS64
    assert (torch.abs(stable - ref) / ref).max() < 2 * EPS64


def test_exprel_derivative_matches_closed_form():
    import mpmath

    s = torch.tensor([0.0, 1e-12, -3e-5, 0.2, -0.49, 0.51, 3.0, -20.0], dtype=torch.float64,
                     requires_grad=True)
    (grad,) = torch.autograd.grad(r.exprel(s).sum(), s)
    with mpmath.workdps(60):
        ref = [0.5 if v == 0 else float(((v - 1) * mpmath.exp(v) + 1) / v ** 2)
               for v in map(mpmath.mpf, s.detach().tolist())]
    # the autograd derivative of expm1(s)/s cancels mildly just outside |s| = 1/2 (~e^s/s over 1/2)
    np.testing.assert_allclose(grad.numpy(), ref, rtol=50 * EPS64)


def test_exprel_gradcheck_and_gradgradcheck():
    s = torch.tensor([0.0, 1e-12, -1e-7, 0.3, -0.6, 2.0, -8.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(r.exprel, (s,))
    assert torch.autograd.gradgradcheck(r.exprel, (s,))


def test_factor_errors_show_the_figure_claim():
    s = np.logspace(-14, 1, 40).astype(np.float32).astype(np.float64)
    errs = r.factor_errors(np.concatenate([s, -s]))
    for dt, eps in (("float32", EPS32), ("float64", EPS64)):
        assert errs[f"stable {dt} value"].max() < 2 * eps
        assert errs[f"stable {dt} derivative"].max() < 50 * eps
        assert errs[f"naive {dt} value"].max() > 1e4 * eps  # the naive formula loses digits
        assert errs[f"naive {dt} derivative"].max() > 1.0  # and its derivative all of them


# -- the matrix against independent implementations ------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_matches_matrix_exp_and_scipy_random(k):
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(16, k, generator=gen, dtype=torch.float64)
    y = torch.randn(16, k, generator=gen, dtype=torch.float64)
    got = r.rank_one_exp(x, y)
    outer = x[:, :, None] * y[:, None, :]
    ref_torch = torch.linalg.matrix_exp(outer)
    ref_scipy = torch.from_numpy(np.stack([scipy.linalg.expm(o) for o in outer.numpy()]))
    for g, a, b in zip(got, ref_torch, ref_scipy):
        # matrix_exp's own error is a few eps times its norm growth (|s| here is at most ~10)
        assert rel(g, a) < 1e-13 and rel(g, b) < 1e-13


@pytest.mark.parametrize("s", [0.0, 1e-12, -1e-12, 1e-6, 0.5, -3.0, 50.0, -50.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_against_exact_reference(s, dtype):
    gen = torch.Generator().manual_seed(7)
    x, y = pair_with_inner(6, s, gen, dtype)
    if s == 0.0:  # make <x, y> = 0 exactly in floating point: a vector and its rotation
        x = torch.tensor([1.5, -2.0, 0.0, 0.0, 3.0, 0.0], dtype=dtype)
        y = torch.tensor([2.0, 1.5, 7.0, 0.0, 0.0, 0.0], dtype=dtype)
        assert float(x @ y) == 0.0
    exact, _ = r.exact_rank_one_exp(x, y)
    exact_inv, _ = r.exact_rank_one_exp(x, y, inverse=True)
    # The inputs are exact. s is summed in float64 with error <= k eps64 sum|x_i y_i|, which moves
    # log exprel(s) by at most as much (its slope is in [0, 1]); then exprel(s) and the entries
    # x_i y_j are rounded: a few eps of the dtype.
    bound = 8 * torch.finfo(dtype).eps + 6 * EPS64 * float((x.double() * y.double()).abs().sum())
    assert rel(r.rank_one_exp(x, y).double(), exact) < bound
    assert rel(r.rank_one_exp_inverse(x, y).double(), exact_inv) < bound
    if s == 0.0:  # nilpotent: exp(x yᵀ) = I + x yᵀ exactly
        assert torch.equal(r.rank_one_exp(x, y), torch.eye(6, dtype=dtype) + torch.outer(x, y))


def test_entries_that_are_exactly_0_and_1_stay_so_when_the_factor_overflows():
    """At s = <x, y> = 800 exprel(s) is inf in float64: the entries with x_i or y_j = 0 are still
    exactly those of I (not inf * 0 = nan); the others are out of range, as e^800 is. At s = 700
    everything is finite and agrees with torch.linalg.matrix_exp."""
    f64 = torch.float64
    x, y = torch.tensor([40.0, 0.0, 0.5], dtype=f64), torch.tensor([20.0, 0.0, 0.0], dtype=f64)
    assert torch.equal(r.rank_one_exp(x, y), torch.tensor(
        [[math.inf, 0.0, 0.0], [0.0, 1.0, 0.0], [math.inf, 0.0, 1.0]], dtype=f64))
    x = torch.tensor([35.0, 0.0, 0.5], dtype=f64)
    expected = torch.linalg.matrix_exp(torch.outer(x, y))
    assert torch.isfinite(expected).all() and float(expected.max()) > 1e303
    assert torch.allclose(r.rank_one_exp(x, y), expected, rtol=1e-12, atol=0)


def test_exact_reference_agrees_with_matrix_exp():
    gen = torch.Generator().manual_seed(3)
    x, y = pair_with_inner(5, 1.7, gen)
    exact, s = r.exact_rank_one_exp(x, y)
    assert s == pytest.approx(1.7, abs=1e-14)
    assert rel(exact, torch.linalg.matrix_exp(torch.outer(x, y))) < 1e-14


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_huge_nearly_orthogonal_vectors(dtype):
    x, y = r.adversarial_cases()["huge, nearly orthogonal"]
    x, y = x.to(dtype), y.to(dtype)
    exact, s = r.exact_rank_one_exp(x, y)
    norms = float(x.double().norm() * y.double().norm())
    assert norms > 9e7 and abs(s) < 1e-8 * norms  # the cosine of their angle is below 1e-8
    # <x, y> is accumulated in float64: its error is at most k eps64 sum|x_i y_i| <= 6 eps64 |x||y|
    # (~1.5e-7), and exprel'(s)/exprel(s) ~ 1/2 turns it into the relative error of the x yᵀ part;
    # a float32 s would be off by ~eps32 |x||y| ~ 10, and exprel(s) with it.
    bound = 6 * EPS64 * norms / 2 + 8 * torch.finfo(dtype).eps
    assert rel(r.rank_one_exp(x, y).double(), exact) < bound


def test_table_of_adversarial_cases():
    rows = {name: r.compare_with_generic(x, y) for name, (x, y) in r.adversarial_cases().items()}
    for name, row in rows.items():
        assert row["closed form"] < 1e-9 and row["closed-form inverse"] < 1e-9, name
        assert row["logdet <x,y>"] < 1e-9, name
    # cond(exp(x yᵀ)) >= e^50 > 1/eps: no backward-stable inverse can be accurate, torch's included
    assert rows["s ≈ 50"]["torch inv"] > 1e-3 and rows["s ≈ -50"]["torch inv"] > 1e-3


# -- determinant, inverse, action --------------------------------------------------------------------
def test_determinant_is_exp_of_inner_product():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    a = r.rank_one_exp(x, y)
    s = r.rank_one_exp_logdet(x, y)
    torch.testing.assert_close(s, torch.einsum("bii->b", x[:, :, None] * y[:, None, :]))  # = tr(x yᵀ)
    # |s| < ~12 here: LU's determinant is accurate to a few eps times cond(A) <= e^|s|
    torch.testing.assert_close(torch.linalg.det(a), torch.exp(s), rtol=1e-9, atol=0)
    sign, logabs = torch.linalg.slogdet(a)
    assert (sign == 1).all()
    torch.testing.assert_close(logabs, s, rtol=0, atol=1e-9)
    # the matrix determinant lemma: det(I + c x yᵀ) = 1 + c <y, x> = 1 + (e^s - 1) = e^s
    torch.testing.assert_close(1 + r.exprel(s) * s, torch.exp(s), rtol=4 * EPS64, atol=4 * EPS64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_inverse_times_matrix_is_identity(dtype):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(20, 6, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(20, 6, generator=gen, dtype=torch.float64).to(dtype)
    a, a_inv = r.rank_one_exp(x, y), r.rank_one_exp_inverse(x, y)
    eye = torch.eye(6, dtype=dtype).expand_as(a)
    eps = torch.finfo(dtype).eps
    # products of two matrices: error <= a few eps |A| |A^-1| (normwise)
    scale = torch.linalg.norm(a, dim=(-2, -1)) * torch.linalg.norm(a_inv, dim=(-2, -1))
    for prod in (a @ a_inv, a_inv @ a):
        assert (torch.linalg.norm(prod - eye, dim=(-2, -1)) <= 16 * eps * scale).all()
    if dtype == torch.float64:
        torch.testing.assert_close(a_inv, torch.linalg.inv(a), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(a_inv, torch.linalg.matrix_exp(-x[:, :, None] * y[:, None, :]),
                                   rtol=1e-12, atol=1e-12)


def test_inverse_is_sherman_morrison():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    s, c = x @ y, r.exprel(x @ y)
    sherman = torch.eye(4, dtype=torch.float64) - c * torch.outer(x, y) / (1 + c * s)
    torch.testing.assert_close(r.rank_one_exp_inverse(x, y), sherman, rtol=1e-14, atol=1e-14)


def test_inverse_stays_exact_when_torch_inv_cannot():
    gen = torch.Generator().manual_seed(9)
    x, y = pair_with_inner(6, 40.0, gen)
    exact_inv, _ = r.exact_rank_one_exp(x, y, inverse=True)
    assert rel(r.rank_one_exp_inverse(x, y), exact_inv) < 8 * EPS64


def test_apply_matches_matrix_and_inverts():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 1, 7, generator=gen, dtype=torch.float64)
    y = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    z = torch.randn(3, 4, 7, generator=gen, dtype=torch.float64)
    a = r.rank_one_exp(x, y)
    assert a.shape == (3, 4, 7, 7)
    out = r.rank_one_exp_apply(x, y, z)
    torch.testing.assert_close(out, (a @ z[..., None])[..., 0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r.rank_one_exp_apply(x, y, out, inverse=True), z, rtol=1e-12, atol=1e-12)


def test_batched_and_broadcast_agree_with_loop():
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(2, 1, 3, generator=gen)
    y = torch.randn(5, 3, generator=gen)
    batched = r.rank_one_exp(x, y)
    for i in range(2):
        for j in range(5):
            torch.testing.assert_close(batched[i, j], r.rank_one_exp(x[i, 0], y[j]))


def test_products_are_not_the_exponential_of_the_sum_but_logdets_add():
    gen = torch.Generator().manual_seed(6)
    x1, y1, x2, y2 = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    prod = r.rank_one_exp(x1, y1) @ r.rank_one_exp(x2, y2)
    summed = torch.linalg.matrix_exp(torch.outer(x1, y1) + torch.outer(x2, y2))
    assert rel(prod, summed) > 1e-2  # x1 y1ᵀ and x2 y2ᵀ do not commute
    torch.testing.assert_close(torch.linalg.slogdet(prod).logabsdet, x1 @ y1 + x2 @ y2)
    torch.testing.assert_close(torch.linalg.slogdet(summed).logabsdet, x1 @ y1 + x2 @ y2)


# -- gradients -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("s", [0.0, 1e-9, 0.5, -2.0])
def test_gradcheck_matrix(s):
    gen = torch.Generator().manual_seed(12)
    x, y = pair_with_inner(4, s, gen)
    if s == 0.0:
        x = torch.tensor([1.0, 2.0, 0.0, -1.0], dtype=torch.float64)
        y = torch.tensor([2.0, -1.0, 5.0, 0.0], dtype=torch.float64)
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(r.rank_one_exp, (x, y))
    z = torch.ones(4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: r.rank_one_exp_apply(a, b, z), (x, y))


def test_gradgradcheck_and_logdet_gradient():
    gen = torch.Generator().manual_seed(13)
    x, y = (t.requires_grad_(True) for t in torch.randn(2, 3, generator=gen, dtype=torch.float64))
    assert torch.autograd.gradgradcheck(r.rank_one_exp, (x, y))
    # d<x, y>/dx = y: the gradient of log det through the closed form and through slogdet agree
    g_closed = torch.autograd.grad(r.rank_one_exp_logdet(x, y), x)[0]
    g_slogdet = torch.autograd.grad(torch.linalg.slogdet(r.rank_one_exp(x, y)).logabsdet, x)[0]
    torch.testing.assert_close(g_closed, y.detach())
    torch.testing.assert_close(g_slogdet, y.detach(), rtol=1e-10, atol=1e-10)


def test_float32_inner_product_is_accumulated_in_float64():
    x = torch.tensor([1e4, 1.0, -1e4], dtype=torch.float32)
    y = torch.tensor([1e4, 1.0, 1e4], dtype=torch.float32)
    assert r.inner(x, y).dtype == torch.float32
    assert float(r.inner(x, y)) == 1.0  # 1e8 + 1 - 1e8 would round to 0 in float32


# -- input validation ------------------------------------------------------------------------------
def test_validation():
    v = torch.ones(3)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        r.rank_one_exp([1.0, 2.0], v)
    with pytest.raises(TypeError, match="float32 or float64"):
        r.rank_one_exp(torch.ones(3, dtype=torch.int64), v)
    with pytest.raises(TypeError, match="float32 or float64"):
        r.exprel(torch.ones(3, dtype=torch.float16))
    with pytest.raises(TypeError, match="same dtype"):
        r.rank_one_exp(v, v.double())
    with pytest.raises(ValueError, match="same length k"):
        r.rank_one_exp(v, torch.ones(4))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., k\)"):
        r.rank_one_exp(torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"k >= 1"):
        r.rank_one_exp(torch.ones(2, 0), torch.ones(2, 0))
    with pytest.raises(ValueError, match="non-finite"):
        r.rank_one_exp(torch.tensor([1.0, float("nan"), 0.0]), v)
    with pytest.raises(ValueError, match="non-finite"):
        r.exprel(torch.tensor([float("inf")]))
    with pytest.raises(ValueError, match="do not broadcast"):
        r.rank_one_exp(torch.ones(2, 3), torch.ones(5, 3))
    with pytest.raises(ValueError, match="same length k"):
        r.rank_one_exp_apply(v, v, torch.ones(4))
    with pytest.raises(ValueError, match="1-D"):
        r.exact_rank_one_exp(torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="k must be"):
        r.adversarial_cases(1)


# -- the invertible layer ----------------------------------------------------------------------------
def test_layer_forward_inverse_logdet():
    gen = torch.Generator().manual_seed(21)
    layer = r.RankOneExpLinear(5, 3, init_scale=0.7, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        layer.bias.normal_(generator=gen)
    z = torch.randn(10, 5, generator=gen, dtype=torch.float64)
    out, logdet = layer(z)
    w = layer.matrix()
    expected = torch.linalg.matrix_exp(layer.u[2:3].T @ layer.v[2:3]) \
        @ torch.linalg.matrix_exp(layer.u[1:2].T @ layer.v[1:2]) \
        @ torch.linalg.matrix_exp(layer.u[0:1].T @ layer.v[0:1])
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, z @ w.T + layer.bias, rtol=1e-12, atol=1e-12)
    sign, logabs = torch.linalg.slogdet(w)
    assert sign == 1
    torch.testing.assert_close(logdet, logabs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logdet, (layer.u * layer.v).sum(), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(layer.inverse(out), z, rtol=1e-12, atol=1e-12)


def test_layer_minus_identity_has_rank_at_most_m():
    gen = torch.Generator().manual_seed(22)
    layer = r.RankOneExpLinear(7, 2, init_scale=0.8, dtype=torch.float64, generator=gen)
    w = layer.matrix().detach()
    sv = torch.linalg.svdvals(w - torch.eye(7, dtype=torch.float64))
    assert (sv[2:] < 1e-12).all() and (sv[:2] > 1e-3).all()
    # hence W has at least k - 2m singular values equal to 1
    assert (torch.abs(torch.linalg.svdvals(w) - 1) < 1e-12).sum() >= 7 - 2 * 2


def test_layer_gradcheck():
    gen = torch.Generator().manual_seed(23)
    layer = r.RankOneExpLinear(3, 2, init_scale=0.5, dtype=torch.float64, generator=gen)
    z = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda zz: layer(zz)[0], (z,))

    def out_and_logdet(u, v, b):
        return torch.func.functional_call(layer, {"u": u, "v": v, "bias": b}, (z.detach(),))

    params = tuple(p.detach().clone().requires_grad_(True) for p in (layer.u, layer.v, layer.bias))
    assert torch.autograd.gradcheck(out_and_logdet, params)
    out = layer(z.detach())[0].detach().requires_grad_(True)
    assert torch.autograd.gradcheck(layer.inverse, (out,))


def test_layer_validation():
    with pytest.raises(ValueError, match="dim must be a positive int"):
        r.RankOneExpLinear(0)
    with pytest.raises(ValueError, match="factors must be a positive int"):
        r.RankOneExpLinear(3, 1.5)
    with pytest.raises(ValueError, match="init_scale"):
        r.RankOneExpLinear(3, init_scale=-1.0)
    with pytest.raises(TypeError, match="dtype"):
        r.RankOneExpLinear(3, dtype=torch.int32)
    layer = r.RankOneExpLinear(3)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        layer(torch.ones(2, 4))
    with pytest.raises(TypeError, match="layer's dtype"):
        layer(torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        layer.inverse(torch.full((2, 3), float("inf")))


# -- the flow experiment and its theory -----------------------------------------------------------------
def test_flow_helpers_validate():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        r.gaussian_data(0, 3, cond=2.0, generator=gen)
    with pytest.raises(ValueError, match="cond must be"):
        r.gaussian_data(10, 3, cond=0.5, generator=gen)
    with pytest.raises(ValueError, match="n > k samples"):
        r.gaussian_nll_floor(torch.ones(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        r.optimal_gap(torch.full((5, 2), float("nan")), 1)
    data = r.gaussian_data(10, 3, cond=2.0, generator=gen)
    with pytest.raises(ValueError, match="m must be a non-negative int"):
        r.optimal_gap(data, -1)
    with pytest.raises(TypeError, match="Flow"):
        nll_per_dim(torch.nn.Linear(3, 3), data)


def test_gaussian_floor_is_the_fitted_gaussian_nll():
    gen = torch.Generator().manual_seed(31)
    data = r.gaussian_data(500, 4, cond=10.0, generator=gen)
    cov = np.cov(data.numpy().T, bias=True)
    ref = -scipy.stats.multivariate_normal(data.numpy().mean(0), cov).logpdf(data.numpy()).mean() / 4
    assert r.gaussian_nll_floor(data) == pytest.approx(ref, rel=1e-12)
    eig = np.linalg.eigvalsh(cov)
    assert eig.max() / eig.min() == pytest.approx(100.0, rel=0.5)  # singular values span cond^±1/2


@pytest.mark.parametrize("k", [5, 6])
def test_optimal_flow_reaches_optimal_gap(k):
    gen = torch.Generator().manual_seed(k)
    data = r.gaussian_data(800, k, cond=20.0, generator=gen)
    floor = r.gaussian_nll_floor(data)
    gaps = []
    for m in range(1, k + 1):
        layer = r.optimal_flow(data, m)
        with torch.no_grad():
            achieved = float(nll_per_dim(layer, data)) - floor
        gaps.append(r.optimal_gap(data, m))
        assert achieved == pytest.approx(gaps[-1], abs=1e-12)
    assert all(a >= b for a, b in zip(gaps, gaps[1:]))  # more factors never hurt
    assert gaps[0] > 0.05 and gaps[math.ceil(k / 2) - 1] == 0.0  # zero from m = ceil(k/2) on


def test_random_layers_never_beat_the_optimal_gap():
    gen = torch.Generator().manual_seed(33)
    data = r.gaussian_data(400, 4, cond=30.0, generator=gen)
    floor = r.gaussian_nll_floor(data)
    bound = r.optimal_gap(data, 1)
    with torch.no_grad():
        for _ in range(200):
            layer = r.RankOneExpLinear(4, 1, init_scale=1.0, dtype=torch.float64, generator=gen)
            layer.bias.copy_(-layer.matrix() @ data.mean(0))
            assert float(nll_per_dim(layer, data)) - floor >= bound - 1e-12


def test_optimal_flow_accepts_float32_data():
    gen = torch.Generator().manual_seed(0)
    data = r.gaussian_data(400, 4, cond=10.0, generator=gen).float()
    layer = r.optimal_flow(data, 2)
    with torch.no_grad():
        gap = float(nll_per_dim(layer, data.double())) - r.gaussian_nll_floor(data.double())
    assert gap == pytest.approx(r.optimal_gap(data, 2), abs=1e-6)
