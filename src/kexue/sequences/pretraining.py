"""Pretraining the book's BERT (:mod:`kexue.sequences.bert`) as a masked language model on the
Part VI corpora, and the cache that lets every chapter reuse one checkpoint.

The text is a mixture of three corpora of :mod:`kexue.text.corpora`: sentences of the People's
Daily of January 1998 (joined back from its words), shopping reviews, and Tang and Song poems.
Anything longer than the model's window is cut at clause punctuation (，；：、。！？) into pieces
that fit. The last tenth of the People's Daily sentences (the end of the month, whole articles)
is held out: the chapters evaluate on it, so the model never reads it. Reviews and poems are split
90/10 by the seed.

:func:`pretrained` trains once per configuration and keeps the result in the data cache under
``bert/<hash of the configuration>.pt``; a later call with the same configuration loads it.

Serves chapters/part6-sequences/bert-segmentation.ipynb.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import time
from pathlib import Path

import torch

from .. import data, runtime, train
from ..checks import positive_int
from ..text import corpora
from ..text.vocab import RESERVED, CharVocab, pad_batch
from .bert import CharBert, load, mask_tokens, mlm_loss, perplexity, save

__all__ = ["BERT", "CLAUSE", "split_to_fit", "held_out_sentences", "review_split", "pretraining_texts", "encode", "cut_to_longest", "benchmark",
           "PretrainedBert", "fit_with_warmup", "train_bert", "evaluate_mlm", "pretrained", "checkpoint_path"]

_BERT = dict(max_length=64, seed=0, min_count=2, max_vocab=6000, dropout=0.1, lr=5e-4,
             mask_rate=0.15)
#: The book's BERT at each profile: tiny in the quick one (seconds), in the full one as large as
#: this book's CPU trains in about half an hour (the record states layers, width and tokens seen).
BERT = {"quick": dict(_BERT, n_reviews=2000, n_poems=2000, dim=64, heads=2, layers=2,
                      batch_size=32, steps=60, warmup=20, every=30, n_track=200),
        "full": dict(_BERT, n_reviews=10 ** 6, n_poems=60000, dim=192, heads=4, layers=4,
                     batch_size=64, steps=4000, warmup=400, every=500, n_track=2000)}


#: Where a long text may be cut: after any of these.
CLAUSE = re.compile(r"(?<=[，；：、。！？])")


def split_to_fit(text: str, limit: int) -> list[str]:
    """``text`` cut after clause punctuation into pieces of at most ``limit`` characters (joining
    neighbouring clauses while they fit; a clause longer than ``limit`` is cut at ``limit``)."""
    pieces, current = [], ""
    for clause in filter(None, CLAUSE.split(text)):
        while len(clause) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(clause[:limit])
            clause = clause[limit:]
        if len(current) + len(clause) > limit:
            pieces.append(current)
            current = ""
        current += clause
    if current:
        pieces.append(current)
    return pieces


def held_out_sentences() -> list[list[tuple[str, str]]]:
    """The People's Daily sentences the model never reads: the last tenth of the month."""
    sentences = corpora.peoples_daily()
    return sentences[int(0.9 * len(sentences)):]


def _shuffled_reviews(rng: random.Random) -> list[str]:
    texts, _ = corpora.sentiment_reviews()
    reviews = sorted(set(texts))
    rng.shuffle(reviews)
    return reviews


def review_split(config: dict) -> tuple[list[str], list[str]]:
    """``(read, unread)``: the reviews :func:`pretraining_texts` trains the BERT of ``config`` on
    (whole, before cutting), and the tenth it holds out, which a chapter can test on."""
    reviews = _shuffled_reviews(random.Random(config["seed"]))[:config["n_reviews"]]
    cut = int(0.9 * len(reviews))
    return reviews[:cut], reviews[cut:]


