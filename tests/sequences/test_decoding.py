"""Tests for kexue.sequences.decoding: beam search against exhaustive search, width 1 against
greedy, the truncated samplers' frequencies against their renormalised distributions (chi-square),
the filters against transformers' warpers, and all three decoders against transformers' generate on
a small random GPT-2 (identical sequences where the two define the same search)."""
import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation import logits_process as hf

from kexue.sequences import decoding as dec

#: a sampler's frequencies fail to match when the chi-square p-value is below this (fixed seeds)
P_MIN = 1e-3


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class TinyRNN(nn.Module):
    """A random GRU decoder over ``vocab`` tokens whose initial state is its source's random memory;
    token 0 is BOS, which it never emits (logit -inf)."""

    def __init__(self, vocab=6, hidden=8, sources=3, seed=0, eos=1, eos_bias=0.0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed, self.rnn = nn.Embedding(vocab, hidden), nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.memory = torch.randn(sources, hidden)
        with torch.no_grad():
            self.out.weight.mul_(4)
            self.out.bias[eos] += eos_bias
            self.out.bias[0] = -torch.inf
        self.requires_grad_(False)

    def step(self, prefix, rows):
        h, _ = self.rnn(self.embed(prefix), self.memory[rows][None])
        return self.out(h[:, -1])


# -- beam search against exhaustive search, and against greedy -----------------------------------
def exhaustive(model, source, words, eos, max_length, alpha):
    """Every output of at most ``max_length`` new tokens over ``words`` (ending with EOS, or
    capped), scored sum log p / L^alpha with L counting EOS: the best score, its tokens, and
    whether it ends with EOS."""
    best = (-math.inf, None, None)
    for n in range(max_length + 1):
        for body in itertools.product(words, repeat=n):
            prefix = torch.tensor([[0, *body]])
            log_p = torch.log_softmax(model.step(prefix[:, :1], torch.tensor([source])), -1)[0]
            total = 0.0
            for t in range(1, n + 1):
                total += float(log_p[body[t - 1]])
                log_p = torch.log_softmax(model.step(prefix[:, :t + 1], torch.tensor([source])), -1)[0]
            ends = [(body, total + float(log_p[eos]), n + 1, True)] if n < max_length else []
            if n == max_length:
                ends.append((body, total, n, False))
            for seq, s, length, ended in ends:
                if s / length**alpha > best[0]:
                    best = (s / length**alpha, list(seq), ended)
    return best


def test_beam_as_wide_as_the_search_space_is_exhaustive_search():
    model, eos, L = TinyRNN(seed=2, eos_bias=1.0), 1, 4
    width = 4 ** (L - 1) * 5  # every candidate of the last step fits in the first `width` ranks
    found, kinds = set(), set()
    for alpha in (0.0, 0.5, 1.0, 2.0, -1.0):
        out = dec.beam_search(model.step, 3, bos=0, eos=eos, max_length=L, beam_width=width,
                              length_penalty=alpha)
        for source in range(3):
            score, seq, ended = exhaustive(model, source, range(2, 6), eos, L, alpha)
            assert out.tokens[source] == seq and bool(out.ended[source]) == ended
            assert float(out.scores[source]) == pytest.approx(score, abs=1e-5)
            found.add((source, tuple(seq)))
            kinds.add("capped" if not ended else "EOS at once" if not seq else "EOS later")
    # the test has teeth: the length penalty changes the answers, which end in all three ways
    assert len(found) > 3 and len(kinds) == 3


def test_beam_width_one_is_greedy_without_length_penalty_and_never_worse_with_it():
    """With ``length_penalty = 0`` a beam of one follows the argmax and stops at its EOS, since the
    runner-up it keeps cannot beat it; with a penalty it may go on and find a longer hypothesis
    that scores better, never a worse one."""
    for seed in range(3):
        model = TinyRNN(sources=8, seed=seed, eos_bias=0.5)
        kw = dict(bos=0, eos=1, max_length=7)
        g = dec.greedy(model.step, 8, **kw)
        b = dec.beam_search(model.step, 8, beam_width=1, length_penalty=0.0, **kw)
        assert b.tokens == g.tokens and torch.equal(b.ended, g.ended)
        torch.testing.assert_close(b.scores, g.scores)
        assert 0 < g.capped_share < 1  # both ways of stopping are exercised
        for alpha in (1.0, 2.0):
            b = dec.beam_search(model.step, 8, beam_width=1, length_penalty=alpha, **kw)
            lengths = torch.tensor([len(t) for t in g.tokens]) + g.ended.long()
            assert bool((b.scores >= g.scores / lengths**alpha - 1e-6).all())


# -- the samplers ---------------------------------------------------------------------------------
def truncated(logits: np.ndarray, k=None, p=None, temperature=1.0) -> np.ndarray:
    """The sampling distribution written out: softmax(z / T), the top k kept, then the shortest
    head of the ranking whose mass reaches p, renormalised."""
    q = np.exp(logits / temperature - np.max(logits / temperature))
    q /= q.sum()
    order = np.argsort(-q)
    keep = np.zeros_like(q, dtype=bool)
    keep[order[:k]] = True
    if p is not None:
        r = np.where(keep, q, 0) / np.where(keep, q, 0).sum()
        head = np.searchsorted(np.cumsum(r[order]), p) + 1
        keep[:] = False
        keep[order[:head]] = True
    q = np.where(keep, q, 0)
    return q / q.sum()


def chi_square_p(counts: np.ndarray, probs: np.ndarray) -> float:
    """The p-value of the counts under ``probs``, after checking nothing fell where probs is 0."""
    assert counts[probs == 0].sum() == 0
    support = probs > 0
    expected = probs[support] / probs[support].sum() * counts.sum()
    return scipy.stats.chisquare(counts[support], expected).pvalue


@pytest.mark.parametrize("k, p, temperature", [(3, None, 1.0), (None, 0.7, 1.0), (5, 0.8, 0.6),
                                               (None, None, 1.8)])
def test_sample_frequencies_match_the_truncated_renormalised_distribution(k, p, temperature):
    logits = torch.randn(8, generator=gen(1)) * 1.5
    n, eos = 4000, 7
    out = dec.sample(lambda prefix, rows: logits.expand(len(rows), -1), n, bos=0, eos=eos,
                     max_length=1, top_k=k, top_p=p, temperature=temperature, generator=gen(2))
    drawn = np.array([t[0] if t else eos for t in out.tokens])
    probs = truncated(logits.numpy().astype(np.float64), k, p, temperature)
    assert chi_square_p(np.bincount(drawn, minlength=8), probs) > P_MIN
    # the score is the model's own log p of the draw, whatever the truncation
    torch.testing.assert_close(out.scores, torch.log_softmax(logits, -1)[torch.from_numpy(drawn)])


def test_top_k_of_one_samples_the_greedy_path():
    model = TinyRNN(sources=5, eos_bias=0.5)
    kw = dict(bos=0, eos=1, max_length=6)
    drawn, g = dec.sample(model.step, 5, top_k=1, generator=gen(), **kw), dec.greedy(model.step, 5, **kw)
    assert drawn.tokens == g.tokens and torch.equal(drawn.ended, g.ended)
    torch.testing.assert_close(drawn.scores, g.scores)


def test_filters_agree_with_transformers_warpers():
    logits = torch.randn(64, 50, generator=gen(3)) * 3
    ids = torch.zeros(64, 1, dtype=torch.long)
    for k in (1, 2, 10, 50, 80):
        assert torch.equal(dec.top_k_filter(logits, k), hf.TopKLogitsWarper(k)(ids, logits))
    for p in (0.05, 0.3, 0.9, 0.999):
        assert torch.equal(dec.top_p_filter(logits, p), hf.TopPLogitsWarper(p)(ids, logits))
    assert torch.equal(dec.top_p_filter(logits, 1.0), logits)


# -- against transformers' generate ---------------------------------------------------------------
V, BOS, EOS, N, P = 12, 0, 1, 16, 3


@pytest.fixture(scope="module")
def gpt2():
    """A random one-layer GPT-2 over 12 tokens, weights of std 0.5 so that its choices are clear,
    the final layer norm's bias pushed along EOS's embedding so that about half the searches end
    with EOS; each of N sources is a prompt of P random tokens then BOS, and ``step`` runs the
    model on prompt + prefix, as ``generate`` does without a cache."""
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=V, n_positions=32,
                        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS, initializer_range=0.5)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        w = model.transformer.wte.weight[EOS]
        model.transformer.ln_f.bias += 2 * w / w.dot(w)
    prompts = torch.randint(2, V, (N, P), generator=gen(1))

    def step(prefix, rows):
        return model(input_ids=torch.cat([prompts[rows], prefix], 1)).logits[:, -1]

    inputs = torch.cat([prompts, torch.full((N, 1), BOS)], 1)
    return model, step, inputs


