"""O-GAN (kexue.gans.ogan): the Pearson term is numpy's correlation coefficient and the cosine of
the standardised vectors, minus it is the squared distance of the standardised vectors up to a
constant, the term alone makes E(G(z)) follow z, reconstructions have the data's shape, and bad
input is refused."""
import numpy as np
import pytest
import torch

from kexue.gans import networks, ogan, two_players


def players(seed=0, latent=8):
    torch.manual_seed(seed)
    return two_players.Players(networks.image_generator(latent, 4),
                               ogan.AveragedEncoder(networks.image_discriminator(4, outputs=latent)),
                               latent)


def test_pearson_is_numpys_correlation_and_a_cosine():
    gen = torch.Generator().manual_seed(0)
    z, e = torch.randn(6, 10, generator=gen, dtype=torch.float64), torch.randn(6, 10, generator=gen, dtype=torch.float64)
    ours = ogan.pearson(z, e)
    expected = [np.corrcoef(a, b)[0, 1] for a, b in zip(z.numpy(), e.numpy())]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)
    cosine = torch.nn.functional.cosine_similarity(z - z.mean(1, keepdim=True), e - e.mean(1, keepdim=True))
    torch.testing.assert_close(ours, cosine)
    # the squared distance of the standardised vectors is 2 n (1 - rho): -rho is it over 2n, minus 1
    n = z.shape[1]
    distance = (ogan.standardise(z) - ogan.standardise(e)).pow(2).sum(1)
    torch.testing.assert_close(distance, 2 * n * (1 - ours))
    s = ogan.standardise(z)
    torch.testing.assert_close(s.mean(1), torch.zeros(6, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(s.pow(2).mean(1), torch.ones(6, dtype=torch.float64))


def test_the_term_alone_teaches_the_encoder_to_follow_the_code():
    p = players()
    real = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(p.parameters(), lr=2e-3)
    torch.manual_seed(2)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss_d, parts = ogan.discriminator_loss(p, real, weight=1.0)
        loss_g, _ = ogan.generator_loss(p, real, weight=1.0)
        (loss_d + loss_g).backward()
        opt.step()
        first = float(parts["pearson"]) if first is None else first
    assert float(parts["pearson"]) > first + 0.3


def test_the_score_is_the_average_of_the_code_and_reconstructions_fit_the_data():
    p = players()
    x = torch.rand(5, 784)
    torch.testing.assert_close(p.discriminator(x), p.discriminator.encode(x).mean(1))
    assert ogan.reconstruct(p.eval(), x).shape == (5, 784)
    assert ogan.reconstruct(p, x.view(5, 1, 28, 28)).shape == (5, 1, 28, 28)
    p.check_shapes(torch.rand(4, 1, 28, 28))   # an averaged encoder gives one score per sample


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="at least 3 coordinates"):
        ogan.standardise(torch.randn(4, 2))
    with pytest.raises(ValueError, match="one shape"):
        ogan.pearson(torch.randn(4, 5), torch.randn(4, 6))
    with pytest.raises(ValueError, match="weight"):
        ogan.generator_loss(players(), torch.rand(4, 1, 28, 28), weight=-0.5)
    plain = two_players.Players(networks.image_generator(8, 4), networks.image_discriminator(4), 8)
    with pytest.raises(TypeError, match="AveragedEncoder"):
        ogan.discriminator_loss(plain, torch.rand(4, 1, 28, 28), weight=1.0)
