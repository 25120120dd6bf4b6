"""Reading comprehension as seq2seq, the data and scoring side (post 7115): a cloze-style question
set built from the People's Daily, an extractive baseline, and the SogouQA scores.

**Why a cloze set.** The post's task (WebQA and SogouQA) gives a question, several passages found
for it and an answer that is a span of a passage; the model reads question and passages and
writes the answer. Neither set can be had offline, so this module makes the same shape from the
People's Daily of January 1998, whose words carry part-of-speech tags with the named entities
marked (``nr`` person, ``ns`` place, ``nt`` organisation). A question is a clause of one sentence
with one entity replaced by :data:`BLANK`; the answer is that entity; the passages are clauses of
the neighbouring sentences (the corpus has no article ids, so the surrounding article is a window
of sentences in corpus order): at least one holds the answer, the others are distractors, as
search results would be.

**Baseline.** Answer with the entity of the asked type that the passages mention most
(:func:`frequent_entity`): it needs no model and shows how much the set rewards mere frequency.

**Scores.** As the SogouQA evaluation: exact match (accuracy), the F1 of the answer's characters
taken as a bag, and their mean (the "final" score).

Serves chapters/part6-sequences/reading-comprehension.ipynb.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from numbers import Integral
from typing import NamedTuple, Sequence

from ..checks import positive_int
from .pretraining import split_to_fit

__all__ = ["ENTITY_TAGS", "BLANK", "Entity", "entities", "ClozeItem", "cloze_question", "build_cloze",
           "frequent_entity", "char_f1", "exact", "score"]

#: The corpus's named-entity tags and what they name.
ENTITY_TAGS = {"nr": "person", "ns": "place", "nt": "organisation"}
#: The placeholder that stands in a question where the answer was removed.
BLANK = "＿"

Sentence = Sequence[tuple[str, str]]


class Entity(NamedTuple):
    """A named entity of a sentence: its text, tag, and ``[start, end)`` character offsets in the
    sentence's joined text."""
    text: str
    tag: str
    start: int
    end: int


def _check_sentence(sentence, name: str = "sentence") -> list[tuple[str, str]]:
    """``sentence`` as a list of ``(word, tag)`` pairs of non-empty strings."""
    if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
        raise ValueError(f"{name} must be a list of (word, tag) pairs, got {type(sentence).__name__}")
    for k, token in enumerate(sentence):
        if (not isinstance(token, (tuple, list)) or len(token) != 2
                or not all(isinstance(x, str) and x for x in token)):
            raise ValueError(f"{name}[{k}] must be a (word, tag) pair of non-empty strings, "
                             f"got {token!r}")
    return [tuple(token) for token in sentence]


def _check_tags(tags) -> tuple[str, ...]:
    """``tags`` (one tag or several) as a tuple of known entity tags."""
    if isinstance(tags, str):
        tags = (tags,)
    try:
        tags = tuple(tags)
    except TypeError:
        raise ValueError(f"tags must be a tag or a sequence of tags, got {tags!r}") from None
    if not tags:
        raise ValueError(f"tags must name at least one entity tag of {', '.join(ENTITY_TAGS)}")
    for tag in tags:
        if not isinstance(tag, str) or tag not in ENTITY_TAGS:
            raise ValueError(f"unknown entity tag {tag!r}; the known ones are "
                             f"{', '.join(f'{t} ({n})' for t, n in ENTITY_TAGS.items())}")
    return tags


def _text(sentence: Sentence) -> str:
    return "".join(word for word, _ in sentence)


