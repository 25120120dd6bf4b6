"""A character vocabulary and tokeniser for Chinese text, and padded batches with masks.

Chinese needs no word segmentation for the models of Parts VI and VII: every character is a token.
Four ids are reserved, in this order: padding (0), the unknown character (1), begin (2) and end (3)
of sequence. A character the vocabulary has not seen encodes to the unknown id (a documented
fallback, counted by :meth:`CharVocab.unknown_share`), so decoding an encoded string gives the
string back exactly when all its characters are known.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import torch

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
RESERVED = (PAD, UNK, BOS, EOS)


def _text(text, name: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError(f"{name} is an empty string: there is nothing to encode")
    return text


class CharVocab:
    """Characters <-> ids: ``RESERVED`` first, then ``chars`` in the order given."""

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"every vocabulary entry must be one character, got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            dupes = sorted(c for c, n in Counter(chars).items() if n > 1)
            raise ValueError(f"duplicate characters in the vocabulary: {dupes[:10]!r}")
        self.tokens = list(RESERVED) + chars
        self._ids = {c: i for i, c in enumerate(self.tokens)}
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = range(len(RESERVED))

    @classmethod
    def build(cls, texts: Iterable[str], *, min_count: int = 1, max_size: int | None = None
              ) -> "CharVocab":
        """The characters of ``texts`` seen at least ``min_count`` times, most frequent first
        (ties in code-point order), at most ``max_size`` of them (reserved ids not counted)."""
        from ..checks import positive_int

        min_count = positive_int(min_count, "min_count")
        counts = Counter()
        for i, text in enumerate(texts):
            counts.update(_text(text, f"texts[{i}]"))
        if not counts:
            raise ValueError("texts is empty: a vocabulary needs at least one string")
        ranked = sorted((c for c, n in counts.items() if n >= min_count),
                        key=lambda c: (-counts[c], c))
        if max_size is not None:
            ranked = ranked[:positive_int(max_size, "max_size")]
        return cls(ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, char: str) -> bool:
        return char in self._ids and char not in RESERVED

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """The ids of ``text``'s characters (unknown ones -> ``unk_id``), with BOS/EOS if asked."""
        ids = [self._ids.get(c, self.unk_id) for c in _text(text)]
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: Iterable[int], *, stop_at_eos: bool = True) -> str:
        """The string of ``ids``: padding and BOS dropped, unknown ids shown as ``□``, cut at the
        first EOS (``stop_at_eos``) or with EOS dropped."""
        out = []
        for i in (int(i) for i in ids):
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary of {len(self.tokens)} tokens")
            if i == self.eos_id and stop_at_eos:
                break
            if i >= len(RESERVED):
                out.append(self.tokens[i])
            elif i == self.unk_id:
                out.append("□")
        return "".join(out)

    def unknown_share(self, texts: Iterable[str]) -> float:
        """The share of the characters of ``texts`` that encode to the unknown id."""
        total = unknown = 0
        for text in texts:
            total += len(text)
            unknown += sum(c not in self for c in text)
        if total == 0:
            raise ValueError("texts holds no characters")
        return unknown / total


def pad_batch(sequences: Sequence[Sequence[int]], *, pad_id: int,
              device: torch.device | str | None = None, max_length: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, mask)``: ``[B, T]`` int64 ids padded with ``pad_id`` to the longest sequence,
    and a bool mask that is True on real tokens, both built on ``device``. A sequence longer than
    ``max_length`` is an error, not silently cut."""
    if len(sequences) == 0:
        raise ValueError("sequences is empty: a batch needs at least one sequence")
    lengths = [len(s) for s in sequences]
    if min(lengths) == 0:
        raise ValueError(f"sequence {lengths.index(0)} is empty")
    if max_length is not None and max(lengths) > max_length:
        i = max(range(len(lengths)), key=lengths.__getitem__)
        raise ValueError(f"sequence {i} has {lengths[i]} tokens, more than max_length={max_length}")
    longest = max(lengths)
    tokens = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tokens[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    tokens = tokens.to(device or "cpu")
    mask = torch.arange(longest, device=tokens.device) < torch.tensor(lengths, device=tokens.device)[:, None]
    return tokens, mask
