"""Tests for kexue.optim.layers: hand-written backward passes against gradcheck and autograd,
forward hooks, schedules and the early-stopping replay. (The chapter's MNIST run is tested in
test_experiments.py, its figures in test_figures.py.)"""
import math

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.nn import functional as F

from kexue.optim import layers


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- a layer with a training phase -----------------------------------------------------------------
def test_gaussian_noise_only_in_training():
    layer = layers.GaussianNoise(0.5)
    x = torch.zeros(200_000)
    noise = layer(x)
    # the sample std of n = 2e5 normals is within 1% of the true one (its own sd is 0.16%)
    assert abs(float(noise.std()) - 0.5) < 0.005 and abs(float(noise.mean())) < 0.005
    layer.eval()
    assert layer(x) is x
    x = randn(5).requires_grad_()
    layer.train()
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(5))
    with pytest.raises(ValueError, match="std must be positive"):
        layers.GaussianNoise(0.0)


# -- Swish ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta_shape", [(), (7,)])
def test_swish_backward_passes_gradcheck_in_float64(beta_shape):
    x = randn(5, 7).requires_grad_()
    beta = (1 + 0.5 * randn(*beta_shape, seed=1)).requires_grad_()
    assert gradcheck(layers.swish, (x, beta))
    assert gradgradcheck(layers.swish, (x, beta))  # the backward is made of differentiable ops


def test_swish_matches_autograd_of_its_expression_and_silu():
    x = (3 * randn(50, 4)).requires_grad_()
    beta = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    ours = layers.swish(x, beta)
    g = randn(50, 4, seed=2)
    gx, gb = torch.autograd.grad(ours, (x, beta), g)
    ref = x * torch.sigmoid(beta * x)
    rx, rb = torch.autograd.grad(ref, (x, beta), g)
    assert torch.allclose(ours, ref, rtol=1e-14, atol=1e-14)  # float64: round-off only
    assert torch.allclose(gx, rx, rtol=1e-12, atol=1e-12)
    assert torch.allclose(gb, rb, rtol=1e-12, atol=1e-12)
    x32 = x.detach().float().requires_grad_()
    silu = layers.Swish()(x32)  # beta = 1 is SiLU
    (gs,) = torch.autograd.grad(silu.sum(), x32)
    x32b = x32.detach().requires_grad_()
    (gt,) = torch.autograd.grad(F.silu(x32b).sum(), x32b)
    assert torch.allclose(silu, F.silu(x32b), atol=1e-6) and torch.allclose(gs, gt, atol=1e-6)


def test_swish_saves_only_its_inputs_for_the_backward_pass():
    x = randn(3, 4).requires_grad_()
    beta = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    saved = layers.swish(x, beta).grad_fn.saved_tensors
    assert len(saved) == 2 and saved[0] is x and saved[1] is beta


def test_swish_module_learns_beta_per_feature():
    layer = layers.Swish(features=3, beta=2.0)
    assert layer.beta.shape == (3,) and torch.equal(layer.beta.detach(), torch.full((3,), 2.0))
    layer(torch.randn(8, 3)).sum().backward()
    assert layer.beta.grad.shape == (3,) and bool((layer.beta.grad != 0).all())
    assert layers.Swish().beta.shape == ()


