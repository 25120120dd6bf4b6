"""The experiments ``titles-seq2seq`` and ``seq2seq-stopping``: a poem's title written by post
5861's LSTM encoder-decoder with attention (with and without its prior over the input's
characters) and by a Transformer of comparable size, decoded greedily and by beam search and
scored on held-out poems (character ROUGE-L, BLEU); then post 7500's question on the same model,
how often decoding runs to the length cap, with the softmax output and the self-terminating one.

Serves chapters/part6-sequences/seq2seq-titles.ipynb (post 5861) and
chapters/part6-sequences/seq2seq-stopping.ipynb (post 7500).
"""
from __future__ import annotations

import functools
import time

import torch

from ... import runtime, train
from ...checks import positive_int
from ...experiments import Headline, committed_record, experiment
from ...text import corpora
from ...text.vocab import CharVocab, pad_batch
from .. import decoding, overlap
from ..seq2seq import TitleSeq2Seq, TitleTransformer, step_function, teacher_forcing_loss

__all__ = ["title_splits", "TitleData", "build_model", "train_model", "decode_titles",
           "attention_examples", "stop_probabilities", "stop_paths", "stopping_full_run",
           "run_titles", "run_stopping"]


def title_splits(config: dict) -> dict[str, list[tuple[str, str]]]:
    """(poem text, title) pairs (:func:`kexue.text.corpora.titles`) of the Tang and Song poems
    whose text, punctuation included, has at most ``max_source`` characters, split by poem
    (80/10/10, the config's seed); training cut to ``n_train`` pairs, validation and test to
    ``n_test``."""
    pairs = _all_title_pairs(config["seed"], config["max_title"], config["max_source"])
    cut = {"train": config["n_train"], "validation": config["n_test"], "test": config["n_test"]}
    return {name: list(pairs[name][:n]) for name, n in cut.items()}


@functools.lru_cache(maxsize=2)
def _all_title_pairs(seed: int, max_title: int, max_source: int) -> dict[str, tuple]:
    """Every split's pairs, uncut, kept for the life of the process: a page that shows the splits
    and then runs the experiment reads and splits the corpus once (about 9 s on 2 cores)."""
    split = corpora.split_by_poem(corpora.poems(), seed=seed)
    return {name: tuple((text, title) for text, title
                        in corpora.titles(getattr(split, name), max_length=max_title)
                        if len(text) <= max_source)
            for name in ("train", "validation", "test")}


class TitleData:
    """The splits encoded with one vocabulary (the ``max_vocab`` commonest characters of the
    training pairs; rarer ones become the unknown token): sources ``[N, S]``
    and targets ``[N, T]`` (BOS, title, EOS) as padded tensors on the device."""

    def __init__(self, config: dict, device):
        self.splits = title_splits(config)
        train_pairs = self.splits["train"]
        self.vocab = CharVocab.build([a + b for a, b in train_pairs], min_count=config["min_count"],
                                     max_size=config["max_vocab"])
        self.tensors = {}
        for name, pairs in self.splits.items():
            source = pad_batch([self.vocab.encode(a) for a, _ in pairs], pad_id=self.vocab.pad_id,
                               device=device)[0]
            target = pad_batch([self.vocab.encode(b, bos=True, eos=True) for _, b in pairs],
                               pad_id=self.vocab.pad_id, device=device)[0]
            self.tensors[name] = (source, target)


def build_model(variant: dict, vocab_size: int, config: dict) -> torch.nn.Module:
    """The model a variant names: ``{"model": "lstm" | "transformer", "prior": bool, ...}``."""
    common = dict(input_prior=variant["prior"], max_source=config["max_source"],
                  max_target=max(config["max_title"], config["cap"]) + 1)
    if variant["model"] == "lstm":
        return TitleSeq2Seq(vocab_size, dim=config["dim"], hidden=config["hidden"],
                            head=variant.get("head", "softmax"), epsilon=config.get("epsilon"),
                            **common)
    if variant["model"] == "transformer":
        return TitleTransformer(vocab_size, dim=config["dim"], heads=config["heads"],
                                layers=config["transformer_layers"],
                                feedforward=config["feedforward"], **common)
    raise ValueError(f"unknown model {variant['model']!r}")


def train_model(model, data: TitleData, config: dict, description: str):
    """Adam on the teacher-forcing loss for ``steps`` steps; the validation loss every ``every``."""
    valid_source, valid_target = data.tensors["validation"]

    def evaluate(m):  # train.Evaluate calls it in eval mode, without gradients
        return {"validation_loss": float(teacher_forcing_loss(m, valid_source, valid_target)[0])}

    track = train.Evaluate(evaluate, every=config["every"])
    trainer = train.Trainer(model, train.adam(model.parameters(), lr=config["lr"]),
                            teacher_forcing_loss, data.tensors["train"],
                            batch_size=config["batch_size"], seed=config["seed"],
                            callbacks=[track], log_every=config["every"], description=description)
    start = time.perf_counter()
    trainer.fit(steps=config["steps"])
    return {"step": track["step"], "validation_loss": track["validation_loss"],
            "train_loss": trainer.history["loss"], "train_seconds": time.perf_counter() - start,
            "parameters": sum(p.numel() for p in model.parameters())}


