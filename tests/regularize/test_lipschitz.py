"""Tests for kexue.regularize.lipschitz: the rate of power iteration, certified radii, accuracy
under noise, and the Kantorovich-Rubinstein dual in 1-D against scipy. The general tools
(power iteration, spectral normalisation, gradient penalties, Lipschitz bounds) are tested in
tests/test_gradients.py, the MNIST experiment in test_experiments.py, the figures in
test_figures.py."""
import math

import pytest
import scipy.stats
import torch
from torch import nn

from kexue import gradients as G
from kexue.regularize import lipschitz as L

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=gen(seed), dtype=F64)


# -- power iteration ----------------------------------------------------------------------------
def test_power_iteration_converges_at_the_predicted_rate():
    """Estimate error ~ (sigma_2/sigma_1)^(4k): successive errors shrink by rho^4."""
    rho = 0.8
    s = torch.tensor([1.0, rho, 0.6 * rho, 0.3 * rho, 0.1])
    W = L.matrix_with_singular_values(s, 30, 20, gen(4))
    torch.testing.assert_close(torch.linalg.svdvals(W)[:5], s.double(), rtol=0, atol=1e-13)
    errors = L.power_iteration_errors(W, 16, randn(20, seed=5))
    assert bool((errors <= 1e-15).all())  # u^T W v = ||W^T u|| never exceeds ||W||_2
    assert float(errors[-1]) < -1e-10  # still far above round-off
    ratios = errors[11:16] / errors[10:15]
    # corrections to the rate are relatively O(rho^(4k)) (higher orders of the second value) and
    # O(0.6^(4k)) (the third): below 2e-4 from k = 10 on
    torch.testing.assert_close(ratios, torch.full_like(ratios, rho ** 4), rtol=1e-3, atol=0)


# -- certified radii and accuracy under noise ---------------------------------------------------
def test_certified_radius_by_hand_and_under_the_worst_perturbation():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5]], dtype=F64)
    radius = L.certified_radius(logits, torch.tensor([0, 1]), 2.0)
    torch.testing.assert_close(radius, torch.tensor([2 / (2 * math.sqrt(2)), 0.0], dtype=F64))
    # a linear classifier f = W x has L = ||W||_2; the steepest attack on class j moves x along
    # -W^T (e_y - e_j), and even that cannot flip a prediction inside the radius
    W = randn(5, 8, seed=1)
    x = randn(40, 8, seed=2)
    y = (x @ W.T).argmax(1)
    radius = L.certified_radius(x @ W.T, y, float(torch.linalg.matrix_norm(W, 2)))
    assert float(radius.min()) > 0
    for j in range(5):
        d = W[y] - W[j]  # rows: W^T (e_y - e_j)
        step = -d / d.norm(dim=1, keepdim=True).clamp_min(1e-300)
        assert bool((((x + 0.999 * radius[:, None] * step) @ W.T).argmax(1) == y).all())
    with pytest.raises(TypeError, match="labels must be an int64 tensor"):
        L.certified_radius(logits, torch.tensor([0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match="lipschitz must be positive"):
        L.certified_radius(logits, torch.tensor([0, 1]), -1.0)


def test_noise_accuracy():
    model = nn.Sequential(nn.Linear(4, 3, dtype=F64))
    x = randn(300, 4)
    y = model(x).argmax(1).detach()
    acc = L.noise_accuracy(model, x, y, [0.0, 0.5, 100.0], gen(1))
    assert acc[0] == 1.0 and acc[1] < 1.0 and acc[2] < 0.6
    z = torch.randn(x.shape, generator=gen(1), dtype=F64)  # the same draw at every level
    assert acc[1] == int((model(x + 0.5 * z).argmax(1) == y).sum()) / len(x)
    with pytest.raises(ValueError, match="non-negative"):
        L.noise_accuracy(model, x, y, [-0.1])


# -- the Kantorovich-Rubinstein dual in one dimension --------------------------------------------
def two_samples(n=512):
    g = gen(0)
    real = torch.cat([torch.randn(n // 2, generator=g) * 0.5 - 2,
                      torch.randn(n // 2, generator=g) * 0.5 + 2])
    return real, torch.randn(n, generator=g) + 0.5


def test_optimal_critic_attains_the_wasserstein_distance():
    real, fake = two_samples()
    w1 = scipy.stats.wasserstein_distance(real.numpy(), fake.numpy())
    f = L.optimal_critic_1d(real, fake)
    assert float(f(real).mean() - f(fake).mean()) == pytest.approx(w1, rel=1e-12)
    t = torch.linspace(-5, 5, 2001, dtype=F64)
    slopes = f(t).diff() / t.diff()
    assert float(slopes.abs().max()) <= 1 + 1e-12  # 1-Lipschitz
    for g in (lambda x: x, lambda x: -x, lambda x: (x - 0.5).abs(), torch.sin):  # other 1-Lip f
        assert float(g(real.double()).mean() - g(fake.double()).mean()) < w1


def test_critics_estimate_the_wasserstein_distance_only_under_a_constraint():
    real, fake = two_samples()
    w1 = scipy.stats.wasserstein_distance(real.numpy(), fake.numpy())
    gaps = {}
    threads = torch.get_num_threads()
    for constraint in ("none", "one-sided", "spectral-norm"):
        critic = L.fit_critic(real, fake, constraint, steps=200, hidden=32)
        assert torch.get_num_threads() == threads  # trained on one thread, then restored
        gaps[constraint] = L.critic_gap(critic, real, fake)
        # for an L-Lipschitz critic the gap is at most L W_1 (Kantorovich-Rubinstein)
        assert gaps[constraint] <= G.lipschitz_upper_bound(critic) * w1 * (1 + 1e-9)
    # unconstrained: the gap only grows with training (it is no distance)
    shorter = L.critic_gap(L.fit_critic(real, fake, "none", steps=100, hidden=32), real, fake)
    assert gaps["none"] > max(1.5 * shorter, 5 * w1)
    assert abs(gaps["one-sided"] / w1 - 1) < 0.15
    assert 0.3 * w1 < gaps["spectral-norm"] < w1 * 1.02  # learns, but stays below W_1
    with pytest.raises(ValueError, match="constraint must be one of"):
        L.fit_critic(real, fake, "clip", steps=1)
    with pytest.raises(ValueError, match="same size"):
        L.fit_critic(real, fake[:10], "none", steps=1)
