"""The variational information bottleneck (kexue.vae.bottleneck); its experiment and figures are
tested in test_experiments.py and test_figures.py."""
import functools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D

import kexue as kx
from kexue.vae import bottleneck as vb
from kexue.vae import gaussian

f64 = torch.float64


def layer64(d=5, k=3, seed=0):
    torch.manual_seed(seed)
    return vb.VariationalBottleneck(d, k).double()


# -- the layer -----------------------------------------------------------------------------------
def test_layer_kl_is_kl_standard_normal_and_torch_distributions():
    layer = layer64()
    h = torch.randn(7, 5, dtype=f64)
    for mode in (layer.train, layer.eval):
        mode()
        layer(h)
        mean, log_var = layer.mean(h), layer.log_var(h)
        assert layer.kl.shape == (7,)
        assert torch.equal(layer.kl, gaussian.kl_standard_normal(mean, log_var))
        reference = D.kl_divergence(D.Independent(D.Normal(mean, (0.5 * log_var).exp()), 1),
                                    D.Independent(D.Normal(torch.zeros_like(mean), 1.0), 1))
        torch.testing.assert_close(layer.kl, reference, rtol=1e-12, atol=1e-12)
        assert torch.equal(layer.last[0], mean) and torch.equal(layer.last[1], log_var)


def test_eval_mode_returns_the_mean_and_is_deterministic():
    layer = layer64().eval()
    h = torch.randn(4, 5, dtype=f64)
    first, second = layer(h), layer(h)
    assert torch.equal(first, layer.mean(h)) and torch.equal(first, second)


def test_training_mode_is_a_reparametrised_sample():
    """The same noise gives mean + exp(log_var / 2) * eps, and the gradient reaches both heads."""
    layer = layer64().train()
    h = torch.randn(6, 5, dtype=f64)
    torch.manual_seed(11)
    z = layer(h)
    torch.manual_seed(11)
    eps = torch.randn(6, 3, dtype=f64)
    torch.testing.assert_close(z, layer.mean(h) + (0.5 * layer.log_var(h)).exp() * eps,
                               rtol=1e-14, atol=1e-14)
    z.sum().backward()
    assert layer.mean.weight.grad.abs().sum() > 0 and layer.log_var.weight.grad.abs().sum() > 0


def test_training_samples_have_the_encoder_mean_and_variance():
    """n = 40000 samples of one input: the sample mean is within 5 standard errors
    (sigma / sqrt n) of mu and the sample variance within 5 of its own standard error
    (sigma^2 sqrt(2 / (n - 1)) for a Gaussian) of sigma^2, in every dimension."""
    layer = layer64(seed=1).train()
    h = torch.randn(1, 5, dtype=f64)
    with torch.no_grad():
        mu, var = layer.mean(h)[0], layer.log_var(h)[0].exp()
        torch.manual_seed(2)
        z = layer(h.expand(40000, -1))
    n = len(z)
    assert torch.all((z.mean(0) - mu).abs() < 5 * (var / n).sqrt())
    assert torch.all((z.var(0) - var).abs() < 5 * var * math.sqrt(2 / (n - 1)))
    assert float((var - 1).abs().max()) > 0.05  # the variance is not the prior's


def test_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        vb.VariationalBottleneck(0, 3)
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        vb.VariationalBottleneck(4, 2.5)
    layer = vb.VariationalBottleneck(4, 2)
    with pytest.raises(ValueError, match=r"shape \(n, 4\), got \(3, 5\)"):
        layer(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"shape \(n, 4\), got \(4,\)"):
        layer(torch.randn(4))
    # no finiteness check per batch (it would sync the device every step): nan passes through
    layer.eval()
    assert torch.isnan(layer(torch.full((2, 4), float("nan")))).all()


# -- the classifier and the loss -------------------------------------------------------------------
def test_classifier_with_and_without_the_bottleneck():
    with_vib = vb.BottleneckClassifier([12, 8], 4, 3, seed=0)
    plain = vb.BottleneckClassifier([12, 8], 4, 3, bottleneck=False, seed=0)
    assert isinstance(with_vib.bottleneck, vb.VariationalBottleneck) and plain.bottleneck is None
    assert isinstance(plain.code, torch.nn.Linear) and plain.code.out_features == 4
    x = torch.randn(5, 12)
    assert with_vib(x).shape == plain(x).shape == (5, 3)
    # one seed, one body: the two differ only in the code
    assert torch.equal(with_vib.body[0].weight, plain.body[0].weight)
    again = vb.BottleneckClassifier([12, 8], 4, 3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(with_vib.parameters(), again.parameters()))
    with pytest.raises(ValueError, match="widths must name an input"):
        vb.BottleneckClassifier([12], 4, 3)
    with pytest.raises(ValueError, match="classes must be a positive int"):
        vb.BottleneckClassifier([12, 8], 4, 0)


