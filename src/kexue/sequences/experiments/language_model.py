"""The experiment ``linear-attention-lm``: a character language model of Tang and Song poems,
trained twice from the same seed, once with softmax attention and once with causal linear
attention (elu + 1 features), everything else equal; validation perplexity and sampled poems.

Serves chapters/part6-sequences/linear-attention.ipynb (post 7546).
"""
from __future__ import annotations

import time

import torch

from ... import runtime, train
from ...experiments import Headline, experiment
from ...text import corpora
from ...text.vocab import CharVocab, pad_batch
from .. import decoding
from ..language_model import CharLanguageModel, next_token_loss, perplexity, step_function

__all__ = ["poem_splits", "run_language_model"]


def poem_splits(config: dict) -> dict[str, list[str]]:
    """The texts (punctuation kept) of the Tang and Song poems of at most ``max_chars``
    characters, split by poem (80/10/10, the config's seed); training cut to ``n_train`` poems,
    validation to ``n_valid``."""
    split = corpora.split_by_poem(corpora.poems(), seed=config["seed"])
    cut = {"train": config["n_train"], "validation": config["n_valid"]}
    return {name: [p.text for p in getattr(split, name) if 0 < len(p.text) <= config["max_chars"]][:n]
            for name, n in cut.items()}


def run_language_model(config: dict):
    """For each attention kind: train the model for ``steps`` Adam steps on BOS-poem-EOS rows,
    then its validation perplexity per character and ``samples`` poems drawn with top-p."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    splits = poem_splits(config)
    vocab = CharVocab.build(splits["train"], min_count=config["min_count"],
                            max_size=config["max_vocab"])
    tensors = {name: pad_batch([vocab.encode(t, bos=True, eos=True) for t in texts],
                               pad_id=vocab.pad_id, device=dev)[0]
               for name, texts in splits.items()}
    metrics = {"sizes": {name: len(t) for name, t in splits.items()} | {"vocabulary": len(vocab)},
               "kinds": {}}
    models = {}
    for kind in config["kinds"]:
        torch.manual_seed(config["seed"])
        model = CharLanguageModel(len(vocab), dim=config["dim"], heads=config["heads"],
                                  layers=config["layers"], kind=kind,
                                  feature_map=config["feature_map"], dropout=config["dropout"],
                                  max_length=config["max_chars"] + 2, pad_id=vocab.pad_id).to(dev)
        track = train.Evaluate(lambda m: {"validation_perplexity": perplexity(m, tensors["validation"])},
                               every=config["every"])
        trainer = train.Trainer(model, train.adam(model.parameters(), lr=config["lr"]),
                                next_token_loss, tensors["train"], batch_size=config["batch_size"],
                                seed=config["seed"], callbacks=[track], log_every=config["every"],
                                description=f"poetry language model ({kind} attention)")
        start = time.perf_counter()
        trainer.fit(steps=config["steps"])
        seconds = time.perf_counter() - start
        model.eval()
        drawn = decoding.sample(step_function(model), config["samples"], bos=vocab.bos_id,
                                eos=vocab.eos_id, max_length=config["max_chars"] + 1,
                                top_p=config["top_p"], device=dev,
                                generator=torch.Generator(device=dev).manual_seed(config["seed"]))
        metrics["kinds"][kind] = {
            "validation_perplexity": perplexity(model, tensors["validation"]),
            "curve": {"step": track["step"], "validation_perplexity": track["validation_perplexity"],
                      "train_loss": trainer.history["loss"]},
            "train_seconds": seconds, "parameters": sum(p.numel() for p in model.parameters()),
            "samples": [vocab.decode(ids) for ids in drawn.tokens]}
        models[kind] = model
    for kind in config["kinds"]:
        metrics[f"{kind}_perplexity"] = metrics["kinds"][kind]["validation_perplexity"]
    return metrics, {"models": models, "vocab": vocab}


_LM = dict(kinds=["softmax", "linear"], feature_map="elu+1", max_chars=64, min_count=2, max_vocab=4000,
           heads=4,
           dropout=0.1, lr=1e-3, top_p=0.9, samples=8, seed=0)

experiment(
    "linear-attention-lm", post=7546, metric="linear_perplexity",
    headline=Headline("validation perplexity per character, linear attention", 0.1, None),
    quick=dict(n_train=5000, n_valid=300, dim=64, layers=2, batch_size=32, steps=50, every=25,
               **_LM),
    full=dict(n_train=10 ** 7, n_valid=2000, dim=128, layers=3, batch_size=32, steps=2000,
              every=250, **_LM),
    description="Post 7546's question on a real task: a character language model of Tang and "
                "Song poems (at most 64 characters), three pre-norm Transformer blocks of width 128, trained "
                "from the same seed with softmax attention and with causal linear attention "
                "(elu + 1 features); validation perplexity per character and poems sampled with "
                "top-p 0.9.",
)(run_language_model)
