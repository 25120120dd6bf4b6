"""What the stopping chapter (chapters/part6-sequences/seq2seq-stopping.ipynb, post 7500) says
of its own computations on a tiny random decoder and of the full-profile record
(results/seq2seq-stopping.json): each number it quotes is computed again or read back."""
import itertools
import math

import pytest
import torch
from torch import nn

from kexue.sequences import decoding, stopping

from ..conftest import full_record, quoted

BOS, EOS, VOCAB = 0, 1, 5


class TinyDecoder(nn.Module):
    """The chapter's random GRU decoder: source i starts from its own random state."""

    def __init__(self, head, hidden=8, sources=4, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(VOCAB, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.memory, self.head = 2 * torch.randn(sources, hidden), head
        self.requires_grad_(False)

    def log_probs(self, prefix, rows):
        h, _ = self.rnn(self.embed(prefix), self.memory[rows][None])
        return torch.log_softmax(self.head(h), -1)

    def step(self, prefix, rows):
        return self.log_probs(prefix, rows)[:, -1]


def random_head(kind, epsilon=None, seed=0, go_on=0.0):
    torch.manual_seed(seed)
    head = stopping.make_head(kind, 8, VOCAB, eos=EOS, epsilon=epsilon)
    with torch.no_grad():
        head.proj.weight.mul_(3)
        head.proj.bias[BOS] = -torch.inf
        head.proj.bias[EOS] += go_on
    return head


def constant_head(kind, epsilon=None):
    head = stopping.make_head(kind, 8, VOCAB, eos=EOS, epsilon=epsilon)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.copy_(torch.tensor([-torch.inf, 40.0, 60.0, 0.0, 0.0]))
    return head


def enumerate_best(model, source, cap, a):
    best = (-math.inf, None, None)
    for n in range(cap + 1):
        bodies = torch.tensor(list(itertools.product(range(2, VOCAB), repeat=n)), dtype=torch.long)
        prefix = torch.cat([torch.full((len(bodies), 1), BOS), bodies], 1)
        log_p = model.log_probs(prefix, torch.full((len(bodies),), source))
        total = log_p[:, :-1].gather(2, bodies[..., None]).sum((1, 2))
        if n < cap:
            score, ended = (total + log_p[:, -1, EOS]) / (n + 1) ** a, True
        else:
            score, ended = total / n**a, False
        i = int(score.argmax())
        if score[i] > best[0]:
            best = (float(score[i]), bodies[i].tolist(), ended)
    return best


def test_the_wide_beam_is_the_enumeration_and_the_narrow_one_misses_four():
    """"width 108 finds [the best output] in all 12 cases; width 2 misses it in 4"; with a = 0
    three of four sources stop at once; source 3's best output is the loop 4 4 4 4 at the cap
    under every penalty; 40 outputs end with EOS and 81 run to the cap."""
    assert 1 + 3 + 9 + 27 == 40 and 3**4 == 81 and 3**3 * 4 == 108
    model, cap = TinyDecoder(random_head("softmax", seed=4), seed=4), 4
    agree = missed = 0
    for a in (0.0, 1.0, 2.0):
        kw = dict(bos=BOS, eos=EOS, max_length=cap, length_penalty=a)
        wide = decoding.beam_search(model.step, 4, beam_width=108, **kw)
        narrow = decoding.beam_search(model.step, 4, beam_width=2, **kw)
        best = [enumerate_best(model, source, cap, a) for source in range(4)]
        for source, (score, tokens, ended) in enumerate(best):
            agree += (wide.tokens[source] == tokens and bool(wide.ended[source]) == ended
                      and abs(float(wide.scores[source]) - score) < 1e-5)
            missed += narrow.tokens[source] != tokens
        assert best[3][1:] == ([4, 4, 4, 4], False)
        if a == 0:
            assert sum(tokens == [] and ended for _, tokens, ended in best) == 3
    assert agree == 12 and missed == 4


def test_the_contrived_softmax_layer_never_stops():
    """p(eos) = 2.06e-09 at every step (about e^-20), a wait of 4.9e+08 steps; greedy search and
    sampling both run to the cap of 100 tokens on all 64 sources."""
    loop = TinyDecoder(constant_head("softmax"), sources=64)
    kw = dict(bos=BOS, eos=EOS, max_length=100)
    floor = float(loop.step(torch.full((1, 1), BOS), torch.tensor([0]))[0, EOS].exp())
    assert f"{floor:.2e}" == "2.06e-09" and f"{1 / floor:.1e}" == "4.9e+08"
    assert math.isclose(floor, math.exp(40) / (math.exp(60) + math.exp(40) + 2), rel_tol=1e-4)
    assert math.isclose(floor, math.exp(-20), rel_tol=1e-6)
    assert decoding.greedy(loop.step, 64, **kw).capped_share == 1
    s = decoding.sample(loop.step, 64, generator=torch.Generator().manual_seed(0), **kw)
    assert s.capped_share == 1


def test_the_self_terminating_checks():
    """Along 32 random sequences of 300 states (ε = 0.03) e_t never falls, stays above its floor
    and the probabilities sum to one; greedy search on 3 x 64 random decoders (EOS's bias + 8)
    ends every time, after 10 to 16 tokens, within L(0.03) = 23; the contrived weights end at
    exactly 23 tokens (22 characters and EOS)."""
    epsilon = 0.03
    head = random_head("self-terminating", epsilon)
    h = 3 * torch.randn(32, 300, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        log_p = head(h)
    e = log_p[..., EOS].exp()
    assert float((e[:, 1:] - e[:, :-1]).min()) >= 0
    assert float((e.double() - stopping.eos_floor(epsilon, 300)).min()) >= 0
    assert float(log_p.logsumexp(-1).abs().max()) < 1e-5
    bound = stopping.greedy_length_bound(epsilon)
    assert bound == 23
    kw = dict(bos=BOS, eos=EOS, max_length=100)
    lengths, ended = [], True
    for seed in range(3):
        model = TinyDecoder(random_head("self-terminating", epsilon, seed=seed, go_on=8.0),
                            sources=64, seed=seed)
        out = decoding.greedy(model.step, 64, **kw)
        lengths += [len(t) + 1 for t in out.tokens]
        ended &= bool(out.ended.all())
    assert ended and len(lengths) == 192 and (min(lengths), max(lengths)) == (10, 16)
    model = TinyDecoder(constant_head("self-terminating", epsilon), sources=64)
    out = decoding.greedy(model.step, 64, **kw)
    assert bool(out.ended.all()) and {len(t) + 1 for t in out.tokens} == {23}


def test_the_figure_and_exercise_numbers():
    """The floor figure's bounds L = 69, 23, 7 for ε = 0.01, 0.03, 0.1 (L ≈ ln 2 / ε); exercise 1's
    renormalised EOS share 0.05 / 0.95 ≈ 0.053; exercise 2's 0.97^36 ≈ 0.33, -1.10 nats."""
    assert [stopping.greedy_length_bound(e) for e in (0.01, 0.03, 0.1)] == [69, 23, 7]
    assert abs(stopping.greedy_length_bound(0.01) - math.log(2) / 0.01) < 1
    assert quoted(0.05 / 0.95, "0.053")
    assert 8 * 9 // 2 == 36 and quoted(0.97**36, "0.33") and quoted(36 * math.log(0.97), "-1.10")


@pytest.fixture(scope="module")
def record():
    return full_record("seq2seq-stopping")


def test_the_full_run_is_the_chapters_setting(record):
    c = record["config"]
    assert c["epsilon"] == 0.03 and c["cap"] == 32 and c["beam_width"] == 4
    assert c["length_penalty"] == 1.0 and c["max_title"] == 16 and c["cap"] == 2 * c["max_title"]
    assert stopping.greedy_length_bound(c["epsilon"]) - 1 == 22
    assert [v["name"] for v in c["variants"]] == ["softmax", "self-terminating"]


def test_the_full_run_quotes(record):
    """The chapter's account of the full run: sizes and time, no capped title anywhere, the
    softmax model's generic titles and lengths, the self-terminating model's price."""
    m, c = record["metrics"], record["config"]
    assert m["sizes"]["train"] == 191097 and m["sizes"]["test"] == 1000
    assert c["steps"] == 1500 and c["batch_size"] == 64
    assert 0.4 < c["steps"] * c["batch_size"] / m["sizes"]["train"] < 0.6  # "about half a pass"
    assert round(record["wall_time_s"] / 60) == 22
    soft, st = m["variants"]["softmax"], m["variants"]["self-terminating"]
    for v in (soft, st):
        assert v["greedy"]["capped_share"] == 0 and v["beam"]["capped_share"] == 0
    assert m["capped_share_softmax_greedy"] == 0
    assert quoted(soft["greedy"]["rouge_l"], "0.052") and quoted(soft["beam"]["rouge_l"], "0.091")
    assert quoted(st["greedy"]["rouge_l"], "0.039") and quoted(st["beam"]["rouge_l"], "0.078")
    assert quoted(soft["greedy"]["mean_length"], "7.0") and quoted(soft["beam"]["mean_length"], "7.2")
    assert quoted(st["greedy"]["mean_length"], "1.9") and quoted(st["beam"]["mean_length"], "4.1")
    loss = {name: v["curves"]["validation_loss"][-1] for name, v in m["variants"].items()}
    assert quoted(loss["softmax"], "4.815") and quoted(loss["self-terminating"], "4.904")
    assert quoted(loss["self-terminating"] - loss["softmax"], "0.09")
    samples = m["samples"]
    assert len(samples) == 20
    assert sum(s["softmax greedy"] == "次韵王仲叔见寄" for s in samples) == 11
    assert sum(s["self-terminating greedy"] == "次韵" for s in samples) == 13
    assert {s["self-terminating greedy"] for s in samples} == {"次韵", "送", "题"}


def test_the_softmax_model_is_the_title_chapters_model(record):
    """"Its numbers are exactly those of the post's model in the previous chapter's record"."""
    titles = full_record("titles-seq2seq")
    ours, theirs = record["metrics"]["variants"]["softmax"], titles["metrics"]["variants"]["lstm + prior"]
    for search in ("greedy", "beam"):
        assert ours[search] == theirs[search]
    assert ours["curves"]["validation_loss"] == theirs["curves"]["validation_loss"]


def test_the_quick_profile_the_page_describes():
    """"in the quick profile, 10 training steps on 5,000 pairs and 30 held-out poems"."""
    from kexue import experiments

    quick = experiments.get("seq2seq-stopping").quick
    assert (quick["steps"], quick["n_train"], quick["n_test"]) == (10, 5000, 30)


def test_the_figure_of_the_full_run(record):
    """The stop probabilities along the first ten held-out poems' real and greedy titles."""
    from kexue.sequences.experiments import titles

    paths = titles.stop_paths(record["metrics"]["stop_probabilities"], count=10)
    real, greedy = paths["along the real titles"], paths["along the greedy titles"]
    soft, st = real["softmax"], real["self-terminating"]
    assert quoted(max(v for p in soft for v in p[:-1]), "0.59")
    assert sum(p[-1] > 0.5 for p in soft) == 6 and sum(p[-1] > 0.9 for p in st) == 3
    floor = [1 - 0.97 ** (t + 1) for t in range(40)]
    assert all(v >= floor[t] - 1e-3 for p in st for t, v in enumerate(p))
    assert {len(p) - 1 for p in greedy["softmax"]} == {7}
    ends = [p[-1] for p in greedy["softmax"]]
    assert quoted(min(ends), "0.33") and quoted(max(ends), "0.56")
    assert all(max(p[:-1]) < 0.1 for p in greedy["softmax"])          # "near zero" before
    assert {len(p) - 1 for p in greedy["self-terminating"]} == {1, 2}
    ends = [p[-1] for p in greedy["self-terminating"]]
    assert quoted(min(ends), "0.06") and quoted(max(ends), "0.09")
    assert all(abs(p[-1] - floor[len(p) - 1]) < 0.002 for p in greedy["self-terminating"])