def test_beta_zero_is_exactly_the_plain_loss_and_beta_adds_the_mean_kl():
    model = vb.BottleneckClassifier([12, 8], 4, 3, seed=0).train()
    x, y = torch.randn(16, 12), torch.randint(0, 3, (16,))
    torch.manual_seed(5)
    zero, metrics = vb.BottleneckLoss(0.0)(model, x, y)
    torch.manual_seed(5)
    plain, plain_metrics = kx.classifier.classification_loss(model, x, y)
    assert torch.equal(zero, plain) and torch.equal(metrics["acc"], plain_metrics["acc"])
    assert set(metrics) == {"ce", "acc", "kl"} and float(metrics["kl"]) > 0
    torch.manual_seed(5)
    loss, m = vb.BottleneckLoss(0.3)(model, x, y)
    torch.testing.assert_close(loss, plain + 0.3 * model.bottleneck.kl.mean())
    assert torch.equal(m["ce"], plain.detach())
    deterministic = vb.BottleneckClassifier([12, 8], 4, 3, bottleneck=False, seed=0)
    loss, m = vb.BottleneckLoss(0)(deterministic, x, y)
    assert torch.equal(loss, F.cross_entropy(deterministic(x), y)) and "kl" not in m


def test_loss_rejects_bad_beta():
    with pytest.raises(ValueError, match="beta must be >= 0"):
        vb.BottleneckLoss(-0.1)
    with pytest.raises(TypeError, match="beta must be a real number"):
        vb.BottleneckLoss("0.1")
    plain = vb.BottleneckClassifier([12, 8], 4, 3, bottleneck=False)
    with pytest.raises(ValueError, match="needs a model with a VariationalBottleneck"):
        vb.BottleneckLoss(0.1)(plain, torch.randn(2, 12), torch.tensor([0, 1]))


# -- the bound on I(x; z) -------------------------------------------------------------------------
def channel(seed=0, d=3, k=2):
    g = torch.Generator().manual_seed(seed)
    L = torch.randn(d, d, generator=g, dtype=f64)
    return (torch.randn(k, d, generator=g, dtype=f64), torch.randn(k, generator=g, dtype=f64),
            L @ L.T + 0.1 * torch.eye(d, dtype=f64), 0.2 + torch.rand(k, generator=g, dtype=f64))


def test_gaussian_channel_agrees_with_torch_distributions():
    """I(x; z) = H(z) - H(z|x) and the gap KL(p(z) || N(0, I)) from torch.distributions; the
    identity information = bound - gap, so the bound holds."""
    for seed in range(3):
        A, b, cov_x, noise_var = channel(seed)
        out = vb.gaussian_channel(A, b, cov_x, noise_var)
        p_z = D.MultivariateNormal(b, A @ cov_x @ A.T + torch.diag(noise_var))
        p_z_given_x = D.MultivariateNormal(torch.zeros(2, dtype=f64), torch.diag(noise_var))
        prior = D.MultivariateNormal(torch.zeros(2, dtype=f64), torch.eye(2, dtype=f64))
        assert out["information"] == pytest.approx(float(p_z.entropy() - p_z_given_x.entropy()),
                                                   rel=1e-12)
        assert out["gap"] == pytest.approx(float(D.kl_divergence(p_z, prior)), rel=1e-12)
        assert out["information"] == pytest.approx(out["bound"] - out["gap"], rel=1e-12)
        assert out["bound"] > out["information"] > 0


def test_the_bound_is_tight_when_the_codes_are_standard_normal():
    """Exercise 1: for x ~ N(0, s^2) and p(z|x) = N(a x, v) with a^2 s^2 + v = 1, the marginal is
    N(0, 1), the gap vanishes and the bound equals I(x; z) = 1/2 log(1 + a^2 s^2 / v); any other
    v at the same information (b = 0) has a larger bound."""
    a, s2 = 0.8, 1.3
    t = functools.partial(torch.tensor, dtype=f64)
    tight = vb.gaussian_channel(t([[a]]), t([0.0]), t([[s2]]), t([1 - a * a * s2]))
    assert tight["gap"] == pytest.approx(0.0, abs=1e-12)
    assert tight["bound"] == pytest.approx(tight["information"], rel=1e-12)
    r = a * a * s2 / (1 - a * a * s2)
    assert tight["information"] == pytest.approx(0.5 * math.log(1 + r), rel=1e-12)
    for v in (0.5 / (1 + r), 2 / (1 + r)):  # the same signal-to-noise ratio r, other scales
        other = vb.gaussian_channel(t([[math.sqrt(r * v / s2)]]), t([0.0]), t([[s2]]), t([v]))
        assert other["information"] == pytest.approx(tight["information"], rel=1e-12)
        assert other["bound"] > tight["bound"] + 0.01