def test_swish_rejects_bad_input():
    with pytest.raises(TypeError, match="x must have a real floating dtype"):
        layers.swish(torch.arange(3), 1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        layers.swish(torch.randn(4, 3), torch.ones(4))
    with pytest.raises(ValueError, match="would enlarge x"):
        layers.swish(torch.randn(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="beta must be finite"):
        layers.swish(torch.randn(3), float("inf"))
    with pytest.raises(ValueError, match="features must be a positive int"):
        layers.Swish(features=0)


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_swish_minimum_is_minus_lambert_w_of_one_over_e_over_beta(beta):
    from scipy.optimize import minimize_scalar

    x_min, y_min = layers.swish_minimum(beta)
    found = minimize_scalar(lambda x: x / (1 + math.exp(-beta * x)), bounds=(-10, 0),
                            method="bounded", options={"xatol": 1e-10})
    assert x_min == pytest.approx(found.x, abs=1e-6) and y_min == pytest.approx(found.fun, abs=1e-12)
    assert y_min == pytest.approx(-0.278464542761074 / beta, rel=1e-12)
    with pytest.raises(ValueError, match="beta must be positive"):
        layers.swish_minimum(-1.0)


# -- gradients other than autograd's ------------------------------------------------------------------
def test_round_ste_is_the_detach_trick():
    x = (3 * randn(20)).requires_grad_()
    g = randn(20, seed=1)
    ours = layers.round_ste(x)
    (gx,) = torch.autograd.grad(ours, x, g)
    x2 = x.detach().requires_grad_()
    trick = x2 + (torch.round(x2) - x2).detach()
    (gt,) = torch.autograd.grad(trick, x2, g)
    assert torch.equal(ours, torch.round(x.detach())) and torch.equal(ours, trick)
    assert torch.equal(gx, g) and torch.equal(gt, g)
    (g_true,) = torch.autograd.grad(torch.round(x2), x2, g)
    assert torch.equal(g_true, torch.zeros(20))  # what autograd of round itself would pass back


def test_gradient_reversal_is_the_detach_trick_and_gradcheck_flags_it():
    x = randn(6, 3).requires_grad_()
    g = randn(6, 3, seed=1)
    ours = layers.gradient_reversal(x, 0.7)
    (gx,) = torch.autograd.grad(ours, x, g)
    x2 = x.detach().requires_grad_()
    trick = 1.7 * x2.detach() - 0.7 * x2
    (gt,) = torch.autograd.grad(trick, x2, g)
    assert torch.equal(ours, x.detach()) and torch.allclose(trick, x.detach(), atol=1e-15)
    assert torch.equal(gx, -0.7 * g) and torch.allclose(gt, -0.7 * g, atol=1e-15)
    # on purpose, the backward is not the derivative of the forward: gradcheck must notice
    assert not gradcheck(lambda t: layers.gradient_reversal(t, 0.7), (x,), raise_exception=False)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        layers.gradient_reversal(x, -1.0)


def test_a_gradient_reversal_makes_gradient_descent_ascend():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    loss = (layers.gradient_reversal(w) ** 2).sum()
    loss.backward()
    assert torch.equal(w.grad, -2 * w.detach())  # minus the gradient of |w|^2


# -- two outputs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [6, 7])
def test_split_halves_matches_torch_split_and_passes_gradcheck(d):
    x = randn(4, d).requires_grad_()
    first, second = layers.split_halves(x)
    ref = torch.split(x, [d // 2, d - d // 2], dim=-1)
    assert torch.equal(first, ref[0]) and torch.equal(second, ref[1])
    assert gradcheck(layers.split_halves, (x,))


def test_split_halves_sends_zeros_to_an_unused_output():
    x = randn(3, 4).requires_grad_()
    first, _ = layers.split_halves(x)
    (2 * first).sum().backward()
    assert torch.equal(x.grad, torch.tensor([[2.0, 2.0, 0.0, 0.0]] * 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 2 features"):
        layers.split_halves(torch.randn(5, 1))


# -- centre loss -------------------------------------------------------------------------------------
def test_center_loss_backward_passes_gradcheck_and_matches_autograd():
    features = randn(12, 3).requires_grad_()
    centers = randn(4, 3, seed=1).requires_grad_()
    labels = torch.tensor([0, 1, 1, 3, 3, 3, 0, 1, 3, 3, 1, 0])  # class 2 absent: no gradient
    assert gradcheck(lambda f, c: layers.center_loss(f, labels, c), (features, centers))
    ours = layers.center_loss(features, labels, centers)
    gf, gc = torch.autograd.grad(ours, (features, centers))
    ref = 0.5 * ((features - centers[labels]) ** 2).sum(1).mean()
    rf, rc = torch.autograd.grad(ref, (features, centers))
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-14)
    assert torch.allclose(gf, rf, atol=1e-15) and torch.allclose(gc, rc, atol=1e-15)
    assert torch.equal(gc[2], torch.zeros(3, dtype=torch.float64))


def test_center_loss_module_and_bad_input():
    module = layers.CenterLoss(10, 2, generator=torch.Generator().manual_seed(0))
    f, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 3, 9])
    module(f, y).backward()
    assert module.centers.grad.shape == (10, 2)
    with pytest.raises(TypeError, match="labels must be an int64 tensor"):
        layers.center_loss(f, y.int(), module.centers)
    with pytest.raises(ValueError, match="labels must be in \\[0, 10\\)"):
        layers.center_loss(f, torch.tensor([0, 1, 2, 3, 10]), module.centers)
    with pytest.raises(ValueError, match="labels must have shape \\(5,\\)"):
        layers.center_loss(f, y[:4], module.centers)
    with pytest.raises(ValueError, match="centers must have 2 columns"):
        layers.center_loss(f, y, torch.randn(10, 3))


# -- forward hooks ----------------------------------------------------------------------------------
class TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(3, 4), layers.Swish())
        self.head = torch.nn.Linear(2, 1)

    def forward(self, x):
        first, second = layers.split_halves(self.body(x))
        return self.head(first) + self.head(second)


def test_activation_recorder_records_by_name_and_removes_its_hooks():
    torch.manual_seed(0)
    model = TwoHeads()
    x = torch.randn(5, 3)
    with layers.ActivationRecorder(model) as rec:
        out = model(x)
    assert sorted(rec.activations) == ["body.0", "body.1", "head"]  # the leaves
    hidden = model.body[0](x)
    assert torch.equal(rec.activations["body.0"], hidden)
    assert torch.equal(rec.activations["body.1"], model.body[1](hidden))
    assert rec.activations["head"].shape == (5, 1) and not rec.activations["head"].requires_grad
    assert out.requires_grad  # the model itself is untouched
    assert all(not m._forward_hooks for m in model.modules())
    seen = dict(rec.activations)
    model(torch.randn(5, 3))
    assert all(rec.activations[k] is v for k, v in seen.items())  # removed: nothing more recorded


def test_activation_recorder_keeps_tuples_and_rejects_unknown_names():
    class Split(torch.nn.Module):
        def forward(self, x):
            return layers.split_halves(x)

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), Split())
    rec = layers.ActivationRecorder(model, ["1"])
    model(torch.randn(2, 3))
    first, second = rec.activations["1"]
    assert first.shape == second.shape == (2, 2)
    rec.remove()
    rec.remove()  # twice is harmless
    assert not model[1]._forward_hooks
    with pytest.raises(KeyError, match="no submodules named \\['2'\\]"):
        layers.ActivationRecorder(model, ["2"])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        layers.ActivationRecorder(lambda x: x)
    with pytest.raises(ValueError, match="no submodules"):
        layers.ActivationRecorder(torch.nn.Linear(2, 2))


