"""What the single-loss chapter says of its full-profile record (results/single-loss-gan-mnist.json)
and of its own computation of Adam's step: each quoted number is read back."""
import pytest
import torch

from kexue.gans import single_loss
from kexue.gans.experiments import RECIPES, hinge_players

from ..conftest import full_record, quoted


@pytest.fixture(scope="module")
def record():
    return full_record("single-loss-gan-mnist")


def test_the_full_run_quotes(record):
    m = record["metrics"]
    assert round(record["wall_time_s"] / 60) == 5 and record["config"]["steps"] == 6000
    assert quoted(m["single-loss"]["steps_per_second"], "40.3")
    assert quoted(m["alternating"]["steps_per_second"], "35.0") and quoted(m["speedup"], "1.15")
    assert quoted(m["alternating"]["frechet_distance"], "17.3")
    assert quoted(m["single-loss"]["frechet_distance"], "20.0")
    assert set(m["frechet"]["samples"]) == {f"hinge GAN ({r})" for r in RECIPES}


def test_the_chapters_adam_step_barely_feels_lambda():
    """The chapter's cell: the generator's first step with lambda = 4 over lambda = 1 is 4.0000
    under SGD and 1.0003 under Adam (0.03%)."""
    config = dict(latent=16, width=8, weight=0.5)
    real = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1)).double()
    z = torch.randn(32, 16, generator=torch.Generator().manual_seed(2)).double()

    def generator_step(weight, make_optimizer):
        torch.manual_seed(0)
        p = hinge_players(config).double()
        before = torch.cat([w.detach().flatten() for w in p.generator.parameters()])
        opt = make_optimizer(p.parameters())
        opt.zero_grad()
        single_loss.single_loss(p, real, weight=weight, z=z)[0].backward()
        opt.step()
        return torch.cat([w.detach().flatten() for w in p.generator.parameters()]) - before

    ratios = {}
    for name, make in (("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1)),
                       ("adam", lambda ps: torch.optim.Adam(ps, lr=1e-3))):
        ratios[name] = float(generator_step(4.0, make).norm() / generator_step(1.0, make).norm())
    assert quoted(ratios["sgd"], "4.0000") and quoted(ratios["adam"], "1.0003")
