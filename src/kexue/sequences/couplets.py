"""Answering the first line of a couplet with a second, as sequence labelling (post 6270).

Serves chapters/part6-sequences/couplet-cnn.ipynb.

The two lines of a parallel couplet have the same length, and character ``i`` of the second answers
character ``i`` of the first. So the second line can be read as a *label* of each position of the
first, as in word segmentation or tagging: no decoder, one classification per position. The
labeller is a stack of gated residual 1-D convolutions: a convolution of width 3 gives each
position ``2d`` channels, split into a gate ``g`` and a candidate ``h``, and

    y = x * sigmoid(g) + h * (1 - sigmoid(g)),

a learned, per-channel mix of the input and the new value (the post writes ``1 - sigmoid(g)`` as
``sigmoid(-g)``). Six such blocks over 128-dimensional character embeddings, then one linear layer
giving each position a distribution over the vocabulary.
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import fraction, positive_int


class GatedResidualConv(nn.Module):
    """``y = x σ(g) + h (1 − σ(g))`` with ``[g, h] = conv1d(x)``, kernel ``width``, same length."""

    def __init__(self, dim: int, width: int = 3):
        super().__init__()
        width = positive_int(width, "width")
        if width % 2 == 0:
            raise ValueError(f"width must be odd so the output keeps the input's length, got {width}")
        self.conv = nn.Conv1d(dim, 2 * dim, width, padding=width // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[B, d, T]`` -> ``[B, d, T]``."""
        gate, candidate = self.conv(x).chunk(2, dim=1)
        mix = torch.sigmoid(gate)
        return x * mix + candidate * (1 - mix)


class CoupletLabeller(nn.Module):
    """Character embeddings, dropout, ``blocks`` gated residual convolutions, a linear layer to
    the vocabulary: logits ``[B, T, V]`` for the second line, one position per input character.
    Padding positions are zeroed after every block, so a line's output does not depend on how
    much padding its batch has."""

    def __init__(self, vocab_size: int, *, dim: int = 128, blocks: int = 6, width: int = 3,
                 dropout: float = 0.25, pad_id: int = 0):
        super().__init__()
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be an id of the vocabulary [0, {vocab_size}), got {pad_id}")
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, positive_int(dim, "dim"), padding_idx=pad_id)
        self.dropout = nn.Dropout(fraction(dropout, "dropout"))
        self.blocks = nn.ModuleList(GatedResidualConv(dim, width)
                                    for _ in range(positive_int(blocks, "blocks")))
        self.out = nn.Linear(dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.ndim != 2:
            raise ValueError(f"tokens must be an int64 tensor [batch, length], got "
                             f"{getattr(tokens, 'dtype', type(tokens).__name__)} "
                             f"{tuple(getattr(tokens, 'shape', ()))}")
        if tokens.numel() and not bool(((tokens >= 0) & (tokens < self.vocab_size)).all()):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        keep = (tokens != self.pad_id).unsqueeze(1).to(self.embed.weight.dtype)  # [B, 1, T]
        x = self.dropout(self.embed(tokens)).transpose(1, 2) * keep
        for block in self.blocks:
            x = block(x) * keep
        return self.out(x.transpose(1, 2))


def label_loss(model: CoupletLabeller, first: torch.Tensor, second: torch.Tensor
               ) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of the second line's characters given the first, over real (non-pad)
    positions; also the character accuracy of the argmax labels."""
    logits = model(first)
    real = first != model.pad_id
    loss = nn.functional.cross_entropy(logits[real], second[real])
    accuracy = (logits[real].argmax(-1) == second[real]).float().mean()
    return loss, {"accuracy": accuracy.detach()}


@torch.no_grad()
def answer(model: CoupletLabeller, first: torch.Tensor, *, banned: tuple[int, ...] = ()
           ) -> torch.Tensor:
    """The most likely character at each position (never one of ``banned``, e.g. the reserved
    ids), padding kept as padding: ``[B, T]`` ids of the second lines."""
    was_training = model.training
    model.eval()
    logits = model(first)
    model.train(was_training)
    if banned:
        logits[..., list(banned)] = float("-inf")
    return torch.where(first == model.pad_id, first, logits.argmax(-1))
