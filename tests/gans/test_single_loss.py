"""The post's single GAN loss (kexue.gans.single_loss): on one batch its gradient is the
alternating scheme's pair of gradients; its extra term is zero in value; lambda scales the
generator's gradient, which plain gradient descent feels and Adam all but cancels; both recipes
train through the book's trainers."""
import pytest
import torch

from kexue import train
from kexue.gans import networks, single_loss, two_players
from kexue.gans.experiments import hinge_players, hinge_trainer

CONFIG = dict(latent=8, width=4, lr=2e-4, betas=[0.5, 0.999], weight=1.0, batch_size=16, seed=0)


def players64(seed=0):
    torch.manual_seed(seed)
    return hinge_players(CONFIG).double()


def grads(module):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for p in module.parameters()]


@pytest.mark.parametrize("weight", [1.0, 0.3])
def test_the_single_loss_gradient_is_the_alternating_pair_on_the_same_batch(weight):
    players = players64()
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)).double()
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(2)).double()
    # batch norm: the same batch statistics in every pass, no running-statistics drift between
    state = {k: v.clone() for k, v in players.state_dict().items()}

    players.zero_grad()
    loss, logs = single_loss.single_loss(players, real, weight=weight, z=z)
    loss.backward()
    one_d, one_g = grads(players.discriminator), grads(players.generator)

    players.load_state_dict(state)
    players.zero_grad()
    single_loss.discriminator_hinge_loss(players, real, z=z).backward()
    two_d = grads(players.discriminator)
    players.load_state_dict(state)
    players.zero_grad()
    single_loss.generator_hinge_loss(players, real, z=z).backward()
    two_g = grads(players.generator)

    for a, b in zip(one_d, two_d):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for a, b in zip(one_g, two_g):
        torch.testing.assert_close(a, weight * b, rtol=1e-12, atol=1e-14)
    # the extra term is zero in value: the loss is the discriminator's hinge loss
    torch.testing.assert_close(loss.detach(), logs["d_loss"], rtol=0, atol=0)


def test_lambda_is_a_learning_rate_ratio_for_sgd_but_not_for_adam():
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)).double()
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(2)).double()

    def generator_step(weight, optimizer):
        players = players64()
        before = [p.detach().clone() for p in players.generator.parameters()]
        opt = optimizer(players.parameters())
        opt.zero_grad()
        single_loss.single_loss(players, real, weight=weight, z=z)[0].backward()
        opt.step()
        return torch.cat([(p.detach() - b).flatten()
                          for p, b in zip(players.generator.parameters(), before)])

    sgd = lambda params: torch.optim.SGD(params, lr=0.1)  # noqa: E731
    adam = lambda params: torch.optim.Adam(params, lr=1e-3)  # noqa: E731
    sgd_1 = generator_step(1.0, sgd)
    torch.testing.assert_close(generator_step(4.0, sgd), 4 * sgd_1)
    adam_1, adam_4 = generator_step(1.0, adam), generator_step(4.0, adam)
    # Adam's first step is lr g / (|g| + eps): lr sign(g) wherever |g| >> eps = 1e-8, whatever
    # lambda is; compare where eps / |g| < 1e-4 (most coordinates), to that precision
    big = sgd_1.abs() / 0.1 > 1e-4
    assert big.float().mean() > 0.5
    torch.testing.assert_close(adam_4[big], adam_1[big], rtol=2e-4, atol=0)
    assert float((adam_4 - adam_1).abs().median()) < 1e-3 * 1e-3  # typically 0.1% of lr or less


@pytest.mark.parametrize("recipe", ["single-loss", "alternating"])
def test_both_recipes_train_and_resume_through_the_books_trainers(tmp_path, recipe):
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    reference = hinge_players(CONFIG)
    hinge_trainer(reference, x, CONFIG, recipe, progress=False).fit(steps=8)
    torch.manual_seed(0)
    players = hinge_players(CONFIG)
    with pytest.raises(KeyboardInterrupt):
        hinge_trainer(players, x, CONFIG, recipe, progress=False, checkpoint=tmp_path / "c.pt",
                      callbacks=[train.InterruptAt(3)]).fit(steps=8)
    torch.manual_seed(1)
    players = hinge_players(CONFIG)
    run = hinge_trainer(players, x, CONFIG, recipe, progress=False, checkpoint=tmp_path / "c.pt")
    run.fit(steps=8)
    assert {"d_loss", "g_loss"} <= run.history.rows[-1].keys()
    ref, got = reference.state_dict(), players.state_dict()
    assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_bad_input_is_refused_clearly():
    players = two_players.Players(networks.image_generator(8, 4), networks.image_discriminator(4), 8)
    with pytest.raises(ValueError, match="weight"):
        single_loss.single_loss(players, torch.rand(4, 1, 28, 28), weight=-1.0)
    with pytest.raises(ValueError, match="recipe must be"):
        hinge_trainer(players, torch.rand(32, 1, 28, 28), CONFIG, "simultaneous")
