"""Unsupervised word segmentation from a masked language model: perturbed masking (post 7476,
after Wu et al., 2020, "Perturbed Masking"), a dictionary-free baseline from character statistics,
and word-boundary precision, recall and F1.

**The impact matrix.** For a sentence ``x = x_1 … x_T`` and an encoder ``H``, let
``x\\{i}`` be ``x`` with character ``i`` replaced by [MASK] and ``x\\{i, j}`` with both ``i`` and
``j`` replaced. The impact of character ``j`` on character ``i`` is

    f(x_i, x_j) = ‖H(x\\{i})_i − H(x\\{i, j})_i‖₂ :

how much the encoder's representation at the masked position ``i``, the one that predicts
``x_i``, moves when ``x_j`` is hidden as well. Characters of one word predict each other, so
their impact is high; a word boundary is where it drops. The post cuts between neighbours
``i, i+1`` when ``(f(x_i, x_{i+1}) + f(x_{i+1}, x_i)) / 2`` falls below a threshold.

**The syntax tree view.** Split a span ``[lo, hi)`` at the ``k`` that maximises the mean impact
within each side minus the mean impact across, and recurse (:func:`split_tree`).

**Baseline.** The pointwise mutual information of neighbouring characters,
``log p(ab) / (p(a) p(b))`` from character and bigram counts over unlabelled text, cut below a
threshold: the classic dictionary-free segmenter, using no model.

Serves chapters/part6-sequences/bert-segmentation.ipynb.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Iterable, Sequence

import torch

__all__ = ["impact_matrix", "adjacent_impact", "cut", "boundaries", "boundary_scores",
           "best_threshold", "BigramStatistics", "split_tree", "jieba_words"]

Encoder = Callable[[torch.Tensor], torch.Tensor]


def _check_ids(ids: torch.Tensor, limit: int | None) -> torch.Tensor:
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError("a sentence must be a 1-D tensor of at least two ids")
    if limit is not None and len(ids) > limit:
        raise ValueError(f"a sentence of {len(ids)} characters is longer than the model's "
                         f"limit of {limit}")
    return ids


def _masked_states(encoder: Encoder, base: torch.Tensor, masks: list[tuple[int, ...]],
                   read: list[int], mask_id: int, batch_size: int) -> torch.Tensor:
    """``H(base with the positions of masks[k] masked)[read[k]]`` for every k, batched."""
    out = []
    for start in range(0, len(masks), batch_size):
        chunk = masks[start:start + batch_size]
        batch = base.repeat(len(chunk), 1)
        rows = torch.tensor([r for r, m in enumerate(chunk) for _ in m], device=base.device)
        cols = torch.tensor([p for m in chunk for p in m], device=base.device)
        batch[rows, cols] = mask_id
        hidden = encoder(batch)
        out.append(hidden[torch.arange(len(chunk), device=base.device),
                          torch.tensor(read[start:start + batch_size], device=base.device)])
    return torch.cat(out)


@torch.no_grad()
def impact_matrix(encoder: Encoder, ids: torch.Tensor, *, mask_id: int, offset: int = 1,
                  limit: int | None = None, batch_size: int = 512) -> torch.Tensor:
    """``F[i, j] = f(x_i, x_j)`` for the characters of ``ids`` (a framed sentence: the characters
    start at position ``offset``, after a [CLS]-like token, and end one before the last),
    ``F[i, i] = 0``; ``encoder`` maps ``[B, L]`` ids to hidden states ``[B, L, D]``."""
    ids = _check_ids(ids, limit)
    T = len(ids) - offset - 1
    singles = [(offset + i,) for i in range(T)]
    pairs = [(offset + i, offset + j) for i in range(T) for j in range(T) if i != j]
    alone = _masked_states(encoder, ids, singles, [offset + i for i in range(T)], mask_id,
                           batch_size)
    both = _masked_states(encoder, ids, pairs, [p[0] for p in pairs], mask_id, batch_size)
    F = torch.zeros(T, T, dtype=alone.dtype, device=alone.device)
    i = torch.tensor([p[0] - offset for p in pairs])
    j = torch.tensor([p[1] - offset for p in pairs])
    F[i, j] = (alone[i] - both).norm(dim=1)
    return F


@torch.no_grad()
def adjacent_impact(encoder: Encoder, ids: torch.Tensor, *, mask_id: int, offset: int = 1,
                    limit: int | None = None, batch_size: int = 512) -> torch.Tensor:
    """``(f(x_i, x_{i+1}) + f(x_{i+1}, x_i)) / 2`` for ``i = 1 … T−1``: the post's score between
    neighbours, from ``3T − 2`` forward passes instead of the ``T²`` of the whole matrix."""
    ids = _check_ids(ids, limit)
    T = len(ids) - offset - 1
    singles = [(offset + i,) for i in range(T)]
    pairs = [(offset + i, offset + i + 1) for i in range(T - 1)] + \
            [(offset + i + 1, offset + i) for i in range(T - 1)]
    alone = _masked_states(encoder, ids, singles, [offset + i for i in range(T)], mask_id,
                           batch_size)
    both = _masked_states(encoder, ids, pairs, [p[0] for p in pairs], mask_id, batch_size)
    forward = (alone[:T - 1] - both[:T - 1]).norm(dim=1)
    backward = (alone[1:] - both[T - 1:]).norm(dim=1)
    return (forward + backward) / 2


def cut(text: str, scores: Sequence[float], threshold: float) -> list[str]:
    """``text`` cut between characters ``i`` and ``i + 1`` wherever ``scores[i] < threshold``."""
    if len(scores) != len(text) - 1:
        raise ValueError(f"a text of {len(text)} characters needs {len(text) - 1} scores between "
                         f"neighbours, got {len(scores)}")
    words, start = [], 0
    for i, score in enumerate(scores):
        if float(score) < threshold:
            words.append(text[start:i + 1])
            start = i + 1
    return words + [text[start:]]


def boundaries(words: Iterable[str]) -> set[int]:
    """The positions (characters before the cut) where a word ends, the sentence's end excluded."""
    ends, position = set(), 0
    for word in words:
        if not word:
            raise ValueError("a segmentation holds an empty word")
        position += len(word)
        ends.add(position)
    ends.discard(position)
    return ends


