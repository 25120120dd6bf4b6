"""Tests for kexue.vae.autoencoder: the autoencoder and the VAE of the geometry chapter (post 7725),
their loss terms against pythae's VAE and a hand-written float64 reference, the KL weight as a
decoder variance, the aggregated posterior's moments and coverage against torch.distributions and
quadrature, the evidence by quadrature against the closed form of a linear-Gaussian decoder,
and training through kexue.train (the experiment and the figures: test_experiments.py,
test_figures.py)."""
import math

import numpy as np
import pytest
import torch
from torch import distributions as D
from torch import nn

from kexue.vae import autoencoder as ae
from kexue.vae import gaussian

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n, seed=0, dim=784):
    return torch.rand(n, dim, generator=gen(seed))


# -- the models ----------------------------------------------------------------------------------
def test_models_share_the_decoder_shape_and_reconstruct_through_it():
    auto, vae = ae.Autoencoder([32, 16], seed=0), ae.VAE([32, 16], seed=0)
    x = images(5)
    assert [m.out_features for m in auto.encoder if isinstance(m, nn.Linear)] == [32, 16, 2]
    assert [m.out_features for m in vae.decoder if isinstance(m, nn.Linear)] == [16, 32, 784]
    torch.testing.assert_close(auto(x), auto.decoder(auto.encoder(x)))
    assert auto.codes(x).shape == (5, 2)
    mean, log_var = vae.posterior(x)
    torch.testing.assert_close(vae.codes(x), mean)
    eps = torch.randn(5, 2, generator=gen(1))
    torch.testing.assert_close(vae(x, noise=eps), vae.decoder(mean + (0.5 * log_var).exp() * eps))
    out = vae(x, generator=gen(2))
    assert out.shape == (5, 784) and bool(((out > 0) & (out < 1)).all())
    # the same seed, the same weights
    same = ae.VAE([32, 16], seed=0)
    assert all(torch.equal(p, q) for p, q in zip(vae.parameters(), same.parameters()))


