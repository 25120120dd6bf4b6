"""Reading comprehension as seq2seq (post 7115): the input layout, the targets the loss reads, the
span constraint, and the voting beam search checked against an exhaustive search over every span;
bad input named."""
import copy
import itertools

import pytest
import torch

from kexue.sequences import pretraining as P
from kexue.sequences import reading as R
from kexue.sequences.cloze import BLANK, ClozeItem
from kexue.sequences.pretraining import BERT


@pytest.fixture(scope="module")
def bert():
    return P.pretrained(BERT["quick"])


def item(passages, question=f"{BLANK}在北京会见了客人。", answer="李鹏"):
    return ClozeItem(question=question, passages=tuple(passages), answer=answer, tag="nr",
                     candidates=tuple(() for _ in passages))


def test_the_source_layout_and_its_limit(bert):
    v = bert.vocab
    ids = R.encode_source(v, bert.mask_id, "李鹏说", f"{BLANK}说", 64)
    assert ids == [v.bos_id, *v.encode("李鹏说"), v.eos_id, bert.mask_id, *v.encode("说"), v.eos_id]
    with pytest.raises(ValueError, match="empty question"):
        R.encode_source(v, bert.mask_id, "李鹏说", f" {BLANK}", 64)
    with pytest.raises(ValueError, match="empty passage"):
        R.encode_source(v, bert.mask_id, "  ", f"{BLANK}说", 64)
    with pytest.raises(ValueError, match="reads at most 12"):
        R.encode_source(v, bert.mask_id, "李鹏在北京会见了客人", f"{BLANK}说", 12)


def test_passages_without_the_answer_are_taught_to_answer_nothing(bert):
    pairs = R.training_pairs([item(["李鹏在北京会见客人", "天气很好"])])
    assert [a for _, _, a in pairs] == ["李鹏", ""]
    tokens, segments, labels = R.batch(bert.vocab, bert.mask_id, pairs, 64)
    v = bert.vocab
    for row, answer in enumerate(["李鹏", ""]):
        target = v.encode(answer) + [v.eos_id] if answer else [v.eos_id]
        picked = labels[row] != -100
        assert labels[row][picked].tolist() == target
        # each label sits one position before the token it names, and those tokens are segment 1
        at = picked.nonzero().squeeze(1)
        assert tokens[row, at + 1].tolist() == target and segments[row, at + 1].eq(1).all()
        assert segments[row, :at[0] + 1].eq(0).all()


def test_the_loss_never_reads_later_answer_characters(bert):
    pairs = [("李鹏在北京会见客人", f"{BLANK}会见客人", "李鹏")]
    tokens, segments, labels = R.batch(bert.vocab, bert.mask_id, pairs, 64)
    model = bert.model.eval()
    changed = tokens.clone()
    last = int((labels[0] != -100).nonzero()[-1])
    changed[0, last] = bert.vocab.encode("王")[0]  # the answer's last character
    with torch.no_grad():
        a = model(tokens, segments, kind="unilm")
        b = model(changed, segments, kind="unilm")
    assert torch.allclose(a[0, :last], b[0, :last], atol=1e-6)


def test_allowed_next_keeps_the_answer_a_span():
    passages = [[1, 2, 3, 2, 4], [5, 2, 6]]
    assert R.allowed_next(passages, [], 9) == {1, 2, 3, 4, 5, 6}
    assert R.allowed_next(passages, [2], 9) == {3, 4, 6, 9}
    assert R.allowed_next(passages, [2, 3], 9) == {2, 9}
    assert R.allowed_next(passages, [4], 9) == {9}
    assert R.allowed_next(passages, [7], 9) == set()


