"""Tests for kexue.sequences.stopping (post 7500): the self-terminating layer's stop probability
never falls and stays above its floor, its output is a distribution (also far out, in log space) and
matches the post's recursion written out in float64, greedy decoding through it ends within the
bound (which is attained), while a softmax layer can be built that never ends before the cap."""
import math

import pytest
import torch
from torch import nn

from kexue.sequences import decoding, stopping

EOS, BOS = 1, 0


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_head(epsilon, vocab=7, hidden=8, seed=0, scale=3.0, go_on=0.0):
    """A self-terminating head with random weights; ``go_on`` added to EOS's bias makes its
    sigmoid, the factor by which the odds of going on shrink, nearer 1."""
    torch.manual_seed(seed)
    head = stopping.SelfTerminatingHead(hidden, vocab, EOS, epsilon)
    with torch.no_grad():
        head.proj.weight.mul_(scale)
        head.proj.bias[EOS] += go_on
    return head


@pytest.mark.parametrize("epsilon", [0.01, 0.1, 0.5])
def test_stop_probability_never_falls_and_stays_above_its_floor(epsilon):
    head = random_head(epsilon)
    h = torch.randn(32, 300, 8, generator=gen(1)) * 3
    with torch.no_grad():
        p_eos = head(h)[..., EOS].exp()
    assert bool((p_eos[:, 1:] >= p_eos[:, :-1]).all())
    assert bool((p_eos >= stopping.eos_floor(epsilon, 300).float() - 1e-6).all())


def test_the_output_is_a_distribution_even_far_out():
    head = random_head(0.05)
    for scale in (1.0, 1e3):
        h = torch.randn(4, 50, 8, generator=gen(2)) * scale
        log_p = head(h)
        assert bool(torch.isfinite(log_p).all())
        torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(4, 50), atol=1e-5, rtol=0)
        log_p.sum().backward()  # and it trains: finite gradients
        assert all(bool(torch.isfinite(p.grad).all()) for p in head.parameters())
    log_p = stopping.SoftmaxHead(8, 7)(torch.randn(3, 8, generator=gen(3)))
    torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(3))


def test_a_tiny_stop_probability_keeps_its_precision():
    """With ε = 1e-6 and EOS's sigmoid at 1, p(eos)_t = 1 - (1 - ε)^(t+1) ≈ (t + 1) ε: float32
    holds its logarithm to 1e-4 (computing 1 - e^a as 1 - exp(a) would lose about 6%)."""
    head = stopping.SelfTerminatingHead(8, 7, EOS, 1e-6)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias[EOS] = 30.0
        log_eos = head(torch.zeros(1, 20, 8))[0, :, EOS].double()
    exact = stopping.eos_floor(1e-6, 20).log()
    torch.testing.assert_close(log_eos, exact, atol=1e-4, rtol=0)


def test_it_is_the_posts_recursion():
    """p(eos)_t = 1 - α_t with α_0 = σ(z_0), α_t = σ(z_t) (1 - p(eos)_{t-1}), σ = (1 - ε) sigmoid,
    the other tokens α_t times their softmax without EOS: a loop in float64, in probabilities."""
    epsilon, head = 0.2, random_head(0.2, scale=1.0)
    h = torch.randn(2, 12, 8, generator=gen(4), dtype=torch.float64)
    head = head.double()
    z = head.proj(h).detach()
    expected, alpha = torch.empty_like(z), torch.ones(2, dtype=torch.float64)
    for t in range(12):
        alpha = (1 - epsilon) * torch.sigmoid(z[:, t, EOS]) * alpha
        rest = z[:, t].clone()
        rest[:, EOS] = -math.inf
        expected[:, t] = alpha[:, None] * rest.softmax(-1)
        expected[:, t, EOS] = 1 - alpha
    torch.testing.assert_close(head(h).exp().detach(), expected)


def test_the_length_bound():
    for epsilon in (1e-4, 0.003, 0.01, 0.0593, 0.1, 0.25, 0.5, 0.9):
        bound = stopping.greedy_length_bound(epsilon)
        assert (1 - epsilon) ** bound < 0.5 <= (1 - epsilon) ** (bound - 1)
        # the post's form: the step t > -ln 2 / ln(1 - ε), counted from t = 0, at which p(eos) > 1/2
        assert bound - 1 <= -math.log(2) / math.log(1 - epsilon) < bound
        floor = stopping.eos_floor(epsilon, bound)
        assert floor[-1] > 0.5 and (bound == 1 or floor[-2] <= 0.5)


