"""The linear-attention benchmark on tiny sizes: its table is well formed, its memory counter counts
what is allocated, and the command line prints the table and saves the record (no timing claims)."""
import json
from functools import partial

import pytest
import torch

from kexue import __main__ as cli
from kexue import bench, experiments
from kexue.sequences import attention_bench as ab

TINY = dict(lengths=(8, 20), batch=1, heads=2, head_dim=4, chunk_size=8, repeats=1)
METHODS = ("naive", "chunked", "sdpa")


def test_the_table_has_a_row_per_length_and_marks_what_it_skipped():
    cap = ab.naive_bytes(1, 2, 8, 4) / ab.MIB  # the naive form fits at n = 8, not at n = 20
    result = ab.benchmark(**TINY, naive_cap_mib=cap, device="cpu")
    rows = result["rows"]
    assert [r["n"] for r in rows] == [8, 20]
    assert list(rows[0]) == ["n", *(f"{m}_s" for m in METHODS), *(f"{m}_mib" for m in METHODS),
                             "naive/chunked", "sdpa/chunked", "skipped"]
    first, second = rows
    assert all(first[f"{m}_s"] > 0 and first[f"{m}_mib"] > 0 for m in METHODS)
    assert first["skipped"] is None
    assert first["naive/chunked"] == pytest.approx(first["naive_s"] / first["chunked_s"])
    assert second["naive_s"] is second["naive_mib"] is second["naive/chunked"] is None
    assert second["skipped"].startswith("naive: estimated 0 MiB > cap 0 MiB")
    assert second["chunked_s"] > 0 and second["sdpa_mib"] > 0
    assert result["ratio"] == first["naive/chunked"]
    assert result["ratio_means"] == "naive / chunked causal linear attention, time at n = 8"
    assert {k: result[k] for k in ("batch", "heads", "head_dim", "chunk_size")} == {
        "batch": 1, "heads": 2, "head_dim": 4, "chunk_size": 8}
    json.dumps(result)  # a record holds it as it is


def test_a_cap_below_every_size_is_refused():
    with pytest.raises(ValueError, match="naive form would be skipped at every length"):
        ab.benchmark(**TINY, naive_cap_mib=1e-9, device="cpu")


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="lengths must be a positive int"):
        ab.benchmark(**dict(TINY, lengths=(8, 0)))
    with pytest.raises(ValueError, match="naive_cap_mib must be positive"):
        ab.benchmark(**TINY, naive_cap_mib=0)


def test_the_memory_counter_counts_allocations():
    assert ab.peak_bytes(lambda: torch.ones(1000, 1000), torch.device("cpu")) == 4_000_000

    def two():  # 4 MB then 8 MB held together, then 2 MB after the 4 MB are gone
        a, b = torch.ones(1000, 1000), torch.ones(2000, 1000)
        del a
        return b, torch.ones(500, 1000)

    assert ab.peak_bytes(two, torch.device("cpu")) == 12_000_000


def test_memory_grows_linearly_for_ours_and_as_estimated_for_the_naive_form():
    result = ab.benchmark(lengths=(256, 512), heads=2, head_dim=32, repeats=1, device="cpu")
    short, long = result["rows"]
    assert 1.8 < long["chunked_mib"] / short["chunked_mib"] < 2.2
    estimate = ab.naive_bytes(1, 2, 256, 32) / ab.MIB
    assert estimate <= short["naive_mib"] < 1.25 * estimate


def test_the_command_line_prints_one_table_and_saves_the_record(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "get", lambda name: partial(ab.benchmark, **TINY))
    monkeypatch.setattr(experiments, "results_dir", lambda: tmp_path)
    assert cli.main(["bench", "linear-attention", "--device", "cpu", "--save"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("n "))
    assert header.split() == ["n", "naive_s", "chunked_s", "sdpa_s", "naive_mib", "chunked_mib",
                              "sdpa_mib", "naive/chunked", "sdpa/chunked", "skipped"]
    assert "naive / chunked causal linear attention, time at n = 20:" in out
    assert f"wrote {tmp_path / 'bench' / 'linear-attention.json'}" in out
    record = bench.load("linear-attention", tmp_path)
    assert record == json.loads((tmp_path / "bench" / "linear-attention.json").read_text())
    assert experiments.load_records(tmp_path) == []  # not mistaken for an experiment's record
    assert bench.load("nice", tmp_path) is None
    assert record["benchmark"] == "linear-attention"
    assert [r["n"] for r in record["result"]["rows"]] == [8, 20]
    assert record["provenance"]["device"] == "cpu" and "git_commit" in record["provenance"]
