"""What the title chapter says of its full-profile record (results/titles-seq2seq.json) and of the
poem-title pairs: each quoted number is read back."""
import pytest

from kexue import data, experiments

from ..conftest import full_record, quoted


@pytest.fixture(scope="module")
def record():
    return full_record("titles-seq2seq")


def test_the_full_run_quotes(record):
    m = record["metrics"]
    v = m["variants"]
    prior, plain, transformer = v["lstm + prior"], v["lstm"], v["transformer + prior"]
    assert round(record["wall_time_s"] / 60) == 26 and record["config"]["steps"] == 1500
    assert m["sizes"]["train"] == 191097 and m["sizes"]["test"] == 1000
    assert 1500 * 64 / m["sizes"]["train"] == pytest.approx(0.5, abs=0.01)  # half a pass
    for model, greedy, beam in ((prior, "0.052", "0.091"), (plain, "0.055", "0.091"),
                                (transformer, "0.047", "0.087")):
        assert quoted(model["greedy"]["rouge_l"], greedy) and quoted(model["beam"]["rouge_l"], beam)
        assert model["beam"]["rouge_l"] > 1.6 * model["greedy"]["rouge_l"]  # nearly doubles
        assert model["greedy"]["capped_share"] == model["beam"]["capped_share"] == 0.0
    beams = [x["beam"]["rouge_l"] for x in v.values()]
    assert max(beams) - min(beams) < 0.005
    assert quoted(prior["beam"]["bleu"], "0.8") and quoted(plain["beam"]["bleu"], "0.7")
    assert quoted(transformer["beam"]["bleu"], "0.5")
    assert all(x[s]["bleu"] < 1 for x in v.values() for s in ("greedy", "beam"))
    assert quoted(transformer["curves"]["validation_loss"][-1], "4.48")
    assert quoted(plain["curves"]["validation_loss"][-1], "4.70")
    assert quoted(prior["curves"]["validation_loss"][-1], "4.81")


def test_the_validation_losses_fall_and_keep_their_order(record):
    v = record["metrics"]["variants"]
    curves = [v[name]["curves"]["validation_loss"]
              for name in ("transformer + prior", "lstm", "lstm + prior")]
    for curve in curves:
        assert all(b < a for a, b in zip(curve, curve[1:]))
    for t, plain, prior in zip(*curves):
        assert t < plain < prior


def test_the_models_write_the_commonest_kind_of_title(record):
    samples = record["metrics"]["samples"]
    assert len(samples) == 20
    assert all(s["lstm + prior greedy"].startswith("次韵") for s in samples)
    assert not any(s["true"].startswith("次韵") for s in samples)


def test_few_title_characters_occur_in_their_poem():
    """The data section's counts: 16.0% of the training titles' characters occur in their poem;
    3.8% of the titles begin with 次韵."""
    if not (data.CHINESE_POETRY.directory() / next(iter(data.CHINESE_POETRY.files))).is_file():
        pytest.skip("the chinese-poetry corpus is not in the cache")
    from kexue.sequences.experiments import titles

    train = titles.title_splits(experiments.get("titles-seq2seq").full)["train"]
    found = sum(c in poem for poem, title in train for c in title)
    assert quoted(100 * found / sum(len(t) for _, t in train), "16.0")
    assert quoted(100 * sum(t.startswith("次韵") for _, t in train) / len(train), "3.8")


def test_the_attention_of_the_young_model_is_nearly_uniform(record):
    """The chapter's reading of its attention figure: no step gives any character more than 1.4
    times the uniform weight."""
    examples = record["metrics"]["attention"]
    assert len(examples) == 4
    for ex in examples:
        assert len(ex["weights"]) == len(ex["title"]) + 1
        assert max(max(row) for row in ex["weights"]) * len(ex["poem"]) < 1.4
