"""What the conditional-generation chapter says of its record results/cln-sentiment.json and of
its data; each quoted number is read back."""
import math

import pytest

from kexue import experiments
from kexue.sequences import conditional as C
from kexue.sequences.bert import CharBert, conditioned_copy
from kexue.text import corpora

from ..conftest import full_record, quoted


@pytest.fixture(scope="module")
def record():
    return full_record("cln-sentiment")


def test_the_reviews_as_the_chapter_counts_them(record):
    texts, _ = corpora.sentiment_reviews()
    assert quoted(len(texts) / 1000, "35") and quoted(len(set(texts)) / 100, "174")
    r = record["metrics"]["reviews"]
    assert (r["train"], r["test"], r["train_positive"]) == (15629, 1734, 7510)
    assert quoted(100 * r["train_positive"] / r["train"], "48")


def test_the_judged_shares(record):
    m = record["metrics"]
    asked, real = m["judged_as_requested"], m["real_reviews_judged_right"]
    assert quoted(100 * asked["negative"], "79") and quoted(100 * asked["positive"], "82")
    assert quoted(100 * m["requested_share"], "80.3")
    assert quoted(100 * real["negative"], "86") and quoted(100 * real["positive"], "84")
    assert quoted(100 * m["real_share"], "84.8") and m["requested_share"] < m["real_share"]
    assert quoted(100 * m["unconditioned_judged_positive"], "49.5")
    c = record["config"]
    assert (c["steps"], c["batch_size"], c["samples"]) == (1600, 32, 300)
    assert quoted(m["train_seconds"] / 60, "24") and quoted(m["sampling_seconds"], "72")


def test_the_samples(record):
    m = record["metrics"]
    assert quoted(m["copied_from_training"] * 1200, "1") and m["distinct"] == 1.0
    assert quoted(m["mean_characters"], "40")
    assert "房间质量差" in m["examples_negative"][2]
    assert "服务可以" in m["examples_positive"][2] and "总体觉得不错" in m["examples_positive"][4]
    assert "不好" in m["examples_positive"][1]  # "the second positive sample complains"


def test_the_likelihoods(record):
    nll = record["metrics"]["nll"]
    assert quoted(nll["pretrained_unchanged"], "8.03")
    assert quoted(nll["conditioned_true_label"], "3.978") and quoted(nll["unconditioned"], "3.965")
    assert quoted(nll["conditioned_flipped_label"], "4.043")
    assert all(nll[k] < 4 for k in ("conditioned_true_label", "unconditioned"))  # "below 4"
    gap = nll["conditioned_flipped_label"] - nll["conditioned_true_label"]
    assert quoted(gap, "0.066")
    assert quoted(nll["conditioned_true_label"] - nll["unconditioned"], "0.013")
    texts, _ = C.labelled_reviews(record["config"]["bert"])["test"]
    predicted = sum(len(t) + 1 for t in texts) / len(texts)  # characters and the closing [SEP]
    assert quoted(predicted, "42") and quoted(gap * predicted, "2.8")
    assert quoted(math.log(2), "0.69") and quoted(math.log(2) / predicted, "0.016")
    assert nll["conditioned_true_label"] - nll["unconditioned"] < math.log(2) / predicted


def test_the_weights_conditional_layer_normalisation_adds():
    c = experiments.get("cln-sentiment").full["bert"]
    base = CharBert(6000, dim=c["dim"], heads=c["heads"], layers=c["layers"], max_length=64)
    added = conditioned_copy(base, 2).parameters_count() - base.parameters_count()
    assert added == 2 * 9 * 192**2 + 2 * 192 == 663_936
    assert quoted(2 * 25 * 768**2 + 2 * 768, "29492736")
    assert 0.18 < added / 2_988_917 < 0.25  # "a fifth of its 3.0 million weights"
