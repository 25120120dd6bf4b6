"""The clustering VAE of post 5887: its loss terms against torch.distributions, the dropped
constant of eq. (8), the balance terms, assignment, sampling, a short training run and bad input
(the experiments, the benchmark's wiring and the figures: test_experiments.py, test_figures.py)."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from kexue.vae import clustering
from kexue.vae.clustering import ClusteringVAE, cluster_loss, loss_terms

WIDTHS = [12, 16, 3]


def model64(seed=0, clusters=4):
    model = ClusteringVAE(WIDTHS, clusters=clusters, classifier_hidden=8, seed=seed).double()
    with torch.no_grad():  # spread the class means, as training would
        model.means.copy_(torch.randn(clusters, WIDTHS[-1], dtype=torch.float64,
                                      generator=torch.Generator().manual_seed(seed)))
    return model


def test_prior_term_is_the_log_ratio_less_a_parameter_free_constant():
    """sum_y p(y|z) log p(z|x)/q(z|y) = prior - |eps|^2 / 2, with both densities from
    torch.distributions: the term eq. (8) drops depends on the noise only."""
    model = model64()
    x = torch.rand(6, WIDTHS[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(6, WIDTHS[-1], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = model(x, noise)
    terms = loss_terms(model, x, noise)
    z, std = out["z"], (0.5 * out["log_var"]).exp()
    log_p = Normal(out["mean"], std).log_prob(z).sum(1)                          # log p(z|x)
    log_q = Normal(model.means.unsqueeze(0), 1.0).log_prob(z.unsqueeze(1)).sum(2)  # log q(z|y), (n, K)
    exact = (out["probs"] * (log_p.unsqueeze(1) - log_q)).sum(1)
    torch.testing.assert_close(terms["prior"] - 0.5 * noise.square().sum(1), exact,
                               rtol=1e-12, atol=1e-12)


def test_reconstruction_and_categorical_terms():
    model = model64()
    x = torch.rand(5, WIDTHS[0], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(5, WIDTHS[-1], dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    out, terms = model(x, noise), loss_terms(model, x, noise)
    # -log q(x|z) of a unit-variance Gaussian decoder, less its constant
    gaussian_nll = -Normal(out["recon"], 1.0).log_prob(x).sum(1)
    torch.testing.assert_close(terms["recon"], gaussian_nll - 0.5 * WIDTHS[0] * math.log(2 * math.pi),
                               rtol=1e-12, atol=1e-12)
    uniform = Categorical(probs=torch.full_like(out["probs"], 1 / model.clusters))
    torch.testing.assert_close(terms["categorical"],
                               kl_divergence(Categorical(probs=out["probs"]), uniform),
                               rtol=1e-10, atol=1e-12)


def test_cluster_loss_weights_and_balance():
    model = model64()
    x = torch.rand(7, WIDTHS[0], dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    loss, parts = cluster_loss(model, x, recon_weight=2.5)
    assert float(loss.detach()) == pytest.approx(float(2.5 * parts["recon"] + parts["prior"] + parts["categorical"]),
                                 rel=1e-12)
    torch.manual_seed(0)
    _, batch = cluster_loss(model, x, balance="batch")
    torch.manual_seed(0)
    probs = loss_terms(model, x)["probs"].mean(0)
    expected = kl_divergence(Categorical(probs=probs),
                             Categorical(probs=torch.full_like(probs, 1 / model.clusters)))
    assert float(batch["categorical"]) == pytest.approx(float(expected.detach()), rel=1e-10)
    # the batch's average is closer to uniform than its samples: Jensen
    assert float(batch["categorical"]) <= float(parts["categorical"]) + 1e-12


def test_gradients_reach_every_parameter():
    model = model64()
    x = torch.rand(8, WIDTHS[0], dtype=torch.float64)
    cluster_loss(model, x)[0].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_assign_is_the_classifier_argmax_at_the_mean_and_sample_centres_on_the_mean():
    model = model64(clusters=3)
    x = torch.rand(50, WIDTHS[0], dtype=torch.float64)
    mean, _ = model.encoder(x)
    assert torch.equal(model.assign(x, batch_size=7), model.classifier(mean).argmax(1))
    # the decoder is a sigmoid MLP: check the latent side of sampling through the decoder's input
    seen = []
    hook = model.decoder[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    model.sample(2, 4000, generator=torch.Generator().manual_seed(0))
    hook.remove()
    z = seen[0]
    assert z.shape == (4000, WIDTHS[-1])
    torch.testing.assert_close(z.mean(0), model.means[2].float().to(z.dtype), atol=0.06, rtol=0)
    torch.testing.assert_close(z.var(0), torch.ones(WIDTHS[-1], dtype=z.dtype), atol=0.08, rtol=0)


def test_short_training_lowers_the_loss():
    import kexue as kx

    images, _ = kx.data.mnist("test")
    x = kx.data.as_float(images[:600], device="cpu")
    config = dict(widths=[784, 64, 8], clusters=10, classifier_hidden=32, lr=2e-3, batch_size=100,
                  epochs=4, recon_weight=2.5, balance="batch", kmeans_epoch=0)
    model, rows = clustering.train_clustering(x, config, seed=0)
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    assert not model.training


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(encoder_widths=[12, 3]), ValueError, "widths"),
    (dict(encoder_widths=WIDTHS, clusters=1), ValueError, "at least 2"),
    (dict(encoder_widths=WIDTHS, clusters=2.5), ValueError, "clusters"),
    (dict(encoder_widths=WIDTHS, classifier_hidden=0), ValueError, "classifier_hidden"),
])
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        ClusteringVAE(**kwargs)


def test_bad_calls():
    model = ClusteringVAE(WIDTHS, clusters=4, classifier_hidden=8, seed=0)
    with pytest.raises(ValueError, match="12 columns"):
        model(torch.rand(3, 11))
    with pytest.raises(TypeError, match="floating"):
        model(torch.ones(3, 12, dtype=torch.long))
    with pytest.raises(ValueError, match="balance"):
        cluster_loss(model, torch.rand(3, 12), balance="global")
    with pytest.raises(ValueError, match="recon_weight"):
        cluster_loss(model, torch.rand(3, 12), recon_weight=-1)
    with pytest.raises(ValueError, match="cluster must be in"):
        model.sample(4, 2)


def test_prior_posterior_minimises_the_classifier_part_of_the_loss():
    """min over p in the simplex of sum p_y d_y + KL(p || uniform), found by scipy, is attained at
    softmax(-d), the prior's posterior."""
    from scipy.optimize import minimize

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    means = 2 * torch.randn(5, 3, dtype=torch.float64, generator=gen)
    posterior = clustering.prior_posterior(z, means)
    d = 0.5 * ((z[:, None] - means[None]) ** 2).sum(-1)
    for row in range(4):
        def objective(logits, d=d[row].numpy()):
            p = np.exp(logits - logits.max())
            p /= p.sum()
            return float(p @ d + p @ np.log(p * len(p)))
        found = minimize(objective, np.zeros(5), method="BFGS", options={"gtol": 1e-10})
        p = np.exp(found.x - found.x.max())
        np.testing.assert_allclose(p / p.sum(), posterior[row].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="latent width"):
        clustering.prior_posterior(z, means[:, :2])