def hf_generate(model, inputs, **kw):
    out = model.generate(inputs, attention_mask=torch.ones_like(inputs), eos_token_id=EOS,
                         pad_token_id=EOS, use_cache=False, return_dict_in_generate=True,
                         output_scores=True, **kw)
    new = out.sequences[:, inputs.shape[1]:]
    tokens = [list(itertools.takewhile(lambda t: t != EOS, row)) for row in new.tolist()]
    return tokens, (new == EOS).any(1), out


def test_greedy_is_transformers_greedy(gpt2):
    model, step, inputs = gpt2
    ours = dec.greedy(step, N, bos=BOS, eos=EOS, max_length=8)
    tokens, ended, _ = hf_generate(model, inputs, max_new_tokens=8, do_sample=False, num_beams=1)
    assert ours.tokens == tokens and torch.equal(ours.ended, ended)
    assert 0 < ours.capped_share < 1


@pytest.mark.parametrize("beams", [2, 3])
def test_beam_search_is_transformers_beam_search_that_never_stops_early(gpt2, beams):
    """Identical sequences and scores with ``early_stopping="never"`` (see ``beam_search``). With
    ``early_stopping=True`` (stop once ``k`` hypotheses finished) or ``False`` (stop on a guess at
    the current length) transformers may stop before a better hypothesis finishes, so there its
    choices differ on some sources and its scores are never above ours."""
    model, step, inputs = gpt2
    differ = 0
    for alpha in (0.0, 1.0, 2.0, -0.5):
        ours = dec.beam_search(step, N, bos=BOS, eos=EOS, max_length=8, beam_width=beams,
                               length_penalty=alpha)
        tokens, ended, out = hf_generate(model, inputs, max_new_tokens=8, do_sample=False,
                                         num_beams=beams, length_penalty=alpha, early_stopping="never")
        assert ours.tokens == tokens and torch.equal(ours.ended, ended)
        torch.testing.assert_close(ours.scores, out.sequences_scores)
        for early in (True, False):
            tokens, _, out = hf_generate(model, inputs, max_new_tokens=8, do_sample=False,
                                         num_beams=beams, length_penalty=alpha, early_stopping=early)
            assert bool((ours.scores >= out.sequences_scores - 1e-6).all())
            differ += sum(a != b for a, b in zip(ours.tokens, tokens))
    assert differ > 0


