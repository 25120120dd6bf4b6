"""Reading comprehension as seq2seq (post 7115): the book's BERT, under the UniLM mask, reads a
passage and a question and writes the answer; several passages vote on it character by
character.

**Input.** ``[CLS] passage [SEP] question [SEP]`` is the source (segment 0; the question's
:data:`~kexue.sequences.cloze.BLANK` becomes ``[MASK]``) and ``answer [SEP]`` the target
(segment 1). A passage that does not hold the answer is trained to answer ``[SEP]`` at once:
"no answer here".

**Voting across passages** (the post's decoding). Each passage is read with the question on its
own. A passage whose most probable first character is ``[SEP]`` says it holds no answer and is
left out; at every later step the next-character distributions of the remaining passages, each
given the same answer prefix, are averaged, and beam search runs on the average. Where every
passage is left out the answer is empty.

**Constrained decoding.** In extractive mode the answer must be a span of a remaining passage:
after a prefix ``y`` only the characters that follow an occurrence of ``y`` in some passage are
allowed, and ``[SEP]`` once ``y`` is non-empty; the average is renormalised over them. In
generative mode any character may follow.

Serves chapters/part6-sequences/reading-comprehension.ipynb.
"""
from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from .. import runtime
from ..checks import positive_int
from ..text.vocab import CharVocab, pad_batch
from . import decoding
from .bert import CharBert
from .cloze import BLANK, ClozeItem
from .pretraining import PretrainedBert, cut_to_longest, fit_with_warmup

__all__ = ["MODES", "encode_source", "training_pairs", "batch", "seq2seq_loss", "fine_tune_reader",
           "allowed_next", "answer_questions"]

#: The decoding modes: the answer a span of a passage, or free.
MODES = ("extractive", "generative")


def encode_source(vocab: CharVocab, mask_id: int, passage: str, question: str, limit: int) -> list[int]:
    """``[CLS] passage [SEP] question [SEP]`` as ids, the question's blank as ``[MASK]``; a source
    that leaves no room under ``limit`` positions for an answer is an error."""
    if not passage.strip():
        raise ValueError("an empty passage")
    if not question.replace(BLANK, "").strip():
        raise ValueError("an empty question: it needs words around its blank")
    ids = vocab.encode(passage, bos=True, eos=True)
    ids += [mask_id if c == BLANK else i for c, i in zip(question, vocab.encode(question))]
    ids.append(vocab.eos_id)
    if len(ids) >= limit:
        raise ValueError(f"passage and question take {len(ids)} positions, the model reads at most "
                         f"{limit} (with the answer): cut them shorter")
    return ids


def training_pairs(items: list[ClozeItem]) -> list[tuple[str, str, str]]:
    """``(passage, question, answer)`` for every passage of every item; the answer is empty
    where the passage does not hold it."""
    return [(p, item.question, item.answer if item.answer in p else "")
            for item in items for p in item.passages]


