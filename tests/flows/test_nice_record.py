"""What the NICE chapter says of its full-profile record (results/nice-mnist.json): each quoted
number is read back from the record, so a new record that changes them fails here first."""
import json
import math
from pathlib import Path

import pytest

from ..conftest import full_record, quoted

RESULTS = Path(__file__).resolve().parents[2] / "results"


@pytest.fixture(scope="module")
def record():
    return full_record("nice-mnist")


def test_the_full_run_quotes(record):
    m = record["metrics"]
    big, page = m["model"], m["page_model"]
    assert round(record["wall_time_s"] / 60) == 16
    assert quoted(big["train_seconds"] / 20, "46")                      # seconds an epoch
    assert big["epoch_reaching_post"] is None and page["epoch_reaching_post"] is None
    assert big["final_train_post_loss"] > record["config"]["post_target"]
    for value, text in [(big["final_train_post_loss"], "-1972"), (big["test_post_loss"], "-1880"),
                        (big["test_bits_per_dim"], "5.76"), (page["final_train_post_loss"], "-1966"),
                        (page["test_post_loss"], "-1958"), (page["test_bits_per_dim"], "5.63")]:
        assert quoted(value, text), (value, text)
    assert round(big["parameters"] / page["parameters"]) == 36
    assert quoted(big["parameters"] / 1e6, "19.2") and quoted(page["parameters"] / 1e6, "0.54")
    # the small model does better on the test images
    assert page["test_post_loss"] < big["test_post_loss"]
    assert page["test_bits_per_dim"] < big["test_bits_per_dim"]


def test_the_loss_curve_quotes(record):
    for key in ("model", "page_model"):
        losses = record["metrics"][key]["train_post_loss"]
        assert len(losses) == 20 and losses == sorted(losses, reverse=True)
        assert abs(losses[0] - losses[9] - 1700) < 50
        assert abs(losses[9] - losses[19] - 100) < 15
    big = record["metrics"]["model"]["train_post_loss"]
    assert quoted(big[9], "-1872") and quoted(big[19], "-1972")


def test_the_frechet_quotes(record):
    m = record["metrics"]
    big, page = m["model"]["frechet_by_temperature"], m["page_model"]["frechet_by_temperature"]
    for value, text in [(big["0.75"], "84.3"), (big["1.0"], "87.5"), (big["0.5"], "107.0"),
                        (page["1.0"], "202.1"), (page["0.75"], "227.4")]:
        assert quoted(value, text), (value, text)
    assert min(big, key=big.get) == "0.75" and min(page, key=page.get) == "1.0"
    eae = json.loads((RESULTS / "eae-mnist.json").read_text())["metrics"]
    assert eae["frechet"]["features"] == m["frechet"]["features"]      # one scale
    assert big["0.75"] > 4 * eae["vae"]["fid"] > 4 * eae["eae"]["fid"]
    assert quoted(eae["vae"]["fid"], "19.3") and quoted(eae["eae"]["fid"], "16.2")
    assert quoted(eae["fid_floor"], "0.52")
    assert m["frechet"]["samples"]["NICE, T = 0.75"] == big["0.75"]
    assert record["config"]["fd_samples"] == 10000 and eae["n_samples"] == 5000


def test_the_page_model_squeezes_most_directions(record):
    """The chapter: most of the page model's prior standard deviations exp(-s) end far below 1."""
    from kexue.flows.experiments import full_run

    shown = full_run()
    sd = (-shown["page_model"].flows[-1].log_scale.detach()).exp()
    assert float(sd.max()) < 0.5 and float(sd.median()) < 0.2
    # four reversals make the identity: output i sits at pixel i, so the image is the pixels'
    assert sum(type(f).__name__ == "Reverse" for f in shown["page_model"].flows) % 2 == 0


def test_the_run_without_noise_quotes(record):
    """The chapter's reading of results/nice-mnist-noise-free.json beside nice-mnist's."""
    free = full_record("nice-mnist-noise-free")["metrics"]
    m, noisy = free["model"], record["metrics"]["model"]
    assert m["epoch_reaching_post"] == 16 and noisy["epoch_reaching_post"] is None
    for value, text in [(m["final_train_post_loss"], "-2291"), (m["test_post_loss"], "-2135"),
                        (m["test_bits_per_dim"], "45.55"), (noisy["test_bits_per_dim"], "5.76"),
                        (m["frechet_by_temperature"]["0.75"], "101.0"),
                        (noisy["frechet_by_temperature"]["0.75"], "84.3"),
                        (free["largest_log_scale"], "9.45"),
                        (math.exp(-free["largest_log_scale"]) * 1e5, "8")]:
        assert quoted(value, text), (value, text)
    assert free["constant_training_pixels"] == 67
    # the same training without noise: a lower loss, a far worse bound, samples further away
    assert m["final_train_post_loss"] < record["config"]["post_target"] \
        < noisy["final_train_post_loss"]
    assert m["test_bits_per_dim"] > 5 * noisy["test_bits_per_dim"]
    assert m["frechet_by_temperature"]["0.75"] > noisy["frechet_by_temperature"]["0.75"]
    assert m["train_post_loss"][15] <= -2200 < m["train_post_loss"][14]
    assert math.log(0.01) == pytest.approx(-4.6, abs=0.05)
    # the noise-free curve keeps falling through the post's line that the noisy one never meets
    assert min(m["train_post_loss"]) < min(noisy["train_post_loss"]) - 250
