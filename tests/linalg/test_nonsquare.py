"""Tests for kexue.linalg.nonsquare: every claim of the chapter "Non-square determinants"
(those of its experiment and figures are in test_experiments.py and test_figures.py).

Tolerances: float64 linear algebra on matrices of size <= 8 agrees to ~1e-12 relative, so 1e-10 is
used for identities; Gauss-Legendre quadrature of smooth integrands converges geometrically and is
checked to 1e-9 relative; Monte-Carlo checks use a fixed seed and bounds of about 5 standard errors.
"""
import itertools
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats
import sympy as sp
import torch

from kexue.linalg import nonsquare as ns

RTOL = 1e-10


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


SHAPES = [(1, 1), (3, 1), (3, 2), (5, 3), (8, 4), (6, 6), (2, 7, 3)]


# -- the definition and its special cases ----------------------------------------------------------
def test_square_matrices_give_the_absolute_determinant():
    B = rand(4, 6, 6)
    assert torch.allclose(ns.volume(B), torch.linalg.det(B).abs(), rtol=RTOL)
    assert np.allclose(ns.volume(B).numpy(), np.abs(np.linalg.det(B.numpy())), rtol=RTOL)


def test_one_column_gives_the_euclidean_length():
    x = rand(7, 1)
    assert torch.allclose(ns.volume(x), torch.linalg.vector_norm(x), rtol=RTOL)


def test_two_columns_give_the_parallelogram_area_symbolically():
    # det(Z^T Z) = |x|^2 |y|^2 - (x.y)^2 for Z = (x, y) of shape (4, 2), exactly
    xs, ys = sp.symbols("x1:5", real=True), sp.symbols("y1:5", real=True)
    Z = sp.Matrix([[a, b] for a, b in zip(xs, ys)])
    x, y = sp.Matrix(xs), sp.Matrix(ys)
    claim = (x.T * x)[0] * (y.T * y)[0] - ((x.T * y)[0]) ** 2
    assert sp.expand((Z.T * Z).det() - claim) == 0


def test_two_columns_give_norms_times_sine():
    Z = rand(5, 2)
    x, y = Z[:, 0], Z[:, 1]
    theta = torch.arccos(x @ y / (x.norm() * y.norm()))
    assert torch.allclose(ns.volume(Z), x.norm() * y.norm() * torch.sin(theta), rtol=1e-9)


def test_area_in_r3_is_the_cross_product_norm_and_minors_are_its_components():
    B = rand(3, 2)
    x, y = B[:, 0].numpy(), B[:, 1].numpy()
    cross = np.cross(x, y)
    assert np.isclose(float(ns.volume(B)), np.linalg.norm(cross), rtol=RTOL)
    subsets, dets = ns.minors(B)
    assert subsets == [(0, 1), (0, 2), (1, 2)]
    # x cross y = (M_12, -M_02, M_01) in terms of the minors M_ij on rows i, j
    assert np.allclose([dets[2], -dets[1], dets[0]], cross, rtol=RTOL)


def test_lagrange_identity_symbolically():
    a, b = sp.Matrix(sp.symbols("a1:4", real=True)), sp.Matrix(sp.symbols("b1:4", real=True))
    B = a.row_join(b)
    assert sp.expand((B.T * B).det() - a.cross(b).dot(a.cross(b))) == 0


