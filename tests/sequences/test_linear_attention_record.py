"""What the linear-attention chapter says of its records: the benchmark record
results/bench/linear-attention.json (not an experiment record: read directly, skipped where it is
missing) and the full-profile record of linear-attention-lm; each quoted number is read back."""
import json

import pytest

from kexue import experiments
from kexue.sequences import attention_bench, figures

from ..conftest import ROOT, full_record, quoted

BENCH = ROOT / "results" / "bench" / "linear-attention.json"


@pytest.fixture(scope="module")
def bench():
    if not BENCH.exists():
        pytest.skip(f"no benchmark record {BENCH.name}")
    data = json.loads(BENCH.read_text())
    assert data["benchmark"] == "linear-attention"
    return data["result"]


def rows_from(result, n):
    return [r for r in result["rows"] if r["n"] >= n]


def test_the_benchmark_settings_the_chapter_states(bench):
    """"chunks of 64", "elu + 1 features", float32, "lengths up to 16,384", "c = 64 for heads of 64
    features"."""
    assert bench["chunk_size"] == 64 and bench["head_dim"] == 64
    assert bench["feature_map"] == "elu+1" and bench["dtype"] == "float32"
    assert max(r["n"] for r in bench["rows"]) == 16384
    assert list(figures.ATTENTION_FORMS) == ["naive", "chunked", "sdpa"]


def test_the_naive_form(bench):
    """"about four tensors of n × d × d numbers per head", "exactly linear in n", "2080 MiB at
    n = 8192", "At 16,384 its estimate, 4096 MiB, is over the benchmark's cap of 3072 MiB",
    "the slowest form at every length, more than ten times slower than the chunked one"."""
    ran = [r for r in bench["rows"] if r["naive_s"] is not None]
    per_tensor = {r["n"]: bench["batch"] * bench["heads"] * r["n"] * bench["head_dim"] ** 2 * 4 / 2**20
                  for r in ran}
    for r in ran:
        assert 3.5 < r["naive_mib"] / per_tensor[r["n"]] < 4.5
        assert r["naive_mib"] / r["n"] == pytest.approx(ran[0]["naive_mib"] / ran[0]["n"], rel=0.01)
        assert r["naive_s"] > max(r["chunked_s"], r["sdpa_s"])
        assert r["naive/chunked"] > 10
    at_8192 = next(r for r in ran if r["n"] == 8192)
    assert quoted(at_8192["naive_mib"], "2080")
    longest = bench["rows"][-1]
    assert longest["n"] == 16384 and longest["naive_s"] is None
    assert quoted(attention_bench.naive_bytes(bench["batch"], bench["heads"], 16384,
                                              bench["head_dim"]) / 2**20, "4096")
    assert quoted(bench["naive_cap_mib"], "3072")
    assert longest["skipped"] == "naive: estimated 4096 MiB > cap 3072 MiB"


def test_the_chunked_form_against_softmax_attention(bench):
    """"memory is linear in n, 88.5 MiB at n = 8192, and so, roughly, is its time"; "From n = 2048 on it is the fastest
    of the three, and its lead over softmax attention widens with n, since softmax attention's
    time grows faster than linearly"; softmax attention's memory "is linear too, about half of
    the chunked form's"."""
    rows = bench["rows"]
    first, last = rows[0], rows[-1]
    grows = last["n"] / first["n"]
    assert 0.8 * grows < last["chunked_mib"] / first["chunked_mib"] < 1.25 * grows
    from_2048 = rows_from(bench, 2048)
    # time: far from quadratic from n = 2048 on (slope below 4/3), where small-size overheads fade
    assert from_2048[-1]["chunked_s"] / from_2048[0]["chunked_s"] < (from_2048[-1]["n"] / 2048) ** (4 / 3)
    assert quoted(next(r for r in rows if r["n"] == 8192)["chunked_mib"], "88.5")
    for r in from_2048:
        assert r["chunked_s"] < r["sdpa_s"]
        assert r["naive_s"] is None or r["chunked_s"] < r["naive_s"]
    assert from_2048[-1]["sdpa/chunked"] > from_2048[0]["sdpa/chunked"]
    assert from_2048[-1]["sdpa_s"] / from_2048[0]["sdpa_s"] > (from_2048[-1]["n"] / 2048) ** 1.2
    assert 0.5 * grows < last["sdpa_mib"] / first["sdpa_mib"] < 1.5 * grows
    for r in rows:
        assert 1.5 < r["chunked_mib"] / r["sdpa_mib"] < 2.5


