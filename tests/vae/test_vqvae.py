"""The convolutional VQ-VAE: shapes, the straight-through loss, a short training (the experiment
and the figures: test_experiments.py, test_figures.py)."""
import pytest
import torch

import kexue as kx
from kexue.vae import vqvae
from kexue.vae.vector_quantise import code_counts


def _images(n, seed=0):
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_code_grid_round_trip():
    model = vqvae.VQVAE(num_codes=8, code_dim=4, channels=4, seed=0).eval()
    x = _images(3)
    out = model(x)
    assert out["indices"].shape == (3, 7, 7) and out["recon"].shape == (3, 784)
    assert ((out["recon"] > 0) & (out["recon"] < 1)).all()
    codes = model.codes(x, batch_size=2)
    assert torch.equal(codes, out["indices"])
    # decoding the code grid gives the forward pass's reconstruction: z_q's value is e_k
    assert torch.allclose(model.decode_codes(codes), out["recon"], atol=1e-6)


def test_loss_is_post_loss_and_encoder_gets_decoder_gradient():
    model = vqvae.VQVAE(num_codes=8, code_dim=4, channels=4, seed=1)
    x = _images(4, 1)
    loss, parts = vqvae.vqvae_loss(model, x)
    z_e = model.encode(x)
    z_q = model.quantiser.codebook[model.codes(x)]
    expected = ((model.decode(z_q) - x).square().mean() + (z_e - z_q).square().mean() * 1.25)
    assert torch.allclose(loss, expected, rtol=1e-5)
    assert torch.allclose(parts["codebook"], parts["commitment"])
    loss.backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0      # through the straight-through path


def test_training_reduces_error_and_restarts_dead_codes():
    x = kx.data.as_float(kx.data.mnist("train")[0][:2000])
    config = dict(num_codes=16, code_dim=8, channels=8, lr=2e-3, batch_size=64, steps=80,
                  data_init=True, restart_every=20, log_every=20)
    model, rows, restarted = vqvae.train_vqvae(x, config, seed=0)
    assert rows[-1]["recon"] < rows[0]["recon"]
    assert len(restarted) == 2        # checks at steps 20 and 40, none after half of training
    err = vqvae.reconstruction_errors(model, x[:500])
    assert err["mse_per_image"] == pytest.approx(784 * err["mse_per_pixel"])
    # what the errors mean, computed directly
    with torch.no_grad():
        direct = (model(x[:500])["recon"] - x[:500]).square().mean()
    assert err["mse_per_pixel"] == pytest.approx(float(direct), rel=1e-5)


def test_restart_moves_every_unused_code_onto_an_encoder_output():
    x = _images(64, 2)
    model = vqvae.VQVAE(num_codes=16, code_dim=4, channels=4, seed=2)
    with torch.no_grad():
        model.quantiser.codebook[1:] = 100.0     # far from everything: all but code 0 unused
    cb = vqvae.RestartDeadCodes(x, every=1, until=1, sample=64, seed=0)

    class T:
        step = 1
    T.model = model
    cb.on_step_end(T, {})
    assert cb.restarted == [15]
    counts = code_counts(model.codes(x), 16)
    z_e = model.encode(x).reshape(-1, 4).detach()
    assert torch.cdist(model.quantiser.codebook[1:].detach(), z_e,
                       compute_mode="donot_use_mm_for_euclid_dist").min(1).values.max() < 1e-6
    assert counts.sum() == 64 * 49


def test_bad_input():
    model = vqvae.VQVAE(num_codes=8, code_dim=4, channels=4, seed=0)
    with pytest.raises(ValueError, match="784 columns"):
        model(torch.rand(2, 100))
    with pytest.raises(TypeError, match="floating"):
        model.codes(torch.ones(2, 784, dtype=torch.int64))
    with pytest.raises(ValueError, match="code grids"):
        model.decode_codes(torch.zeros(2, 49, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        model.decode_codes(torch.full((1, 7, 7), 8))
    with pytest.raises(ValueError, match="num_codes"):
        vqvae.VQVAE(num_codes=0)