@pytest.mark.parametrize("k, p, temperature", [(6, 0.95, 2.0), (None, 0.8, 2.0)])
def test_sampling_draws_from_transformers_distribution(gpt2, k, p, temperature):
    """Our draws and transformers' both match the exact distribution of the first two new tokens
    (an output ending with EOS after one token is its own outcome), computed from the model's
    logits with transformers' own warpers (27 to 29 outcomes, each expected 20 times or more); the
    draws themselves (different random streams) are not compared."""
    model, step, inputs = gpt2
    warp = [hf.TemperatureLogitsWarper(temperature), *([hf.TopKLogitsWarper(k)] if k else []),
            hf.TopPLogitsWarper(p)]

    def next_probs(ids):
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[:, -1]
        for w in warp:
            logits = w(ids, logits)
        return logits.softmax(-1)

    n, prompt = 6000, inputs[:1]
    with torch.no_grad():
        first = next_probs(prompt)[0]
        grid = torch.cat([prompt.expand(V, -1), torch.arange(V)[:, None]], 1)
        exact = (first[:, None] * next_probs(grid)).numpy().astype(np.float64)  # (y1, y2)
    exact[EOS] = 0
    exact[EOS, 0] = float(first[EOS])  # "EOS at once" is the outcome (EOS, 0)

    def cells(tokens):
        return np.bincount([EOS * V if not t else t[0] * V + (t[1] if len(t) > 1 else EOS)
                            for t in tokens], minlength=V * V)

    ours = dec.sample(lambda prefix, rows: step(prefix, torch.zeros_like(rows)), n, bos=BOS, eos=EOS,
                      max_length=2, top_k=k, top_p=p, temperature=temperature, generator=gen(4))
    torch.manual_seed(5)
    theirs, *_ = hf_generate(model, prompt.expand(n, -1), max_new_tokens=2, do_sample=True,
                             top_k=k or 0, top_p=p, temperature=temperature)
    assert chi_square_p(cells(ours.tokens), exact.ravel()) > P_MIN
    assert chi_square_p(cells(theirs), exact.ravel()) > P_MIN


