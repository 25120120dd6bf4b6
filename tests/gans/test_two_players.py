"""The adversarial trainer (kexue.gans.two_players): the step schedule, each update moving only
its own player, checkpoints that resume a GAN run bit for bit, and clear errors for players that
do not fit the data."""
from functools import partial

import pytest
import torch
from torch import nn

from kexue import train
from kexue.gans import networks, two_players, wgan


def images(n=96, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def small_gan(seed=0, constraint="gradient-penalty"):
    torch.manual_seed(seed)
    players = two_players.Players(networks.image_generator(8, 4),
                                  wgan.constrain(networks.image_discriminator(4), constraint), 8)
    return players, *two_players.adam_pair(players, generator_lr=1e-3, discriminator_lr=1e-3)


def trainer(players, g_opt, d_opt, data, constraint="gradient-penalty", **kwargs):
    return two_players.AdversarialTrainer(
        players, g_opt, d_opt, wgan.generator_loss,
        partial(wgan.critic_loss, constraint=constraint), data, batch_size=16, progress=False,
        **kwargs)


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("constraint", ["gradient-penalty", "spectral-norm"])
def test_an_interrupted_gan_run_resumes_to_bit_identical_weights(tmp_path, constraint):
    data = images()
    players, g, d = small_gan(constraint=constraint)
    trainer(players, g, d, data, constraint, discriminator_steps=2).fit(steps=14)
    reference = players.state_dict()

    path = tmp_path / "gan.pt"
    players, g, d = small_gan(constraint=constraint)
    with pytest.raises(KeyboardInterrupt):
        trainer(players, g, d, data, constraint, discriminator_steps=2, checkpoint=path,
                callbacks=[train.InterruptAt(7)]).fit(steps=14)
    torch.manual_seed(123)  # a new process starts from another random state
    players, g, d = small_gan(seed=5, constraint=constraint)  # and from other weights
    run = trainer(players, g, d, data, constraint, discriminator_steps=2, checkpoint=path)
    run.fit(steps=14)
    assert run.step == 14
    assert same_state(reference, players.state_dict())


def test_the_generator_updates_every_kth_step_and_each_update_moves_only_its_player():
    data = images()
    players, g, d = small_gan()
    run = trainer(players, g, d, data, discriminator_steps=3, generator_steps=2, log_every=6)
    before = {k: v.clone() for k, v in players.named_parameters()}
    run.fit(steps=2)  # two critic updates, no generator update yet
    moved = {k for k, v in players.named_parameters() if not torch.equal(v, before[k])}
    assert moved and all(k.startswith("discriminator.") for k in moved)
    run.fit(steps=12)
    assert g.state_dict()["state"][0]["step"].item() == 2 * (12 // 3)
    assert d.state_dict()["state"][0]["step"].item() == 12
    # rows: the partial one of the first fit (steps 1-2), then steps 3-6 and 7-12
    assert [row.get("generator_updates") for row in run.history.rows] == [None, 4, 4]
    assert {"loss", "d_loss", "d_gap", "d_penalty", "g_loss"} <= run.history.rows[-1].keys()


def test_a_generator_only_update_leaves_the_critic_alone():
    players, g, d = small_gan()
    critic = {k: v.clone() for k, v in players.discriminator.named_parameters()}
    run = trainer(players, g, d, images())
    run._update(g, wgan.generator_loss, (images(16),))
    assert same_state(critic, dict(players.discriminator.named_parameters()))


def test_weight_clipping_holds_after_every_critic_update():
    players, g, d = small_gan(constraint="weight-clipping")
    seen = []

    class Watch(train.Callback):
        def on_step_end(self, trainer, logs):
            seen.append(max(p.abs().max().item() for p in players.discriminator.parameters()))

    trainer(players, g, d, images(), "weight-clipping", callbacks=[Watch()],
            discriminator_projection=partial(wgan.clip_weights, bound=0.01)).fit(steps=6)
    assert len(seen) == 6 and max(seen) <= 0.01


def test_players_that_do_not_fit_the_data_are_refused_clearly():
    data = images()
    wrong_size = two_players.Players(nn.Sequential(nn.Linear(8, 784)),
                                     networks.image_discriminator(4), 8)
    g, d = two_players.adam_pair(wrong_size, generator_lr=1e-3, discriminator_lr=1e-3)
    with pytest.raises(ValueError, match=r"generator makes samples of shape \(784,\).*\(1, 28, 28\)"):
        trainer(wrong_size, g, d, data)
    wrong_latent = two_players.Players(networks.image_generator(8, 4),
                                       networks.image_discriminator(4), 5)
    g, d = two_players.adam_pair(wrong_latent, generator_lr=1e-3, discriminator_lr=1e-3)
    with pytest.raises(ValueError, match="cannot take codes of 5 coordinates"):
        trainer(wrong_latent, g, d, data)
    two_scores = two_players.Players(networks.image_generator(8, 4),
                                     nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), 8)
    g, d = two_players.adam_pair(two_scores, generator_lr=1e-3, discriminator_lr=1e-3)
    with pytest.raises(ValueError, match=r"one score per sample.*gave \(2, 2\)"):
        trainer(two_scores, g, d, data)
    colour = two_players.Players(nn.Sequential(nn.Linear(8, 3 * 784), nn.Unflatten(1, (3, 28, 28))),
                                 nn.Sequential(nn.Flatten(), nn.Linear(784, 1), nn.Flatten(0)), 8)
    g, d = two_players.adam_pair(colour, generator_lr=1e-3, discriminator_lr=1e-3)
    with pytest.raises(ValueError, match=r"cannot take the data's samples of shape \(3, 28, 28\)"):
        trainer(colour, g, d, torch.rand(32, 3, 28, 28))
    players, g, d = small_gan()
    with pytest.raises(ValueError, match="generator_optimizer must optimise only the generator"):
        trainer(players, d, d, data)
    with pytest.raises(ValueError, match="discriminator_steps"):
        trainer(players, g, d, data, discriminator_steps=0)
    with pytest.raises(TypeError, match="players must be"):
        trainer(nn.Linear(2, 2), g, d, data)
    with pytest.raises(ValueError, match="latent"):
        two_players.Players(nn.Linear(2, 2), nn.Linear(2, 1), 0)
