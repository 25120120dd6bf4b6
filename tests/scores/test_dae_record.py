"""What the denoising chapter says of its full-profile record (results/dae-langevin-mnist.json):
each quoted number is read back from the record."""
import json
from pathlib import Path

from ..conftest import full_record, quoted

RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_the_full_run_quotes():
    record = full_record("dae-langevin-mnist")
    m = record["metrics"]
    assert m["stopped_by_budget"] and m["steps"] == 23000 and record["config"]["steps"] == 30000
    assert round(m["train_seconds"] / 60) == 20
    assert quoted(m["parameters"] / 1e6, "4.3")
    assert quoted(m["train_loss"][-3], "334.9") and quoted(m["train_loss"][-1], "331.0")
    assert m["train_loss"][-1] < m["train_loss"][-2] < m["train_loss"][-3]   # "still falling"
    assert round(m["sample_seconds"]) == 95 and m["network_evaluations"] == 501
    assert quoted(m["frechet_distance"], "83.6") and quoted(m["frechet_before_denoising"], "83.4")
    nice = json.loads((RESULTS / "nice-mnist.json").read_text())["metrics"]
    assert abs(nice["frechet"]["samples"]["NICE, T = 0.75"] - m["frechet_distance"]) < 2  # "as far as"
