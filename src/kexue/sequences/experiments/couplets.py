"""The experiment ``couplet-cnn``: post 6270's gated convolutional labeller answers the first line
of the parallel couplets of regulated verse with a second line, scored on held-out poems
(character accuracy, BLEU, repetition agreement) beside a per-character lookup baseline.

Serves chapters/part6-sequences/couplet-cnn.ipynb (post 6270).
"""
from __future__ import annotations

from collections import Counter, defaultdict

import torch

from ... import runtime, train
from ...experiments import Headline, experiment
from ...text import corpora
from ...text.vocab import RESERVED, CharVocab, pad_batch
from .. import overlap
from ..couplets import CoupletLabeller, answer, label_loss

__all__ = ["couplet_splits", "lookup_answers", "run_couplets"]


def couplet_splits(config: dict) -> dict[str, list[tuple[str, str]]]:
    """The parallel couplets of the Tang and Song regulated verse, split by poem
    (:func:`kexue.text.corpora.split_by_poem`, 80/10/10, the config's seed), as (first, second)
    line pairs; training cut to ``n_train`` pairs, validation and test to ``n_test``."""
    split = corpora.split_by_poem(corpora.regulated_verse(corpora.poems()), seed=config["seed"])
    cut = {"train": config["n_train"], "validation": config["n_test"], "test": config["n_test"]}
    return {name: [(c.first, c.second) for c in corpora.couplets(getattr(split, name))][:n]
            for name, n in cut.items()}


def lookup_answers(train_pairs, firsts) -> list[str]:
    """The baseline without context: each character answered by the character most often
    opposite it in the training couplets (itself where never seen)."""
    opposite = defaultdict(Counter)
    for first, second in train_pairs:
        for a, b in zip(first, second):
            opposite[a][b] += 1
    return ["".join(opposite[c].most_common(1)[0][0] if opposite[c] else c for c in line)
            for line in firsts]


def _encode(vocab: CharVocab, lines, device) -> torch.Tensor:
    return pad_batch([vocab.encode(s) for s in lines], pad_id=vocab.pad_id, device=device)[0]


def answer_lines(model: CoupletLabeller, vocab: CharVocab, firsts, *, batch_size: int = 1024
                 ) -> list[str]:
    """The model's second line for each first line (unknown characters allowed in the input)."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(firsts), batch_size):
        chunk = list(firsts[start:start + batch_size])
        ids = answer(model, _encode(vocab, chunk, device), banned=tuple(range(len(RESERVED))))
        out += [vocab.decode(row)[:len(line)] for row, line in zip(ids.tolist(), chunk)]
    return out


def score(firsts, answers, seconds) -> dict:
    share, pairs = overlap.repetition_agreement(firsts, answers)
    true_share, _ = overlap.repetition_agreement(firsts, seconds)
    return {"character_accuracy": overlap.character_accuracy(answers, seconds),
            "bleu": overlap.bleu(answers, seconds), "repetition_agreement": share,
            "repetition_pairs": pairs, "reference_repetition_agreement": true_share}


def run_couplets(config: dict):
    """Train the labeller on ``n_train`` couplets for ``steps`` Adam steps; score its answers
    and the lookup baseline's on ``n_test`` held-out couplets."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    splits = couplet_splits(config)
    train_pairs = splits["train"]
    vocab = CharVocab.build([a + b for a, b in train_pairs], min_count=config["min_count"])
    firsts = _encode(vocab, [a for a, _ in train_pairs], dev)
    seconds = _encode(vocab, [b for _, b in train_pairs], dev)
    model = CoupletLabeller(len(vocab), dim=config["dim"], blocks=config["blocks"],
                            dropout=config["dropout"], pad_id=vocab.pad_id).to(dev)
    valid = splits["validation"]
    valid_first = _encode(vocab, [a for a, _ in valid], dev)
    valid_second = _encode(vocab, [b for _, b in valid], dev)

    def evaluate(m):  # train.Evaluate calls it in eval mode, without gradients
        loss, logs = label_loss(m, valid_first, valid_second)
        return {"validation_loss": float(loss), "validation_accuracy": float(logs["accuracy"])}

    track = train.Evaluate(evaluate, every=config["every"])
    trainer = train.Trainer(model, train.adam(model.parameters(), lr=config["lr"]), label_loss,
                            (firsts, seconds), batch_size=config["batch_size"], seed=config["seed"],
                            callbacks=[track], log_every=config["every"],
                            description="couplet labeller")
    trainer.fit(steps=config["steps"])
    test = splits["test"]
    test_first, test_second = [a for a, _ in test], [b for _, b in test]
    ours = answer_lines(model, vocab, test_first)
    lookup = lookup_answers(train_pairs, test_first)
    metrics = {"ours": score(test_first, ours, test_second),
               "lookup": score(test_first, lookup, test_second),
               "curves": {"step": track["step"], "validation_loss": track["validation_loss"],
                          "validation_accuracy": track["validation_accuracy"],
                          "train_loss": trainer.history["loss"]},
               "sizes": {"train": len(train_pairs), "validation": len(valid), "test": len(test),
                         "vocabulary": len(vocab)},
               "unknown_share_test": vocab.unknown_share(test_first + test_second),
               "samples": [{"first": a, "true": b, "ours": o}
                           for a, b, o in list(zip(test_first, test_second, ours))[:config["samples"]]]}
    metrics["character_accuracy"] = metrics["ours"]["character_accuracy"]
    return metrics, {"model": model.eval(), "vocab": vocab}


_COUPLETS = dict(blocks=6, dropout=0.25, lr=1e-3, min_count=2, samples=20, seed=0)

experiment(
    "couplet-cnn", post=6270, metric="character_accuracy",
    headline=Headline("character accuracy of the answered second lines, held-out poems", 0.001,
                      None),
    quick=dict(n_train=20000, n_test=2000, dim=64, batch_size=128, steps=150, every=50,
               **_COUPLETS),
    full=dict(n_train=10 ** 7, n_test=10 ** 7, dim=128, batch_size=256, steps=5000, every=500,
              **_COUPLETS),
    description="Post 6270's couplet robot: six gated residual 1-D convolutions over 128-dim "
                "character embeddings label each character of a couplet's first line with the "
                "character of its second, trained on the parallel second and third couplets of "
                "Tang and Song regulated verse (chinese-poetry, simplified) and scored on "
                "held-out poems: character accuracy, BLEU (sacrebleu, zh) and whether the answer "
                "repeats where the first line repeats, beside a per-character lookup baseline.",
)(run_couplets)