def boundary_scores(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> dict:
    """Micro-averaged word-boundary precision, recall and F1 of ``predicted`` against ``gold``
    segmentations of the same sentences."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted and {len(gold)} gold segmentations")
    hits = found = true = 0
    for k, (p, g) in enumerate(zip(predicted, gold)):
        if "".join(p) != "".join(g):
            raise ValueError(f"sentence {k}: the segmentations are of different texts")
        bp, bg = boundaries(p), boundaries(g)
        hits, found, true = hits + len(bp & bg), found + len(bp), true + len(bg)
    precision = hits / found if found else 0.0
    recall = hits / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def best_threshold(texts: Sequence[str], scores: Sequence[Sequence[float]],
                   gold: Sequence[Sequence[str]], candidates: Iterable[float]) -> tuple[float, float]:
    """``(threshold, F1)``: the candidate threshold of largest boundary F1 on these sentences
    (the validation set's; the smallest such threshold where several tie)."""
    best = None
    for t in sorted(candidates):
        f1 = boundary_scores([cut(x, s, t) for x, s in zip(texts, scores)], gold)["f1"]
        if best is None or f1 > best[1]:
            best = (t, f1)
    if best is None:
        raise ValueError("no candidate thresholds")
    return best


class BigramStatistics:
    """Character and neighbouring-pair counts of unlabelled texts, for the pointwise mutual
    information ``log p(ab) / (p(a) p(b))`` of neighbours (add-one smoothed)."""

    def __init__(self, texts: Iterable[str]):
        self.chars, self.pairs = Counter(), Counter()
        for text in texts:
            self.chars.update(text)
            self.pairs.update(a + b for a, b in zip(text, text[1:]))
        self.n_chars, self.n_pairs = sum(self.chars.values()), sum(self.pairs.values())
        if not self.n_pairs:
            raise ValueError("the texts hold no pair of neighbouring characters")

    def pmi(self, text: str) -> list[float]:
        """The PMI of each neighbouring pair of ``text``."""
        v = len(self.chars) + 1
        p = lambda c: (self.chars[c] + 1) / (self.n_chars + v)
        return [math.log((self.pairs[a + b] + 1) / (self.n_pairs + v * v)) - math.log(p(a) * p(b))
                for a, b in zip(text, text[1:])]


def split_tree(F: torch.Tensor, lo: int = 0, hi: int | None = None):
    """The post's unsupervised tree of ``[lo, hi)`` from an impact matrix: split at the ``k``
    maximising mean(F within [lo, k)) + mean(F within [k, hi)) − the two means across, and
    recurse; a single position is a leaf (its index), a span a tuple of its two parts."""
    hi = len(F) if hi is None else hi
    if hi - lo == 1:
        return lo
    best, where = -math.inf, lo + 1
    for k in range(lo + 1, hi):
        left, right = F[lo:k, lo:k], F[k:hi, k:hi]
        score = (left.mean() if k - lo > 1 else 0) + (right.mean() if hi - k > 1 else 0) \
            - F[lo:k, k:hi].mean() - F[k:hi, lo:k].mean()
        if float(score) > best:
            best, where = float(score), k
    return (split_tree(F, lo, where), split_tree(F, where, hi))


def jieba_words(text: str) -> list[str]:
    """``jieba.lcut(text)``: jieba's segmentation with its own dictionary (an upper reference, not
    an unsupervised peer), its log messages silenced."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text)