def decode_titles(model, data: TitleData, sources: torch.Tensor, *, search: str, config: dict,
                  batch_size: int = 250) -> tuple[list[str], torch.Tensor]:
    """Titles for ``sources`` by ``search`` ("greedy" or "beam"), and which ended by EOS."""
    model.eval()
    titles, ended = [], []
    vocab = data.vocab
    for start in range(0, len(sources), batch_size):
        chunk = sources[start:start + batch_size]
        step = step_function(model, chunk)
        kwargs = dict(bos=vocab.bos_id, eos=vocab.eos_id, max_length=config["cap"],
                      device=chunk.device)
        out = (decoding.greedy(step, len(chunk), **kwargs) if search == "greedy" else
               decoding.beam_search(step, len(chunk), beam_width=config["beam_width"],
                                    length_penalty=config["length_penalty"], **kwargs))
        titles += [vocab.decode(ids) for ids in out.tokens]
        ended.append(out.ended.cpu())
    return titles, torch.cat(ended)


def _scores(titles: list[str], ended: torch.Tensor, references: list[str]) -> dict:
    return {"rouge_l": overlap.rouge_l(titles, references), "bleu": overlap.bleu(titles, references),
            "capped_share": float((~ended).float().mean()),
            "mean_length": sum(map(len, titles)) / len(titles)}


def _run_variants(config: dict, variants: list[dict]):
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    data = TitleData(config, dev)
    test_source, _ = data.tensors["test"]
    references = [title for _, title in data.splits["test"]]
    metrics = {"sizes": {name: len(pairs) for name, pairs in data.splits.items()}
               | {"vocabulary": len(data.vocab)}, "variants": {}}
    models, outputs = {}, {}
    for variant in variants:
        torch.manual_seed(config["seed"])
        model = build_model(variant, len(data.vocab), config).to(dev)
        curves = train_model(model, data, config, f"titles: {variant['name']}")
        scores = {}
        for search in config["searches"]:
            titles, ended = decode_titles(model, data, test_source, search=search, config=config)
            scores[search] = _scores(titles, ended, references)
            outputs[(variant["name"], search)] = titles
        metrics["variants"][variant["name"]] = {"curves": curves, **scores}
        models[variant["name"]] = model.eval()
    metrics["samples"] = [
        {"poem": text, "true": title,
         **{f"{name} {search}": outputs[(name, search)][i] for name, search in outputs}}
        for i, (text, title) in enumerate(data.splits["test"][:config["samples"]])]
    return metrics, {"models": models, "vocab": data.vocab, "data": data}


def _teacher_inputs(data: TitleData, titles: list[str]) -> torch.Tensor:
    """BOS and each title's characters (no EOS), padded: the decoder's inputs that produced
    ``titles`` and then EOS."""
    vocab = data.vocab
    rows = [[vocab.bos_id] + (vocab.encode(t) if t else []) for t in titles]
    return pad_batch(rows, pad_id=vocab.pad_id, device=data.tensors["test"][0].device)[0]


def attention_examples(model, data: TitleData, config: dict, count: int) -> list[dict]:
    """For the first ``count`` test poems: the greedy title and the decoder's attention over the
    poem at each step (one row per title character and one for EOS), rounded to 1e-3."""
    source = data.tensors["test"][0][:count]
    titles, _ = decode_titles(model, data, source, search="greedy", config=config)
    weights = model.attention(source, _teacher_inputs(data, titles))
    out = []
    for i, title in enumerate(titles):
        poem = data.splits["test"][i][0]
        rows = weights[i, :len(title) + 1, :len(poem)]
        out.append({"poem": poem, "title": title, "weights": rows.round(decimals=3).tolist()})
    return out


def stop_probabilities(model, data: TitleData, config: dict, count: int) -> list[dict]:
    """For the first ``count`` test poems: the greedy title (up to the cap) and the model's
    probability of EOS at each step along it, EOS's own step included (``p_eos``); and the same
    along the poem's real title, fed to the decoder as in training (``p_eos_true``, one value per
    title character and one for the step where EOS is due)."""
    source, target = (t[:count] for t in data.tensors["test"])
    eos_id = data.vocab.eos_id
    titles, ended = decode_titles(model, data, source, search="greedy", config=config)
    real = [row[:row.index(eos_id)] for row in target.tolist()]    # BOS and the title
    real_inputs = pad_batch(real, pad_id=data.vocab.pad_id, device=source.device)[0]
    with torch.no_grad():
        along_greedy = model(source, _teacher_inputs(data, titles)).log_softmax(-1)
        along_real = model(source, real_inputs).log_softmax(-1)
    eos, eos_true = along_greedy[..., eos_id].exp(), along_real[..., eos_id].exp()

    def rounded(values):
        return [round(v, 4) for v in values.tolist()]

    return [{"title": t, "ended": bool(e), "p_eos": rounded(eos[i, :len(t) + 1]),
             "p_eos_true": rounded(eos_true[i, :len(real[i])])}
            for i, (t, e) in enumerate(zip(titles, ended))]


