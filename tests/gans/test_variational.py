"""The GAN as variational inference (kexue.gans.variational) and mode coverage
(kexue.generative.coverage): the post's term is a KL between narrow Gaussians up to a constant,
it starts at zero and always compares with the generator before its last update, checkpoints hold
that generator, and the coverage numbers are what scipy and the test labels say."""
from functools import partial

import numpy as np
import pytest
import scipy.stats
import torch

from kexue import data, train
from kexue.gans import networks, two_players, variational
from kexue.generative import coverage


def players(seed=0):
    torch.manual_seed(seed)
    return variational.VariationalPlayers(networks.image_generator(8, 4),
                                          networks.image_discriminator(4), 8)


def test_the_term_is_the_kl_between_narrow_gaussians_up_to_a_constant():
    """KL(N(G(z), s^2 I) || N(G_o(z), s^2 I)) = ||G(z) - G_o(z)||^2 / (2 s^2) for every s: the
    post's regulariser with lambda = 1 / (2 s^2)."""
    gen = torch.Generator().manual_seed(0)
    new, old = torch.rand(5, 784, generator=gen, dtype=torch.float64), torch.rand(5, 784, generator=gen, dtype=torch.float64)
    for s in (0.1, 0.01):
        kl = torch.distributions.kl_divergence(torch.distributions.Normal(new, s),
                                               torch.distributions.Normal(old, s)).sum(1)
        torch.testing.assert_close(kl, (new - old).pow(2).sum(1) / (2 * s ** 2))


def test_the_term_starts_at_zero_and_follows_the_previous_generator():
    p = players()
    real = torch.rand(16, 1, 28, 28)
    torch.manual_seed(1)
    loss, parts = variational.generator_loss(p, real, weight=1.0)
    assert float(parts["step_distance"]) == 0.0          # G_o is G before any update
    opt = torch.optim.SGD(p.generator.parameters(), lr=0.5)
    opt.zero_grad()
    loss.backward()
    before_update = {k: v.clone() for k, v in p.generator.state_dict().items()}
    opt.step()
    # G_o is now the generator as it was before this update
    assert all(torch.equal(before_update[k], v) for k, v in p.previous.state_dict().items())
    torch.manual_seed(2)
    z = p.codes(16)
    with torch.no_grad():
        expected = (p.generator(z) - p.previous(z)).flatten(1).pow(2).sum(1).mean()
    torch.manual_seed(2)
    _, parts = variational.generator_loss(p, real, weight=1.0)
    torch.testing.assert_close(parts["step_distance"], expected)
    assert float(expected) > 0


def test_a_run_with_the_term_resumes_bit_for_bit(tmp_path):
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    def run(callbacks=(), checkpoint=None, seed=0):
        p = players(seed)
        g, d = two_players.adam_pair(p, generator_lr=1e-3, discriminator_lr=1e-3)
        two_players.AdversarialTrainer(
            p, g, d, partial(variational.generator_loss, weight=1.0), variational.discriminator_loss,
            x, batch_size=16, progress=False, callbacks=callbacks, checkpoint=checkpoint).fit(steps=10)
        return p.state_dict()

    reference = run()
    with pytest.raises(KeyboardInterrupt):
        run([train.InterruptAt(4)], tmp_path / "c.pt")
    resumed = run(checkpoint=tmp_path / "c.pt", seed=3)
    assert any(k.startswith("previous.") for k in reference)
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


def test_coverage_of_the_test_images_and_of_a_single_digit():
    images, labels = data.mnist("test")
    x = data.as_float(images[:5000])
    h = coverage.class_histogram(x)
    truth = torch.bincount(labels[:5000], minlength=10).double() / 5000
    assert float(h.sum()) == pytest.approx(1.0)
    assert float((h - truth).abs().max()) < 0.01          # the classifier is ~98% right
    assert coverage.classes_found(h) == 10 and coverage.kl_from_uniform(h) < 0.01
    sevens = data.as_float(images[labels == 7][:500])
    found = coverage.coverage(sevens)
    assert found["classes_found"] <= 3 and found["kl_from_uniform"] > 2.0  # log 10 = 2.30 at most


def test_kl_from_uniform_is_scipys_relative_entropy():
    rng = np.random.default_rng(0)
    for h in (rng.dirichlet(np.ones(10)), np.r_[0.5, 0.5, np.zeros(8)], np.full(10, 0.1)):
        expected = scipy.stats.entropy(h, np.full(10, 0.1))
        assert coverage.kl_from_uniform(h) == pytest.approx(expected, abs=1e-12)
    assert coverage.kl_from_uniform(np.eye(10)[3]) == pytest.approx(np.log(10))
    assert coverage.classes_found([0.5, 0.495, 0.005], threshold=0.01) == 2


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="must sum to one"):
        coverage.kl_from_uniform([0.5, 0.4])
    with pytest.raises(ValueError, match="no negative entries"):
        coverage.classes_found([1.5, -0.5])
    with pytest.raises(ValueError, match="threshold"):
        coverage.classes_found([1.0], threshold=1.5)
    with pytest.raises(ValueError, match="weight"):
        variational.generator_loss(players(), torch.rand(4, 1, 28, 28), weight=-1.0)
    plain = two_players.Players(networks.image_generator(8, 4), networks.image_discriminator(4), 8)
    with pytest.raises(TypeError, match="needs VariationalPlayers"):
        variational.generator_loss(plain, torch.rand(4, 1, 28, 28), weight=1.0)


def test_the_joint_kl_is_the_marginal_kl_plus_the_expected_conditional_kl():
    rng = np.random.default_rng(0)
    for shape in ((3, 4), (6, 2)):
        p, q = rng.dirichlet(np.ones(np.prod(shape))), rng.dirichlet(np.ones(np.prod(shape)))
        parts = variational.joint_kl_decomposition(p.reshape(shape), q.reshape(shape))
        assert parts["joint"] == pytest.approx(scipy.stats.entropy(p, q), abs=1e-12)
        assert parts["marginal"] == pytest.approx(
            scipy.stats.entropy(p.reshape(shape).sum(1), q.reshape(shape).sum(1)), abs=1e-12)
        assert parts["joint"] == pytest.approx(parts["marginal"] + parts["conditional"], abs=1e-12)
        assert parts["conditional"] >= 0 and parts["joint"] >= parts["marginal"]
    with pytest.raises(ValueError, match="probability table"):
        variational.joint_kl_decomposition(np.ones((2, 2)), np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match="infinite"):
        variational.joint_kl_decomposition(np.full((2, 2), 0.25), np.array([[0.5, 0.5], [0, 0]]))