def test_the_layer_kl_bounds_the_information_on_a_gaussian_toy():
    """A VariationalBottleneck set to the linear-Gaussian encoder N(A x + b, diag(noise_var)) on
    samples x ~ N(0, cov_x): the mean of its KL estimates the closed-form bound, and the mean of
    log p(z|x) - log p(z) estimates the closed-form I(x; z), each within 5 standard errors; the
    bound exceeds I(x; z) by the gap, which is many standard errors wide."""
    A, b, cov_x, noise_var = channel(1)
    exact = vb.gaussian_channel(A, b, cov_x, noise_var)
    layer = vb.linear_gaussian_layer(A, b, noise_var).train()
    with torch.no_grad():
        torch.manual_seed(0)
        x = D.MultivariateNormal(torch.zeros(3, dtype=f64), cov_x).sample((50000,))
        z = layer(x)
        kl = layer.kl
        log_ratio = (gaussian.log_density(z, *layer.last)
                     - D.MultivariateNormal(b, A @ cov_x @ A.T + torch.diag(noise_var)).log_prob(z))
    n = len(x)
    for samples, value in ((kl, exact["bound"]), (log_ratio, exact["information"])):
        standard_error = float(samples.std()) / math.sqrt(n)
        assert abs(float(samples.mean()) - value) < 5 * standard_error
    assert exact["gap"] > 20 * float(kl.std()) / math.sqrt(n)
    assert float(kl.mean()) > float(log_ratio.mean())


def test_linear_gaussian_layer_is_that_encoder():
    A, b, _, noise_var = channel()
    layer = vb.linear_gaussian_layer(A, b, noise_var)
    x = torch.randn(4, 3, dtype=f64)
    layer(x)
    mean, log_var = layer.last
    torch.testing.assert_close(mean, x @ A.T + b, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(log_var.exp(), noise_var.expand(4, -1), rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match=r"b and noise_var must have shape \(2,\)"):
        vb.linear_gaussian_layer(A, b, noise_var[:1])
    with pytest.raises(ValueError, match="noise_var must be positive"):
        vb.linear_gaussian_layer(A, b, 0 * noise_var)


def test_gaussian_channel_rejects_bad_inputs():
    A, b, cov_x, noise_var = channel()
    with pytest.raises(ValueError, match=r"b and noise_var must have shape \(2,\)"):
        vb.gaussian_channel(A, b[:1], cov_x, noise_var)
    with pytest.raises(ValueError, match=r"cov_x must have shape \(3, 3\)"):
        vb.gaussian_channel(A, b, cov_x[:2, :2], noise_var)
    with pytest.raises(ValueError, match="noise_var must be positive"):
        vb.gaussian_channel(A, b, cov_x, -noise_var)
    with pytest.raises(ValueError, match="symmetric positive semi-definite"):
        vb.gaussian_channel(A, b, cov_x + torch.triu(torch.ones(3, 3, dtype=f64), 1), noise_var)
    with pytest.raises(ValueError, match="symmetric positive semi-definite"):
        vb.gaussian_channel(A, b, -cov_x, noise_var)
    with pytest.raises(TypeError, match="A must have a real floating dtype"):
        vb.gaussian_channel(A.long(), b, cov_x, noise_var)


# -- evaluation ----------------------------------------------------------------------------------
def test_kl_per_dimension_sums_to_the_mean_kl():
    model = vb.BottleneckClassifier([12, 8], 4, 3, seed=0).double().train()
    x = torch.randn(50, 12, dtype=f64)
    per_dim = vb.kl_per_dimension(model, x, batch_size=16)
    assert per_dim.shape == (4,) and bool((per_dim > 0).all()) and model.training
    model.eval()
    model(x)
    torch.testing.assert_close(per_dim.sum(), model.bottleneck.kl.mean(), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="no VariationalBottleneck"):
        vb.kl_per_dimension(vb.BottleneckClassifier([12, 8], 4, 3, bottleneck=False), x.float())


def test_noisy_accuracy_shares_one_noise_draw():
    model = vb.BottleneckClassifier([12, 8], 4, 3, seed=0)
    x, y = torch.rand(40, 12), torch.randint(0, 3, (40,))
    noise = torch.randn(40, 12)
    accs = vb.noisy_accuracy(model, x, y, [0.0, 0.5], noise=noise)
    assert accs[0] == kx.classifier.evaluate(model, x, y)["acc"]
    assert accs[1] == kx.classifier.evaluate(model, x + 0.5 * noise, y)["acc"]
    assert vb.noisy_accuracy(model, x, y, [2.0], seed=3) == vb.noisy_accuracy(model, x, y, [2.0],
                                                                               seed=3)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        vb.noisy_accuracy(model, x, y, [-0.1])
    with pytest.raises(ValueError, match="at least one sigma"):
        vb.noisy_accuracy(model, x, y, [])
    with pytest.raises(ValueError, match="noise must be a tensor shaped like x"):
        vb.noisy_accuracy(model, x, y, [0.1], noise=noise[:3])
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        vb.noisy_accuracy(model, x, y[:5], [0.1])
