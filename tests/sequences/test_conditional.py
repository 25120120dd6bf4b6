"""Conditional generation with conditional layer normalisation (post 7124): the review split keeps
the test reviews unread, the language model is left-to-right, a conditioned copy starts exactly
where the pretrained model is, the labels steer a fine-tuned model, sampling is reproducible and
never emits special ids, and the judge is checked on its own."""
import pytest
import torch

from kexue.sequences import conditional as C
from kexue.sequences import pretraining as P
from kexue.sequences.bert import conditioned_copy
from kexue.sequences.pretraining import BERT


@pytest.fixture(scope="module")
def bert():
    return P.pretrained(BERT["quick"])


@pytest.fixture(scope="module")
def reviews():
    return C.labelled_reviews(BERT["quick"])


def test_the_test_reviews_are_ones_the_bert_never_read(reviews):
    read, unread = P.review_split(BERT["quick"])
    texts = P.pretraining_texts(BERT["quick"])["train"]
    (train, train_labels), (test, test_labels) = reviews["train"], reviews["test"]
    limit = BERT["quick"]["max_length"] - 2
    assert len(test) > 150 and set(test_labels) == set(train_labels) == {0, 1}
    assert all(0 < len(t) <= limit for t in train + test)
    assert all(any(r.startswith(t) for r in unread) for t in test[:50])
    pretrained_on = set(texts)
    assert sum(t in pretrained_on for t in test) <= 0.02 * len(test)  # repeats across reviews only


def test_the_language_model_is_left_to_right(bert):
    model = bert.model.eval()
    tokens = bert.encode(["这个酒店很好，下次还来。"])
    later = tokens.clone()
    later[0, 6:] = torch.where(later[0, 6:] > 3, later[0, 6:] % 50 + 10, later[0, 6:])
    with torch.no_grad():
        a = model(tokens, torch.ones_like(tokens), kind="unilm")
        b = model(later, torch.ones_like(later), kind="unilm")
    assert torch.allclose(a[0, :6], b[0, :6], atol=1e-6)  # the first six never saw what changed
    assert not torch.allclose(a[0, 6:], b[0, 6:])


def test_a_conditioned_copy_starts_as_the_pretrained_model(bert, reviews):
    texts, labels = reviews["test"]
    tokens, y = bert.encode(texts[:16]), torch.tensor(labels[:16])
    copy = conditioned_copy(bert.model.eval(), 2).eval()
    assert C.review_nll(copy, tokens, y) == C.review_nll(bert.model, tokens)
    assert C.review_nll(copy, tokens, 1 - y) == C.review_nll(bert.model, tokens)
    with pytest.raises(ValueError, match="condition label 2 is not one of"):
        C.review_nll(copy, tokens, torch.full((16,), 2))


@pytest.fixture(scope="module")
def steered(bert):
    """A conditioned model fine-tuned on reviews whose label decides their first character."""
    texts = ["差评，" + "质量不好" * 3] * 64 + ["好评，" + "质量很好" * 3] * 64
    labels = [0] * 64 + [1] * 64
    return C.fine_tune(bert, texts, labels, steps=120, batch_size=32, lr=2e-3, warmup=5, seed=0)


def test_the_label_steers_what_is_sampled(bert, steered):
    samples = C.generate(steered, bert.vocab, [0] * 20 + [1] * 20, seed=0)
    assert sum(s.startswith("差") for s in samples[:20]) >= 18
    assert sum(s.startswith("好") for s in samples[20:]) >= 18
    assert samples == C.generate(steered, bert.vocab, [0] * 20 + [1] * 20, seed=0)
    tokens = bert.encode(["差评，质量不好"] * 4)
    assert C.review_nll(steered, tokens, torch.zeros(4, dtype=torch.long)) < C.review_nll(
        steered, tokens, torch.ones(4, dtype=torch.long))


def test_sampling_never_emits_special_ids(bert):
    step = C.step_function(bert.model.eval(), None, (bert.vocab.pad_id, bert.vocab.bos_id, bert.mask_id))
    logits = step(bert.encode(["好"])[:, :2], torch.zeros(1, dtype=torch.long))
    assert torch.isinf(logits[0, [bert.vocab.pad_id, bert.vocab.bos_id, bert.mask_id]]).all()
    assert torch.isfinite(logits[0, bert.vocab.eos_id])
    texts = C.generate(bert.model, bert.vocab, None, 8, seed=1)
    assert len(texts) == 8 and all(len(t) <= bert.model.max_length - 2 for t in texts)


def test_generate_asks_for_labels_or_a_count(bert):
    with pytest.raises(ValueError, match="labels .* or count"):
        C.generate(bert.model, bert.vocab, [0, 1], 2)
    with pytest.raises(ValueError, match="labels .* or count"):
        C.generate(bert.model, bert.vocab, None)
    with pytest.raises(ValueError, match="built without conditions"):
        C.generate(bert.model, bert.vocab, [0, 1])


def test_the_judge_reads_sentiment_and_names_bad_input(reviews):
    texts, labels = reviews["train"]
    judge = C.train_judge(texts, labels)
    test_texts, test_labels = reviews["test"]
    rate = [C.judged_as(judge, [t for t, y in zip(test_texts, test_labels) if y == k], k) for k in (0, 1)]
    assert min(rate) > 0.7
    with pytest.raises(ValueError, match="both sentiments"):
        C.train_judge(texts[:5], [1] * 5)
    with pytest.raises(ValueError, match="label must be 0"):
        C.judged_as(judge, texts[:3], 2)
    with pytest.raises(ValueError, match="no texts"):
        C.judged_as(judge, [], 1)