class TinyGRU(nn.Module):
    """A random recurrent decoder wired to ``head``: each source's state starts from its own random
    memory, ``step`` runs the GRU over the prefix and reads the head at the last position."""

    def __init__(self, head, vocab=7, hidden=8, sources=64, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed, self.rnn = nn.Embedding(vocab, hidden), nn.GRU(hidden, hidden, batch_first=True)
        self.memory, self.head = 2 * torch.randn(sources, hidden), head

    def step(self, prefix, rows):
        h, _ = self.rnn(self.embed(prefix), self.memory[rows][None])
        return self.head(h)[:, -1]


@pytest.mark.parametrize("epsilon", [0.02, 0.1, 0.3])
def test_greedy_with_the_self_terminating_head_ends_within_the_bound(epsilon):
    bound = stopping.greedy_length_bound(epsilon)
    for seed in range(2):
        model = TinyGRU(random_head(epsilon, seed=seed, go_on=8.0), seed=seed)
        out = decoding.greedy(model.step, 64, bos=BOS, eos=EOS, max_length=bound + 10)
        assert bool(out.ended.all())
        assert max(len(t) + 1 for t in out.tokens) <= bound


@pytest.mark.parametrize("epsilon", [0.02, 0.1, 0.3])
def test_the_bound_is_attained_and_a_softmax_head_can_run_to_the_cap(epsilon):
    """Weights that keep saying 'go on' (sigmoid of EOS's logit near 1) with one token always far
    ahead of the rest: the self-terminating layer still ends, at exactly the bound; the softmax
    layer with the same weights never emits EOS, and every output hits the cap."""
    bound = stopping.greedy_length_bound(epsilon)
    heads = {kind: stopping.make_head(kind, 8, 7, eos=EOS, epsilon=epsilon)
             for kind in stopping.HEADS}
    for head in heads.values():
        with torch.no_grad():
            head.proj.weight.zero_()
            head.proj.bias.copy_(torch.tensor([0, 40, 60, 0, 0, 0, 0.0]))
    cap = bound + 10
    out = decoding.greedy(TinyGRU(heads["self-terminating"]).step, 64, bos=BOS, eos=EOS, max_length=cap)
    assert bool(out.ended.all()) and {len(t) + 1 for t in out.tokens} == {bound}
    out = decoding.greedy(TinyGRU(heads["softmax"]).step, 64, bos=BOS, eos=EOS, max_length=cap)
    assert out.capped_share == 1 and {len(t) for t in out.tokens} == {cap}


@pytest.mark.parametrize("call, words", [
    (lambda: stopping.SelfTerminatingHead(8, 7, EOS, 0.0), r"epsilon must be in \(0, 1\)"),
    (lambda: stopping.SelfTerminatingHead(8, 7, EOS, 1.0), r"epsilon must be in \(0, 1\)"),
    (lambda: stopping.SelfTerminatingHead(8, 7, EOS, -0.1), r"epsilon must be in \(0, 1\)"),
    (lambda: stopping.SelfTerminatingHead(8, 7, EOS, math.nan), "epsilon must be finite"),
    (lambda: stopping.greedy_length_bound(1.5), r"epsilon must be in \(0, 1\)"),
    (lambda: stopping.SelfTerminatingHead(8, 7, 7, 0.1), r"eos=7 is outside the vocabulary of 7"),
    (lambda: stopping.SelfTerminatingHead(8, 7, -1, 0.1), "eos"),
    (lambda: stopping.SelfTerminatingHead(8, 1, 0, 0.1), "vocab must hold EOS and at least one"),
    (lambda: stopping.make_head("sparsemax", 8, 7, eos=EOS, epsilon=0.1), "kind must be one of"),
    (lambda: stopping.SelfTerminatingHead(8, 7, EOS, 0.1)(torch.zeros(8)), r"\(\.\.\., T, H\)"),
])
def test_bad_inputs_raise_clear_errors(call, words):
    with pytest.raises(ValueError, match=words):
        call()
