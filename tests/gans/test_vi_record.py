"""What the variational GAN chapter says of its full-profile record (results/dcgan-vi-mnist.json):
each quoted number is read back, and each claim about the runs checked."""
import math

from ..conftest import full_record, quoted


def test_the_full_run_quotes():
    record = full_record("dcgan-vi-mnist")
    m = record["metrics"]
    runs = list(m["runs"].values())
    assert round(record["wall_time_s"] / 60) == 44 and len(runs) == 6
    with_term = [r for r in runs if r["weight"] == 1.0]
    without = [r for r in runs if r["weight"] == 0.0]
    assert len(with_term) == len(without) == 3
    # no collapse: every run found all ten digits after every epoch
    assert all(found == 10 for r in runs for found in r["classes_found"])
    assert not any(r["collapsed"] for r in runs)
    finals = [r["final"]["kl_from_uniform"] for r in runs]
    assert quoted(min(finals), "0.054") and quoted(max(finals), "0.085")
    assert quoted(math.log(10), "2.30")
    assert quoted(m["summary"]["0.0"]["median_frechet"], "15.7")
    assert quoted(m["summary"]["1.0"]["median_frechet"], "15.7")
    first_steps = lambda rs: [r["step_distance"][0] for r in rs]  # noqa: E731
    assert quoted(min(first_steps(with_term)), "0.07") and quoted(max(first_steps(with_term)), "0.08")
    assert quoted(min(first_steps(without)), "0.25") and quoted(max(first_steps(without)), "0.31")
    first_epoch = lambda rs: [r["frechet"][0] for r in rs]  # noqa: E731
    assert quoted(min(first_epoch(with_term)), "48.4") and quoted(max(first_epoch(with_term)), "66.4")
    assert quoted(min(first_epoch(without)), "38.0") and quoted(max(first_epoch(without)), "47.4")
    assert all(len(r["frechet"]) == 10 for r in runs) and record["config"]["epochs"] == 10
