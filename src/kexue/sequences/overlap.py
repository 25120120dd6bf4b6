"""How close generated Chinese text is to a reference: character accuracy, BLEU, character ROUGE-L,
and whether a couplet's answer repeats where its first line repeats.

Serves chapters/part6-sequences/couplet-cnn.ipynb and chapters/part6-sequences/seq2seq-titles.ipynb.

BLEU is sacrebleu's corpus BLEU with its Chinese tokeniser (``tokenize="zh"``: every CJK character a
token), 0-100. ROUGE-L on characters is the F-measure of the longest common subsequence ``L`` of a
candidate ``c`` and reference ``r``: precision ``L/|c|``, recall ``L/|r|``, F1 their harmonic mean.
"""
from __future__ import annotations

from typing import Sequence


def _pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    for i, (p, r) in enumerate(zip(predictions, references)):
        if not isinstance(p, str) or not isinstance(r, str):
            raise TypeError(f"pair {i}: predictions and references must be strings")
        if not r:
            raise ValueError(f"reference {i} is an empty string")


def character_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """The share of positions whose character matches, over equal-length pairs."""
    _pairs(predictions, references)
    hits = total = 0
    for i, (p, r) in enumerate(zip(predictions, references)):
        if len(p) != len(r):
            raise ValueError(f"pair {i}: prediction has {len(p)} characters, reference {len(r)}")
        hits += sum(a == b for a, b in zip(p, r))
        total += len(r)
    return hits / total


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) with sacrebleu's Chinese tokeniser, one reference per prediction."""
    import sacrebleu

    _pairs(predictions, references)
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)], tokenize="zh").score)


def longest_common_subsequence(a: str, b: str) -> int:
    """The length of the longest common subsequence of ``a`` and ``b`` (dynamic programming)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean character ROUGE-L F1 over the pairs (0-1); an empty prediction scores 0."""
    _pairs(predictions, references)
    total = 0.0
    for p, r in zip(predictions, references):
        common = longest_common_subsequence(p, r)
        if common:
            precision, recall = common / len(p), common / len(r)
            total += 2 * precision * recall / (precision + recall)
    return total / len(predictions)


def repetition_agreement(sources: Sequence[str], outputs: Sequence[str]) -> tuple[float, int]:
    """Of the position pairs ``i < j`` where a first line repeats a character (``s_i = s_j``),
    the share where the answer repeats too (``o_i = o_j``), and how many such pairs there are
    (the share is nan where there are none)."""
    _pairs(outputs, sources)
    agree = total = 0
    for k, (s, o) in enumerate(zip(sources, outputs)):
        if len(s) != len(o):
            raise ValueError(f"pair {k}: source has {len(s)} characters, output {len(o)}")
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                if s[i] == s[j]:
                    total += 1
                    agree += o[i] == o[j]
    return (agree / total if total else float("nan")), total
