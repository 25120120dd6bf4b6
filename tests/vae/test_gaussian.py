"""Tests for kexue.vae.gaussian (the Gaussian algebra of a VAE) and kexue.vae.networks (its encoders
and decoders). Every closed form is compared with torch.distributions, an implementation written
independently of ours; the reparametrised gradient is checked for unbiasedness against the
gradient of the closed-form expectation, within a tolerance set by the Monte-Carlo standard
error."""
import math

import pytest
import torch
from torch import distributions as D
from torch import nn

from kexue.vae import gaussian, networks

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def diagonal(mean, log_var):
    """The diagonal Gaussian as torch.distributions builds it: independent normals, summed over
    the last dimension."""
    return D.Independent(D.Normal(mean, (0.5 * log_var).exp()), 1)


# -- closed forms against torch.distributions ---------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (7, 2), (5, 3, 16)])
def test_kl_standard_normal_matches_torch_distributions(shape):
    mean, log_var = randn(*shape, seed=1), 2 * randn(*shape, seed=2)
    ours = gaussian.kl_standard_normal(mean, log_var)
    theirs = D.kl_divergence(diagonal(mean, log_var),
                             diagonal(torch.zeros(shape, dtype=F64), torch.zeros(shape, dtype=F64)))
    assert ours.shape == shape[:-1]
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)  # float64 round-off


def test_kl_standard_normal_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 2, dtype=F64)
    assert torch.equal(gaussian.kl_standard_normal(zeros, zeros), torch.zeros(3, dtype=F64))
    mean, log_var = randn(100, 2, seed=3), randn(100, 2, seed=4)
    assert bool((gaussian.kl_standard_normal(mean, log_var) > 0).all())


def test_kl_standard_normal_is_the_post_formula_per_dimension():
    """1/2 sum (mu^2 + sigma^2 - log sigma^2 - 1), written out with sigma rather than log_var."""
    mean, sigma = torch.tensor([[0.3, -1.2]], dtype=F64), torch.tensor([[0.5, 2.0]], dtype=F64)
    expected = sum(0.5 * (m ** 2 + s ** 2 - math.log(s ** 2) - 1)
                   for m, s in zip(mean[0].tolist(), sigma[0].tolist()))
    assert float(gaussian.kl_standard_normal(mean, sigma.square().log())[0]) == pytest.approx(
        expected, rel=1e-14)


def test_kl_diagonal_matches_torch_distributions_and_broadcasts():
    mq, lvq = randn(6, 4, seed=5), randn(6, 4, seed=6)
    mp, lvp = randn(4, seed=7), randn(4, seed=8)  # one Gaussian p against six q's
    ours = gaussian.kl_diagonal(mq, lvq, mp, lvp)
    theirs = D.kl_divergence(diagonal(mq, lvq), diagonal(mp.expand(6, 4), lvp.expand(6, 4)))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    # against the standard normal it is kl_standard_normal
    zeros = torch.zeros(4, dtype=F64)
    torch.testing.assert_close(gaussian.kl_diagonal(mq, lvq, zeros, zeros),
                               gaussian.kl_standard_normal(mq, lvq), rtol=1e-14, atol=1e-14)


def test_log_density_matches_normal_log_prob_and_broadcasts():
    z = randn(5, 1, 3, seed=9)  # 5 points against 4 Gaussians
    mean, log_var = randn(4, 3, seed=10), randn(4, 3, seed=11)
    ours = gaussian.log_density(z, mean, log_var)
    theirs = D.Normal(mean, (0.5 * log_var).exp()).log_prob(z).sum(-1)
    assert ours.shape == (5, 4)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


# -- reparametrisation ----------------------------------------------------------------------------
def test_reparametrise_with_given_noise_is_mean_plus_sigma_times_noise():
    mean, log_var, eps = randn(8, 2, seed=12), randn(8, 2, seed=13), randn(8, 2, seed=14)
    torch.testing.assert_close(gaussian.reparametrise(mean, log_var, noise=eps),
                               mean + (0.5 * log_var).exp() * eps, rtol=0, atol=0)


