"""What the BERT chapter says of its records: results/bert-mlm.json, results/bert-segmentation.json
(and the impact matrices it published) and the benchmark record results/bench/bert-mlm.json; each
quoted number is read back."""
import json

import pytest
import torch

from kexue import published
from kexue.sequences import segmentation as S

from ..conftest import ROOT, full_record, quoted


@pytest.fixture(scope="module")
def mlm():
    return full_record("bert-mlm")


@pytest.fixture(scope="module")
def seg():
    return full_record("bert-segmentation")


def test_the_pretraining_record(mlm):
    m, c = mlm["metrics"], mlm["config"]
    assert (m["layers"], m["width"], m["heads"]) == (4, 192, 4) == (c["layers"], c["dim"], c["heads"])
    assert (c["steps"], c["batch_size"], c["max_length"] - 2) == (4000, 64, 62)
    assert quoted(mlm["wall_time_s"] / 60, "26")
    assert quoted(m["tokens_seen"] / 1e6, "10.3") and quoted(m["parameters"] / 1e6, "3.0")
    assert quoted(110 / (m["parameters"] / 1e6), "37")
    assert quoted(100 * m["validation_accuracy"], "23.8") and quoted(m["validation_perplexity"], "169")
    assert m["validation_accuracy"] < 0.25  # "fewer than a quarter"
    assert f"{m['tokens_per_second']:,.0f}" == "6,884"
    curve = m["curve"]["validation_accuracy"]
    assert curve[-1] > curve[-2] > curve[-3]  # "still improving when the run stopped"


def test_the_benchmark_record():
    path = ROOT / "results" / "bench" / "bert-mlm.json"
    if not path.exists():
        pytest.skip("no benchmark record bert-mlm.json")
    r = json.loads(path.read_text())["result"]
    assert quoted(r["ratio"], "0.98")
    assert 2000 < r["mean_tokens"] * r["batch_size"] < 2800  # "2,400 characters"
    assert 0.25 < 1 / r["ours_steps_per_second"] < 0.45  # "a third of a second"


def test_the_segmentation_record(seg):
    m = seg["metrics"]
    assert m["sentences"] == {"validation": 300, "test": 2000}
    bert, pmi, jieba, chars = (m["methods"][k] for k in ("bert", "pmi", "jieba", "characters"))
    assert quoted(bert["f1"], "0.779") and quoted(bert["recall"], "0.950")
    assert quoted(bert["precision"], "0.660")
    assert quoted(chars["f1"], "0.754") and quoted(pmi["f1"], "0.865") and quoted(jieba["f1"], "0.921")
    assert chars["f1"] < bert["f1"] < pmi["f1"] < jieba["f1"]
    first = m["examples"][0]["bert"].split(" / ")
    assert "企业" in first and "市场" in first and "集团" not in first and "成本" not in first


def test_the_published_matrices_and_the_tree():
    found = published.load("bert-segmentation", ROOT / "results")
    if found is None:
        pytest.skip("no published impact matrices")
    t = found[1]
    assert len(t["matrices"]) == 24
    text = "".join(chr(c) for c in t["codepoints"][0].tolist() if c)
    assert text == "面临压力和困境，怎么办？"
    F = t["matrices"][0][:len(text), :len(text)]
    tree = S.split_tree(F)
    first = tree[0]

    def chars(node):
        return text[node] if isinstance(node, int) else "".join(chars(n) for n in node)

    assert chars(first) == "面临压力"
    assert chars(tree[1][0]) == "和困境"
    assert torch.isfinite(F).all()