def stop_paths(stop_probabilities: dict, count: int = 10) -> dict:
    """The curves the page draws from a run's ``stop_probabilities`` metric (name -> one entry
    per poem, :func:`stop_probabilities`): ``{"along the real titles": {name: [p_eos_true, ...]},
    "along the greedy titles": {name: [p_eos, ...]}}`` for the first ``count`` poems."""
    count = positive_int(count, "count")
    return {reading: {name: [s[key] for s in poems[:count]]
                      for name, poems in stop_probabilities.items()}
            for reading, key in (("along the real titles", "p_eos_true"),
                                 ("along the greedy titles", "p_eos"))}


def stopping_full_run() -> dict | None:
    """The committed full record of ``seq2seq-stopping``, where it holds the stop probabilities
    along the real titles too (:func:`stop_probabilities`); None otherwise."""
    record = committed_record("seq2seq-stopping")
    if record is None or "p_eos_true" not in record["metrics"]["stop_probabilities"]["softmax"][0]:
        return None
    return record


def run_titles(config: dict):
    """Train each of ``variants`` on the same pairs from the same seed; decode the test poems
    greedily and by beam search; the headline is the post's model's beam-search ROUGE-L. Also
    the post's model's attention over four test poems as it writes their titles."""
    metrics, artifacts = _run_variants(config, config["variants"])
    metrics["rouge_l"] = metrics["variants"]["lstm + prior"]["beam"]["rouge_l"]
    metrics["attention"] = attention_examples(artifacts["models"]["lstm + prior"],
                                              artifacts["data"], config, 4)
    return metrics, artifacts


def run_stopping(config: dict):
    """The post's model twice, with the softmax output and with the self-terminating one (the
    same seed, data and steps); the share of test poems whose title runs to the cap of ``cap``
    characters, greedy and beam, and what the change costs in ROUGE-L."""
    metrics, artifacts = _run_variants(config, config["variants"])
    for search in config["searches"]:
        metrics[f"capped_{search}"] = {name: v[search]["capped_share"]
                                       for name, v in metrics["variants"].items()}
    metrics["capped_share_softmax_greedy"] = metrics["capped_greedy"]["softmax"]
    metrics["stop_probabilities"] = {
        name: stop_probabilities(model, artifacts["data"], config, config["samples"])
        for name, model in artifacts["models"].items()}
    return metrics, artifacts


_TITLES = dict(max_source=64, max_title=16, min_count=2, max_vocab=4000, dim=128, hidden=128, heads=4,
               transformer_layers=2, feedforward=512, lr=1e-3, cap=32, beam_width=4,
               length_penalty=1.0, searches=["greedy", "beam"], samples=20, seed=0)
_VARIANTS = [{"name": "lstm + prior", "model": "lstm", "prior": True},
             {"name": "lstm", "model": "lstm", "prior": False},
             {"name": "transformer + prior", "model": "transformer", "prior": True}]

experiment(
    "titles-seq2seq", post=5861, metric="rouge_l",
    headline=Headline("character ROUGE-L of the post's model's titles (beam search), held-out "
                      "poems", 0.001, None),
    quick=dict(n_train=5000, n_test=30, steps=10, every=5, batch_size=32,
               variants=_VARIANTS, **_TITLES),
    full=dict(n_train=10 ** 7, n_test=1000, steps=1500, every=250, batch_size=64,
              variants=_VARIANTS, **_TITLES),
    description="Post 5861's title generator on poetry (the post's news headlines cannot be had "
                "offline): a poem of at most 64 characters in, its title out; the LSTM encoder-"
                "decoder with attention with and without the prior over the input's characters, "
                "and a Transformer of comparable size, each decoded greedily and by beam search "
                "(width 4) and scored on held-out poems by character ROUGE-L and BLEU.",
)(run_titles)

_HEADS = [{"name": "softmax", "model": "lstm", "prior": True, "head": "softmax"},
          {"name": "self-terminating", "model": "lstm", "prior": True,
           "head": "self-terminating"}]

experiment(
    "seq2seq-stopping", post=7500, metric="capped_share_softmax_greedy",
    headline=Headline("share of held-out poems whose greedy title runs to the cap, softmax "
                      "output", 0.001, None),
    quick=dict(n_train=5000, n_test=30, steps=10, every=5, batch_size=32, epsilon=0.03,
               variants=_HEADS, **_TITLES),
    full=dict(n_train=10 ** 7, n_test=1000, steps=1500, every=250, batch_size=64, epsilon=0.03,
              variants=_HEADS, **_TITLES),
    description="Post 7500 on the title model of post 5861: how many held-out poems get a title "
                "that runs to the cap of 32 characters, greedy and beam, with the usual softmax "
                "output and with the self-terminating output (ε = 0.03, so greedy search must "
                "emit EOS within 23 tokens: at most 22 characters), and what the change costs in "
                "ROUGE-L.",
)(run_stopping)