def _brute_force(model, vocab, it, kept):
    """The best span by exhaustive search: every span of at most 8 characters of the kept
    passages, scored by the mean log of the averaged, span-renormalised probabilities (EOS
    included), as the beam search scores a finished answer."""
    sources = [R.encode_source(vocab, model.mask_id, it.passages[j], it.question, 64 - 9) for j in kept]
    texts = [vocab.encode(it.passages[j]) for j in kept]
    spans = {tuple(t[s:e]) for t in texts for s, e in itertools.combinations(range(len(t) + 1), 2)
             if e - s <= 8}
    best, best_score = None, -float("inf")
    for span in spans:
        total = 0.0
        for n in range(len(span) + 1):
            prefix = list(span[:n])
            probs = R._next_probs(model, sources, [prefix] * len(sources)).mean(0)
            probs[[vocab.pad_id, vocab.unk_id, vocab.bos_id, model.mask_id]] = 0
            allowed = list(R.allowed_next(texts, prefix, vocab.eos_id))
            q = probs[allowed] / probs[allowed].sum()
            token = span[n] if n < len(span) else vocab.eos_id
            total += float(q[allowed.index(token)].log())
        score = total / (len(span) + 1)
        if score > best_score:
            best, best_score = span, score
    return vocab.decode(list(best))


def _noisy(bert, seed):
    """The quick BERT with its weights jittered: its answers then depend on what it reads (the
    quick BERT's own hardly do)."""
    model = copy.deepcopy(bert.model).eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return model


def _kept(model, vocab, it):
    sources = [R.encode_source(vocab, model.mask_id, p, it.question, 64 - 9) for p in it.passages]
    first = R._next_probs(model, sources, [[]] * len(sources)).argmax(1).tolist()
    return [j for j in range(len(sources)) if first[j] != vocab.eos_id]


def test_the_voting_beam_search_finds_the_best_span(bert):
    it = item(["李鹏在北京", "江泽民说", "天气好"], question=f"{BLANK}会见客人")
    found = []
    for seed in range(6):
        model = _noisy(bert, seed)
        kept = _kept(model, bert.vocab, it)
        assert kept
        (answer,) = R.answer_questions(model, bert.vocab, [it], mode="extractive", beam_width=60)
        assert answer == _brute_force(model, bert.vocab, it, kept)
        found.append(answer)
    assert max(map(len, found)) >= 3  # not only one-character answers
    model = _noisy(bert, 0)
    with torch.no_grad():  # now make some passages say "no answer" first: they are left out
        for shift in torch.linspace(0, 40, 161):
            model.head_bias[bert.vocab.eos_id] = shift
            if 0 < len(kept := _kept(model, bert.vocab, it)) < 3:
                break
    assert 0 < len(kept) < 3
    (answer,) = R.answer_questions(model, bert.vocab, [it], mode="extractive", beam_width=60)
    assert answer == _brute_force(model, bert.vocab, it, kept)
    assert any(answer in it.passages[j] for j in kept)
    with torch.no_grad():
        model.head_bias[bert.vocab.eos_id] = 100.0  # every passage says "no answer"
    assert R.answer_questions(model, bert.vocab, [it]) == [""]


def test_extractive_answers_are_spans_and_modes_are_checked(bert):
    items = [item(["李鹏在北京会见客人", "今天天气很好", "江泽民说"]),
             item(["上海的工厂", "北京的学校"], question=f"他去了{BLANK}。", answer="北京")]
    for a, it in zip(R.answer_questions(bert.model, bert.vocab, items, mode="extractive"), items):
        assert a == "" or any(a in p for p in it.passages)
    free = R.answer_questions(bert.model, bert.vocab, items, mode="generative")
    assert len(free) == 2 and all(isinstance(a, str) for a in free)
    with pytest.raises(ValueError, match="mode must be one of"):
        R.answer_questions(bert.model, bert.vocab, items, mode="abstractive")
    long = item(["李鹏在北京会见了来访的客人" * 4])
    with pytest.raises(ValueError, match="cut them shorter"):
        R.answer_questions(bert.model, bert.vocab, [long])
