"""One decoding interface for every model of Part VI: greedy search, beam search, and sampling with
top-k and nucleus (top-p) truncation.

A model reaches a decoder as a *step function*

    step(prefix: LongTensor[B, t], rows: LongTensor[B]) -> logits: FloatTensor[B, V],

the logits of ``p(y_t | y_<t, x)`` for each of ``B`` hypotheses ``prefix = (bos, y_1, ..., y_{t-1})``;
``rows[i]`` is the source (the index of ``x`` in the batch) hypothesis ``i`` belongs to. A seq2seq
model encodes its sources once and indexes its memory with ``rows``; a language model ignores it.
Decoders call ``step`` only for the hypotheses still running, on the ``device`` they were given.

Every decoder returns a :class:`Decoded`: per source the new tokens (no BOS, no EOS), a score, and
whether the output ended with EOS or ran into the cap of ``max_length`` new tokens. The ``V`` of
the first logits is the vocabulary: ``bos`` and ``eos`` are checked against it then (a model that
cannot embed an out-of-range ``bos`` fails inside ``step`` first). Log-probabilities are computed
and summed in float32 (or the logits' dtype where wider), as transformers does.

The decoders are those of post 7500's first section (https://spaces.ac.cn/archives/7500); the
self-terminating output that makes the deterministic ones stop is :mod:`kexue.sequences.stopping`.
Serves chapters/part6-sequences/seq2seq-titles.ipynb.
"""
from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

import torch

from ..checks import non_negative_int, positive, positive_int, real_number

__all__ = ["Decoded", "greedy", "beam_search", "sample", "top_k_filter", "top_p_filter"]

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Decoded(NamedTuple):
    """What a decoder found, per source: ``tokens`` (lists of new token ids, without BOS and EOS),
    ``scores`` (a float tensor ``(N,)``: see each decoder) and ``ended`` (a bool tensor ``(N,)``,
    True where the output ended with EOS, False where it hit the cap of ``max_length`` tokens)."""

    tokens: list[list[int]]
    scores: torch.Tensor
    ended: torch.Tensor

    @property
    def capped_share(self) -> float:
        """The share of sources whose output hit the cap instead of ending with EOS."""
        return float((~self.ended).float().mean())