def pretraining_texts(config: dict) -> dict[str, list[str]]:
    """``{"train", "validation"}`` texts of at most ``max_length - 2`` characters (a start and an
    end token frame each): People's Daily's first nine tenths, ``n_reviews`` reviews and
    ``n_poems`` poems, 90/10 by the seed (News validation: the tail of the training nine tenths,
    so that the held-out tenth stays unseen by every choice). A piece that also occurs in the
    held-out tenth (the newspaper repeats some sentences from day to day) is dropped."""
    limit = config["max_length"] - 2
    sentences = corpora.peoples_daily()
    news = ["".join(w for w, _ in s) for s in sentences[:int(0.9 * len(sentences))]]
    held = {p for s in sentences[int(0.9 * len(sentences)):]
            for p in split_to_fit("".join(w for w, _ in s), limit)}
    rng = random.Random(config["seed"])
    reviews = _shuffled_reviews(rng)[:config["n_reviews"]]
    poems = [p.text for p in corpora.poems()]
    rng.shuffle(poems)
    poems = poems[:config["n_poems"]]
    parts = {"train": [], "validation": []}
    for source in (news, reviews, poems):
        cut = int(0.9 * len(source))
        for name, chunk in (("train", source[:cut]), ("validation", source[cut:])):
            parts[name] += [p for t in chunk for p in split_to_fit(t, limit) if p not in held]
    rng.shuffle(parts["train"])
    return parts


def encode(vocab: CharVocab, texts: list[str], max_length: int, device=None) -> torch.Tensor:
    """``[N, T]`` ids: BOS, the characters, EOS (the BERT's [CLS] and [SEP]), padded."""
    return pad_batch([vocab.encode(t, bos=True, eos=True) for t in texts], pad_id=vocab.pad_id,
                     device=device, max_length=max_length)[0]


def cut_to_longest(tokens: torch.Tensor, pad_id: int, *aligned: torch.Tensor
                   ) -> tuple[torch.Tensor, ...]:
    """``tokens`` (padded ``[N, T]``) and the ``aligned`` tensors of its shape, cut to the length
    of its longest text: a batch's padding columns cost work and change nothing."""
    width = int((tokens != pad_id).sum(1).max())
    return tuple(t[:, :width] for t in (tokens, *aligned))


class PretrainedBert:
    """A pretrained :class:`~kexue.sequences.bert.CharBert`, its vocabulary (``[MASK]`` is the id
    after the vocabulary's last) and what its training measured."""

    def __init__(self, model: CharBert, vocab: CharVocab, stats: dict):
        self.model, self.vocab, self.stats = model, vocab, stats

    @property
    def mask_id(self) -> int:
        return self.model.mask_id

    def encode(self, texts: list[str], device=None) -> torch.Tensor:
        return encode(self.vocab, texts, self.model.max_length, device)


def _maskable(tokens: torch.Tensor, vocab: CharVocab) -> torch.Tensor:
    return tokens > vocab.eos_id  # characters only: not padding, unknown, BOS or EOS