def entities(sentence: Sentence, tags=tuple(ENTITY_TAGS)) -> list[Entity]:
    """The entities of ``sentence`` whose tag is in ``tags``, in order. Consecutive ``nr`` words
    form one person (the corpus splits a Chinese name into surname and given name); every ``ns``
    or ``nt`` word is an entity of its own."""
    sentence = _check_sentence(sentence)
    tags = _check_tags(tags)
    found: list[Entity] = []
    position = 0
    joining = False  # whether the last word was an nr word, so a following one extends it
    for word, tag in sentence:
        end = position + len(word)
        if tag == "nr" and joining and "nr" in tags:
            last = found[-1]
            found[-1] = Entity(last.text + word, "nr", last.start, end)
        elif tag in tags:
            found.append(Entity(word, tag, position, end))
        joining = tag == "nr"
        position = end
    return found


@dataclass(frozen=True)
class ClozeItem:
    """One question: ``question`` holds exactly one :data:`BLANK` where ``answer`` (an entity of
    type ``tag``) was; ``passages`` are the texts to read; ``candidates[k]`` lists the entity texts
    of type ``tag`` in ``passages[k]``, in order, repeats kept."""
    question: str
    passages: tuple[str, ...]
    answer: str
    tag: str
    candidates: tuple[tuple[str, ...], ...]

    def __post_init__(self):
        if not isinstance(self.question, str):
            raise ValueError(f"question must be a str, got {type(self.question).__name__}")
        blanks = self.question.count(BLANK)
        if blanks != 1:
            raise ValueError(f"a question must hold exactly one blank {BLANK!r}, got {blanks} in "
                             f"{self.question!r}")
        if not self.question.replace(BLANK, "").strip():
            raise ValueError(f"an empty question: {self.question!r} is nothing but the blank")
        _check_tags((self.tag,))
        if isinstance(self.passages, str) or not isinstance(self.passages, Sequence):
            raise ValueError(f"passages must be a sequence of str, got {type(self.passages).__name__}")
        passages = tuple(self.passages)
        if not passages:
            raise ValueError("an item needs at least one passage, got none")
        if not all(isinstance(p, str) and p for p in passages):
            raise ValueError("every passage must be a non-empty str")
        if not isinstance(self.answer, str) or not self.answer:
            raise ValueError(f"answer must be a non-empty str, got {self.answer!r}")
        if isinstance(self.candidates, str) or not isinstance(self.candidates, Sequence):
            raise ValueError("candidates must be a sequence with one sequence of entity texts per passage")
        candidates = tuple(tuple(c) for c in self.candidates)
        if len(candidates) != len(passages):
            raise ValueError(f"candidates must have one entry per passage: {len(passages)} passages, "
                             f"{len(candidates)} candidate lists")
        if not all(isinstance(c, str) and c for cs in candidates for c in cs):
            raise ValueError("every candidate must be a non-empty str")
        object.__setattr__(self, "passages", passages)
        object.__setattr__(self, "candidates", candidates)


