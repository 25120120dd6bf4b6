"""Tests of kexue.vae.vae_information: E KL(p(z|x) || prior) = I(x; z) + KL(p(z) || prior)."""

import pytest
import torch

import kexue as kx
from kexue.vae import vae_information as vi
from kexue.vae.autoencoder import train_autoencoder


def _linear_case(seed=0, d=2, p=3):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(p, p, generator=g, dtype=torch.float64)
    return (0.6 * torch.randn(d, p, generator=g, dtype=torch.float64),
            0.3 * torch.randn(d, generator=g, dtype=torch.float64),
            torch.log(0.5 + torch.rand(d, generator=g, dtype=torch.float64)),
            A @ A.T / p + 0.5 * torch.eye(p, dtype=torch.float64))


def test_identity_is_exact_in_the_linear_gaussian_case():
    for seed in range(5):
        t = vi.linear_gaussian_terms(*_linear_case(seed))
        assert t["mean_kl"] == pytest.approx(t["mutual_information"] + t["aggregate_kl"],
                                             abs=1e-12)
        assert t["mutual_information"] > 0 and t["aggregate_kl"] > 0


def test_closed_forms_against_torch_distributions():
    W, b, log_var, S = _linear_case(1)
    t = vi.linear_gaussian_terms(W, b, log_var, S)
    MVN = torch.distributions.MultivariateNormal
    prior = MVN(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    D = torch.diag(log_var.exp())
    aggregate = MVN(b, W @ S @ W.T + D)
    assert t["aggregate_kl"] == pytest.approx(float(torch.distributions.kl_divergence(aggregate,
                                                                                     prior)))
    # I(x; z) = H(z) - H(z|x) for the Gaussian channel
    assert t["mutual_information"] == pytest.approx(float(aggregate.entropy() - MVN(b, D).entropy()))


def test_monte_carlo_estimates_match_the_closed_forms():
    # the encoder Gaussians of 3000 data samples; their mixture approximates the aggregate
    W, b, log_var, S = _linear_case(2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3000, 3, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S).T
    mean = x @ W.T + b
    est = vi.information_terms(mean, log_var.expand_as(mean), generator=g, samples_per_blob=2)
    exact = vi.linear_gaussian_terms(W, b, log_var, S)
    for key in ("mutual_information", "aggregate_kl"):
        # 4 standard errors plus 0.02 nats for the mixture of 3000 standing in for the population
        assert est[key] == pytest.approx(exact[key], abs=4 * est[key + "_se"] + 0.02), key
    assert est["mean_kl"] == pytest.approx(exact["mean_kl"], rel=0.05)  # sampled x


def test_identity_holds_within_monte_carlo_error_on_a_small_vae():
    x, _, _, _ = kx.classifier.mnist_subset(600, 1, 0, "cpu")
    model, _ = train_autoencoder("vae", 1.0, dict(hidden=[32], epochs=2, batch_size=50, lr=3e-3,
                                                  seed=0), x)
    with torch.no_grad():
        mean, log_var = model.posterior(x)
    t = vi.information_terms(mean, log_var, generator=torch.Generator().manual_seed(0),
                             samples_per_blob=4)
    assert abs(t["residual"]) < 4 * t["residual_se"]
    assert 0 < t["mutual_information"] <= t["log_n"] + 4 * t["mutual_information_se"]
    assert t["residual_se"] < 0.1 * t["mean_kl"]  # the check has teeth


def test_identity_fails_for_a_wrong_aggregate():
    # sanity of the test above: score the codes of one set against the mixture of another
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(400, 2, generator=g, dtype=torch.float64)
    log_var = torch.full_like(mean, -1.0)
    t = vi.information_terms(mean, log_var, generator=g)
    t_shifted = vi.information_terms(mean + 3.0, log_var, generator=g)
    assert abs(t["residual"]) < 4 * t["residual_se"]
    assert t_shifted["aggregate_kl"] > t["aggregate_kl"] + 3  # the prior term sees the shift
    assert t_shifted["mutual_information"] == pytest.approx(t["mutual_information"], abs=0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        vi.information_terms(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2 data points"):
        vi.information_terms(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="mean must be finite"):
        vi.information_terms(torch.full((3, 2), float("inf")), torch.zeros(3, 2))
    W, b, log_var, S = _linear_case(0)
    with pytest.raises(ValueError, match="positive definite"):
        vi.linear_gaussian_terms(W, b, log_var, -S)
    with pytest.raises(ValueError, match="bias and log_var need shape"):
        vi.linear_gaussian_terms(W, b[:1], log_var, S)
