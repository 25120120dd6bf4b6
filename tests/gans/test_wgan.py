"""WGAN's pieces (kexue.gans.wgan): the critic's loss and its gradient penalty against a hand
computation, the three constraints, the exact W1 the ring experiment compares with, and clear
errors."""
from functools import partial

import numpy as np
import ot
import pytest
import torch
from torch import nn

from kexue.gans import networks, transport, two_players, wgan
from kexue.gans.experiments import exact_w1

from ..conftest import quoted


def players(constraint="gradient-penalty", seed=0):
    torch.manual_seed(seed)
    critic = wgan.constrain(networks.mlp_player([2, 16, 16, 1], activation=nn.Tanh), constraint)
    return two_players.Players(networks.mlp_player([2, 16, 2]), critic, 2)


def test_the_critic_loss_is_minus_the_gap_plus_the_penalty_computed_by_hand():
    p = players()
    real = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    loss, parts = wgan.critic_loss(p, real, constraint="gradient-penalty", penalty_weight=3.0,
                                   generator=torch.Generator().manual_seed(9))
    torch.manual_seed(5)  # the same codes, so the same generated samples
    fake = p.generator(torch.randn(32, 2)).detach()
    eps = torch.rand(32, 1, generator=torch.Generator().manual_seed(9))
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(p.discriminator(x_hat).sum(), x_hat)
    penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
    gap = p.discriminator(real).mean() - p.discriminator(fake).mean()
    torch.testing.assert_close(parts["penalty"], penalty)
    torch.testing.assert_close(parts["gap"], gap.detach())
    torch.testing.assert_close(loss, -gap + 3.0 * penalty)
    # the penalty's gradient reaches the critic's weights (it was built with create_graph)
    loss.backward()
    assert all(q.grad is not None for q in p.discriminator.parameters())
    assert all(q.grad is None for q in p.generator.parameters())


def test_without_a_penalty_the_critic_loss_is_minus_the_gap():
    p = players("weight-clipping")
    real = torch.randn(16, 2)
    loss, parts = wgan.critic_loss(p, real, constraint="weight-clipping")
    assert float(parts["penalty"]) == 0 and torch.equal(loss, -parts["gap"])


def test_the_generator_loss_pushes_samples_up_the_critic():
    p = players()
    real = torch.randn(64, 2)
    z = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    before = float(p.discriminator(p.generator(z)).mean().detach())
    opt = torch.optim.SGD(p.generator.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        wgan.generator_loss(p, real).backward()
        opt.step()
    after = float(p.discriminator(p.generator(z)).mean().detach())
    assert after > before


def test_spectral_normalisation_makes_every_layer_at_most_1_lipschitz():
    critic = players("spectral-norm").discriminator.eval()
    for layer in (m for m in critic.modules() if isinstance(m, nn.Linear)):
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2) == pytest.approx(1, abs=1e-3)
    x = torch.randn(200, 2)
    y = torch.randn(200, 2)
    with torch.no_grad():
        ratio = (critic(x) - critic(y)).abs() / (x - y).norm(dim=1)
    assert float(ratio.max()) <= 1 + 1e-3


def test_clipping_puts_every_weight_in_the_box():
    critic = players("weight-clipping").discriminator
    wgan.clip_weights(critic, 0.05)
    assert max(float(q.detach().abs().max()) for q in critic.parameters()) <= float(torch.tensor(0.05))


def test_the_ring_has_its_modes_where_it_says():
    x = wgan.ring_mixture(4000, modes=8, radius=2.0, std=0.0,
                          generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x.norm(dim=1), torch.full((4000,), 2.0), atol=1e-5)
    angles = torch.atan2(x[:, 1], x[:, 0]) / (2 * np.pi / 8)
    assert torch.allclose(angles, angles.round(), atol=1e-5)
    assert len(set(angles.round().remainder(8).tolist())) == 8


def test_exact_w1_is_pots_earth_movers_distance():
    gen = torch.Generator().manual_seed(0)
    x, y = wgan.ring_mixture(64, generator=gen), torch.randn(64, 2, generator=gen)
    expected = ot.emd2(ot.unif(64), ot.unif(64), ot.dist(x.double().numpy(), y.double().numpy(),
                                                         metric="euclidean"))
    assert exact_w1(x, y) == pytest.approx(expected, abs=1e-9)