def test_reparametrise_draws_from_the_generator_and_has_the_right_moments():
    mean = torch.tensor([1.0, -2.0], dtype=F64).expand(200_000, 2)
    log_var = torch.tensor([math.log(0.25), math.log(4.0)], dtype=F64).expand(200_000, 2)
    a = gaussian.reparametrise(mean, log_var, generator=gen(15))
    b = gaussian.reparametrise(mean, log_var, generator=gen(15))
    assert torch.equal(a, b)
    n = len(a)
    # sample mean within 5 standard errors sigma/sqrt(n); sample variance within 5 standard
    # errors sigma^2 sqrt(2/n) of a Gaussian's variance estimate
    sd = torch.tensor([0.5, 2.0], dtype=F64)
    assert bool(((a.mean(0) - mean[0]).abs() < 5 * sd / math.sqrt(n)).all())
    assert bool(((a.var(0) - sd ** 2).abs() < 5 * sd ** 2 * math.sqrt(2 / n)).all())


def _mc_gradients(f, mean, log_var, n, seed):
    """Per-sample reparametrised gradients of f(mean + sigma eps) in (mean, log_var): n rows each,
    from one backward pass over n copies of the parameters."""
    m = mean.expand(n, -1).clone().requires_grad_(True)
    lv = log_var.expand(n, -1).clone().requires_grad_(True)
    z = gaussian.reparametrise(m, lv, generator=gen(seed))
    f(z).sum().backward()
    return m.grad, lv.grad


def _assert_unbiased(samples, exact, z_max=4.5):
    """The Monte-Carlo mean of each coordinate is within ``z_max`` standard errors of the exact
    value (with 6 coordinates, a false alarm at 4.5 standard errors has probability < 5e-5)."""
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(len(samples))
    assert bool((se > 0).all())
    assert bool(((mean - exact).abs() < z_max * se).all()), (mean, exact, se)


def test_reparametrised_gradient_of_a_quadratic_form_is_unbiased():
    """f(z) = z^T A z + b^T z has E f = mu^T A mu + sum_i A_ii sigma_i^2 + b^T mu, so
    dE/dmu = (A + A^T) mu + b and dE/dlog_var_i = A_ii sigma_i^2."""
    d = 3
    A, b = randn(d, d, seed=16), randn(d, seed=17)
    mean, log_var = randn(1, d, seed=18), 0.5 * randn(1, d, seed=19)
    f = lambda z: ((z @ A) * z).sum(-1) + z @ b
    grad_mean, grad_log_var = _mc_gradients(f, mean, log_var, 100_000, seed=20)
    sigma2 = log_var.exp()[0]
    _assert_unbiased(grad_mean, (A + A.T) @ mean[0] + b)
    _assert_unbiased(grad_log_var, torch.diagonal(A) * sigma2)
    # and the gradient of the closed form, by autograd, agrees with those formulas
    m, lv = mean[0].clone().requires_grad_(True), log_var[0].clone().requires_grad_(True)
    (m @ A @ m + (torch.diagonal(A) * lv.exp()).sum() + b @ m).backward()
    torch.testing.assert_close(m.grad, (A + A.T) @ mean[0] + b)
    torch.testing.assert_close(lv.grad, torch.diagonal(A) * sigma2)


def test_reparametrised_gradient_of_an_exponential_is_unbiased():
    """f(z) = exp(a^T z), a non-polynomial: E f = exp(a^T mu + 1/2 sum a_i^2 sigma_i^2), so
    dE/dmu = a E f and dE/dlog_var_i = 1/2 a_i^2 sigma_i^2 E f."""
    a = torch.tensor([0.7, -0.4, 0.2], dtype=F64)
    mean = torch.tensor([[0.1, 0.5, -0.3]], dtype=F64)
    log_var = torch.tensor([[-0.5, 0.2, 0.0]], dtype=F64)
    grad_mean, grad_log_var = _mc_gradients(lambda z: (z @ a).exp(), mean, log_var, 100_000,
                                            seed=21)
    sigma2 = log_var.exp()[0]
    expectation = torch.exp(a @ mean[0] + 0.5 * (a ** 2 * sigma2).sum())
    _assert_unbiased(grad_mean, a * expectation)
    _assert_unbiased(grad_log_var, 0.5 * a ** 2 * sigma2 * expectation)


def test_the_unbiasedness_check_can_fail():
    """The check has power: for f(z) = |z|^2 with sigma^2 = 4 the exact dE/dlog_var_i is
    sigma_i^2 = 4; against 3.8, 5% off (about 11 standard errors), the Monte-Carlo mean is
    rejected."""
    mean, log_var = torch.zeros(1, 2, dtype=F64), torch.full((1, 2), math.log(4.0), dtype=F64)
    _, grad_log_var = _mc_gradients(lambda z: (z * z).sum(-1), mean, log_var, 100_000, seed=22)
    _assert_unbiased(grad_log_var, torch.full((2,), 4.0, dtype=F64))
    with pytest.raises(AssertionError):
        _assert_unbiased(grad_log_var, torch.full((2,), 3.8, dtype=F64))