class _Model:
    """``step`` with its output checked: a float tensor ``(B, V)``, the same ``V`` on every call,
    with ``bos`` and ``eos`` inside it; :meth:`log_probs` gives ``log softmax(logits)``."""

    def __init__(self, step: Step, num_sources, bos, eos, max_length):
        if not callable(step):
            raise TypeError(f"step must be a function (prefix, rows) -> logits, got {type(step).__name__}")
        self.step = step
        self.num_sources = positive_int(num_sources, "num_sources (the number of sources to decode)")
        self.bos, self.eos = non_negative_int(bos, "bos"), non_negative_int(eos, "eos")
        self.max_length = positive_int(max_length, "max_length (the cap on new tokens)")
        self.vocab = None

    def logits(self, prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        out = self.step(prefix, rows)
        want = f"(hypotheses, vocabulary) = ({len(rows)}, {self.vocab or 'V'})"
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            raise TypeError(f"step must return a float tensor of next-token logits of shape {want}, "
                            f"got {getattr(out, 'dtype', type(out).__name__)}")
        if out.ndim != 2 or out.shape[0] != len(rows) or self.vocab not in (None, out.shape[1]):
            raise ValueError(f"step must return next-token logits of shape {want} for a prefix of shape "
                             f"{tuple(prefix.shape)}, got shape {tuple(out.shape)}")
        if self.vocab is None:
            self.vocab = out.shape[1]
            for name, token in (("bos", self.bos), ("eos", self.eos)):
                if token >= self.vocab:
                    raise ValueError(f"{name}={token} is outside the vocabulary: step's logits have "
                                     f"{self.vocab} entries (token ids 0..{self.vocab - 1})")
        return out.to(torch.promote_types(out.dtype, torch.float32))

    def log_probs(self, prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(prefix, rows), dim=-1)

    def cut(self, rows: torch.Tensor) -> list[list[int]]:
        """Each row of new tokens up to its first EOS."""
        return [list(itertools.takewhile(lambda token: token != self.eos, row)) for row in rows.tolist()]


def _one_path(model: _Model, choose, device) -> Decoded:
    """Extend each source's single hypothesis by ``choose(logits)`` until EOS or the cap; the score
    is ``sum_t log p(y_t | y_<t, x)`` over the tokens chosen, EOS included."""
    n = model.num_sources
    seqs = torch.full((n, 1), model.bos, dtype=torch.long, device=device)
    scores, ended = torch.zeros(n, device=device), torch.zeros(n, dtype=torch.bool, device=device)
    alive = torch.arange(n, device=device)
    for _ in range(model.max_length):
        logits = model.logits(seqs[alive], alive)
        token = choose(logits)
        scores = scores.to(logits.dtype)
        scores[alive] += torch.log_softmax(logits, -1).gather(1, token[:, None]).squeeze(1)
        grown = torch.full((n,), model.eos, dtype=torch.long, device=device)
        grown[alive] = token
        seqs = torch.cat([seqs, grown[:, None]], dim=1)
        stop = token == model.eos
        ended[alive[stop]] = True
        alive = alive[~stop]
        if len(alive) == 0:
            break
    return Decoded(model.cut(seqs[:, 1:]), scores, ended)


@torch.no_grad()
def greedy(step: Step, num_sources: int, *, bos: int, eos: int, max_length: int,
           device="cpu") -> Decoded:
    """Greedy search: ``y_t = argmax_v p(v | y_<t, x)`` until EOS or ``max_length`` new tokens.
    The score is ``sum_t log p(y_t | y_<t, x)``, EOS included."""
    model = _Model(step, num_sources, bos, eos, max_length)
    return _one_path(model, lambda logits: logits.argmax(-1), device)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k truncation: the logits with every entry below the ``k``-th largest of its row set to
    ``-inf`` (ties with the ``k``-th are kept; ``k`` past the vocabulary keeps everything)."""
    k = positive_int(k, "top_k")
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, -torch.inf)


def _top_p(p) -> float:
    p = real_number(p, "top_p")
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    return p


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus (top-p) truncation: with the tokens of a row sorted by probability ``q_(1) >= q_(2)
    >= ...``, keep ``(i)`` iff ``q_(1) + ... + q_(i-1) < p`` -- the shortest head of the ranking
    whose mass reaches ``p`` -- and set the other logits to ``-inf``. ``p = 1`` keeps all."""
    p = _top_p(p)
    if p == 1:
        return logits.clone()
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    q = sorted_logits.softmax(-1)
    mass_before = q.cumsum(-1) - q
    drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, mass_before >= p)
    return logits.masked_fill(drop, -torch.inf)


@torch.no_grad()
def sample(step: Step, num_sources: int, *, bos: int, eos: int, max_length: int,
           top_k: int | None = None, top_p: float | None = None, temperature: float = 1.0,
           generator: torch.Generator | None = None, device="cpu") -> Decoded:
    """Ancestral sampling, ``y_t ~ softmax(top_p(top_k(z_t / temperature)))`` with ``z_t`` the
    logits (each truncation applied only where given, in this order, as transformers does), until
    EOS or ``max_length`` new tokens. The score is the model's own ``sum_t log p(y_t | y_<t, x)``
    (temperature 1, untruncated), EOS included, so that it compares with the other decoders'."""
    model = _Model(step, num_sources, bos, eos, max_length)
    top_k = None if top_k is None else positive_int(top_k, "top_k")
    top_p = None if top_p is None else _top_p(top_p)
    temperature = positive(temperature, "temperature")

    def choose(logits):
        z = logits / temperature
        z = z if top_k is None else top_k_filter(z, top_k)
        z = z if top_p is None else top_p_filter(z, top_p)
        return torch.multinomial(z.softmax(-1), 1, generator=generator).squeeze(1)

    return _one_path(model, choose, device)


