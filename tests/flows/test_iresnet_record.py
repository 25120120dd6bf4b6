"""What the invertible-ResNet chapter says of its full-profile record (results/iresnet-mnist.json):
each quoted number is read back from the record."""
import json
from pathlib import Path

import pytest

from ..conftest import full_record, quoted

RESULTS = Path(__file__).resolve().parents[2] / "results"


@pytest.fixture(scope="module")
def record():
    return full_record("iresnet-mnist")


def test_the_full_run_quotes(record):
    m = record["metrics"]
    assert round(record["wall_time_s"] / 60) == 25 and round(m["train_seconds"] / 60) == 19
    assert m["steps"] == 9370 and not m["stopped_by_budget"] and len(m["train_bits_per_dim"]) == 10
    assert quoted(m["parameters"] / 1e6, "6.4")
    assert quoted(m["test_bits_per_dim"], "5.38") and quoted(abs(m["series_minus_exact_log_det"]), "2.6")
    nice = json.loads((RESULTS / "nice-mnist.json").read_text())["metrics"]
    assert quoted(nice["model"]["test_bits_per_dim"], "5.76")
    assert m["test_bits_per_dim"] < nice["model"]["test_bits_per_dim"]
    assert m["frechet"]["features"] == nice["frechet"]["features"]


def test_the_c_tradeoff_quotes(record):
    sweep = record["metrics"]["c_sweep"]
    cs = sorted(sweep, key=float)
    assert cs == ["0.5", "0.7", "0.9", "0.97"]
    errors = [sweep[c]["inverse_error"] for c in cs]
    variances = [sweep[c]["log_det_variance"] for c in cs]
    bits = [sweep[c]["test_bits_per_dim"] for c in cs]
    assert errors == sorted(errors) and variances == sorted(variances)
    assert bits == sorted(bits, reverse=True)
    for value, text in [(errors[0] * 1e5, "7.4"), (errors[-1], "0.12"), (errors[2], "0.06"), (variances[0], "23"),
                        (variances[-1], "77"), (bits[0], "6.95"), (bits[-1], "6.73")]:
        assert quoted(value, text), (value, text)
    # "gains little past 0.9": less than a tenth of the gain from 0.5 to 0.9
    assert bits[2] - bits[3] < 0.1 * (bits[0] - bits[2])