# -- schedules -------------------------------------------------------------------------------------
def test_record_schedule_of_the_posts_schedules():
    step = layers.record_schedule(
        lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5, 8], gamma=0.1), 10, lr=1e-2)
    assert step == pytest.approx([1e-2] * 5 + [1e-3] * 3 + [1e-4] * 2, rel=1e-12)
    warm = layers.record_schedule(lambda opt: layers.warmup_cosine(opt, warmup=4, total=9), 9, lr=1e-3)
    # the post's warmup: lr * (t + 1) / warmup for the first steps, then the cosine from lr
    assert warm[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3], rel=1e-12)
    assert warm[4:] == pytest.approx([1e-3 * (1 + math.cos(math.pi * k / 5)) / 2 for k in range(5)],
                                     rel=1e-10)
    assert layers.record_schedule(lambda opt: layers.warmup_cosine(opt, warmup=1, total=3), 3) == \
        pytest.approx([1.0, 1.0, 0.5])


def test_warmup_cosine_rejects_bad_arguments():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="warmup \\(5\\) must be shorter than total \\(5\\)"):
        layers.warmup_cosine(opt, warmup=5, total=5)
    with pytest.raises(ValueError, match="floor must be in \\[0, 1\\)"):
        layers.warmup_cosine(opt, warmup=1, total=5, floor=1.0)
    with pytest.raises(ValueError, match="warmup must be a positive int"):
        layers.warmup_cosine(opt, warmup=0, total=5)


def test_replay_early_stopping_and_its_input():
    assert layers.replay_early_stopping([3, 2, 2.5, 2.4, 1], patience=2) == {"stop": 3, "best": 1}
    assert layers.replay_early_stopping([0.1, 0.5, 0.4, 0.45], patience=2, mode="max") == \
        {"stop": 3, "best": 1}
    assert layers.replay_early_stopping(torch.tensor([3.0, 2.0, 1.0]), patience=1) == \
        {"stop": None, "best": 2}
    with pytest.raises(ValueError, match="non-empty"):
        layers.replay_early_stopping([], patience=1)
    with pytest.raises(TypeError, match="values must be numbers"):
        layers.replay_early_stopping(["a"], patience=1)
