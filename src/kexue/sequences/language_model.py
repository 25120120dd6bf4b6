"""A character language model of poetry whose attention is either softmax or linear (post 7546).

Serves chapters/part6-sequences/linear-attention.ipynb.

A decoder-only Transformer: character and position embeddings, ``layers`` pre-norm blocks
``x + Attn(LN(x))`` then ``x + MLP(LN(x))``, a final norm and a linear layer to the vocabulary. The
attention is causal, and ``kind`` picks it: ``"softmax"`` (scaled dot product) or ``"linear"``
(:func:`kexue.sequences.linear_attention.causal_linear_attention` with ``feature_map``). Everything
else is the same, so the two differ only in the attention the chapter is about. Sequences are
padded on the right; causal attention never lets a real character see the padding after it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import fraction, positive_int
from .linear_attention import MultiHeadAttention
from .seq2seq import check_tokens


class Block(nn.Module):
    """``x + Attn(LN(x))``, then ``x + MLP(LN(x))`` with a 4x-wide GELU MLP."""

    def __init__(self, dim: int, heads: int, kind: str, feature_map: str, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, heads, kind=kind, causal=True,
                                            feature_map=feature_map)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class CharLanguageModel(nn.Module):
    """Next-character logits ``[B, T, V]`` for ``tokens`` ``[B, T]`` (position t sees 0..t)."""

    def __init__(self, vocab_size: int, *, dim: int = 256, heads: int = 4, layers: int = 4,
                 kind: str = "softmax", feature_map: str = "elu+1", dropout: float = 0.1,
                 max_length: int = 128, pad_id: int = 0):
        super().__init__()
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.max_length, self.pad_id, self.kind = positive_int(max_length, "max_length"), pad_id, kind
        self.embed = nn.Embedding(vocab_size, positive_int(dim, "dim"), padding_idx=pad_id)
        self.positions = nn.Embedding(max_length, dim)
        self.dropout = nn.Dropout(fraction(dropout, "dropout"))
        self.blocks = nn.ModuleList(Block(dim, heads, kind, feature_map, dropout)
                                    for _ in range(positive_int(layers, "layers")))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = check_tokens(tokens, "tokens", self.vocab_size, self.max_length)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(self.embed(tokens) + self.positions(positions))
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x))


def next_token_loss(model: CharLanguageModel, tokens: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Mean cross-entropy of ``tokens[:, 1:]`` given the characters before each, padding
    ignored (``tokens`` start with BOS and end with EOS)."""
    logits = model(tokens[:, :-1])
    gold = tokens[:, 1:]
    real = gold != model.pad_id
    return nn.functional.cross_entropy(logits[real], gold[real]), {}


@torch.no_grad()
def perplexity(model: CharLanguageModel, tokens: torch.Tensor, *, batch_size: int = 256) -> float:
    """``exp`` of the mean negative log-likelihood per predicted token (EOS included) of the
    rows of ``tokens``, in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(tokens), positive_int(batch_size, "batch_size")):
        rows = tokens[start:start + batch_size]
        logits = model(rows[:, :-1])
        gold = rows[:, 1:]
        real = gold != model.pad_id
        total += float(nn.functional.cross_entropy(logits[real], gold[real], reduction="sum"))
        count += int(real.sum())
    model.train(was_training)
    if count == 0:
        raise ValueError("tokens holds nothing to predict")
    return math.exp(total / count)


def step_function(model: CharLanguageModel):
    """``step(prefix, rows) -> logits [B, V]`` for :mod:`kexue.sequences.decoding` (the rows,
    sources of a seq2seq model, mean nothing to a language model)."""

    def step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return model(prefix)[:, -1]

    return step
