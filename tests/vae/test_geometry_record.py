"""The geometry chapter's statements about its full-profile record (results/vae-geometry-mnist.json)."""
import json
from pathlib import Path

import pytest

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
        assert published["bytes"] < 2.2e6 < 4 * 2 * per_decoder / 2
