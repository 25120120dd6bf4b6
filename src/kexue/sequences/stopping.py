"""Why a seq2seq decoder may never stop, and an output layer that must (Su Jianlin,
https://spaces.ac.cn/archives/7500, after Welleck et al. 2020, "Consistency of a recurrent language
model with respect to incomplete decoding", arXiv:2002.02492).

The usual output layer reads the decoder's hidden state ``h_t = f(y_<t, x)`` as

    p(y_t | y_<t, x) = softmax(W h_t + b).

Nothing in it makes ``p(eos | y_<t, x)`` grow along a sequence. A bounded ``||h_t||`` only keeps it
above some small floor, which lets sampling stop eventually; greedy and beam search follow the
largest probabilities, and if EOS is never among them they run until a length cap, repeating
themselves. The self-terminating layer of the post makes ending ever more likely instead: with ``t = 0``
the first step (``h_0`` has read BOS) and ``σ(z) = (1 - ε) sigmoid(z)``, valued in ``[0, 1 - ε]``,

    p(eos | y_<t, x) = 1 - α(h_t),
    α(h_0) = σ(w_eos·h_0 + b_eos),   α(h_t) = σ(w_eos·h_t + b_eos) [1 - p(eos | y_<t-1, x)],

and every other token ``v`` takes ``α(h_t)`` times its softmax over the tokens other than EOS. Unrolled,

    p(eos | y_<t, x) = 1 - prod_{i=0}^{t} σ(w_eos·h_i + b_eos) >= 1 - (1 - ε)^(t+1),

which never falls along a sequence and passes 1/2 once ``(1 - ε)^(t+1) < 1/2``: then EOS holds more
than all other tokens together, and greedy search emits it (:func:`greedy_length_bound`).

Both layers (:class:`SoftmaxHead`, :class:`SelfTerminatingHead`; :func:`make_head` picks one by
name) take hidden states ``(..., T, H)``, time on the second-last axis starting at ``t = 0``, and
return next-token log-probabilities ``(..., T, V)`` computed in log space. The self-terminating head
reads ``w_eos, b_eos`` from EOS's row of the same linear map ``W, b`` the softmax head uses, so the
two have the same parameters.

Serves chapters/part6-sequences/seq2seq-stopping.ipynb.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import non_negative_int, positive_int, real_number

__all__ = ["HEADS", "SoftmaxHead", "SelfTerminatingHead", "make_head", "eos_floor", "greedy_length_bound"]

HEADS = ("softmax", "self-terminating")


def _epsilon(epsilon) -> float:
    epsilon = real_number(epsilon, "epsilon")
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    return epsilon


def _vocab(vocab) -> int:
    vocab = positive_int(vocab, "vocab")
    if vocab < 2:
        raise ValueError(f"vocab must hold EOS and at least one other token, got vocab={vocab}")
    return vocab


class SoftmaxHead(nn.Module):
    """``log p(y_t | y_<t, x) = log softmax(W h_t + b)``, hidden ``(..., H)`` -> ``(..., V)``."""

    def __init__(self, hidden: int, vocab: int):
        super().__init__()
        self.proj = nn.Linear(positive_int(hidden, "hidden"), _vocab(vocab))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.proj(h), dim=-1)


def _log1mexp(a: torch.Tensor) -> torch.Tensor:
    """``log(1 - e^a)`` for ``a < 0``, accurate on both sides of ``a = -log 2``."""
    return torch.where(a > -math.log(2), torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


class SelfTerminatingHead(SoftmaxHead):
    """The self-terminating layer, in log space: with ``z = W h + b`` and ``log α_t = sum_{i<=t}
    [log(1 - ε) + log sigmoid(z_{i,eos})]``, hidden ``(..., T, H)`` -> ``(..., T, V)`` with

        log p(eos | y_<t, x) = log(1 - α_t),   log p(v | y_<t, x) = log α_t + log softmax_{u≠eos}(z_t)_v.

    Mind the sign: a large EOS logit ``z_eos`` here means *going on* (its scaled sigmoid multiplies
    the probability of not having ended, step by step), the opposite of what it means to softmax.
    """

    def __init__(self, hidden: int, vocab: int, eos: int, epsilon: float):
        super().__init__(hidden, vocab)
        self.eos = non_negative_int(eos, "eos")
        if self.eos >= vocab:
            raise ValueError(f"eos={eos} is outside the vocabulary of {vocab} tokens (ids 0..{vocab - 1})")
        self.epsilon = _epsilon(epsilon)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.ndim < 2:
            raise ValueError(f"hidden states must be (..., T, H), time on the second-last axis, got "
                             f"shape {tuple(h.shape)}")
        return self_terminating_log_probs(self.proj(h), self.eos, self.epsilon)


def self_terminating_log_probs(z: torch.Tensor, eos: int, epsilon: float) -> torch.Tensor:
    """The self-terminating layer on logits ``z`` ``(..., T, V)`` (time on the second-last axis):
    ``log α_t = sum_{i<=t} [log(1 - ε) + log sigmoid(z_{i,eos})]``, ``log p(eos) = log(1 - α_t)``,
    ``log p(v) = log α_t + log softmax_{u≠eos}(z_t)_v``. A model whose logits pass through more
    than one linear map (post 5861's prior) applies it to its final logits."""
    if z.ndim < 2:
        raise ValueError(f"logits must be (..., T, V), time on the second-last axis, got "
                         f"shape {tuple(z.shape)}")
    log_alpha = (math.log1p(-_epsilon(epsilon)) + nn.functional.logsigmoid(z[..., eos])).cumsum(-1)
    is_eos = torch.arange(z.shape[-1], device=z.device) == eos
    others = torch.log_softmax(z.masked_fill(is_eos, -torch.inf), dim=-1) + log_alpha[..., None]
    return torch.where(is_eos, _log1mexp(log_alpha)[..., None], others)


def make_head(kind: str, hidden: int, vocab: int, *, eos: int, epsilon: float) -> SoftmaxHead:
    """The output layer a model's config names: ``"softmax"`` (which needs neither ``eos`` nor
    ``epsilon``) or ``"self-terminating"``."""
    if kind == "softmax":
        return SoftmaxHead(hidden, vocab)
    if kind == "self-terminating":
        return SelfTerminatingHead(hidden, vocab, eos, epsilon)
    raise ValueError(f"kind must be one of {HEADS}, got {kind!r}")


def eos_floor(epsilon: float, steps: int) -> torch.Tensor:
    """The floor under the self-terminating layer's stop probability, ``1 - (1 - ε)^(t+1)`` for
    ``t = 0, ..., steps - 1`` (float64)."""
    t = torch.arange(positive_int(steps, "steps"), dtype=torch.float64)
    return -torch.expm1((t + 1) * math.log1p(-_epsilon(epsilon)))


def greedy_length_bound(epsilon: float) -> int:
    """The most tokens, EOS included, greedy search can emit with the self-terminating layer: the
    least ``L`` with ``(1 - ε)^L < 1/2``, ``L = floor(log 2 / -log(1 - ε)) + 1``. By step ``t = L - 1``
    the stop probability exceeds 1/2, so EOS is the argmax; the bound depends on nothing but ``ε``."""
    return math.floor(math.log(2) / -math.log1p(-_epsilon(epsilon))) + 1
