"""The entropic autoencoder of kexue.vae.eae."""

import pytest
import torch
from torch import nn

import kexue as kx
from kexue.vae import eae, entropy
from kexue.vae.autoencoder import VAE, VAELoss, train_model


def _data(n=64, seed=0):
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))


def test_batch_norm_codes_have_mean_0_and_variance_1_per_coordinate():
    model = eae.EAE((32,), 5, seed=0).train()
    z = model.codes(3 * _data() + 1)
    assert model.norm.affine is False and not list(model.norm.parameters())
    assert torch.allclose(z.mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(z.var(0, unbiased=False), torch.ones(5), atol=1e-3)  # eps = 1e-5
    # in eval mode the running averages standardise instead
    model.eval()
    with torch.no_grad():
        h = nn.Sequential(*model.encoder)(_data())
        expected = (h - model.norm.running_mean) / (model.norm.running_var + model.norm.eps).sqrt()
        assert torch.allclose(model.codes(_data()), expected, atol=1e-6)


def test_decoder_runs_in_the_latent_explorer():
    model = eae.EAE((16,), 3, seed=1).eval()
    assert isinstance(model.decoder, nn.Sequential) and isinstance(model.decoder[-1], nn.Sigmoid)
    from kexue.widgets.latent_explorer import LatentExplorer, decode_exported, export_decoder

    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # float16 weights in the page: pixels agree to about 1e-3
        assert abs(decode_exported(export_decoder(model.decoder), z.numpy())
                   - model.decoder(z).numpy()).max() < 1e-2
    assert isinstance(kx.widgets.latent_explorer(model.decoder, cluster_means=torch.zeros(1, 3)),
                      LatentExplorer)


def test_loss_is_reconstruction_minus_weighted_entropy():
    model = eae.EAE((32,), 4, seed=2).train()
    x = _data(50, 3)
    loss, logs = eae.EAELoss(2.5, k=2)(model, x)
    z = model.codes(x)
    recon = (x - model.decoder(z)).square().sum(1).mean()
    h = entropy.knn_entropy(z, 2)
    assert torch.allclose(loss, recon - 2.5 * h, rtol=1e-5)
    assert torch.allclose(logs["entropy"], h.detach()) and torch.allclose(logs["reconstruction"],
                                                                          recon.detach())


def test_entropy_term_spreads_the_codes():
    # a few steps of the entropy term alone raise the batch codes' entropy estimate
    model = eae.EAE((32,), 3, seed=3).train()
    x = _data(128, 4)
    optimizer = torch.optim.Adam(model.encoder.parameters(), lr=1e-2)
    before = float(entropy.knn_entropy(model.codes(x).detach(), 1))
    for _ in range(30):
        optimizer.zero_grad()
        (-entropy.knn_entropy(model.codes(x), 1)).backward()
        optimizer.step()
    after = float(entropy.knn_entropy(model.codes(x).detach(), 1))
    assert after > before + 0.3, (before, after)
    # BN fixes the scale: doubling the encoder's output leaves the codes, and the estimate, alone
    with torch.no_grad():
        last = model.encoder[-1]
        last.weight.mul_(2), last.bias.mul_(2)
    assert float(entropy.knn_entropy(model.codes(x).detach(), 1)) == pytest.approx(after, abs=1e-3)


def test_train_model_and_draw_samples():
    x = _data(200, 5)
    config = dict(epochs=1, batch_size=50, lr=1e-3, seed=0)
    model, rows = train_model(eae.EAE((16,), 2, seed=0), eae.EAELoss(1.0), config, x)
    assert not model.training and {"reconstruction", "entropy"} <= set(rows[-1])
    vae, rows = train_model(VAE((16,), 2, seed=0), VAELoss(1.0), config, x)
    assert "kl" in rows[-1]
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a, b = eae.draw_samples(model.decoder, 5, 2, g1), eae.draw_samples(model.decoder, 5, 2, g2)
    assert a.shape == (5, 784) and torch.equal(a, b) and bool(((a > 0) & (a < 1)).all())


def test_code_moments():
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    m = eae.code_moments(z)
    assert m["mean"] == pytest.approx(z.mean(0).tolist())
    assert m["var"] == pytest.approx(z.var(0, unbiased=False).tolist())
    assert 0 < m["max_abs_corr"] < 0.2


def test_bad_input():
    model = eae.EAE((8,), 2, seed=0)
    with pytest.raises(ValueError, match="784 columns"):
        model.codes(torch.zeros(3, 10))
    with pytest.raises(ValueError, match="entropy_weight must be"):
        eae.EAELoss(-1.0)
    with pytest.raises(ValueError, match="norm must be one of"):
        eae.EAELoss(1.0, norm="l1")
    with pytest.raises(TypeError, match="model must be an EAE"):
        eae.EAELoss(1.0)(VAE((8,), 2), _data(4))
    with pytest.raises(ValueError, match="k must be smaller"):
        eae.EAELoss(1.0, k=4)(model, _data(4))
    with pytest.raises(KeyError, match="config lacks"):
        train_model(model, eae.EAELoss(), {"epochs": 1}, _data(4))
    with pytest.raises(TypeError, match="generator must be"):
        eae.draw_samples(model.decoder, 3, 2, 0)
