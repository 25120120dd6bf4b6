"""The k-nearest-neighbour entropy estimator of kexue.vae.entropy."""
import math

import pytest
import torch
from entropy_estimators import continuous
from scipy import integrate, special, stats

from kexue.vae import entropy


def _normal(n, d, seed, scale=None):
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return z if scale is None else z @ scale


def test_ball_volume_and_digamma_terms_against_scipy():
    for d in (1, 2, 3, 8):
        assert math.isclose(math.exp(entropy.log_unit_ball_volume(d)),
                            math.pi ** (d / 2) / special.gamma(d / 2 + 1), rel_tol=1e-12)
        assert math.isclose(entropy.log_unit_ball_volume(d, "max"), d * math.log(2), rel_tol=1e-12)
    for n, k in ((2, 1), (100, 1), (100, 5), (3000, 3)):
        assert math.isclose(entropy.digamma_terms(n, k), special.digamma(n) - special.digamma(k),
                            rel_tol=1e-12)


def test_beta_integral_gives_the_digamma_terms():
    # E[log P] for P ~ Beta(k, n - k) is psi(k) - psi(n): the step of the derivation
    for n, k in ((10, 1), (10, 4), (50, 2)):
        density = lambda p: stats.beta(k, n - k).pdf(p) * math.log(p)
        value, _ = integrate.quad(density, 0, 1, limit=200)
        assert math.isclose(-value, entropy.digamma_terms(n, k), rel_tol=1e-7)


def test_unit_ball_volume_by_monte_carlo():
    # the fraction of the cube [-1, 1]^3 inside the unit ball is V_3 / 8; 2e5 points: se ~ 1e-3
    u = 2 * torch.rand(200_000, 3, generator=torch.Generator().manual_seed(0)) - 1
    fraction = float((u.norm(dim=1) <= 1).double().mean())
    assert abs(8 * fraction - math.exp(entropy.log_unit_ball_volume(3))) < 0.02


@pytest.mark.parametrize("norm", ["euclidean", "max"])
def test_gaussian_entropy_within_two_percent_in_3d(norm):
    # correlated 3-D Gaussian, 3000 points: the estimate's spread is about 0.5%
    A = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.4, 1.5]], dtype=torch.float64)
    z = _normal(3000, 3, seed=1, scale=A.T)
    exact = entropy.gaussian_entropy(A @ A.T)
    for k in (1, 4):
        estimate = float(entropy.knn_entropy(z, k, norm=norm))
        assert abs(estimate - exact) < 0.02 * abs(exact), (k, estimate, exact)


def test_gaussian_entropy_closed_form():
    cov = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
    expected = stats.multivariate_normal(mean=[0, 0], cov=cov.numpy()).entropy()
    assert math.isclose(entropy.gaussian_entropy(cov), expected, rel_tol=1e-12)


@pytest.mark.parametrize("k", [1, 3])
def test_max_norm_matches_entropy_estimators_exactly(k):
    z = _normal(700, 4, seed=2)
    ours = float(entropy.knn_entropy(z, k, norm="max"))
    theirs = continuous.get_h(z.numpy(), k=k, norm="max")
    assert ours == pytest.approx(theirs, rel=1e-13, abs=1e-13)


def test_min_dist_matches_entropy_estimators():
    z = _normal(300, 2, seed=3)
    z[1] = z[0]  # a repeated point: distance 0, floored by min_dist
    ours = float(entropy.knn_entropy(z, 1, norm="max", min_dist=1e-3))
    assert ours == pytest.approx(continuous.get_h(z.numpy(), k=1, norm="max", min_dist=1e-3),
                                 rel=1e-13)
    assert float(entropy.knn_entropy(z, 1, norm="max")) == -math.inf


@pytest.mark.parametrize("d", [1, 3, 6])
def test_entropy_estimators_euclidean_is_off_by_d_log_2(d):
    # get_h doubles the radius (log(2 eps)) yet uses the unit *ball* volume: d ln 2 too much
    z = _normal(500, d, seed=4)
    ours = float(entropy.knn_entropy(z, 2, norm="euclidean"))
    theirs = continuous.get_h(z.numpy(), k=2, norm="euclidean")
    assert theirs - ours == pytest.approx(d * math.log(2), abs=1e-10)


def test_distances_against_brute_force_and_chunking():
    z = _normal(250, 3, seed=5)
    full = torch.cdist(z, z) + torch.diag(torch.full((250,), math.inf, dtype=torch.float64))
    expected = full.sort(1).values[:, 2]  # the third nearest other point
    for chunk in (7, 250, 4096):
        assert torch.allclose(entropy.knn_distances(z, 3, chunk=chunk), expected, rtol=1e-12)


def test_gradient_is_finite_and_matches_finite_differences():
    z = _normal(40, 3, seed=6).requires_grad_()
    for norm in ("euclidean", "max"):
        assert torch.autograd.gradcheck(lambda t: entropy.knn_entropy(t, 1, norm=norm), (z,))
    z32 = z.detach().float().requires_grad_()
    entropy.knn_entropy(z32, 1).backward()
    assert bool(torch.isfinite(z32.grad).all())


def test_spreading_points_raises_the_estimate():
    z = _normal(200, 2, seed=7)
    assert float(entropy.knn_entropy(2 * z)) == pytest.approx(
        float(entropy.knn_entropy(z)) + 2 * math.log(2), abs=1e-12)  # H(aZ) = H(Z) + d log a


def test_bad_input():
    z = _normal(10, 2, seed=8)
    with pytest.raises(ValueError, match="norm must be one of"):
        entropy.knn_entropy(z, norm="manhattan")
    with pytest.raises(ValueError, match="k must be smaller"):
        entropy.knn_entropy(z, 10)
    with pytest.raises(ValueError, match="k must be a positive int"):
        entropy.knn_entropy(z, 0)
    with pytest.raises(ValueError, match="must be 2-D"):
        entropy.knn_entropy(z[0])
    with pytest.raises(TypeError, match="floating"):
        entropy.knn_entropy(torch.ones(5, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="finite"):
        entropy.knn_entropy(torch.tensor([[0.0], [math.nan], [1.0]]))
    with pytest.raises(ValueError, match="min_dist must be"):
        entropy.knn_entropy(z, min_dist=-1.0)
    with pytest.raises(ValueError, match="positive definite"):
        entropy.gaussian_entropy(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="symmetric"):
        entropy.gaussian_entropy(torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
