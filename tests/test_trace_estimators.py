"""Hutchinson's estimator and the log-det series from products (kexue.trace_estimators): exact
unbiasedness over every Rademacher probe, Jacobians reached by vector-Jacobian products against
torch.func.jacrev, and the errors bad input gets."""
import itertools

import pytest
import torch
from torch import nn

from kexue import trace_estimators as te


def all_sign_probes(d, dtype=torch.float64):
    """Every vector of ±1 in R^d, as rows: the average over them is the exact expectation."""
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=d)), dtype=dtype)


def small_map(d=4, seed=0, scale=0.3):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, d)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net.requires_grad_(False)


def test_jacobian_trace_is_exact_on_average_over_all_sign_probes():
    g, d = small_map(), 4
    x0 = torch.randn(d, dtype=torch.float64)
    J = torch.func.jacrev(g)(x0)
    probes = all_sign_probes(d)
    x = x0.expand(len(probes), d).clone().requires_grad_()
    estimates = te.hutchinson_estimates(te.vjp(g(x), x), probes)
    assert float(estimates.mean()) == pytest.approx(float(torch.trace(J)), abs=1e-12)
    assert float(estimates.var()) > 0        # single probes do vary


def test_logdet_series_from_vjps_is_the_truncated_series_on_average_and_converges():
    g, d = small_map(scale=0.5), 4
    x0 = torch.randn(d, dtype=torch.float64)
    J = torch.func.jacrev(g)(x0)
    assert float(torch.linalg.matrix_norm(J, 2)) < 1       # a contraction: the series converges
    probes = all_sign_probes(d)
    x = x0.expand(len(probes), d).clone().requires_grad_()
    y = g(x)
    exact = float(torch.linalg.slogdet(torch.eye(d, dtype=torch.float64) + J)[1])
    errors = []
    for terms in (1, 2, 5, 20):
        truncated = sum((-1) ** (k - 1) / k * torch.trace(torch.linalg.matrix_power(J, k))
                        for k in range(1, terms + 1))
        estimate = te.logdet_series_estimates(te.vjp(y, x), probes, terms).mean()
        assert float(estimate) == pytest.approx(float(truncated), abs=1e-12)
        errors.append(abs(float(estimate) - exact))
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-8


def test_matrix_and_jacobian_forms_agree():
    # a linear map's Jacobian is its matrix: probes as columns with A @ V, as rows with V A
    A = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) / 10
    E = te.probe_vectors(5, 7, generator=torch.Generator().manual_seed(2))
    x = torch.zeros(7, 5, dtype=torch.float64, requires_grad=True)
    apply = te.vjp(x @ A.T, x)
    assert torch.allclose(te.hutchinson_estimates(lambda V: A @ V, E, dim=0),
                          te.hutchinson_estimates(apply, E.T.contiguous()), atol=1e-14)
    assert torch.allclose(te.logdet_series_estimates(lambda V: A @ V, E, 6, dim=0),
                          te.logdet_series_estimates(apply, E.T.contiguous(), 6), atol=1e-14)


def test_probes_have_identity_second_moment_and_follow_the_seed():
    x = torch.zeros(20000, 3)
    for distribution in te.PROBES:
        eps = te.probes_like(x, distribution=distribution, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(eps.T @ eps / len(eps), torch.eye(3), atol=0.05)
        again = te.probes_like(x, distribution=distribution, generator=torch.Generator().manual_seed(0))
        assert torch.equal(eps, again)
    assert set(te.probes_like(x).unique().tolist()) == {-1.0, 1.0}


def test_vjp_estimates_can_be_trained_through():
    g = small_map().requires_grad_(True)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    probes = te.probes_like(x, generator=torch.Generator().manual_seed(0))
    estimate = te.logdet_series_estimates(te.vjp(g(x), x, create_graph=True), probes, 3).sum()
    estimate.backward()
    # the Jacobian, so the estimate, depends on every weight (not on the last bias)
    for layer in (g[0], g[2]):
        assert layer.weight.grad is not None and float(layer.weight.grad.abs().max()) > 0


def test_bad_input_is_refused():
    x = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match="distribution must be one of"):
        te.probe_vectors(3, 2, distribution="uniform")
    with pytest.raises(ValueError, match="requires grad"):
        te.vjp(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="x's shape"):
        te.vjp(x.sum(1), x)
    with pytest.raises(ValueError, match="probes' shape"):
        te.hutchinson_estimates(lambda v: v[:, :2], torch.ones(2, 3))
    with pytest.raises(TypeError, match="apply must be callable"):
        te.logdet_series_estimates(None, torch.ones(2, 3), 2)
    with pytest.raises(ValueError, match="terms must be a positive int"):
        te.logdet_series_estimates(lambda v: v, torch.ones(2, 3), 0)
    with pytest.raises(TypeError, match="floating-point"):
        te.probes_like(torch.zeros(2, dtype=torch.int64))
