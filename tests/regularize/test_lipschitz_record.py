"""What the Lipschitz-constraints chapter says of its full record (results/lipschitz-mnist.json),
model by model: the comparisons its prose makes, read back from the record."""
from ..conftest import full_record


def test_each_constraint_does_what_the_chapter_says_in_the_full_run():
    models = full_record("lipschitz-mnist")["metrics"]["models"]
    plain, decay = models["plain"], models["weight decay"]
    sn1, sn4, gp = (models[n] for n in ("spectral norm, K=1", "spectral norm, K=4",
                                        "gradient penalty"))
    assert decay["upper_bound"] < plain["upper_bound"] and decay["jacobian_max"] < plain["jacobian_max"]
    assert plain["test_acc"] - decay["test_acc"] < 0.01          # a small cost, if any
    assert all(sn1["upper_bound"] < m["upper_bound"] for m in models.values() if m is not sn1)
    assert 1 < sn1["upper_bound"] and plain["test_acc"] - sn1["test_acc"] > 0.05
    assert sn4["test_acc"] > plain["test_acc"] - 0.02 and round(sn4["upper_bound"]) == 5
    accurate = [m for m in models.values() if m["test_acc"] > plain["test_acc"] - 0.02]
    assert min(accurate, key=lambda m: m["jacobian_max"]) is gp
    assert gp["upper_bound"] > 3 * gp["jacobian_max"] and gp["ms_per_step"] > 3 * plain["ms_per_step"]
    radii = {n: m["median_certified_radius"] for n, m in models.items()}
    assert max(radii.values()) < 1 and sorted(radii, key=radii.get)[-2:] == [
        "spectral norm, K=4", "spectral norm, K=1"]            # the certificate suits them
    drop = {n: m["noise_acc"][0] - m["noise_acc"][-1] for n, m in models.items()}
    assert min(drop, key=drop.get) == "spectral norm, K=1"      # falls the most slowly of all
    kept = {n: drop[n] for n in ("plain", "weight decay", "spectral norm, K=4", "gradient penalty")}
    assert min(kept, key=kept.get) == "gradient penalty" and max(kept, key=kept.get) == "plain"
    for m in (sn1, sn4):
        assert min(m["converged"]["raw_sigma_ratios"]) > 0.9
