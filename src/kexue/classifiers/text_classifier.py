"""A character-level sentiment classifier of Chinese reviews, split at its embeddings so that
gradients and integrated gradients can be taken with respect to them (characters are discrete: a
path from a baseline runs through embedding space, and a character's attribution is the sum of its
embedding's components).

The model is a convolutional text classifier in the manner of Kim (2014): character embeddings,
convolutions of a few odd widths centred on each character, with ReLU, the maximum of each channel over the review's positions,
and a linear layer to the two classes. Padding positions embed to zero and are left out of the
maximum, so a review's prediction does not depend on how far it was padded.

Serves chapters/part7-classifiers/integrated-gradients.ipynb.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import positive_int

__all__ = ["CharCNNClassifier", "embedding_forward"]


class CharCNNClassifier(nn.Module):
    """Logits ``[n, classes]`` of reviews given as padded character ids ``[n, L]``."""

    def __init__(self, vocab_size: int, *, dim: int = 64, channels: int = 128,
                 widths: Sequence[int] = (1, 3, 5), classes: int = 2, dropout: float = 0.3,
                 pad_id: int = 0):
        super().__init__()
        self.pad_id = pad_id
        self.embedding = nn.Embedding(positive_int(vocab_size, "vocab_size"),
                                      positive_int(dim, "dim"), padding_idx=pad_id)
        if not widths or any(positive_int(w, "every width") % 2 == 0 for w in widths):
            raise ValueError(f"widths must be odd (centred on a character), got {list(widths)}")
        self.convolutions = nn.ModuleList(nn.Conv1d(dim, channels, w, padding=w // 2)
                                          for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(channels * len(self.convolutions), positive_int(classes, "classes"))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[n, L, dim]``: the characters' embeddings (zero at padding)."""
        if tokens.dtype not in (torch.int32, torch.int64) or tokens.ndim != 2:
            raise ValueError(f"tokens must be [n, L] integer ids, got {tokens.dtype} "
                             f"{tuple(tokens.shape)}")
        return self.embedding(tokens)

    def classify(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from embeddings ``[n, L, dim]`` and the mask ``[n, L]`` of real characters: each
        channel's maximum over the real positions (its ReLU output is at least zero, so masking
        to zero keeps padding out of the maximum)."""
        if mask.shape != embedded.shape[:2]:
            raise ValueError(f"mask must be [n, L] = {tuple(embedded.shape[:2])}, got "
                             f"{tuple(mask.shape)}")
        h = embedded.transpose(1, 2)
        keep = mask[:, None, :].to(embedded.dtype)
        pooled = [(F.relu(conv(h)) * keep).amax(2) for conv in self.convolutions]
        return self.output(self.dropout(torch.cat(pooled, 1)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(tokens), tokens != self.pad_id)


def embedding_forward(model: CharCNNClassifier, mask: torch.Tensor):
    """``forward(embedded) -> logits`` for the reviews whose mask is ``mask`` ``[n, L]``, also for
    a stack of ``k`` copies of them (``k·n`` rows, as :mod:`kexue.classifiers.attribution` builds
    its path points): the model as a function of its embeddings alone."""
    def forward(embedded: torch.Tensor) -> torch.Tensor:
        copies, rest = divmod(len(embedded), len(mask))
        if rest:
            raise ValueError(f"{len(embedded)} rows of embeddings are not copies of the "
                             f"{len(mask)} masked reviews")
        return model.classify(embedded, mask.repeat(copies, 1))

    return forward