def batch(vocab: CharVocab, mask_id: int, pairs: list[tuple[str, str, str]], limit: int, device=None
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tokens, segments, labels)`` ``[N, T]``: source then ``answer [SEP]``, padded; ``labels``
    holds at each position the next token where that is a target token, else -100."""
    rows, segs, labs = [], [], []
    for passage, question, answer in pairs:
        source = encode_source(vocab, mask_id, passage, question, limit)
        target = (vocab.encode(answer) if answer else []) + [vocab.eos_id]
        if len(source) + len(target) > limit:
            raise ValueError(f"the answer {answer!r} runs past the model's {limit} positions")
        rows.append(source + target)
        segs.append([0] * len(source) + [1] * len(target))
        labs.append([-100] * (len(source) - 1) + target + [-100])
    return tuple(pad_batch(r, pad_id=v, device=device)[0]
                 for r, v in ((rows, vocab.pad_id), (segs, 0), (labs, -100)))


def seq2seq_loss(model: CharBert, tokens: torch.Tensor, segments: torch.Tensor, labels: torch.Tensor):
    """Cross-entropy of the answer tokens (and their ``[SEP]``) given the source and the answer so
    far, through the UniLM mask: a loss function for :mod:`kexue.train`."""
    tokens, segments, labels = cut_to_longest(tokens, model.pad_id, segments, labels)
    picked = labels != -100
    logits = model.mlm_logits(model(tokens, segments, kind="unilm")[picked])
    targets = labels[picked]
    return F.cross_entropy(logits, targets), {"acc": (logits.argmax(1) == targets).float().mean()}


def fine_tune_reader(bert: PretrainedBert, items: list[ClozeItem], *, steps: int, batch_size: int,
                     lr: float, warmup: int, seed: int) -> CharBert:
    """A copy of ``bert``'s model fine-tuned as the reader on every passage of ``items``; Adam
    with linear warm-up (:func:`~kexue.sequences.pretraining.fit_with_warmup`)."""
    runtime.seed_everything(seed)
    dev = runtime.device()
    model = copy.deepcopy(bert.model).to(dev).train()
    data = batch(bert.vocab, bert.mask_id, training_pairs(items), model.max_length, dev)
    fit_with_warmup(model, seq2seq_loss, data, steps=steps, batch_size=batch_size, lr=lr,
                    warmup=warmup, seed=seed, description="reading comprehension (UniLM seq2seq)")
    return model.eval()


def allowed_next(passages: list[list[int]], prefix: list[int], eos: int) -> set[int]:
    """The ids that keep ``prefix`` a span of one of ``passages`` (id lists): every id that
    follows an occurrence of ``prefix``, and ``eos`` where ``prefix`` is a non-empty span."""
    allowed, n = set(), len(prefix)
    for p in passages:
        for s in range(len(p) - n + 1):
            if p[s:s + n] == prefix:
                if s + n < len(p):
                    allowed.add(p[s + n])
                if n:
                    allowed.add(eos)
    return allowed


@torch.no_grad()
def _next_probs(model: CharBert, sources: list[list[int]], prefixes: list[list[int]]) -> torch.Tensor:
    """``[N, V]`` next-token probabilities after ``source + prefix`` (the prefix as target)."""
    dev = model.tokens.weight.device
    rows = [s + p for s, p in zip(sources, prefixes)]
    tokens = pad_batch(rows, pad_id=model.pad_id, device=dev)[0]
    segments = pad_batch([[0] * len(s) + [1] * len(p) for s, p in zip(sources, prefixes)],
                         pad_id=1, device=dev)[0]  # the prefix and its padding: target
    last = torch.tensor([len(r) - 1 for r in rows], device=dev)
    hidden = model(tokens, segments, kind="unilm")[torch.arange(len(rows), device=dev), last]
    return model.mlm_logits(hidden).float().softmax(-1)


@torch.no_grad()
def answer_questions(model: CharBert, vocab: CharVocab, items: list[ClozeItem], *, mode: str = "extractive",
                     beam_width: int = 3, max_answer: int = 8) -> list[str]:
    """The answer to each item by the post's voting beam search (module docstring), in ``mode``
    (:data:`MODES`): ``beam_width`` hypotheses, answers of at most ``max_answer`` characters."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    model.eval()
    limit = model.max_length - positive_int(max_answer, "max_answer") - 1
    never = [vocab.pad_id, vocab.unk_id, vocab.bos_id, model.mask_id]
    sources = [[encode_source(vocab, model.mask_id, p, item.question, limit) for p in item.passages]
               for item in items]
    flat = [s for group in sources for s in group]
    first = _next_probs(model, flat, [[]] * len(flat)).argmax(1).tolist()
    kept, k = [], 0  # per item, the passages (indices) that say they hold an answer
    for group in sources:
        kept.append([j for j in range(len(group)) if first[k + j] != vocab.eos_id])
        k += len(group)
    asked = [i for i, group in enumerate(kept) if group]
    answers = [""] * len(items)
    if not asked:
        return answers
    texts = [[vocab.encode(items[i].passages[j]) for j in kept[i]] for i in asked]

    def step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        so_far = [p[1:] for p in prefix.tolist()]
        rows = rows.tolist()
        pairs = [(b, sources[asked[r]][j], so_far[b]) for b, r in enumerate(rows)
                 for j in kept[asked[r]]]
        probs = _next_probs(model, [s for _, s, _ in pairs], [a for _, _, a in pairs])
        owner = torch.tensor([b for b, _, _ in pairs], device=probs.device)
        mean = probs.new_zeros(len(rows), probs.shape[1]).index_add_(0, owner, probs)
        mean /= torch.bincount(owner, minlength=len(rows))[:, None]
        mean[:, never] = 0
        if mode == "extractive":
            allowed = torch.zeros_like(mean, dtype=torch.bool)
            for b, r in enumerate(rows):
                allowed[b, list(allowed_next(texts[r], so_far[b], vocab.eos_id) or {vocab.eos_id})] = True
            mean = mean.masked_fill(~allowed, 0)
        return mean.log()  # -inf where a token is ruled out

    found = decoding.beam_search(step, len(asked), bos=vocab.bos_id, eos=vocab.eos_id,
                                 max_length=max_answer + 1, beam_width=beam_width,
                                 device=model.tokens.weight.device)
    for i, tokens in zip(asked, found.tokens):
        answers[i] = vocab.decode(tokens)
    return answers