# -- bad input ----------------------------------------------------------------------------------
def test_gaussian_functions_reject_bad_input():
    m, lv = torch.zeros(3, 2), torch.zeros(3, 2)
    with pytest.raises(ValueError, match="same shape"):
        gaussian.kl_standard_normal(m, torch.zeros(3, 3))
    with pytest.raises(TypeError, match="log_var must have a real floating dtype"):
        gaussian.kl_standard_normal(m, torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="mean must be finite"):
        gaussian.kl_standard_normal(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="non-empty"):
        gaussian.kl_standard_normal(torch.zeros(0, 2), torch.zeros(0, 2))
    with pytest.raises(TypeError, match="mean must be a torch.Tensor"):
        gaussian.reparametrise([0.0, 1.0], lv)
    with pytest.raises(ValueError, match="noise must be a tensor shaped like mean"):
        gaussian.reparametrise(m, lv, noise=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="noise must be a tensor shaped like mean"):
        gaussian.reparametrise(m, lv, noise=[[0.0, 0.0]] * 3)
    with pytest.raises(ValueError, match="do not broadcast"):
        gaussian.kl_diagonal(m, lv, torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="mean_p and log_var_p must have the same shape"):
        gaussian.kl_diagonal(m, lv, torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="z must be finite"):
        gaussian.log_density(torch.tensor([float("inf"), 0.0]), torch.zeros(2), torch.zeros(2))


# -- networks -----------------------------------------------------------------------------------
def test_gaussian_encoder_shapes_heads_and_seed():
    enc = networks.GaussianEncoder([10, 8, 6, 3], seed=4)
    x = torch.rand(5, 10, generator=gen(23))
    mean, log_var = enc(x)
    assert mean.shape == log_var.shape == (5, 3) and enc.latent_dim == 3
    # the body ends in the activation, and the two heads read the same features
    h = enc.body(x)
    assert bool((h >= 0).all())
    torch.testing.assert_close(mean, enc.mean(h))
    torch.testing.assert_close(log_var, enc.log_var(h))
    # a seed fixes the weights and leaves the global random state where it was
    state = torch.get_rng_state()
    again = networks.GaussianEncoder([10, 8, 6, 3], seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for p, q in zip(enc.parameters(), again.parameters()):
        assert torch.equal(p, q)
    other = networks.GaussianEncoder([10, 8, 6, 3], seed=5)
    assert not torch.equal(enc.mean.weight, other.mean.weight)


def test_mlp_decoder_is_a_linear_and_activation_stack_into_the_unit_interval():
    dec = networks.mlp_decoder([2, 16, 32, 784], activation=nn.Tanh, seed=0)
    assert isinstance(dec, nn.Sequential)
    assert [type(m) for m in dec] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear, nn.Sigmoid]
    out = dec(10 * torch.randn(50, 2, generator=gen(24)))
    assert out.shape == (50, 784)
    # the last layer reads tanh features in [-1, 1], so its logits are bounded: strictly inside
    assert bool(((out > 0) & (out < 1)).all())
    same = networks.mlp_decoder([2, 16, 32, 784], activation=nn.Tanh, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(dec.parameters(), same.parameters()))


def test_networks_reject_bad_input():
    with pytest.raises(ValueError, match="at least one hidden and a latent width"):
        networks.GaussianEncoder([784, 2])
    with pytest.raises(ValueError, match="latent width must be a positive int"):
        networks.GaussianEncoder([784, 16, 0])
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        networks.GaussianEncoder([784, 16, 2], seed=-1)
    with pytest.raises(ValueError, match="every layer width must be a positive int"):
        networks.mlp_decoder([2, 1.5, 784])
    with pytest.raises(ValueError, match="x must be 2-D"):
        networks.check_batch(torch.zeros(784), 784)
    with pytest.raises(ValueError, match="images must have 784 columns"):
        networks.check_batch(torch.zeros(3, 783), 784, "images")
    with pytest.raises(TypeError, match="real floating dtype"):
        networks.check_batch(torch.zeros(3, 784, dtype=torch.uint8), 784)
    x = torch.zeros(3, 784)
    assert networks.check_batch(x, 784) is x
    # by design it does not read the values (no device sync per batch): a nan passes through
    nan = torch.full((3, 784), float("nan"))
    assert networks.check_batch(nan, 784) is nan