def test_kmeans_callback_moves_the_means_to_centroids_once():
    from sklearn.cluster import KMeans

    import kexue as kx

    images, _ = kx.data.mnist("test")
    x = kx.data.as_float(images[:300], device="cpu")
    model = ClusteringVAE([784, 16, 3], clusters=4, classifier_hidden=8, seed=0)
    callback = clustering.KMeansMeans(x, epoch=1, seed=0, n_init=2)
    trainer = kx.train.Trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), cluster_loss, x,
                               batch_size=100, callbacks=[callback], progress=False)
    trainer.fit(epochs=1)                       # lr 0: the codes are those of the initial encoder
    with torch.no_grad():
        codes = model.encoder(x)[0].numpy()
    expected = KMeans(4, n_init=2, random_state=0).fit(codes).cluster_centers_
    np.testing.assert_allclose(model.means.detach().numpy(), expected, atol=1e-5)
    assert callback.state_dict() == {"done": True}
    with torch.no_grad():
        model.means.zero_()
    trainer.fit(epochs=2)                       # done: epoch 2 leaves the means alone
    assert float(model.means.detach().abs().max()) == 0.0


def test_vade_start_pretrains_places_the_means_and_teaches_the_classifier_the_posterior():
    from sklearn.cluster import KMeans

    import kexue as kx

    images, _ = kx.data.mnist("test")
    x = kx.data.as_float(images[:600], device="cpu")
    model = ClusteringVAE([784, 32, 3], clusters=4, classifier_hidden=32, seed=0)

    def recon():
        with torch.no_grad():
            return float((x - model.decoder(model.encoder(x)[0])).square().sum(1).mean())

    before = recon()
    rows = clustering.pretrain_autoencoder(model, x, epochs=5, lr=3e-3, batch_size=100, seed=0)
    assert recon() < 0.8 * before and len(rows) == 5
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    with torch.no_grad():
        codes = model.encoder(x)[0]
    expected = KMeans(4, n_init=2, random_state=0).fit(codes.numpy()).cluster_centers_
    posterior = clustering.prior_posterior(codes, torch.as_tensor(expected, dtype=codes.dtype))

    def kl_to_posterior():   # KL(q(y|z) || p(y|z)) averaged over the codes
        with torch.no_grad():
            log_p = torch.log_softmax(model.classifier(codes), 1)
            return float((posterior * (posterior.clamp_min(1e-12).log() - log_p)).sum(1).mean())

    before = kl_to_posterior()
    clustering.init_clusters(model, x, epochs=150, lr=3e-3, batch_size=100, seed=0, n_init=2)
    np.testing.assert_allclose(model.means.detach().numpy(), expected, atol=1e-5)
    # only the classifier learned, and it moved close to the prior's Bayes posterior
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert kl_to_posterior() < 0.2 * before
