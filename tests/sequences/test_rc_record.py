"""What the reading-comprehension chapter says of its record results/rc-cloze.json and of its
question set; each quoted number is read back."""
import collections

import pytest

from kexue import experiments
from kexue.sequences import cloze
from kexue.sequences.experiments import reading as R
from kexue.text import corpora

from ..conftest import full_record, quoted


@pytest.fixture(scope="module")
def record():
    return full_record("rc-cloze")


def test_the_question_set_as_the_chapter_describes_it(record):
    m = record["metrics"]
    assert m["questions"] == {"train": 13933, "test": 600}
    counts = {t: v["questions"] for t, v in m["modes"]["baseline"]["by_tag"].items()}
    assert counts == {"ns": 385, "nr": 163, "nt": 52}
    test = R.cloze_sets(experiments.get("rc-cloze").full)["test"]
    assert quoted(sum(len(i.answer) for i in test) / len(test), "2.5")
    assert collections.Counter(i.answer for i in test).most_common(1) == [("中国", 58)]
    two = sum(sum(i.answer in p for p in i.passages) == 2 for i in test) / len(test)
    assert 0.65 <= two < 0.75 and all(1 <= sum(i.answer in p for p in i.passages) <= 2 for i in test)
    outside = sum(not any(i.answer in c for c in i.candidates) for i in test) / len(test)
    assert quoted(100 * outside, "3.5")
    names = [e.text for s in corpora.peoples_daily() for e in cloze.entities(s, "nr")]
    assert "赵志文王桦" in names


def test_the_scores(record):
    m = record["metrics"]["modes"]
    base, ext, free = m["baseline"], m["extractive"], m["generative"]
    assert quoted(100 * ext["accuracy"], "59.7") and quoted(ext["f1"], "0.661")
    assert quoted(ext["final"], "0.629") and quoted(record["metrics"]["final"], "0.629")
    assert quoted(100 * free["accuracy"], "58.7") and quoted(free["final"], "0.626")
    assert quoted(100 * free["span_of_a_passage"], "87")
    assert quoted(ext["final"] - free["final"], "0.003")
    assert quoted(100 * base["accuracy"], "81.0") and quoted(base["f1"], "0.860")
    assert quoted(base["final"], "0.835")
    assert base["final"] > ext["final"] and base["final"] > free["final"]  # "both lose clearly"
    by_tag = ext["by_tag"]
    assert quoted(by_tag["ns"]["final"], "0.678") and quoted(by_tag["nr"]["final"], "0.511")
    assert by_tag["nr"]["final"] < by_tag["nt"]["final"] < by_tag["ns"]["final"]
    assert quoted(100 * ext["empty"], "4.3") and ext["empty"] == free["empty"]


def test_the_run_and_its_examples(record):
    m, c = record["metrics"], record["config"]
    assert quoted(m["train_seconds"] / 60, "18") and (c["steps"], c["batch_size"]) == (2000, 64)
    pairs = 3 * m["questions"]["train"]
    assert pairs == 41799 and quoted(c["steps"] * c["batch_size"] / pairs, "3")
    assert quoted(1000 * m["extractive_seconds_per_question"], "86")
    assert quoted(R.REPORTED["final"], "0.7699")
    first, second, third, fourth = (m["examples"][k] for k in (0, 4, 8, 9))
    assert first["answer"] == first["baseline"] == "尚美英" and first["extractive"] == ""
    assert sum("尚美英" in p for p in first["passages"]) == 2
    assert (second["answer"], second["baseline"], second["extractive"]) == ("咸阳市", "咸阳", "")
    assert quoted(cloze.char_f1("咸阳", "咸阳市"), "0.8")
    assert third["answer"] == third["baseline"] == third["extractive"] == third["generative"]
    assert fourth["answer"] == "深圳" and "广州至" in fourth["question"]
    assert fourth["baseline"] == fourth["extractive"] == fourth["generative"] == "广州"
