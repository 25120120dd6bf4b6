"""What the layerwise-learning-rates chapter says of its experiment layerwise-lr-mnist: of the full
record in results/ (read back from it), and of the quick run the page executes (rerun here, 2 s)."""
import pytest

import kexue as kx
from kexue.optim import experiments as ex

from ..conftest import full_record, quoted


def _by_multiplier(metrics):
    return {r["multiplier"]: r for r in metrics["runs"]}


def test_full_run_bullets():
    data = full_record("layerwise-lr-mnist")
    m, c = data["metrics"], data["config"]
    runs = _by_multiplier(m)
    assert c["steps"] == 6000 and c["every"] == 100
    # the two ways agree to rounding at 0.1x and 1x; at 10x chaos has parted them by 0.27
    assert runs[0.1]["max_gap_reparametrise_vs_groups"] < 1e-13
    assert runs[1.0]["max_gap_reparametrise_vs_groups"] < 1e-13
    assert quoted(runs[10.0]["max_gap_reparametrise_vs_groups"], "0.27")
    assert quoted(m["early_movement_ratio"], "3.8") and quoted(m["movement_ratio"], "3.6")
    moved = {k: {layer: runs[k]["movement"][layer] for layer in ("hidden1", "hidden2", "out")}
             for k in runs}
    assert all(quoted(moved[k]["hidden1"], t)
               for k, t in ((0.1, "0.99"), (1.0, "3.25"), (10.0, "11.6")))
    assert all(quoted(moved[k]["out"], t) for k, t in ((0.1, "6.2"), (1.0, "4.4"), (10.0, "3.2")))
    middle = [moved[k]["hidden2"] for k in runs]
    assert quoted(min(middle), "1.9") and quoted(max(middle), "2.2")
    acc = {k: 100 * runs[k]["test_acc"] for k in runs}
    assert quoted(acc[0.1], "97.77") and quoted(acc[10.0], "97.17")
    assert max(acc, key=acc.get) == 0.1 and min(acc, key=acc.get) == 10.0
    assert quoted(min(acc.values()), "97.2") and quoted(max(acc.values()), "97.8")
    loss = {k: runs[k]["final_train_loss"] for k in runs}
    assert max(loss, key=loss.get) == 10.0
    assert quoted(loss[10.0], "0.040") and quoted(loss[1.0], "0.023")
    # the figure's curves are in the record: one measurement every 100 steps
    shown = ex.layerwise_full_run()
    if shown is not None and shown["record"]["profile"] == "full":
        assert len(shown["runs"][1.0]["movement"]) == 6000 // 100 + 1


@pytest.fixture(scope="module")
def quick():
    return kx.experiments.run("layerwise-lr-mnist", "quick")


def test_quick_run_bullets(quick):
    m = quick.metrics
    runs = _by_multiplier(m)
    assert all(r["max_gap_reparametrise_vs_groups"] < 1e-14 for r in runs.values())
    assert quick.config["every"] == 10 and 8 < m["early_movement_ratio"] < 12  # about ten
    loss = {k: r["final_train_loss"] for k, r in runs.items()}
    acc = {k: r["test_acc"] for k, r in runs.items()}
    assert max(loss, key=loss.get) == 0.1 and min(acc, key=acc.get) == 0.1