# -- the other routes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_volume_is_the_product_of_singular_values(shape):
    B = rand(*shape)
    expected = torch.linalg.svdvals(B).prod(-1)
    assert torch.allclose(ns.volume(B), expected, rtol=RTOL)
    assert torch.allclose(ns.volume_svd(B), expected, rtol=RTOL)
    assert np.allclose(ns.volume(B).numpy(),
                       np.prod(np.linalg.svd(B.numpy(), compute_uv=False), axis=-1), rtol=RTOL)
    if B.ndim == 2:
        assert np.isclose(float(ns.volume(B)), np.prod(scipy.linalg.svdvals(B.numpy())), rtol=RTOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_gram_schmidt_is_a_qr_factorisation(shape):
    B = rand(*shape)
    Q, R = ns.gram_schmidt(B)
    k = B.shape[-1]
    assert Q.shape == B.shape and R.shape == (*B.shape[:-2], k, k)
    assert torch.allclose(Q @ R, B, atol=1e-12)
    assert torch.allclose(Q.mT @ Q, torch.eye(k, dtype=B.dtype).expand_as(R), atol=1e-12)
    assert torch.equal(R, torch.triu(R)) and bool((torch.diagonal(R, dim1=-2, dim2=-1) >= 0).all())
    # |R_jj| agrees with LAPACK's QR (which may flip signs)
    R_torch = torch.linalg.qr(B).R
    assert torch.allclose(torch.diagonal(R, dim1=-2, dim2=-1),
                          torch.diagonal(R_torch, dim1=-2, dim2=-1).abs(), rtol=1e-9)
    if B.ndim == 2:
        for R_other in (np.linalg.qr(B.numpy())[1], scipy.linalg.qr(B.numpy(), mode="economic")[1]):
            assert np.allclose(np.diag(R.numpy()), np.abs(np.diag(R_other)), rtol=1e-9)
    assert torch.allclose(ns.volume_qr(B), ns.volume(B), rtol=1e-9)


def test_gram_schmidt_heights_are_distances_to_the_earlier_span():
    B = rand(6, 3)
    _, R = ns.gram_schmidt(B)
    for j in range(1, 3):
        A = B[:, :j].numpy()
        coef = np.linalg.lstsq(A, B[:, j].numpy(), rcond=None)[0]
        assert np.isclose(np.linalg.norm(B[:, j].numpy() - A @ coef), float(R[j, j]), rtol=1e-9)


@pytest.mark.parametrize("shape", [(3, 2), (5, 3), (7, 4), (6, 1), (4, 4), (3, 6, 2)])
def test_cauchy_binet_matches_an_explicit_sum_over_row_subsets(shape):
    B = rand(*shape)
    explicit = np.zeros(B.shape[:-2])
    n, k = B.shape[-2:]
    for rows in itertools.combinations(range(n), k):
        explicit = explicit + np.linalg.det(B.numpy()[..., list(rows), :]) ** 2
    assert np.allclose(ns.cauchy_binet(B).numpy(), explicit, rtol=RTOL)
    assert torch.allclose(ns.cauchy_binet(B), torch.linalg.det(B.mT @ B), rtol=RTOL)
    assert ns.minors(B)[1].shape[-1] == math.comb(n, k)


def test_cauchy_binet_symbolically():
    B = sp.Matrix(3, 2, sp.symbols("b1:7", real=True))
    minors_sq = sum(B.extract(list(rows), [0, 1]).det() ** 2
                    for rows in itertools.combinations(range(3), 2))
    assert sp.expand((B.T * B).det() - minors_sq) == 0


def test_volume_is_invariant_under_rotations_and_scales_under_column_maps():
    B = rand(6, 3)
    Q = torch.linalg.qr(rand(6, 6, seed=1)).Q
    A = rand(3, 3, seed=2)
    assert torch.allclose(ns.volume(Q @ B), ns.volume(B), rtol=RTOL)
    assert torch.allclose(ns.volume(B @ A), torch.linalg.det(A).abs() * ns.volume(B), rtol=1e-9)


def test_dependent_columns_have_zero_volume():
    B = rand(5, 2)
    B = torch.cat([B, B @ torch.tensor([[2.0], [-1.0]], dtype=B.dtype)], dim=1)  # b3 = 2 b1 - b2
    for route in (ns.volume, ns.volume_svd, ns.volume_qr):
        assert float(route(B)) < 1e-6
    assert float(ns.cauchy_binet(B)) < 1e-12
    exact = torch.tensor([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    assert float(ns.volume(exact)) == 0.0
    assert ns.log_volume(exact) == -math.inf
    assert ns.gram_schmidt(exact)[1][1, 1] == 0.0


def test_log_volume_is_the_log_of_the_volume():
    B = rand(3, 7, 4)
    assert torch.allclose(ns.log_volume(B), ns.volume(B).log(), rtol=RTOL)


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_volume_is_exact_at_scales_where_b_transpose_b_is_not(scale):
    """det(B^T B) over- or underflows there (~1e+-600); the volume (~1e+-300) does not."""
    B = rand(4, 6, 2) * scale
    assert torch.allclose(ns.volume(B), ns.volume_svd(B), rtol=RTOL, atol=0)


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_log_volume_is_exact_where_even_b_transpose_b_is_out_of_range(scale):
    B = rand(4, 6, 2) * scale
    assert torch.allclose(ns.log_volume(B), torch.linalg.svdvals(B).log().sum(-1), rtol=RTOL)
    assert torch.isinf(ns.volume(rand(5, 3) * 1e150))   # ~1e450: out of range, as for the SVD
    assert torch.equal(ns.volume(torch.zeros(3, 2, dtype=torch.float64)),
                       torch.tensor(0.0, dtype=torch.float64))


def test_numpy_and_float32_inputs_are_accepted():
    B = np.random.default_rng(0).normal(size=(5, 2))
    assert np.isclose(float(ns.volume(B)), np.prod(np.linalg.svd(B, compute_uv=False)), rtol=RTOL)
    assert ns.volume(torch.from_numpy(B).float()).dtype == torch.float32


# -- input validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [ns.volume, ns.log_volume, ns.volume_svd, ns.volume_qr,
                                ns.gram_schmidt, ns.minors, ns.cauchy_binet])
def test_bad_matrices_are_rejected(fn):
    with pytest.raises(ValueError, match=r"k=3 columns in R\^2.*linearly dependent.*\.mT"):
        fn(rand(2, 3))
    with pytest.raises(ValueError, match="must be a matrix.*1-D"):
        fn(rand(4))
    with pytest.raises(ValueError, match="must be a matrix.*0-D"):
        fn(torch.tensor(1.0))
    with pytest.raises(ValueError, match="at least one row and one column"):
        fn(torch.zeros(0, 0))
    with pytest.raises(TypeError, match="floating-point dtype"):
        fn(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor or numpy.ndarray, got list"):
        fn([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="non-finite"):
        fn(torch.tensor([[1.0], [math.nan]]))


def test_minors_refuse_too_many_subsets():
    with pytest.raises(ValueError, match="C\\(n, k\\) = 184756 row subsets"):
        ns.minors(torch.zeros(20, 10, dtype=torch.float64))


# -- maps, Jacobians, lengths and areas ------------------------------------------------------------------
def test_batched_jacobian_matches_pointwise_autograd_and_closed_form():
    a, b = 2.0, 0.5
    t = torch.linspace(0, 6, 7, dtype=torch.float64).unsqueeze(1)
    J = ns.jacobian(ns.ellipse(a, b), t)
    assert J.shape == (7, 2, 1)
    closed = torch.stack([-a * torch.sin(t), b * torch.cos(t)], dim=1)
    assert torch.allclose(J, closed, atol=1e-14)
    z = rand(5, 2)
    J = ns.jacobian(ns.inverse_stereographic, z)
    for i in range(5):
        one = torch.autograd.functional.jacobian(lambda w: ns.inverse_stereographic(w[None])[0], z[i])
        assert torch.allclose(J[i], one, atol=1e-14)


def test_inverse_stereographic_is_conformal_with_the_closed_form_area_element():
    z = 3 * rand(50, 2)
    J = ns.jacobian(ns.inverse_stereographic, z)
    scale = 2 / (1 + z.square().sum(-1))
    assert torch.allclose(J.mT @ J, scale[:, None, None] ** 2 * torch.eye(2, dtype=z.dtype), atol=1e-14)
    assert torch.allclose(ns.area_element(ns.inverse_stereographic, z),
                          ns.inverse_stereographic_area_element(z), rtol=1e-9)


def test_stereographic_inverts_the_inverse_and_lands_on_the_sphere():
    z = 3 * rand(100, 2)
    x = ns.inverse_stereographic(z)
    assert torch.allclose(x.norm(dim=-1), torch.ones(100, dtype=z.dtype), atol=1e-14)
    assert torch.allclose(ns.stereographic(x), z, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("a, b", [(2.0, 1.0), (1.0, 1.0), (0.5, 2.0)])
def test_ellipse_perimeter_by_quadrature_of_the_length_element(a, b):
    exact = ns.ellipse_perimeter(a, b)
    by_quad = scipy.integrate.quad(lambda t: math.hypot(a * math.sin(t), b * math.cos(t)), 0,
                                   2 * math.pi, epsabs=0, epsrel=1e-13, limit=200)[0]
    assert math.isclose(exact, by_quad, rel_tol=1e-11)
    assert math.isclose(ns.manifold_volume(ns.ellipse(a, b), [0.0], [2 * math.pi], 128), exact,
                        rel_tol=1e-9)
    if a == b:
        assert math.isclose(exact, 2 * math.pi * a, rel_tol=1e-14)


@pytest.mark.parametrize("r, theta, phi", [(1.0, (0.0, math.pi), (0.0, 2 * math.pi)),
                                           (1.5, (0.3, 1.2), (0.1, 2.0)),
                                           (0.7, (2.0, 3.0), (1.0, 1.5))])
def test_sphere_patch_area_by_quadrature_of_the_area_element(r, theta, phi):
    area = ns.manifold_volume(ns.sphere(r), [theta[0], phi[0]], [theta[1], phi[1]], 32)
    assert math.isclose(area, ns.sphere_patch_area(r, theta, phi), rel_tol=1e-12)
    if theta == (0.0, math.pi):
        assert math.isclose(area, 4 * math.pi * r * r, rel_tol=1e-12)


def test_manifold_volume_of_a_linear_map_is_the_volume_of_its_matrix():
    B = rand(5, 3)
    vol = ns.manifold_volume(lambda z: z @ B.T, [0.0] * 3, [1.0] * 3, num_nodes=2)
    assert math.isclose(vol, float(ns.volume(B)), rel_tol=RTOL)


def test_map_and_quadrature_inputs_are_checked():
    with pytest.raises(TypeError, match="callable"):
        ns.jacobian("g", rand(3, 1))
    with pytest.raises(ValueError, match=r"shape \(m, k\)"):
        ns.jacobian(ns.ellipse(1, 1), rand(3))
    with pytest.raises(ValueError, match=r"to a tensor of shape \(4, n\)"):
        ns.jacobian(lambda z: z.sum(), rand(4, 2))
    with pytest.raises(ValueError, match=r"maps R\^3 to R\^2"):
        ns.jacobian(lambda z: z[:, :2], rand(4, 3))
    with pytest.raises(ValueError, match="lower < upper"):
        ns.manifold_volume(ns.ellipse(1, 1), [1.0], [0.0])
    with pytest.raises(ValueError, match="equally long"):
        ns.manifold_volume(ns.sphere(), [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="num_nodes must be a positive int"):
        ns.manifold_volume(ns.ellipse(1, 1), [0.0], [1.0], num_nodes=0)
    with pytest.raises(ValueError, match="too many"):
        ns.manifold_volume(ns.sphere(), [0.0, 0.0], [1.0, 1.0], num_nodes=5000)
    with pytest.raises(ValueError, match="a must be a positive"):
        ns.ellipse(-1, 1)
    with pytest.raises(ValueError, match="radius must be a positive"):
        ns.sphere(math.inf)
    with pytest.raises(ValueError, match="theta_0 < theta_1"):
        ns.sphere_patch_area(1.0, (1.0, 0.5), (0.0, 1.0))


# -- densities on the image --------------------------------------------------------------------------------
def test_density_of_a_linear_injective_map_matches_the_gaussian_on_its_image():
    # g(z) = B z: in orthonormal coordinates y = Q^T x = R z of the image plane, y ~ N(0, R R^T)
    B = rand(5, 2)
    z = rand(20, 2, seed=3)
    Q, R = torch.linalg.qr(B)
    std_normal = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=B.dtype),
                                                        torch.eye(2, dtype=B.dtype))
    logp = ns.log_density_on_image(std_normal.log_prob, lambda w: w @ B.T, z)
    image = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=B.dtype), R @ R.T)
    assert torch.allclose(logp, image.log_prob(z @ R.T), rtol=1e-10)
    with pytest.raises(ValueError, match="one value per point"):
        ns.log_density_on_image(lambda w: w, lambda w: w @ B.T, z)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_band_probabilities_match_the_chi_squared_law(sigma):
    edges = np.linspace(-1, 1, 9)
    probs = ns.stereographic_band_probabilities(edges, sigma)
    assert math.isclose(probs.sum(), 1.0, rel_tol=1e-14)
    with np.errstate(divide="ignore"):
        t = (1 + edges) / (1 - edges)
    assert np.allclose(probs, np.diff(scipy.stats.chi2.cdf(t / sigma ** 2, df=2)), atol=1e-14)
    with pytest.raises(ValueError, match="edges must increase"):
        ns.stereographic_band_probabilities([0.5, 0.0])


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0])
def test_mass_without_the_area_factor_by_quadrature(sigma):
    c = 1 / (2 * sigma ** 2)
    by_quad = scipy.integrate.quad(lambda s: 4 / (1 + s) ** 2 * c * math.exp(-c * s), 0,
                                   math.inf, epsrel=1e-12)[0]
    assert math.isclose(ns.stereographic_mass_without_jacobian(sigma), by_quad, rel_tol=1e-9)
