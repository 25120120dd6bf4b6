"""The autoregressive prior over code grids."""
import math

import pytest
import torch
from torch.nn import functional as F

from kexue.vae import code_prior


def _prior(seed=0, k=6):
    return code_prior.CodePrior(k, grid=(3, 4), width=16, heads=2, layers=2, seed=seed).eval()


def _grids(n, k=6, seed=0):
    return torch.randint(k, (n, 3, 4), generator=torch.Generator().manual_seed(seed))


def test_causal_mask_later_codes_do_not_change_earlier_logits():
    prior = _prior()
    codes = _grids(5)
    logits = prior(codes)
    for t in range(12):
        changed = codes.clone().reshape(5, -1)
        changed[:, t:] = (changed[:, t:] + 1) % 6          # change c_t and every code after it
        other = prior(changed.reshape(5, 3, 4)).reshape(5, 12, 6)
        flat = logits.reshape(5, 12, 6)
        assert torch.allclose(other[:, :t + 1], flat[:, :t + 1], atol=1e-5)   # p(c_s|c_<s), s <= t
        if t + 1 < 12:
            assert not torch.allclose(other[:, t + 1:], flat[:, t + 1:], atol=1e-5)


def test_nll_is_sum_of_conditional_cross_entropies_and_normalised():
    prior = _prior(1, k=3)
    small = code_prior.CodePrior(3, grid=(1, 3), width=8, heads=2, layers=1, seed=0).eval()
    # summing p(c) over all 3^3 grids gives one: the factors are conditionals of one distribution
    all_grids = torch.cartesian_prod(*[torch.arange(3)] * 3).reshape(27, 1, 3)
    assert math.isclose(float(torch.exp(-small.nll(all_grids)).sum()), 1.0, rel_tol=1e-5)
    codes = _grids(4, k=3, seed=2)
    logits = prior(codes).reshape(4, 12, 3)
    by_hand = -F.log_softmax(logits, -1).gather(2, codes.reshape(4, 12, 1)).squeeze(2).sum(1)
    assert torch.allclose(prior.nll(codes, batch_size=3), by_hand, atol=1e-5)
    assert float(code_prior.prior_loss(prior, codes).detach()) == pytest.approx(float(by_hand.mean().detach()) / 12, rel=1e-5)


def test_sampler_respects_grid_shape_and_seed():
    prior = _prior()
    a = prior.sample(7, generator=torch.Generator().manual_seed(0))
    b = prior.sample(7, generator=torch.Generator().manual_seed(0))
    assert a.shape == (7, 3, 4) and a.dtype == torch.int64
    assert torch.equal(a, b) and 0 <= int(a.min()) and int(a.max()) < 6


def test_training_learns_a_deterministic_pattern():
    # grids where each code is the previous one plus one: a prior that sees the past learns it
    start = torch.randint(6, (512, 1), generator=torch.Generator().manual_seed(0))
    codes = ((start + torch.arange(12)) % 6).reshape(512, 3, 4)
    config = dict(prior_width=16, prior_heads=2, prior_layers=1, prior_lr=1e-2,
                  prior_batch_size=64, prior_steps=150)
    prior, rows = code_prior.train_prior(codes, 6, config, seed=0)
    assert rows[-1]["loss"] < rows[0]["loss"]
    nll = float(prior.nll(codes[:64]).mean())
    base = float(code_prior.position_baseline_nll(codes, codes[:64], 6).mean())
    assert nll < 0.5 * base       # the baseline sees each cell alone: about 12 log 6 nats
    samples = prior.sample(20, temperature=0.5, generator=torch.Generator().manual_seed(1)).reshape(20, 12)
    assert ((samples[:, 1:] - samples[:, :-1]) % 6 == 1).float().mean() > 0.9


def test_position_baseline_by_hand():
    train = torch.tensor([[[0, 1]], [[0, 0]], [[1, 1]]])   # grids 1 x 2, K = 2
    test = torch.tensor([[[0, 1]]])
    # cell 0: counts (2, 1) -> p(0) = 3/5 with alpha = 1; cell 1: counts (1, 2) -> p(1) = 3/5
    expected = -2 * math.log(3 / 5)
    assert float(code_prior.position_baseline_nll(train, test, 2)[0]) == pytest.approx(expected)


def test_bad_input():
    prior = _prior()
    with pytest.raises(TypeError, match="int64"):
        prior(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(n, 3, 4\)"):
        prior(torch.zeros(2, 12, dtype=torch.int64))
    with pytest.raises(ValueError, match="divisible"):
        code_prior.CodePrior(4, width=10, heads=4)
    with pytest.raises(ValueError, match="temperature"):
        prior.sample(2, temperature=0.0)
    with pytest.raises(ValueError, match="n must"):
        prior.sample(0)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        code_prior.position_baseline_nll(torch.zeros(1, 1, 2, dtype=torch.int64),
                                         torch.full((1, 1, 2), 2), 2)
