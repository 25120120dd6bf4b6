"""Tests for kexue.generative.likelihood, the importance-sampled log-likelihood, on a linear-Gaussian model
whose log p(x), posterior and ELBO are known in closed form:

    z ~ N(0, I_d),   x | z ~ N(W z + b, s^2 I_D),   so   x ~ N(b, W W^T + s^2 I).

The exact log p(x) comes from scipy.stats (independent of torch); the posterior is
N(S W^T (x - b) / s^2, S) with S = (I + W^T W / s^2)^-1."""
import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch import distributions as D

from kexue.generative.likelihood import importance_log_likelihood, log_mean_exp

F64 = torch.float64
d, D_X, S = 2, 3, 0.5


def model(seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D_X, d, generator=g, dtype=F64)
    b = torch.randn(D_X, generator=g, dtype=F64)
    x = torch.randn(4, D_X, generator=g, dtype=F64) * 2
    exact = stats.multivariate_normal(b.numpy(), (W @ W.T).numpy() + S**2 * np.eye(D_X)).logpdf(x.numpy())
    return W, b, x, torch.as_tensor(exact)


def log_joint(W, b, x, z):
    prior = D.MultivariateNormal(torch.zeros(d, dtype=F64), torch.eye(d, dtype=F64))
    lik = D.Independent(D.Normal(z @ W.T + b, S), 1)
    return prior.log_prob(z) + lik.log_prob(x)


def posterior(W, b, x):
    cov = torch.linalg.inv(torch.eye(d, dtype=F64) + W.T @ W / S**2)
    return D.MultivariateNormal((x - b) @ W @ cov / S**2, cov)   # cov symmetric


def weights_from(proposal_of, W, b, seed=1):
    g = torch.Generator().manual_seed(seed)

    def log_weight(x):
        q = proposal_of(x)
        L = torch.linalg.cholesky(q.covariance_matrix)
        z = q.mean + (L @ torch.randn(len(x), d, 1, generator=g, dtype=F64)).squeeze(-1)
        return log_joint(W, b, x, z) - q.log_prob(z)

    return log_weight


def test_exact_with_the_true_posterior_as_proposal():
    # every weight is p(x) itself, so any K gives log p(x) to rounding error (float64)
    W, b, x, exact = model()
    lw = weights_from(lambda x: posterior(W, b, x), W, b)
    for k in (1, 7):
        est = importance_log_likelihood(lw, x, k=k, batch_size=5)
        assert torch.allclose(est, exact, atol=1e-10, rtol=0)


def prior_proposal(x):
    n = len(x)
    return D.MultivariateNormal(torch.zeros(n, d, dtype=F64), torch.eye(d, dtype=F64).expand(n, d, d))


def test_lower_bound_that_rises_with_k():
    # with the prior as proposal: E L_1 < E L_10 < E L_100 <= log p(x); means over 300 repeats
    W, b, x, exact = model()
    x1 = x[:1].repeat(300, 1)     # 300 independent estimates for the first data point
    lw = weights_from(prior_proposal, W, b)
    means, ses = [], []
    for k in (1, 10, 100):
        est = importance_log_likelihood(lw, x1, k=k, batch_size=3000)
        means.append(float(est.mean()))
        ses.append(float(est.std()) / math.sqrt(len(est)))
    assert means[0] + 3 * (ses[0] + ses[1]) < means[1]
    assert means[1] + 3 * (ses[1] + ses[2]) < means[2]
    assert means[2] <= float(exact[0]) + 3 * ses[2]
    # and the gap closes: with K = 100 it is under a fifth of the ELBO's gap
    assert float(exact[0]) - means[2] < 0.2 * (float(exact[0]) - means[0])


def test_k_equal_one_is_the_elbo():
    # L_1 = log p(x, z) - log q(z|x), z ~ q, whose mean is the ELBO, known in closed form for a
    # Gaussian proposal N(m, C): E log p(z) + E log p(x|z) + H(q)
    W, b, x, _ = model()
    m, C = torch.tensor([0.3, -0.2], dtype=F64), torch.diag(torch.tensor([0.4, 0.9], dtype=F64))
    x1 = x[1]
    q = lambda xs: D.MultivariateNormal(m.expand(len(xs), d), C.expand(len(xs), d, d))
    est = importance_log_likelihood(weights_from(q, W, b), x1.repeat(20000, 1), k=1)
    r = x1 - b - W @ m
    elbo = (-0.5 * (m @ m + C.trace()) - d / 2 * math.log(2 * math.pi)
            - 0.5 / S**2 * (r @ r + (W @ C @ W.T).trace()) - D_X / 2 * math.log(2 * math.pi * S**2)
            + D.MultivariateNormal(m, C).entropy())
    se = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - float(elbo)) < 4 * se


@pytest.mark.parametrize("batch_size", [1, 4, 7, 1000])
def test_chunking_keeps_copies_with_their_data_point(batch_size):
    # a deterministic weight that differs between data points: any mix-up of copies shows
    x = torch.arange(10, dtype=F64).reshape(5, 2)
    est = importance_log_likelihood(lambda xs: xs.sum(1), x, k=3, batch_size=batch_size)
    assert torch.allclose(est, x.sum(1), atol=1e-12, rtol=0)   # logsumexp - log K: rounding only


def test_log_mean_exp_is_stable():
    # weights of order exp(-1e4) underflow to zero in a naive mean; logsumexp keeps them
    lw = -1e4 + torch.tensor([[0.0, 1.0, -2.0], [3.0, 0.5, 0.0]], dtype=F64)
    got = log_mean_exp(lw, dim=1)
    want = special.logsumexp(lw.numpy(), axis=1) - math.log(3)
    assert np.allclose(got.numpy(), want, atol=1e-9, rtol=0)
    assert torch.isinf(torch.log(torch.exp(lw).mean(1))).all()   # the naive way fails
    # a zero weight (-inf) is allowed and ignored
    assert float(log_mean_exp(torch.tensor([0.0, -math.inf]))) == pytest.approx(-math.log(2))


def test_bad_input():
    x = torch.zeros(3, 2)
    with pytest.raises(TypeError, match="callable"):
        importance_log_likelihood(None, x, k=2)
    with pytest.raises(ValueError, match="k must be a positive int"):
        importance_log_likelihood(lambda xs: xs.sum(1), x, k=0)
    with pytest.raises(ValueError, match="one log weight per row"):
        importance_log_likelihood(lambda xs: xs, x, k=2)
    with pytest.raises(TypeError, match="x must have a real floating dtype"):
        importance_log_likelihood(lambda xs: xs.sum(1), torch.zeros(3, 2, dtype=torch.long), k=2)
    with pytest.raises(ValueError, match="no nan"):
        log_mean_exp(torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="out of range"):
        log_mean_exp(torch.zeros(2, 2), dim=2)
