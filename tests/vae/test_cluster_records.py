"""The clustering chapter's statements about its full-profile records (results/vae-cluster-*.json):
they are read from the records, so a new record that changes them fails here first."""
import json
from pathlib import Path

import pytest

from ..conftest import quoted

RESULTS = Path(__file__).resolve().parents[2] / "results"
BASELINES = ("kmeans_pixels", "kmeans_vae", "gmm_vae")
SCORES = ("majority_acc", "hungarian_acc", "nmi", "ari")


def record(name):
    path = RESULTS / f"{name}.json"
    if not path.exists():
        pytest.skip(f"no full-profile record {path.name}")
    data = json.loads(path.read_text())
    assert data["profile"] == "full" and len(data["metrics"]["runs"]) >= 3
    return data["metrics"]


def test_mnist_clusters_beat_every_baseline_on_every_score_but_miss_the_post():
    m = record("vae-cluster-mnist")
    for score in SCORES:
        for baseline in BASELINES:
            assert m[score]["median"] > m[baseline][score]["median"], (score, baseline)
    assert m["majority_acc"]["median"] < 0.83           # the post's number, not reached
    assert m["kmeans_vae"]["majority_acc"]["median"] > m["kmeans_pixels"]["majority_acc"]["median"]
    for score in SCORES:   # the Gaussian mixture on the plain VAE's codes does worst
        assert m["gmm_vae"][score]["median"] == min(m[b][score]["median"] for b in BASELINES)
    # the post's recipe on the first seed lands within the k-means-started seeds' range
    assert m["majority_acc"]["min"] <= m["post_recipe"]["majority_acc"] <= m["majority_acc"]["max"]


def test_fashion_clusters_near_the_post_and_ahead_by_hungarian_accuracy():
    m = record("vae-cluster-fashion")
    assert m["majority_acc"]["median"] < 0.585 < m["majority_acc"]["median"] + 0.02
    for baseline in BASELINES:
        assert m["hungarian_acc"]["median"] > m[baseline]["hungarian_acc"]["median"], baseline
    assert m["majority_acc"]["max"] - m["majority_acc"]["min"] < 0.02      # the seeds agree
    for score in SCORES:   # the Gaussian mixture on the plain VAE's codes does worst
        assert m["gmm_vae"][score]["median"] == min(m[b][score]["median"] for b in BASELINES)


def test_the_mnist_numbers_the_chapter_quotes():
    m = record("vae-cluster-mnist")
    acc = m["majority_acc"]
    for value, text in [(100 * acc["median"], "73.5"), (100 * acc["min"], "67.3"),
                        (100 * acc["max"], "77.6"), (100 * m["kmeans_vae"]["majority_acc"]["median"], "68.5"),
                        (100 * m["kmeans_pixels"]["majority_acc"]["median"], "59.4"),
                        (m["nmi"]["median"], "0.68"), (m["kmeans_vae"]["nmi"]["median"], "0.58"),
                        (m["kmeans_pixels"]["nmi"]["median"], "0.51"),
                        (100 * m["post_recipe"]["majority_acc"], "70.1"),
                        (100 * next(r["majority_acc"] for r in m["runs"] if r["seed"] == m["post_recipe"]["seed"]),
                         "67.3")]:
        assert quoted(value, text), (value, text)


def test_the_fashion_numbers_the_chapter_quotes():
    m = record("vae-cluster-fashion")
    acc, pixels = m["majority_acc"], m["kmeans_pixels"]
    for value, text in [(100 * acc["median"], "58.1"), (100 * acc["min"], "56.6"), (100 * acc["max"], "58.2"),
                        (100 * pixels["majority_acc"]["median"], "56.0"),
                        (100 * pixels["majority_acc"]["max"], "59.4"),
                        (100 * pixels["hungarian_acc"]["median"], "48.3"),
                        (100 * m["hungarian_acc"]["median"], "56.1")]:
        assert quoted(value, text), (value, text)


@pytest.mark.parametrize("data,base_median,start,low,high,held_out,nmi,base_nmi", [
    ("mnist", "73.5", "79.1", "71.4", "80.3", "79.7", "0.74", "0.68"),
    ("fashion", "58.1", "62.8", "60.8", "66.8", "63.6", "0.62", "0.55"),
])
def test_the_vade_start_numbers_the_chapter_quotes(data, base_median, start, low, high, held_out,
                                                   nmi, base_nmi):
    base, m = record(f"vae-cluster-{data}"), record(f"vae-cluster-vade-start-{data}")
    acc, val = m["majority_acc"], m["val_majority_acc"]
    for value, text in [(100 * base["majority_acc"]["median"], base_median),
                        (100 * acc["median"], start), (100 * acc["min"], low),
                        (100 * acc["max"], high), (100 * val["median"], held_out),
                        (m["nmi"]["median"], nmi), (base["nmi"]["median"], base_nmi)]:
        assert quoted(value, text), (value, text)
    assert abs(val["median"] - acc["median"]) < 0.01            # "within a point"
    # better than both starts of the recipe above, on the same three seeds
    assert [r["seed"] for r in m["runs"]] == [r["seed"] for r in base["runs"]]
    assert acc["median"] > base["majority_acc"]["median"] > base["post_recipe"]["majority_acc"]
    post = {"mnist": 0.83, "fashion": 0.585}[data]
    assert (acc["median"] > post) == (data == "fashion")       # past the post on Fashion only
