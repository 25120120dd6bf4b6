"""Pretraining the book's BERT: texts cut to fit at clause punctuation, the held-out tenth of the
People's Daily never read, a tiny pretraining that learns, the cache keyed on the configuration,
and the benchmark's two loops doing the same work."""
import pytest
import torch

from kexue.sequences import bert as B
from kexue.sequences import pretraining as P
from kexue.sequences.pretraining import BERT


def test_split_to_fit_cuts_after_clause_punctuation():
    text = "今天天气很好，我们去公园散步；然后回家吃饭。"
    pieces = P.split_to_fit(text, 12)
    assert "".join(pieces) == text and all(len(p) <= 12 for p in pieces)
    assert pieces == ["今天天气很好，", "我们去公园散步；", "然后回家吃饭。"]
    assert P.split_to_fit("一二三四五六七八九十", 4) == ["一二三四", "五六七八", "九十"]
    assert P.split_to_fit("短句。短句。", 10) == ["短句。短句。"]


def test_held_out_sentences_are_never_pretraining_text():
    config = dict(BERT["quick"], n_reviews=50, n_poems=50)
    texts = P.pretraining_texts(config)
    read = set(texts["train"]) | set(texts["validation"])
    held = ["".join(w for w, _ in s) for s in P.held_out_sentences()]
    pieces = {p for t in held for p in P.split_to_fit(t, config["max_length"] - 2)}
    assert len(held) > 4000
    assert not pieces & read  # not even the sentences the newspaper repeats from day to day


@pytest.fixture(scope="module")
def tiny():
    config = dict(BERT["quick"], n_reviews=300, n_poems=300, steps=40, every=20, n_track=100)
    return config, P.train_bert(config)


def test_a_tiny_pretraining_learns(tiny):
    config, bert = tiny
    curve = bert.stats["curve"]["train_loss"]
    assert curve[-1] < curve[0]
    assert bert.stats["tokens_per_second"] > 0 and bert.stats["parameters"] == bert.model.parameters_count()
    assert bert.model.mask_id == len(bert.vocab)
    assert bert.encode(["北京"])[0].tolist()[:1] == [bert.vocab.bos_id]


def test_the_cache_loads_what_it_saved(tiny, monkeypatch, tmp_path):
    config, _ = tiny
    assert P.checkpoint_path(dict(config, steps=41)) != P.checkpoint_path(config)
    monkeypatch.setattr(P, "checkpoint_path", lambda c: tmp_path / "bert" / "tiny.pt")
    first = P.pretrained(config)
    assert (tmp_path / "bert" / "tiny.pt").exists()
    again = P.pretrained(config)
    tokens = first.encode(["我们去公园散步"])
    with torch.no_grad():
        assert torch.equal(first.model.eval()(tokens), again.model(tokens))
    assert again.stats["validation"] == first.stats["validation"]
    with pytest.raises(B.CheckpointMismatch, match="another configuration"):
        B.load(tmp_path / "bert" / "tiny.pt", config=dict(first.model.config, dim=32))


def test_the_benchmark_runs_both_loops():
    result = P.benchmark(2, profile="quick", texts=200)
    assert result["ours_steps_per_second"] > 0 and result["naive_steps_per_second"] > 0
    assert result["ratio"] == pytest.approx(result["ours_steps_per_second"]
                                            / result["naive_steps_per_second"])


def test_naive_batches_mask_at_the_same_rates():
    import random

    from kexue.text.vocab import CharVocab

    vocab = CharVocab(list("abcdefghij"))
    rows = [[vocab.bos_id] + [5 + (i % 10) for i in range(300)] + [vocab.eos_id]] * 100
    inputs, targets = P._naive_batch(rows, vocab, len(vocab), 0.15, random.Random(0))
    picked = targets != -100
    assert abs(float(picked.float().mean()) - 0.15 * 300 / 302) < 0.01
    assert float((inputs[picked] == len(vocab)).float().mean()) == pytest.approx(0.8, abs=0.02)
    assert not picked[:, 0].any() and not picked[:, -1].any()
