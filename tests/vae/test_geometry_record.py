"""The geometry chapter's statements about its full-profile record (results/vae-geometry-mnist.json)
and about the quick run the page executes (rerun here, 10 s)."""
import json
import math
from pathlib import Path

import pytest
import torch

from ..conftest import quoted

RECORD = Path(__file__).resolve().parents[2] / "results" / "vae-geometry-mnist.json"


def test_kl_weight_trades_reconstruction_for_coverage_in_the_full_run():
    if not RECORD.exists():
        pytest.skip("no full-profile record")
    data = json.loads(RECORD.read_text())
    assert data["profile"] == "full" and data["metrics"]["n_train"] == 60000
    m = data["metrics"]
    vaes = [m[f"vae-{b:g}"] for b in (0.1, 1.0, 4.0)]
    kl = [v["kl"] for v in vaes]
    holes = [v["prior_to_aggregate_kl"] for v in vaes]
    recon = [v["recon_error"] for v in vaes]
    assert kl[0] > kl[1] > kl[2] and holes[0] > holes[1] > holes[2] and recon[0] < recon[1] < recon[2]
    assert [round(x, 1) for x in kl] == [8.6, 5.4, 2.6]
    assert [round(x, 2) for x in holes] == [2.75, 0.22, 0.08]
    assert [round(x, 1) for x in recon] == [27.3, 27.7, 33.0]
    covariance = m["ae"]["aggregate_cov"]
    assert covariance[0][0] > 9 and covariance[1][1] > 9      # more than three times the width
    assert [round(covariance[k][k]) for k in (0, 1)] == [20, 14]


def test_the_full_run_publishes_its_figures_in_less_than_half_the_weight_of_its_decoders():
    import kexue as kx
    from kexue.vae.autoencoder import VAE

    hidden = kx.experiments.get("vae-geometry-mnist").full["hidden"]
    per_decoder = sum(p.numel() for p in VAE(hidden).decoder.parameters())
    assert 4 * 2 * per_decoder > 4e6                      # four models, two bytes a weight
    record = json.loads(RECORD.read_text()) if RECORD.exists() else None
    if record:                  # what it publishes instead: one decoder and the figures' data
        published = record["published"]
        assert "figures.vae-4.grid" in published["tensors"]
        assert published["bytes"] - 2 * per_decoder < 4 * 2 * per_decoder / 4


def test_the_full_run_reading():
    if not RECORD.exists():
        pytest.skip("no full-profile record")
    m = json.loads(RECORD.read_text())["metrics"]
    vaes = {b: m[f"vae-{b:g}"] for b in (0.1, 1.0, 4.0)}
    assert quoted(m["ae"]["recon_error"], "27.18")
    assert m["ae"]["recon_error"] < min(v["recon_error"] for v in vaes.values())
    for v in vaes.values():  # the chain of eq-geo-surgery
        assert v["kl"] > v["aggregate_to_prior_kl"] > v["moment_kl_to_prior"]
    gaps = [v["elbo_gap_mean"] for v in vaes.values()]
    assert [quoted(g, t) for g, t in zip(gaps, ("14.7", "1.6", "0.28"))] == [True] * 3
    sigma = {b: v["median_sigma"] for b, v in vaes.items()}
    assert max(sigma[0.1]) < 0.02                                       # "under 0.02"
    assert sorted(round(s, 2) for s in sigma[1.0]) == [0.06, 0.07]      # "0.06 to 0.07"
    assert all(0.25 <= s <= 1 / 3 for s in sigma[4.0])                  # "a quarter to a third"
    C = vaes[1.0]["aggregate_cov"]
    assert round(100 * max(abs(C[0][0] - 1), abs(C[1][1] - 1), abs(C[0][1]))) == 5  # "about 5%"
    assert quoted(vaes[4.0]["kl"], "2.6") and vaes[4.0]["kl"] > torch.log(torch.tensor(10.0))
    assert 2.5 < vaes[4.0]["kl"] < 3


def test_the_full_run_figures_as_the_page_describes_them():
    """The published figure data weigh 1 MB; 40% and 86% of the beta = 1 codes lie within one and
    two units of the origin, as 39% and 86% of draws from the prior N(0, I) would."""
    from kexue.vae.experiments import geometry

    shown = geometry.full_run()
    if shown is None:
        pytest.skip("no full-profile record publishing the figures")
    tensors = shown["record"]["published"]["tensors"]
    figure_bytes = sum(
        torch.Size(shape).numel() * (1 if key.split(".")[-1] in ("grid", "strips", "ends") else 2)
        for key, shape in tensors.items() if key.startswith("figures."))
    assert quoted(figure_bytes / 1e6, "1")
    radius = shown["figures"]["vae-1"]["codes"].norm(dim=1)
    inside = [float((radius < r).float().mean()) for r in (1, 2)]
    prior = [1 - math.exp(-r * r / 2) for r in (1, 2)]          # chi-squared with 2 degrees
    assert [round(100 * f) for f in inside] == [40, 86] and [round(100 * f) for f in prior] == [39, 86]


@pytest.fixture(scope="module")
def quick():
    import kexue as kx

    return kx.experiments.run("vae-geometry-mnist", "quick").metrics


def test_the_quick_run_the_page_describes(quick):
    """"reconstruction errors of 36 to 40", "the beta = 1 VAE's median sigma is 0.23"; exercise 3:
    the beta = 4 VAE's mean KL about 1.4 nats, its KL(q || prior) a few hundredths, and beta = 1's
    mean KL between 2.5 and 3 nats."""
    errors = [quick[name]["recon_error"] for name in ("ae", "vae-0.1", "vae-1", "vae-4")]
    assert 36 <= min(errors) and max(errors) <= 40
    assert all(quoted(s, "0.23") for s in quick["vae-1"]["median_sigma"])
    assert quoted(quick["vae-4"]["kl"], "1.4") and 0.01 < quick["vae-4"]["aggregate_to_prior_kl"] < 0.1
    assert 2.5 < quick["vae-1"]["kl"] < 3
    fano = 1 - (quick["vae-4"]["kl"] + 0.69) / 2.30
    assert quoted(fano, "0.09") or quoted(1 - (1.4 + 0.69) / 2.30, "0.09")