def _reference_terms(state: dict, x: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The VAE's two loss terms written out in NumPy float64 from the weights, independently of
    the module: encoder ReLU layers, mean and log-variance heads, z = mu + exp(lv / 2) eps, decoder
    ReLU layers and a sigmoid; ||x - x_hat||^2 and 1/2 sum (mu^2 + e^lv - lv - 1)."""
    W = {k: v.detach().double().numpy() for k, v in state.items()}
    relu = lambda a: np.maximum(a, 0.0)
    h = relu(x @ W["encoder.body.0.0.weight"].T + W["encoder.body.0.0.bias"])
    h = relu(h @ W["encoder.body.0.2.weight"].T + W["encoder.body.0.2.bias"])
    mu = h @ W["encoder.mean.weight"].T + W["encoder.mean.bias"]
    lv = h @ W["encoder.log_var.weight"].T + W["encoder.log_var.bias"]
    z = mu + np.exp(lv / 2) * eps
    g = relu(z @ W["decoder.0.weight"].T + W["decoder.0.bias"])
    g = relu(g @ W["decoder.2.weight"].T + W["decoder.2.bias"])
    x_hat = 1 / (1 + np.exp(-(g @ W["decoder.4.weight"].T + W["decoder.4.bias"])))
    return ((x - x_hat) ** 2).sum(1), 0.5 * (mu ** 2 + np.exp(lv) - lv - 1).sum(1)


def test_elbo_terms_equal_a_hand_written_float64_reference():
    vae = ae.VAE([32, 16], seed=3).double()
    x, eps = images(6, seed=4).double(), torch.randn(6, 2, generator=gen(5), dtype=F64)
    terms = ae.elbo_terms(vae, x, noise=eps)
    reconstruction, kl = _reference_terms(vae.state_dict(), x.numpy(), eps.numpy())
    # float64 on both sides, different operation order: round-off of sums of ~800 terms
    np.testing.assert_allclose(terms.reconstruction.detach().numpy(), reconstruction, rtol=1e-12)
    np.testing.assert_allclose(terms.kl.detach().numpy(), kl, rtol=1e-12)
    # and VAELoss averages them with the KL weight
    torch.manual_seed(7)
    loss, logs = ae.VAELoss(kl_weight=0.3)(vae, x)
    torch.manual_seed(7)
    again = ae.elbo_terms(vae, x)
    torch.testing.assert_close(loss, again.reconstruction.mean() + 0.3 * again.kl.mean())
    torch.testing.assert_close(logs["kl"], again.kl.mean())


def test_elbo_terms_equal_pythae_vae_with_mse_reconstruction():
    """pythae's VAE (reconstruction_loss="mse") run on our encoder and decoder, with the same
    noise: its reconstruction loss is half our squared error (a unit-variance Gaussian decoder)
    and its KL is ours; so its loss is half of ours with KL weight 2."""
    pythae_models = pytest.importorskip("pythae.models")
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    vae = ae.VAE([32], seed=8)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = vae.encoder

        def forward(self, x):
            mean, log_var = self.net(x)
            return ModelOutput(embedding=mean, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = vae.decoder

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    config = pythae_models.VAEConfig(input_dim=(784,), latent_dim=2, reconstruction_loss="mse")
    theirs = pythae_models.VAE(config, encoder=Encoder(), decoder=Decoder())
    x = images(16, seed=9)
    torch.manual_seed(10)
    eps = torch.randn(16, 2)  # pythae draws randn_like(std) from the global generator
    torch.manual_seed(10)
    out = theirs({"data": x})
    terms = ae.elbo_terms(vae, x, noise=eps)
    torch.testing.assert_close(out.z, vae.posterior(x)[0] + (0.5 * vae.posterior(x)[1]).exp() * eps)
    # float32 sums over 784 pixels, in another order: a few ulps of ~50
    torch.testing.assert_close(out.recon_loss, 0.5 * terms.reconstruction.mean(),
                               rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(out.reg_loss, terms.kl.mean(), rtol=1e-6, atol=1e-6)
    torch.manual_seed(10)
    ours, _ = ae.VAELoss(kl_weight=2.0)(vae, x)
    torch.testing.assert_close(out.loss, 0.5 * ours, rtol=1e-6, atol=1e-5)


def test_the_kl_weight_is_twice_the_decoder_variance():
    """With p(x|z) = N(D(z), sigma_x^2 I), sigma_x^2 = beta / 2:
    beta * (-ELBO) = ||x - D(z)||^2 + beta KL + beta (d/2) log(pi beta), for one noise draw."""
    vae = ae.VAE([16], seed=11).double()
    x, eps = images(4, seed=12).double(), torch.randn(4, 2, generator=gen(13), dtype=F64)
    terms = ae.elbo_terms(vae, x, noise=eps)
    for beta in (0.1, 1.0, 4.0):
        var = ae.decoder_variance(beta)
        assert var == beta / 2
        log_likelihood = D.Normal(vae(x, noise=eps), math.sqrt(var)).log_prob(x).sum(1)
        lhs = beta * (-(log_likelihood - terms.kl))
        rhs = terms.reconstruction + beta * terms.kl + beta * 784 / 2 * math.log(math.pi * beta)
        torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-9)


def test_autoencoder_loss_is_the_mean_squared_reconstruction_error():
    auto = ae.Autoencoder([16], seed=14)
    x = images(8, seed=15)
    loss, logs = ae.autoencoder_loss(auto, x)
    with torch.no_grad():
        expected = sum(float(((x[i] - auto(x[i:i + 1])[0]) ** 2).sum()) for i in range(8)) / 8
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(logs["reconstruction"]) == float(loss.detach())


# -- training -----------------------------------------------------------------------------------
CONFIG = dict(hidden=[32], epochs=3, batch_size=50, lr=3e-3, seed=0)


def test_train_autoencoder_trains_both_kinds_through_kexue_train():
    x = images(400, seed=16)
    for kind, beta in (("ae", None), ("vae", 1.0)):
        model, rows = ae.train_autoencoder(kind, beta, CONFIG, x)
        assert not model.training
        assert [r["step"] for r in rows] == [8, 16, 24]  # one row per epoch, 8 steps each
        assert rows[-1]["loss"] < rows[0]["loss"]
        assert ("kl" in rows[-1]) == (kind == "vae")
    again, _ = ae.train_autoencoder("vae", 1.0, CONFIG, x)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))


def test_the_kl_weight_trades_reconstruction_for_coverage():
    """The chapter's claim on MNIST, in small: as beta grows, the KL term and the holes
    (KL(prior || aggregate)) shrink and the reconstruction error grows."""
    from kexue import classifier

    x, _, x_test, _ = classifier.mnist_subset(2000, 500, 0, "cpu")
    config = dict(hidden=[64], epochs=4, batch_size=100, lr=3e-3, seed=0)
    measured = []
    for beta in (0.1, 1.0, 4.0):
        model, _ = ae.train_autoencoder("vae", beta, config, x)
        with torch.no_grad():
            terms = ae.elbo_terms(model, x_test, generator=gen(17))
            mean, log_var = model.posterior(x_test)
        holes = ae.coverage(mean, log_var, gen(18), 2000)
        measured.append((float(terms.kl.mean()), holes["prior_to_aggregate_kl"],
                         float(terms.reconstruction.mean())))
    kl, holes, recon = zip(*measured)
    assert kl[0] > kl[1] > kl[2]
    assert holes[0] > holes[1] > holes[2]
    assert recon[0] < recon[2] and recon[1] < recon[2]


def test_train_autoencoder_rejects_bad_input():
    x = images(100)
    with pytest.raises(ValueError, match="kind must be one of"):
        ae.train_autoencoder("gan", None, CONFIG, x)
    with pytest.raises(ValueError, match="an autoencoder has no KL term"):
        ae.train_autoencoder("ae", 1.0, CONFIG, x)
    with pytest.raises(ValueError, match="a VAE needs a kl_weight"):
        ae.train_autoencoder("vae", None, CONFIG, x)
    with pytest.raises(ValueError, match="kl_weight must be >= 0"):
        ae.train_autoencoder("vae", -1.0, CONFIG, x)
    with pytest.raises(KeyError, match=r"config lacks \['lr'\]"):
        ae.train_autoencoder("ae", None, {k: v for k, v in CONFIG.items() if k != "lr"}, x)
    with pytest.raises(ValueError, match="data must be 2-D"):
        ae.train_autoencoder("ae", None, CONFIG, torch.zeros(100, 28, 28))
    with pytest.raises(ValueError, match="data must have 784 columns"):
        ae.train_autoencoder("ae", None, CONFIG, torch.zeros(100, 783))
    with pytest.raises(TypeError, match="hidden must be a sequence"):
        ae.train_autoencoder("ae", None, {**CONFIG, "hidden": 32}, x)
    with pytest.raises(ValueError, match="every hidden width must be a positive int"):
        ae.VAE([32, 0])
    with pytest.raises(ValueError, match="hidden must name at least one"):
        ae.Autoencoder([])
    with pytest.raises(ValueError, match=r"x must have 784 columns, got shape \(3, 10\)"):
        ae.Autoencoder([8])(torch.zeros(3, 10))
    with pytest.raises(ValueError, match=r"x must have 784 columns, got shape \(3, 10\)"):
        ae.VAE([8])(torch.zeros(3, 10))


def test_loss_functions_reject_bad_input():
    vae, auto = ae.VAE([8], seed=0), ae.Autoencoder([8], seed=0)
    with pytest.raises(TypeError, match="model must be an instance of VAE, got Autoencoder"):
        ae.elbo_terms(auto, images(2))
    with pytest.raises(TypeError, match="model must be an instance of Autoencoder, got VAE"):
        ae.autoencoder_loss(vae, images(2))
    with pytest.raises(ValueError, match="noise must be a tensor shaped like the codes"):
        ae.elbo_terms(vae, images(2), noise=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="x must have 784 columns"):
        ae.elbo_terms(vae, images(2, dim=783))
    with pytest.raises(TypeError, match="x must have a real floating dtype"):
        ae.elbo_terms(vae, torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(ValueError, match="x_hat must be a tensor shaped like x"):
        ae.squared_error(images(2), images(3))
    with pytest.raises(ValueError, match="kl_weight must be positive"):
        ae.decoder_variance(0.0)


# -- the aggregated posterior --------------------------------------------------------------------
def _blobs(n=5, seed=19, spread=1.5, sigma=0.4):
    g = gen(seed)
    mean = spread * torch.randn(n, 2, generator=g, dtype=F64)
    log_var = 2 * math.log(sigma) + 0.3 * torch.randn(n, 2, generator=g, dtype=F64)
    return mean, log_var


def test_aggregate_moments_by_the_law_of_total_covariance():
    mean, log_var = _blobs(7)
    m, C = ae.aggregate_moments(mean, log_var)
    # second moment E[z z^T] = mean(mu mu^T + diag sigma^2), minus m m^T
    second = (mean[:, :, None] * mean[:, None, :] + torch.diag_embed(log_var.exp())).mean(0)
    torch.testing.assert_close(m, mean.mean(0), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(C, second - torch.outer(m, m), rtol=1e-12, atol=1e-12)
    # and a large sample from the mixture agrees, within 5 standard errors (variances of ~2)
    n = 200_000
    pick = torch.randint(0, 7, (n,), generator=gen(20))
    z = gaussian.reparametrise(mean[pick], log_var[pick], generator=gen(21))
    assert float((z.mean(0) - m).abs().max()) < 5 * math.sqrt(float(C.diagonal().max()) / n)
    scale = float(C.diagonal().max())
    assert float((torch.cov(z.T) - C).abs().max()) < 5 * scale * math.sqrt(2 / n)
    # without log_var: the points' own covariance (divisor n)
    torch.testing.assert_close(ae.aggregate_moments(mean)[1],
                               torch.cov(mean.T, correction=0), rtol=1e-12, atol=1e-12)


def test_gaussian_kl_to_prior_matches_torch_distributions():
    m, C = torch.tensor([0.3, -0.5], dtype=F64), torch.tensor([[1.5, 0.4], [0.4, 0.7]], dtype=F64)
    prior = D.MultivariateNormal(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64))
    theirs = D.kl_divergence(D.MultivariateNormal(m, C), prior)
    assert ae.gaussian_kl_to_prior(m, C) == pytest.approx(float(theirs), rel=1e-12)
    assert ae.gaussian_kl_to_prior(torch.zeros(2), torch.eye(2)) == pytest.approx(0.0, abs=1e-12)
    for bad in (-C, torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=F64),
                torch.tensor([[1.0, 0.1], [0.0, 1.0]], dtype=F64)):
        with pytest.raises(ValueError, match="symmetric positive definite"):
            ae.gaussian_kl_to_prior(m, bad)
    with pytest.raises(ValueError, match="C must be 2 x 2"):
        ae.gaussian_kl_to_prior(m, torch.eye(3))


def test_log_aggregate_density_matches_a_torch_mixture():
    mean, log_var = _blobs(6)
    mixture = D.MixtureSameFamily(D.Categorical(torch.ones(6, dtype=F64)),
                                  D.Independent(D.Normal(mean, (0.5 * log_var).exp()), 1))
    z = 2 * torch.randn(50, 2, generator=gen(22), dtype=F64)
    torch.testing.assert_close(ae.log_aggregate_density(z, mean, log_var, chunk=7),
                               mixture.log_prob(z), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="must agree on the latent width"):
        ae.log_aggregate_density(torch.zeros(3, 3, dtype=F64), mean, log_var)


def _quadrature_kls(mean, log_var, half=12.0, n=481):
    """KL(q || p) and KL(p || q) for the mixture q and p = N(0, I), by the rectangle rule on a
    fine grid (both integrands are smooth and negligible beyond the window)."""
    axis = torch.linspace(-half, half, n, dtype=F64)
    z = torch.cartesian_prod(axis, axis)
    cell = float(axis[1] - axis[0]) ** 2
    log_q = ae.log_aggregate_density(z, mean, log_var)
    log_p = gaussian.log_density(z, torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64))
    return (float((log_q.exp() * (log_q - log_p)).sum() * cell),
            float((log_p.exp() * (log_p - log_q)).sum() * cell))


def test_coverage_monte_carlo_agrees_with_quadrature_and_the_kl_chain_holds():
    mean, log_var = _blobs(5)
    to_prior, from_prior = _quadrature_kls(mean, log_var)
    out = ae.coverage(mean, log_var, gen(23), 3000, samples_per_blob=600)
    # the same mixture written with every blob repeated, one sample of each: the same estimator
    again = ae.coverage(mean.repeat(600, 1), log_var.repeat(600, 1), gen(23), 3000)
    assert again == pytest.approx(out, rel=1e-12)
    assert abs(out["aggregate_to_prior_kl"] - to_prior) < 5 * out["aggregate_to_prior_kl_se"]
    assert abs(out["prior_to_aggregate_kl"] - from_prior) < 5 * out["prior_to_aggregate_kl_se"]
    # mean KL term >= KL(aggregate || prior) >= KL(moment-matched Gaussian || prior)
    mean_kl = float(gaussian.kl_standard_normal(mean, log_var).mean())
    moment_kl = ae.gaussian_kl_to_prior(*ae.aggregate_moments(mean, log_var))
    assert mean_kl > to_prior > moment_kl
    # one blob: both directions have closed forms
    m1, lv1 = torch.tensor([[0.8, -0.3]], dtype=F64), torch.tensor([[-1.0, 0.5]], dtype=F64)
    zeros = torch.zeros(1, 2, dtype=F64)
    to_prior, from_prior = _quadrature_kls(m1, lv1)
    assert to_prior == pytest.approx(float(gaussian.kl_diagonal(m1, lv1, zeros, zeros)), rel=1e-8)
    assert from_prior == pytest.approx(float(gaussian.kl_diagonal(zeros, zeros, m1, lv1)), rel=1e-8)


# -- the evidence by quadrature ------------------------------------------------------------------
def test_evidence_on_grid_matches_a_linear_gaussian_decoder():
    """D(z) = W z + b with p(x|z) = N(D(z), s I): p(x) = N(b, W W^T + s I) and the posterior is
    N(P^-1 W^T (x - b) / s, P^-1) with P = I + W^T W / s, both in closed form."""
    torch.manual_seed(24)
    decoder = nn.Linear(2, 5).double()
    W, b, s = decoder.weight.detach(), decoder.bias.detach(), 0.3
    x = torch.randn(5, generator=gen(25), dtype=F64)
    P = torch.eye(2, dtype=F64) + W.T @ W / s
    post_cov = torch.linalg.inv(P)
    post_mean = post_cov @ W.T @ (x - b) / s
    log_evidence = D.MultivariateNormal(b, W @ W.T + s * torch.eye(5, dtype=F64)).log_prob(x)
    mean, log_var = post_mean + 0.1, post_cov.diagonal().log() - 0.2  # a q near the posterior
    gap = D.kl_divergence(D.MultivariateNormal(mean, torch.diag(log_var.exp())),
                          D.MultivariateNormal(post_mean, post_cov))
    out = ae.evidence_on_grid(decoder, x, mean, log_var, decoder_var=s, half_width=10.0, n=121)
    # a smooth Gaussian integrand on a grid of 121 points over 20 sigma: the rectangle rule is
    # accurate far beyond these tolerances
    assert out["log_evidence"] == pytest.approx(float(log_evidence), abs=1e-8)
    assert out["gap"] == pytest.approx(float(gap), abs=1e-8)
    assert out["elbo"] == pytest.approx(float(log_evidence - gap), abs=1e-8)
    assert out["gap"] > 0 and out["edge_mass"] < 1e-12
    # a window too narrow for the posterior says so
    narrow = ae.evidence_on_grid(decoder, x, mean, log_var, decoder_var=s, half_width=1.0, n=41)
    assert narrow["edge_mass"] > 0.01


def test_evidence_on_grid_rejects_bad_input():
    decoder, x, zero = nn.Linear(2, 5), torch.zeros(5), torch.zeros(2)
    with pytest.raises(TypeError, match="decoder must be a torch.nn.Module"):
        ae.evidence_on_grid(lambda z: z, x, zero, zero, decoder_var=1.0)
    with pytest.raises(ValueError, match="2 coordinates of a 2-D latent"):
        ae.evidence_on_grid(decoder, x, torch.zeros(3), torch.zeros(3), decoder_var=1.0)
    with pytest.raises(ValueError, match="decoder must map the 2-D latent to 4 values"):
        ae.evidence_on_grid(decoder, torch.zeros(4), zero, zero, decoder_var=1.0)
    with pytest.raises(ValueError, match="n must be at least 3"):
        ae.evidence_on_grid(decoder, x, zero, zero, decoder_var=1.0, n=2)
    with pytest.raises(ValueError, match="decoder_var must be positive"):
        ae.evidence_on_grid(decoder, x, zero, zero, decoder_var=0.0)


# -- grids and interpolations --------------------------------------------------------------------
def test_latent_grid_runs_row_by_row_from_the_top_left():
    z = ae.latent_grid((-1, 3, 0, 2), 3)
    assert z.shape == (9, 2)
    assert z[0].tolist() == [-1.0, 2.0] and z[2].tolist() == [3.0, 2.0]
    assert z[-1].tolist() == [3.0, 0.0] and z[4].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="min < max"):
        ae.latent_grid((1, 0, 0, 1), 3)
    with pytest.raises(ValueError, match="lim must be"):
        ae.latent_grid((0, 1), 3)


def test_interpolate_decodes_the_straight_line_between_codes():
    for model in (ae.Autoencoder([16], seed=26), ae.VAE([16], seed=26)):
        x = images(2, seed=27)
        interpolated = ae.interpolate(model, x[0], x[1], steps=5)
        assert interpolated.shape == (5, 784)
        with torch.no_grad():
            z = model.codes(x)
            torch.testing.assert_close(interpolated[[0, -1]], model.decoder(z))
            torch.testing.assert_close(interpolated[2], model.decoder(z.mean(0, keepdim=True))[0])
    with pytest.raises(TypeError, match="model must be an instance of Autoencoder or VAE"):
        ae.interpolate(nn.Linear(784, 2), x[0], x[1])
