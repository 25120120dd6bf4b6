"""The experiment ``rc-cloze``: post 7115's reading comprehension as seq2seq, on cloze questions
made from the People's Daily.

Serves chapters/part6-sequences/reading-comprehension.ipynb (post 7115).
"""
from __future__ import annotations

import time

from ...experiments import Headline, Reference, experiment
from .. import cloze
from ..pretraining import BERT, held_out_sentences, pretrained
from ..reading import MODES, answer_questions, fine_tune_reader

__all__ = ["REPORTED", "cloze_sets", "run_rc_cloze"]

#: Post 7115's scores on SogouQA's validation set (BERT-base, its evaluation script).
REPORTED = {"accuracy": 0.7259005836184343, "f1": 0.813860036706151, "final": 0.7698803101622926}


def cloze_sets(config: dict) -> dict[str, list[cloze.ClozeItem]]:
    """Training questions from the People's Daily sentences the BERT was pretrained on (the first
    nine tenths), test questions from the tenth it never read: the first ``n_train``, and
    ``n_test`` spread evenly over the held-out tenth (neighbouring questions share passages)."""
    from ...text import corpora

    sentences = corpora.peoples_daily()
    held = held_out_sentences()
    shape = {k: config[k] for k in ("window", "max_passages", "passage_chars", "question_chars",
                                     "seed")}
    test = cloze.build_cloze(held, **shape)
    return {"train": cloze.build_cloze(sentences[:len(sentences) - len(held)], **shape)[:config["n_train"]],
            "test": test[::max(1, len(test) // config["n_test"])][:config["n_test"]]}


def _by_tag(items, predictions) -> dict:
    return {tag: cloze.score([p for p, i in zip(predictions, items) if i.tag == tag],
                             [i.answer for i in items if i.tag == tag])
            for tag in cloze.ENTITY_TAGS if any(i.tag == tag for i in items)}


def _baseline(item: cloze.ClozeItem) -> str:
    try:
        return cloze.frequent_entity(item)
    except ValueError:  # no entity of the asked type in any passage: the baseline has no answer
        return ""


def run_rc_cloze(config: dict):
    """Fine-tune the pretrained BERT as a UniLM reader on the training questions; answer the test
    questions with the post's voting beam search, constrained to passage spans and free; score
    both and the most-frequent-entity baseline (accuracy, character F1, their mean), overall and
    by entity type."""
    bert = pretrained(config["bert"])
    sets = cloze_sets(config)
    start = time.perf_counter()
    reader = fine_tune_reader(bert, sets["train"], **{k: config[k] for k in (
        "steps", "batch_size", "lr", "warmup", "seed")})
    metrics = {"questions": {k: len(v) for k, v in sets.items()},
               "train_seconds": time.perf_counter() - start, "modes": {}}
    test, gold = sets["test"], [i.answer for i in sets["test"]]
    predictions = {"baseline": [_baseline(i) for i in test]}
    for mode in MODES:
        start = time.perf_counter()
        predictions[mode] = answer_questions(reader, bert.vocab, test, mode=mode,
                                             beam_width=config["beam_width"])
        metrics[f"{mode}_seconds_per_question"] = (time.perf_counter() - start) / len(test)
    for name, answers in predictions.items():
        in_passage = [any(a and a in p for p in i.passages) for a, i in zip(answers, test)]
        metrics["modes"][name] = {**cloze.score(answers, gold), "by_tag": _by_tag(test, answers),
                                  "empty": sum(not a for a in answers) / len(test),
                                  "span_of_a_passage": sum(in_passage) / len(test)}
    metrics["final"] = metrics["modes"]["extractive"]["final"]
    metrics["examples"] = [{"question": i.question, "passages": list(i.passages), "answer": i.answer,
                            **{name: answers[k] for name, answers in predictions.items()}}
                           for k, i in enumerate(test[:config["examples"]])]
    return metrics, {"reader": reader, "bert": bert, "sets": sets, "predictions": predictions}


_RC = dict(window=6, max_passages=3, passage_chars=26, question_chars=22, seed=0, lr=3e-4,
           beam_width=3, examples=10)

experiment(
    "rc-cloze", post=7115, metric="final",
    headline=Headline("final score (mean of exact-match accuracy and character F1), held-out "
                      "People's Daily cloze questions, constrained decoding", 0.01, None),
    reference=Reference(value=REPORTED["final"], metric="final score on SogouQA's validation set "
                        "with BERT-base (another task and a far larger model: not like for like)",
                        where="post 7115, section 实验代码"),
    quick=dict(_RC, bert=BERT["quick"], n_train=300, n_test=30, steps=20, batch_size=16, warmup=5),
    full=dict(_RC, bert=BERT["full"], n_train=20000, n_test=600, steps=2000, batch_size=64,
              warmup=150),
    description="Post 7115's reading comprehension as seq2seq on the book's BERT (bert-mlm) under "
                "the UniLM mask: cloze questions (a clause with a person, place or organisation "
                "removed) answered from three clauses of the neighbouring sentences of the People's "
                "Daily, questions for training from the nine tenths the BERT read, for testing from "
                "the tenth it never read; the post's voting beam search (passages that answer "
                "[SEP] first left out, the rest averaged), constrained to passage spans and free, "
                "beside the most frequent entity of the asked type.",
)(run_rc_cloze)