def test_the_experiment_as_the_chapter_describes_it():
    """"poems of at most 64 characters", "Adam at a learning rate of 10^-3", "elu + 1 features",
    "eight poems ... top-p sampling at p = 0.9"; the quick profile: "two narrower blocks and 50
    steps on 5,000 poems"."""
    exp = experiments.get("linear-attention-lm")
    for config in (exp.full, exp.quick):
        assert config["max_chars"] == 64 and config["lr"] == 1e-3 and config["samples"] == 8
        assert config["top_p"] == 0.9 and config["feature_map"] == "elu+1"
        assert config["kinds"] == ["softmax", "linear"]
    assert exp.quick["layers"] == 2 < exp.full["layers"] and exp.quick["dim"] < exp.full["dim"]
    assert exp.quick["steps"] == 50 and exp.quick["n_train"] == 5000


def test_the_summary_first_order_saves_n_over_d():
    """n = 1024, d = 64: "16 times fewer multiplications"."""
    n, d = 1024, 64
    assert (n * n * d * 2) // (n * d * d * 2) == 16


@pytest.fixture(scope="module")
def lm():
    return full_record("linear-attention-lm")


def test_the_language_model_quotes(lm):
    """"17 minutes", "2,000 steps of 32 poems", "208,352 training poems", "1,632,548 weights",
    "157.0 ... against 154.7 ..., 1.5% higher", "209.1 against 189.0 at step 1,250, and caught up
    over the last 750 steps", "9.1 minutes of training against 7.9"."""
    m, config = lm["metrics"], lm["config"]
    assert round(lm["wall_time_s"] / 60) == 17 and "2 cores" in lm["provenance"]["device_name"]
    # "rows of 65 positions (a start token and up to 64 characters ...), two chunks of 64"
    assert config["max_chars"] + 1 == 65 and -(-65 // 64) == 2
    assert config["steps"] == 2000 and config["batch_size"] == 32
    assert m["sizes"]["train"] == 208352
    softmax, linear = m["kinds"]["softmax"], m["kinds"]["linear"]
    assert softmax["parameters"] == linear["parameters"] == 1632548
    assert quoted(linear["validation_perplexity"], "157.0") and quoted(m["linear_perplexity"], "157.0")
    assert quoted(softmax["validation_perplexity"], "154.7")
    assert quoted(100 * (linear["validation_perplexity"] / softmax["validation_perplexity"] - 1), "1.5")
    at = softmax["curve"]["step"].index(1250)
    assert linear["curve"]["step"][at] == 1250
    assert quoted(linear["curve"]["validation_perplexity"][at], "209.1")
    assert quoted(softmax["curve"]["validation_perplexity"][at], "189.0")
    gaps = [lin / soft for lin, soft in zip(linear["curve"]["validation_perplexity"],
                                            softmax["curve"]["validation_perplexity"])]
    assert max(gaps) == gaps[at] and gaps[-1] < gaps[at]  # the widest gap, then it closed
    assert config["steps"] - 1250 == 750 and softmax["curve"]["step"][-1] == config["steps"]
    assert quoted(linear["train_seconds"] / 60, "9.1") and quoted(softmax["train_seconds"] / 60, "7.9")


def test_the_samples_are_regulated_verse_and_pairs_begin_alike(lm):
    """"Every one of the sixteen poems has four or eight lines, all of five characters or all of
    seven, and ends with a full stop"; the pairs "agree on their first one to ten characters ...
    in three of the eight pairs a whole line recurs in both versions after they have diverged"."""
    import re

    kinds = lm["metrics"]["kinds"]
    poems = kinds["softmax"]["samples"] + kinds["linear"]["samples"]
    assert len(poems) == 16
    for poem in poems:
        lines = [line for line in re.split("[，。？！；]", poem) if line]
        assert len(lines) in (4, 8) and {len(line) for line in lines} in ({5}, {7}), poem
        assert poem.endswith("。")
    pairs = list(zip(kinds["softmax"]["samples"], kinds["linear"]["samples"]))
    agree = [next(i for i, (x, y) in enumerate(zip(a, b)) if x != y) for a, b in pairs]
    assert min(agree) == 1 and max(agree) == 10

    def recurs(a, b):  # a line equal in both after the first line that differs
        la, lb = ([line for line in re.split("[，。]", p) if line] for p in (a, b))
        same = [x == y for x, y in zip(la, lb)]
        return False in same and True in same[same.index(False):]

    assert sum(recurs(a, b) for a, b in pairs) == 3
