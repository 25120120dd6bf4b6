"""Input noise as a gradient penalty (kexue.regularize.noise), checked against
torch.autograd.functional and exact Gauss-Hermite quadrature of the noisy loss."""
import math

import numpy as np
import pytest
import torch

from kexue.regularize import noise as nz
from kexue.regularize.adversarial import kl_from_logits

f64 = torch.float64
SIGMAS = [0.04, 0.02, 0.01, 0.005]


def setup(d=2, m=3, seed=1):
    model = nz.SmoothModel(d, m, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(d, generator=g, dtype=f64) * 0.5
    y = torch.randn(m, generator=g, dtype=f64) * 0.5
    return model, x, y


def gauss_hermite_mean(fn, x, sigma, n=40):
    """E fn(x + sigma z), z ~ N(0, I_2), by a tensor product of n-point Gauss-Hermite rules (exact
    for polynomials of degree < 2n in each coordinate; for these analytic functions the error is
    far below the 1e-10 gaps we measure)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    weights = weights / math.sqrt(2 * math.pi)
    z = torch.tensor(np.stack(np.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2))
    w = torch.tensor(np.outer(weights, weights).reshape(-1))
    return float((w * fn(x + sigma * z)).sum().detach())


def test_laplacian_is_the_hessian_trace():
    model, _, y = setup(d=4, m=3)
    loss = lambda v: ((model(v) - y) ** 2).sum()
    x = torch.randn(4, dtype=f64)
    H = torch.autograd.functional.hessian(loss, x)
    assert abs(float(nz.laplacian(loss, x)) - float(torch.trace(H))) < 1e-12


def test_jacobian_norm_and_its_sign_estimate():
    model, x, _ = setup(d=3, m=4)
    J = torch.autograd.functional.jacobian(model, x)
    exact = float((J ** 2).sum())
    assert abs(float(nz.jacobian_sq_norm(model, x)) - exact) < 1e-12
    # averaged over all 2^m sign vectors the cross terms cancel exactly: E[eta eta^T] = I
    assert abs(float(nz.jacobian_sq_norm_estimate(model, x, nz.all_signs(4))) - exact) < 1e-12
    # one sign vector: ||J^T eta||^2 = ||J||_F^2 + cross terms, which do not vanish individually
    one = nz.rademacher(1, 4, torch.Generator().manual_seed(0))
    assert abs(float(nz.jacobian_sq_norm_estimate(model, x, one)) - exact) > 1e-6
    eta = nz.rademacher(4000, 4, torch.Generator().manual_seed(1))
    assert set(eta.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(nz.jacobian_sq_norm_estimate(model, x, eta)) / exact - 1) < 0.05


def test_symmetric_normal_matches_two_moments_exactly():
    z = nz.symmetric_normal(50, 3, torch.Generator().manual_seed(0))
    assert z.shape == (100, 3)
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=f64), atol=1e-14)
    assert torch.allclose(z.T @ z / len(z), torch.eye(3, dtype=f64), atol=1e-12)


def test_noisy_loss_is_loss_plus_half_sigma_squared_laplacian():
    """E L(x + eps) - [L + sigma^2/2 tr grad^2 L] = O(sigma^4), against exact quadrature."""
    model, x, y = setup()
    loss = lambda v: ((model(v) - y) ** 2).sum(-1)
    exact = [gauss_hermite_mean(loss, x, s) for s in SIGMAS]
    gaps = [abs(e - float(nz.noise_penalised(loss, x, s))) for e, s in zip(exact, SIGMAS)]
    second_order = [abs(e - float(loss(x).detach())) for e in exact]  # the penalty, for scale
    assert all(g < 0.05 * t for g, t in zip(gaps, second_order))
    assert 3.8 < nz.fitted_order(SIGMAS, gaps) < 4.2
    # and the Monte-Carlo estimate with symmetric, whitened samples has the same O(sigma^4) gap
    z = nz.symmetric_normal(20000, 2, torch.Generator().manual_seed(0))
    mc = nz.taylor_gaps(lambda s: nz.smoothed(loss, x, s, z),
                        lambda s: nz.noise_penalised(loss, x, s), SIGMAS)
    assert 3.7 < nz.fitted_order(SIGMAS, mc) < 4.3
    assert all(0.5 < float(a) / b < 2 for a, b in zip(mc, gaps))


def test_consistency_losses_are_gradient_penalties():
    """E ||f(x+eps) - f(x)||^2 = sigma^2 sum ||grad f_i||^2 + O(sigma^4), and
    E KL(p(x) || p(x+eps)) = sigma^2/2 sum p_i ||grad log p_i||^2 + O(sigma^4) (post 7466)."""
    model, x, _ = setup()
    clean = model(x).detach()
    squared = lambda v: ((model(v) - clean) ** 2).sum(-1)
    kl = lambda v: kl_from_logits(clean.expand(len(v), -1), model(v))
    for noisy, penalty in ((squared, nz.squared_penalty), (kl, nz.kl_penalty)):
        exact = [gauss_hermite_mean(noisy, x, s) for s in SIGMAS]
        gaps = [abs(e - float(penalty(model, x, s))) for e, s in zip(exact, SIGMAS)]
        assert all(g < 0.05 * e for g, e in zip(gaps, exact))
        assert 3.8 < nz.fitted_order(SIGMAS, gaps) < 4.2


def test_kl_penalty_is_half_sigma_squared_trace_of_the_vat_hessian():
    model, x, _ = setup(d=4, m=3)
    p = model(x).detach()
    H = torch.autograd.functional.hessian(
        lambda r: kl_from_logits(p.view(1, -1), model(x + r).view(1, -1)).sum(),
        torch.zeros(4, dtype=f64))
    assert abs(float(nz.kl_penalty(model, x, 0.3)) - 0.3 ** 2 / 2 * float(torch.trace(H))) < 1e-13


def test_fitted_order_recovers_a_power():
    s = torch.tensor([0.1, 0.2, 0.4], dtype=f64)
    assert abs(nz.fitted_order(s, 3 * s ** 4) - 4) < 1e-12


def test_bad_input_is_rejected():
    model, x, y = setup()
    loss = lambda v: ((model(v) - y) ** 2).sum(-1)
    with pytest.raises(ValueError, match="sigma must be positive"):
        nz.noise_penalised(loss, x, 0.0)
    with pytest.raises(ValueError, match="1-D"):
        nz.laplacian(loss, x.view(1, -1))
    with pytest.raises(ValueError, match="scalar"):
        nz.laplacian(model, x)
    with pytest.raises(ValueError, match="at least d=3"):
        nz.symmetric_normal(2, 3)
    with pytest.raises(ValueError, match="columns"):
        nz.smoothed(loss, x, 0.1, torch.zeros(4, 3, dtype=f64))
    with pytest.raises(ValueError, match="one column per output"):
        nz.jacobian_sq_norm_estimate(model, x, torch.ones(2, 5, dtype=f64))
    with pytest.raises(ValueError, match="positive and finite"):
        nz.fitted_order([0.1, 0.2], [0.0, 1.0])
    with pytest.raises(TypeError, match="floating"):
        nz.laplacian(loss, torch.tensor([1, 2]))