def _masked_batch(tokens: torch.Tensor, vocab: CharVocab, mask_id: int, rate: float,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of padded texts cut to its longest text and masked (:func:`mask_tokens`; only
    characters, replaced by characters)."""
    (tokens,) = cut_to_longest(tokens, vocab.pad_id)
    return mask_tokens(tokens, _maskable(tokens, vocab), mask_id=mask_id, vocab_size=mask_id + 1,
                       rate=rate, generator=generator, random_from=vocab.eos_id + 1)


def _loss(vocab: CharVocab, rate: float, mask_id: int):
    """The MLM loss on a batch of padded texts, masked afresh at every step (global RNG)."""
    def loss_fn(model, tokens):
        return mlm_loss(model, *_masked_batch(tokens, vocab, mask_id, rate))
    return loss_fn


@torch.no_grad()
def evaluate_mlm(model: CharBert, vocab: CharVocab, tokens: torch.Tensor, *, rate: float = 0.15,
                 seed: int = 0, batch_size: int = 256) -> dict:
    """MLM accuracy and perplexity on ``tokens`` with one fixed masking (``seed``)."""
    was = model.training
    model.eval()
    g = torch.Generator(device=tokens.device).manual_seed(seed)
    loss, correct, count = 0.0, 0, 0
    for start in range(0, len(tokens), batch_size):
        inputs, targets = _masked_batch(tokens[start:start + batch_size], vocab, model.mask_id,
                                        rate, g)
        picked = targets != -100
        logits = model.mlm_logits(model(inputs)[picked])
        loss += float(torch.nn.functional.cross_entropy(logits, targets[picked], reduction="sum"))
        correct += int((logits.argmax(1) == targets[picked]).sum())
        count += int(picked.sum())
    model.train(was)
    return {"accuracy": correct / count, "perplexity": perplexity(loss / count),
            "masked": count}


def _model_config(config: dict, vocab: CharVocab) -> dict:
    return dict(vocab_size=len(vocab) + 1, dim=config["dim"], heads=config["heads"],
                layers=config["layers"], hidden=4 * config["dim"], max_length=config["max_length"],
                dropout=config["dropout"], pad_id=vocab.pad_id, mask_id=len(vocab))


def fit_with_warmup(model: CharBert, loss_fn, data, *, steps: int, batch_size: int, lr: float,
                    warmup: int, seed: int, description: str, callbacks=(),
                    log_every: int | None = None) -> train.Trainer:
    """Train ``model`` for ``steps`` Adam steps (no weight decay) at rate ``lr`` reached by a
    linear warm-up over ``warmup`` steps, through :class:`kexue.train.Trainer` (so that an
    interrupted run resumes): the pretraining and every fine-tuning of the BERT chapters."""
    optimizer = train.adam(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = train.StepScheduler(torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup)))
    trainer = train.Trainer(model, optimizer, loss_fn, data, batch_size=batch_size, seed=seed,
                            callbacks=[schedule, *callbacks],
                            log_every=log_every or max(1, steps // 10), description=description)
    trainer.fit(steps=positive_int(steps, "steps"))
    return trainer


def train_bert(config: dict) -> PretrainedBert:
    """Build the vocabulary (characters seen ``min_count`` times in the training texts, at most
    ``max_vocab``) and train a :class:`CharBert` for ``steps`` Adam steps (linear warm-up over
    ``warmup`` steps) on batches of ``batch_size`` texts; measure validation MLM accuracy and
    perplexity and the training throughput in real (non-padding) tokens per second."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    texts = pretraining_texts(config)
    vocab = CharVocab.build(texts["train"], min_count=config["min_count"],
                            max_size=config["max_vocab"])
    tokens = {k: encode(vocab, v, config["max_length"], dev) for k, v in texts.items()}
    model = CharBert(**_model_config(config, vocab)).to(dev)
    track = train.Evaluate(lambda m: {f"validation_{k}": v for k, v in evaluate_mlm(
        m, vocab, tokens["validation"][:config["n_track"]]).items() if k != "masked"},
        every=config["every"])
    start = time.perf_counter()
    trainer = fit_with_warmup(model, _loss(vocab, config["mask_rate"], len(vocab)), tokens["train"],
                              **{k: config[k] for k in ("steps", "batch_size", "lr", "warmup", "seed")},
                              callbacks=[track], log_every=config["every"],
                              description="BERT pretraining (masked language model)")
    seconds = time.perf_counter() - start
    model.eval()
    real = (tokens["train"] != vocab.pad_id).sum(1).float().mean().item()
    validation = evaluate_mlm(model, vocab, tokens["validation"])
    stats = {"texts": {k: len(v) for k, v in texts.items()}, "vocabulary": len(vocab),
             "parameters": model.parameters_count(), "train_seconds": seconds,
             "tokens_seen": int(config["steps"] * config["batch_size"] * real),
             "tokens_per_second": config["steps"] * config["batch_size"] * real / seconds,
             "validation": validation,
             "curve": {"step": track["step"], "validation_accuracy": track["validation_accuracy"],
                       "validation_perplexity": track["validation_perplexity"],
                       "train_loss": trainer.history["loss"]}}
    return PretrainedBert(model, vocab, stats)


def checkpoint_path(config: dict) -> Path:
    """``<data cache>/bert/<hash>.pt``, the hash that of the configuration (and torch's version)."""
    key = json.dumps({**config, "torch": torch.__version__.split("+")[0]}, sort_keys=True)
    return data.cache_root() / "bert" / f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"


def pretrained(config: dict) -> PretrainedBert:
    """The BERT of ``config``: loaded from :func:`checkpoint_path` where a run with the same
    configuration saved one (its stats beside it), else trained by :func:`train_bert` and
    saved there."""
    path = checkpoint_path(config)
    stats_path = path.with_suffix(".json")
    if path.exists() and stats_path.exists():
        model, chars = load(path)
        stats = json.loads(stats_path.read_text())
        if stats.get("config") == config:
            return PretrainedBert(model.to(runtime.device()), CharVocab(chars), stats)
    bert = train_bert(config)
    save(bert.model, bert.vocab.tokens[len(RESERVED):], path)
    stats_path.write_text(json.dumps({**bert.stats, "config": config}, indent=1))
    bert.stats["config"] = config
    return bert


def _naive_batch(rows: list[list[int]], vocab: CharVocab, mask_id: int, rate: float,
                 rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference the benchmark times: masking and padding one character at a time in Python."""
    longest = max(len(r) for r in rows)
    inputs, targets = [], []
    for row in rows:
        ins, outs = [], []
        for t in row:
            if t > vocab.eos_id and rng.random() < rate:
                roll = rng.random()
                ins.append(mask_id if roll < 0.8 else rng.randrange(vocab.eos_id + 1, mask_id)
                           if roll < 0.9 else t)
                outs.append(t)
            else:
                ins.append(t)
                outs.append(-100)
        pad = longest - len(row)
        inputs.append(ins + [vocab.pad_id] * pad)
        targets.append(outs + [-100] * pad)
    return torch.tensor(inputs), torch.tensor(targets)


def benchmark(steps: int = 20, *, profile: str = "full", texts: int = 4000,
              device: str | None = None) -> dict:
    """Training throughput of the MLM pretraining loop, in real tokens per second: ours (texts
    encoded and padded once, a batch cut to its longest text, masked in one vectorised pass)
    against a naive loop (each batch masked and padded character by character in Python), the
    same model (the ``profile``'s BERT size, fresh weights) and optimiser on ``device``, ``steps``
    timed steps after 3 warm-up steps each."""
    from ..bench import steps_per_second

    config = BERT[profile]
    dev = runtime.device(device)
    corpus = pretraining_texts(dict(BERT["quick"], max_length=config["max_length"]))["train"][:texts]
    vocab = CharVocab.build(corpus, min_count=1)
    rows = [vocab.encode(t, bos=True, eos=True) for t in corpus]
    padded = encode(vocab, corpus, config["max_length"], dev)
    mask_id, rate, size = len(vocab), config["mask_rate"], config["batch_size"]
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    result = {"device": runtime.provenance(dev)["device_name"], "threads": torch.get_num_threads(),
              "batch_size": size, "layers": config["layers"], "width": config["dim"],
              "texts": len(corpus), "mean_tokens": sum(map(len, rows)) / len(rows)}
    for name in ("ours", "naive"):
        torch.manual_seed(0)
        model = CharBert(**_model_config(config, vocab)).to(dev)
        optimizer = train.adam(model.parameters(), lr=config["lr"])
        rng = random.Random(0)

        def step(n, name=name, model=model, optimizer=optimizer, rng=rng):
            for _ in range(n):
                pick = [rng.randrange(len(rows)) for _ in range(size)]
                if name == "ours":
                    inputs, targets = _masked_batch(padded[torch.tensor(pick, device=dev)], vocab,
                                                    mask_id, rate)
                else:
                    inputs, targets = _naive_batch([rows[i] for i in pick], vocab, mask_id, rate, rng)
                    inputs, targets = inputs.to(dev), targets.to(dev)
                loss, _ = mlm_loss(model, inputs, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        rate_steps = steps_per_second(step, steps, sync=sync, warmup=3)
        result[f"{name}_steps_per_second"] = rate_steps
        result[f"{name}_tokens_per_second"] = rate_steps * result["mean_tokens"] * size
    result["ratio"] = result["ours_steps_per_second"] / result["naive_steps_per_second"]
    result["ratio_means"] = "training steps per second, ours / the naive Python masking and padding"
    return result