@torch.no_grad()
def beam_search(step: Step, num_sources: int, *, bos: int, eos: int, max_length: int, beam_width: int,
                length_penalty: float = 1.0, device="cpu") -> Decoded:
    """Beam search scored as transformers does: a finished hypothesis ``y`` of ``L`` new tokens
    scores ``sum_t log p(y_t | y_<t, x) / L^length_penalty``, where ``L`` counts its EOS (a
    hypothesis that hits the cap has ``L = max_length`` and no EOS); BOS is not counted.

    Per source, ``beam_width = k`` running hypotheses are extended by every token and the ``2k``
    extensions with the largest ``sum log p`` are ranked. Those among the first ``k`` that end (EOS,
    or the cap) are finished: the best finished one so far is kept. The ``k`` best of the others
    run on. The search of a source stops when no running hypothesis can beat its best finished one:
    ``sum log p`` only falls, and a hypothesis of ``l`` tokens ends with ``L`` in ``[l + 1,
    max_length]``, so it can reach at most ``max(s / (l + 1)^a, s / max_length^a)`` for ``s`` its
    sum and ``a`` the length penalty. Stopping then loses nothing the beam could still find; it
    selects what transformers' ``generate`` does with ``num_beams=k, early_stopping="never"``
    (which keeps ``k`` finished hypotheses and stops on a bound no tighter than this one). Its
    ``early_stopping=True`` stops once ``k`` hypotheses have finished, and its default ``False``
    on the guess ``s / l^a`` (when ``a > 0`` a longer hypothesis can still overtake): both can miss
    the hypothesis found here, never beat it.
    ``scores`` holds the best finished hypothesis' length-penalised score."""
    model = _Model(step, num_sources, bos, eos, max_length)
    k = positive_int(beam_width, "beam_width")
    a = real_number(length_penalty, "length_penalty")
    n, max_length = model.num_sources, model.max_length
    seqs = torch.full((n, k, 1), model.bos, dtype=torch.long, device=device)
    sums = torch.full((n, k), -torch.inf, device=device)
    sums[:, 0] = 0
    best = torch.full((n,), -torch.inf, device=device)
    best_seqs = torch.full((n, max_length), model.eos, dtype=torch.long, device=device)
    best_ended = torch.zeros(n, dtype=torch.bool, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for length in range(1, max_length + 1):  # the number of new tokens once this step is taken
        source, slot = (sums.isfinite() & ~done[:, None]).nonzero(as_tuple=True)
        log_p = model.log_probs(seqs[source, slot], source)
        sums, best = sums.to(log_p.dtype), best.to(log_p.dtype)
        vocab = log_p.shape[1]
        candidates = sums.new_full((n, k, vocab), -torch.inf)
        candidates[source, slot] = sums[source, slot, None] + log_p
        top, index = candidates.view(n, k * vocab).topk(min(2 * k, k * vocab), dim=1)
        parent, token = index // vocab, index % vocab
        grown = torch.cat([seqs.gather(1, parent[..., None].expand(-1, -1, length)), token[..., None]], 2)
        ends = (token == model.eos) | (length == max_length)
        finished = torch.where(ends, top / length**a, -torch.inf)[:, :k]
        score, pick = finished.max(dim=1)
        better = (score > best).nonzero().squeeze(1)
        best[better] = score[better]
        best_ended[better] = token[better, pick[better]] == model.eos
        best_seqs[better, :length] = grown[better, pick[better], 1:]
        sums, keep = torch.where(ends, -torch.inf, top).topk(k, dim=1)
        seqs = grown.gather(1, keep[..., None].expand(-1, -1, length + 1))
        reach = torch.maximum(sums / (length + 1)**a, sums / max_length**a).amax(dim=1)
        done |= best >= reach
        if bool(done.all()):
            break
    return Decoded(model.cut(best_seqs), best, best_ended)
