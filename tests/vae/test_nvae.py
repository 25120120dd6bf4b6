"""Tests for kexue.vae.nvae: the residual-normal KL against torch.distributions, the cells' shapes
and identity paths, the spectral norm by power iteration against torch.linalg, the KL warm-up and
learning-rate schedule, the model's KL and log-weights agreeing with each other, batch-norm
re-estimation, a short training run, and bad input (the experiment and the figures:
test_experiments.py, test_figures.py; dynamic binarisation: tests/test_data.py)."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import distributions as D
from torch import nn

from kexue.vae import nvae

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_residual_normal_kl_matches_torch_distributions():
    g = gen()
    shape = (5, 3, 4, 4)
    mu, dmu = torch.randn(shape, generator=g, dtype=F64), torch.randn(shape, generator=g, dtype=F64)
    ls, dls = 0.5 * torch.randn(shape, generator=g, dtype=F64), 0.5 * torch.randn(shape, generator=g, dtype=F64)
    q = D.Normal(mu + dmu, torch.exp(ls + dls))   # sigma_q = sigma_p * dsigma
    p = D.Normal(mu, torch.exp(ls))
    want = D.kl_divergence(q, p).flatten(1).sum(1)
    got = nvae.residual_normal_kl(dmu, dls, ls)
    assert torch.allclose(got, want, atol=1e-12, rtol=0)
    # zero residual: q = p, KL = 0
    assert torch.allclose(nvae.residual_normal_kl(0 * dmu, 0 * dls, ls), torch.zeros(5, dtype=F64))


def test_encoder_cell_shapes_and_identity_path():
    torch.manual_seed(0)
    x = torch.randn(3, 8, 14, 14)
    cell = nvae.EncoderCell(8)
    assert isinstance(cell.skip, nn.Identity)
    y = cell(x)
    assert y.shape == x.shape
    assert torch.allclose(y - x, 0.1 * cell.branch(x), atol=1e-6)   # skip + 0.1 * branch
    cell.scale = 0.0
    assert torch.equal(cell(x), x)                                 # the identity path alone
    down = nvae.EncoderCell(8, 16, downsample=True)
    assert down(x).shape == (3, 16, 7, 7)


def test_generative_cell_is_depthwise_with_squeeze_excitation():
    torch.manual_seed(0)
    cell = nvae.GenerativeCell(6, expansion=3, kernel=5)
    x = torch.randn(4, 6, 7, 7)
    assert cell(x).shape == x.shape
    convs = [m for m in cell.branch if isinstance(m, nn.Conv2d)]
    depthwise = [c for c in convs if c.groups > 1]
    assert len(depthwise) == 1
    assert depthwise[0].groups == depthwise[0].in_channels == depthwise[0].out_channels == 18
    assert depthwise[0].weight.shape == (18, 1, 5, 5)              # one 5x5 filter per channel
    assert isinstance(cell.branch[-1], nvae.SqueezeExcitation)
    cell.scale = 0.0
    assert torch.equal(cell(x), x)


def test_squeeze_excitation_gates_channels_within_zero_and_one():
    torch.manual_seed(0)
    se = nvae.SqueezeExcitation(8)
    x = torch.rand(2, 8, 5, 5) + 0.1
    ratio = se(x) / x
    assert ratio.shape == x.shape
    assert bool(((ratio > 0) & (ratio < 1)).all())
    # one gate per (image, channel): constant over the spatial positions
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-6)


def test_spectral_norm_by_power_iteration_matches_the_largest_singular_value():
    w = torch.randn(16, 8, 3, 3, generator=gen(1), dtype=F64)
    want = torch.linalg.matrix_norm(w.reshape(16, -1), ord=2)
    got = nvae.spectral_norm(w, n_iter=300).detach()
    assert abs(float(got - want)) < 1e-8 * float(want)
    # its gradient is u v^T, the gradient of the exact norm
    w1 = w.clone().requires_grad_(True)
    nvae.spectral_norm(w1, n_iter=300).backward()
    w2 = w.clone().requires_grad_(True)
    torch.linalg.matrix_norm(w2.reshape(16, -1), ord=2).backward()
    assert torch.allclose(w1.grad, w2.grad, atol=1e-6)


def test_model_spectral_penalty_sums_every_layer():
    model = nvae.NVAE(channels=(4, 8, 8), latent=2, groups=1, expansion=2, seed=0).double()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        want = sum(torch.linalg.matrix_norm(m.weight.reshape(len(m.weight), -1), ord=2) for m in layers)
    got = model.spectral_penalty(n_iter=500).detach()
    assert abs(float(got - want)) < 1e-6 * float(want)
    # the estimates persist: one more step from converged vectors gives the same sum
    assert abs(float(model.spectral_penalty(n_iter=1).detach() - want)) < 1e-6 * float(want)


def test_kl_warmup():
    assert nvae.kl_warmup(0.0) == 1e-4                       # the floor
    assert nvae.kl_warmup(0.15) == pytest.approx(0.5)
    assert nvae.kl_warmup(0.3) == 1.0 and nvae.kl_warmup(1.0) == 1.0
    values = [nvae.kl_warmup(p / 100) for p in range(101)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="progress must be in"):
        nvae.kl_warmup(1.5)
    with pytest.raises(ValueError, match="portion must be positive"):
        nvae.kl_warmup(0.5, portion=0)


def test_schedule_follows_steps_or_time_whichever_is_further():
    loss = nvae.NVAELoss()
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    trainer = SimpleNamespace(step=0, optimizer=opt)
    budget = SimpleNamespace(elapsed=0.0, seconds=100.0)
    sched = nvae.Schedule(loss, 100, lr=0.1, warmup_portion=0.5, budget=budget, min_lr_ratio=0.0)
    sched.on_train_begin(trainer)
    assert loss.kl_weight == 1e-4 and opt.param_groups[0]["lr"] == pytest.approx(0.1)
    trainer.step = 25
    sched.on_step_end(trainer, {})
    assert loss.kl_weight == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    budget.elapsed = 50.0                                    # time is now further along
    sched.on_step_end(trainer, {})
    assert loss.kl_weight == 1.0 and opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert sched.kl_weights == [1e-4, pytest.approx(0.5)]   # the weight each step trained with


def small_model(seed=0):
    return nvae.NVAE(channels=(4, 8, 8), latent=2, groups=2, expansion=2, seed=seed)


def test_forward_sample_and_log_weight_shapes():
    model = small_model().eval()
    x = torch.bernoulli(torch.rand(5, 784, generator=gen()))
    with torch.no_grad():
        out = model(x.reshape(5, 1, 28, 28))
        assert out["logits"].shape == (5, 1, 28, 28)
        assert len(out["kl"]) == len(out["log_ratio"]) == 4    # 2 groups at 7x7, 2 at 14x14
        assert all(k.shape == (5,) and bool((k >= 0).all()) for k in out["kl"])
        assert model.log_weight(x).shape == (5,)
        s = model.sample(3, temperature=0.7, generator=gen())
    assert s.shape == (3, 1, 28, 28) and bool(((s > 0) & (s < 1)).all())
    # temperature 0: every group at its prior mean, whatever the noise
    assert torch.equal(model.sample(2, temperature=0.0, generator=gen(1)),
                       model.sample(2, temperature=0.0, generator=gen(2)))


def test_top_group_kl_is_the_mean_of_its_sampled_log_ratio():
    # the analytic residual KL of the top group is E_q[log q - log p]; both come out of forward
    model = small_model().double().eval()
    x = torch.bernoulli(torch.rand(1, 1, 28, 28, generator=gen(), dtype=F64)).repeat(500, 1, 1, 1)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(x)
    terms = -out["log_ratio"][0]
    se = float(terms.std()) / math.sqrt(len(terms))
    assert torch.allclose(out["kl"][0], out["kl"][0][:1].expand(500))   # no noise in the KL
    assert abs(float(terms.mean() - out["kl"][0][0])) < 4 * se


def test_readjust_batch_norm_restores_mode_and_momentum():
    model = small_model().eval()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    nvae.readjust_batch_norm(model, temperature=0.8, batches=2, batch_size=8)
    assert not model.training
    assert all(m.momentum == 0.1 for m in norms)
    assert all(int(m.num_batches_tracked) == 2 for m in norms[-5:])   # the post-processing cell
    assert any(not torch.allclose(m.running_mean, torch.zeros_like(m.running_mean)) for m in norms)
    with pytest.raises(TypeError, match="must be an NVAE"):
        nvae.readjust_batch_norm(nn.Linear(2, 2))


def test_a_few_training_steps_raise_the_elbo():
    from kexue.train import Trainer

    torch.manual_seed(0)
    x = torch.rand(64, 784, generator=gen()).pow(4)          # sparse, image-like intensities
    model, loss = small_model(), nvae.NVAELoss()
    opt = torch.optim.Adamax(model.parameters(), lr=1e-2)
    history = Trainer(model, opt, loss, x, batch_size=32, log_every=2, progress=False).fit(steps=12)
    elbo = history["elbo"]
    assert elbo[-1] > elbo[0] + 50                           # hundreds of nats gained from the start


def test_bad_input():
    with pytest.raises(ValueError, match="three widths"):
        nvae.NVAE(channels=(4, 8))
    with pytest.raises(ValueError, match="keeps the channels"):
        nvae.EncoderCell(4, 8)
    with pytest.raises(ValueError, match="kernel must be odd"):
        nvae.GenerativeCell(4, kernel=4)
    with pytest.raises(ValueError, match="share one shape"):
        nvae.residual_normal_kl(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nvae.spectral_norm(torch.ones(3))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        small_model().sample(2, temperature=-1.0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        small_model().sample(0)
    with pytest.raises(ValueError, match="limit must be positive"):
        nvae.soft_clamp(torch.zeros(2), 0.0)