def _pieces(text: str, limit: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` spans of ``split_to_fit(text, limit)`` in ``text``."""
    spans, start = [], 0
    for piece in split_to_fit(text, limit):
        spans.append((start, start + len(piece)))
        start += len(piece)
    assert start == len(text), "split_to_fit must cover the text"
    return spans


def _occurs_elsewhere(piece: str, word: str, at: int) -> bool:
    """Whether ``word`` occurs in ``piece`` at a position other than ``at`` (overlaps count)."""
    k = piece.find(word)
    while k != -1:
        if k != at:
            return True
        k = piece.find(word, k + 1)
    return False


def _question(text: str, spans: list[tuple[int, int]], entity: Entity, limit: int) -> tuple[str, str]:
    """``(question, piece)`` for ``entity`` of a sentence of ``text`` cut into ``spans``."""
    for lo, hi in spans:
        if lo <= entity.start and entity.end <= hi:
            break
    else:
        raise ValueError(f"the entity {entity.text!r} at [{entity.start}, {entity.end}) does not fit "
                         f"inside one piece of at most {limit} characters")
    piece = text[lo:hi]
    if BLANK in piece:
        raise ValueError(f"the piece {piece!r} already holds the blank character {BLANK!r}")
    at = entity.start - lo
    if _occurs_elsewhere(piece, entity.text, at):
        raise ValueError(f"the entity {entity.text!r} occurs elsewhere in its piece {piece!r}: the "
                         f"question would give its answer away")
    question = piece[:at] + BLANK + piece[at + len(entity.text):]
    if not any(ch.isalnum() for ch in question):
        raise ValueError(f"the piece {piece!r} is nothing but the entity {entity.text!r} and "
                         f"punctuation: an empty question")
    return question, piece


def cloze_question(sentence: Sentence, entity: Entity, limit: int) -> str:
    """The piece of ``sentence``'s text (``split_to_fit(text, limit)``) that holds ``entity``,
    with the entity replaced by :data:`BLANK`. ValueError where the entity is not at its offsets,
    does not fit inside one piece, occurs elsewhere in the piece (the question would give its
    answer away), or leaves nothing but punctuation around the blank."""
    sentence = _check_sentence(sentence)
    limit = positive_int(limit, "limit")
    if not isinstance(entity, Entity):
        raise ValueError(f"entity must be an Entity, got {type(entity).__name__}")
    text = _text(sentence)
    if not (0 <= entity.start < entity.end <= len(text)) or text[entity.start:entity.end] != entity.text:
        raise ValueError(f"the entity {entity.text!r} is not at [{entity.start}, {entity.end}) of the "
                         f"sentence {text!r}")
    return _question(text, _pieces(text, limit), entity, limit)[0]


def build_cloze(sentences: Sequence[Sentence], *, tags=("nr", "ns", "nt"), window: int = 6,
                max_passages: int = 3, passage_chars: int = 28, question_chars: int = 26,
                min_chars: int = 2, max_chars: int = 6, seed: int = 0) -> list[ClozeItem]:
    """At most one question per sentence, in corpus order, deterministic under ``seed`` (one
    ``random.Random(seed)`` for the whole call).

    The pool of a sentence is the pieces (``split_to_fit(text, passage_chars)``, each text once)
    of the sentences within ``window`` before and after it, leaving out the sentence itself, any
    sentence of the same text (the newspaper repeats some), any piece equal to the question's own
    piece and any piece of punctuation alone (``split_to_fit`` can leave a lone "。"). An entity
    of ``tags`` with ``min_chars <= len <= max_chars`` characters can be asked when its question
    can be made (:func:`cloze_question` with ``question_chars``) and some piece of the pool
    contains its text; one such entity is drawn at random. Its passages: up to
    ``max(1, max_passages - 1)`` answer-bearing pieces drawn at random, then pieces without the
    answer (distractors, drawn at random) up to ``max_passages`` where the pool has them, in
    shuffled order. A passage's candidates are the sentence's entities of the answer's type that
    lie wholly inside the piece (an entity cut by a piece boundary is none)."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise ValueError(f"sentences must be a list of sentences, got {type(sentences).__name__}")
    tags = _check_tags(tags)
    window = positive_int(window, "window")
    max_passages = positive_int(max_passages, "max_passages")
    passage_chars = positive_int(passage_chars, "passage_chars")
    question_chars = positive_int(question_chars, "question_chars")
    min_chars = positive_int(min_chars, "min_chars")
    max_chars = positive_int(max_chars, "max_chars")
    if min_chars > max_chars:
        raise ValueError(f"min_chars must be <= max_chars, got {min_chars} > {max_chars}")
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise ValueError(f"seed must be an int, got {seed!r}")
    sentences = [_check_sentence(s, f"sentences[{i}]") for i, s in enumerate(sentences)]
    texts = [_text(s) for s in sentences]
    found = [entities(s, tags) for s in sentences]
    # Each sentence's passage pieces, with the entities of each tag wholly inside each piece.
    pieces: list[list[tuple[str, dict[str, tuple[str, ...]]]]] = []
    for text, ents in zip(texts, found):
        cut = []
        for lo, hi in _pieces(text, passage_chars):
            inside = {tag: tuple(e.text for e in ents if e.tag == tag and lo <= e.start and e.end <= hi)
                      for tag in tags}
            cut.append((text[lo:hi], inside))
        pieces.append(cut)
    rng = random.Random(seed)
    items = []
    for i, (text, ents) in enumerate(zip(texts, found)):
        ents = [e for e in ents if min_chars <= len(e.text) <= max_chars]
        if not ents:
            continue
        pool: dict[str, dict[str, tuple[str, ...]]] = {}
        for j in range(max(0, i - window), min(len(sentences), i + window + 1)):
            if j != i and texts[j] != text:
                for piece, inside in pieces[j]:
                    if any(ch.isalnum() for ch in piece):
                        pool.setdefault(piece, inside)
        spans = _pieces(text, question_chars)
        askable = []
        for entity in ents:
            try:
                question, own = _question(text, spans, entity, question_chars)
            except ValueError:
                continue
            bearing = [p for p in pool if entity.text in p and p != own]
            if bearing:
                askable.append((entity, question, own, bearing))
        if not askable:
            continue
        entity, question, own, bearing = rng.choice(askable)
        chosen = rng.sample(bearing, min(len(bearing), max(1, max_passages - 1)))
        others = [p for p in pool if entity.text not in p and p != own]
        chosen += rng.sample(others, min(len(others), max_passages - len(chosen)))
        rng.shuffle(chosen)
        items.append(ClozeItem(question=question, passages=tuple(chosen), answer=entity.text,
                               tag=entity.tag, candidates=tuple(pool[p][entity.tag] for p in chosen)))
    return items


def frequent_entity(item: ClozeItem) -> str:
    """The extractive baseline: the entity of ``item.tag`` that the passages' candidates name most
    often, ties broken by the earliest first occurrence (passage order, then position)."""
    if not isinstance(item, ClozeItem):
        raise ValueError(f"item must be a ClozeItem, got {type(item).__name__}")
    counts: Counter[str] = Counter()
    for candidates in item.candidates:
        counts.update(candidates)  # a Counter keeps first-insertion order
    if not counts:
        raise ValueError(f"no passage holds a {ENTITY_TAGS[item.tag]} ({item.tag}) entity")
    return max(counts, key=counts.__getitem__)  # max keeps the first of equal counts


def _check_answer(value, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    return value


def char_f1(prediction: str, gold: str) -> float:
    """The F1 of ``prediction``'s characters against ``gold``'s, each taken as a bag (the SogouQA
    evaluation): overlap = the characters in common counted with multiplicity, precision =
    overlap / len(prediction), recall = overlap / len(gold); 0 without overlap, 1 when both are
    empty."""
    prediction = _check_answer(prediction, "prediction")
    gold = _check_answer(gold, "gold")
    if not prediction and not gold:
        return 1.0
    overlap = sum((Counter(prediction) & Counter(gold)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(prediction), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact(prediction: str, gold: str) -> float:
    """1.0 where ``prediction`` equals ``gold``, else 0.0."""
    return float(_check_answer(prediction, "prediction") == _check_answer(gold, "gold"))


def score(predictions: Sequence[str], golds: Sequence[str]) -> dict:
    """``{accuracy, f1, final, questions}``: the mean exact match, the mean :func:`char_f1`, their
    mean (the SogouQA final score) and the number of questions."""
    for name, values in (("predictions", predictions), ("golds", golds)):
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise ValueError(f"{name} must be a sequence of str, got {type(values).__name__}")
    if len(predictions) != len(golds):
        raise ValueError(f"predictions and golds differ in length: {len(predictions)} against "
                         f"{len(golds)}")
    if not golds:
        raise ValueError("nothing to score: predictions and golds are empty")
    n = len(golds)
    accuracy = sum(exact(p, g) for p, g in zip(predictions, golds)) / n
    f1 = sum(char_f1(p, g) for p, g in zip(predictions, golds)) / n
    return dict(accuracy=accuracy, f1=f1, final=(accuracy + f1) / 2, questions=n)