# -- bad inputs -----------------------------------------------------------------------------------
def fixed(prefix, rows):
    return torch.zeros(len(rows), 5)


KW = dict(bos=0, eos=1, max_length=3)


@pytest.mark.parametrize("call, error, words", [
    (lambda: dec.beam_search(fixed, 2, beam_width=0, **KW), ValueError, "beam_width"),
    (lambda: dec.beam_search(fixed, 2, beam_width=-2, **KW), ValueError, "beam_width"),
    (lambda: dec.sample(fixed, 2, top_p=0.0, **KW), ValueError, r"top_p must be in \(0, 1\]"),
    (lambda: dec.sample(fixed, 2, top_p=1.5, **KW), ValueError, r"top_p must be in \(0, 1\]"),
    (lambda: dec.top_p_filter(torch.zeros(2, 5), -0.1), ValueError, "top_p"),
    (lambda: dec.sample(fixed, 2, top_k=0, **KW), ValueError, "top_k"),
    (lambda: dec.top_k_filter(torch.zeros(2, 5), 0), ValueError, "top_k"),
    (lambda: dec.sample(fixed, 2, temperature=0.0, **KW), ValueError, "temperature must be positive"),
    (lambda: dec.sample(fixed, 2, temperature=-1.0, **KW), ValueError, "temperature must be positive"),
    (lambda: dec.greedy(fixed, 2, bos=0, eos=1, max_length=0), ValueError, "max_length"),
    (lambda: dec.greedy(fixed, 2, bos=5, eos=1, max_length=3), ValueError, "bos=5 is outside"),
    (lambda: dec.beam_search(fixed, 2, bos=0, eos=7, max_length=3, beam_width=2), ValueError,
     "eos=7 is outside the vocabulary"),
    (lambda: dec.greedy(fixed, 2, bos=-1, eos=1, max_length=3), ValueError, "bos"),
    (lambda: dec.greedy(fixed, 0, **KW), ValueError, "num_sources"),
    (lambda: dec.greedy(lambda p, r: torch.zeros(len(r), 1, 5), 2, **KW), ValueError,
     r"shape \(hypotheses, vocabulary\) = \(2, V\).*got shape \(2, 1, 5\)"),
    (lambda: dec.beam_search(lambda p, r: torch.zeros(3, 5), 2, beam_width=2, **KW), ValueError,
     r"= \(2, V\)"),
    (lambda: dec.sample(lambda p, r: torch.zeros(len(r), 5 + p.shape[1]), 2, **KW), ValueError,
     r"= \(2, 6\).*got shape \(2, 7\)"),
    (lambda: dec.greedy(lambda p, r: torch.zeros(len(r), 5, dtype=torch.long), 2, **KW), TypeError,
     "float tensor"),
    (lambda: dec.greedy("model", 2, **KW), TypeError, "step must be a function"),
])
def test_bad_inputs_raise_clear_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()