def test_exact_w1_the_assignment_is_the_transport_programmes_optimum():
    """The page says the assignment solves the transport programme: the same cost as HiGHS on the
    full 64 x 64 plan, for samples the ring experiment draws."""
    gen = torch.Generator().manual_seed(1)
    x, y = wgan.ring_mixture(64, generator=gen), 0.5 * torch.randn(64, 2, generator=gen)
    programme = transport.optimal_transport(np.full(64, 1 / 64), np.full(64, 1 / 64),
                                            transport.cost_matrix(x, y)).cost
    assert exact_w1(x, y) == pytest.approx(programme, abs=1e-9)


@pytest.mark.parametrize("n, m", [(5, 6), (0, 0)])
def test_exact_w1_refuses_samples_of_two_sizes(n, m):
    with pytest.raises(ValueError, match="one size"):
        exact_w1(torch.zeros(n, 2), torch.zeros(m, 2))


def test_a_converged_critic_estimates_w1_as_its_constraint_predicts():
    """Kantorovich-Rubinstein: a 1-Lipschitz critic's gap is at most W1, so a spectrally normalised
    critic trained alone between two fixed samples stays below the exact value. The penalty is
    soft: along the transport rays the best critic of ``s W1 - lambda (s - 1)^2`` has slope
    ``s = 1 + W1 / (2 lambda)``, so a penalised critic overshoots W1 by that factor (the chapter's
    claim), to within 2%."""
    gen = torch.Generator().manual_seed(0)
    real, fake = wgan.ring_mixture(256, generator=gen), 0.5 * torch.randn(256, 2, generator=gen)
    exact = exact_w1(real, fake)
    gaps = {c: float(wgan.critic_gap(wgan.fit_critic(real, fake, c, steps=1500), real, fake).detach())
            for c in wgan.CONSTRAINTS}
    predicted = exact * (1 + exact / (2 * 10))
    assert gaps["gradient-penalty"] == pytest.approx(predicted, rel=0.02)
    assert gaps["spectral-norm"] <= exact
    assert gaps["weight-clipping"] < 0.01 * exact  # K W1 with a tiny K at c = 0.01
    # the chapter computes the same and quotes it
    assert quoted(exact, "1.40") and quoted(gaps["gradient-penalty"], "1.50")
    assert quoted(gaps["spectral-norm"], "0.70") and quoted(gaps["weight-clipping"], "0.0014")


def test_bad_input_is_refused_clearly():
    p = players()
    real = torch.randn(8, 2)
    with pytest.raises(ValueError, match="penalty_weight"):
        wgan.critic_loss(p, real, constraint="gradient-penalty", penalty_weight=-1.0)
    with pytest.raises(ValueError, match="constraint must be one of"):
        wgan.critic_loss(p, real, constraint="clipping")
    with pytest.raises(ValueError, match="constraint must be one of"):
        wgan.constrain(nn.Linear(2, 1), "lipschitz")
    with pytest.raises(ValueError, match="bound"):
        wgan.clip_weights(nn.Linear(2, 1), 0.0)
    with pytest.raises(ValueError, match=r"two \(n, d\) samples of one shape"):
        wgan.fit_critic(torch.rand(4, 2), torch.rand(5, 2), "spectral-norm", steps=1)
    with pytest.raises(ValueError, match="modes"):
        wgan.ring_mixture(10, modes=0)
    with pytest.raises(ValueError, match="sizes needs an input and an output"):
        networks.mlp_player([3])
    with pytest.raises(ValueError, match=r"takes images of shape \(n, 1, 28, 28\) or \(n, 784\)"):
        networks.image_discriminator(4)(torch.rand(2, 3, 28, 28))


def test_the_image_players_fit_mnist():
    g, d = networks.image_generator(16, 8), networks.image_discriminator(8)
    made = g(torch.randn(5, 16)).detach()
    assert made.shape == (5, 1, 28, 28) and float(made.min()) >= 0 and float(made.max()) <= 1
    assert d(made).shape == (5,) and d(made.flatten(1)).shape == (5,)
    assert partial(wgan.critic_loss, constraint="spectral-norm")  # the drivers bind it so
