"""What the logit-adjustment chapter says of its full record (results/logit-adjustment-lt.json):
each quoted number is read back."""
import pytest

from kexue.classifiers import long_tail

from ..conftest import full_record, quoted


@pytest.fixture(scope="module")
def record():
    return full_record("logit-adjustment-lt")


def medians(d):
    return {m: v["balanced_acc"]["median"] for m, v in d["methods"].items()}


def test_setup(record):
    """"12,406 of the 60,000 training images", "5,000 of class 0 down to 50 of class 9",
    "200 images a class", "MLP 784–512–256–10", "20 epochs", "five seeds", "36 trainings",
    "4.3 minutes"."""
    c = record["config"]
    counts = long_tail.long_tail_counts(c["n_max"], 10, c["ratio"])
    assert sum(counts) == 12406 and counts[0] == 5000 and counts[-1] == 50
    for d in record["metrics"]["datasets"].values():
        assert d["class_counts"] == counts and d["n_valid"] == 2000
    assert (c["n_valid_per_class"], c["hidden"], c["epochs"], len(c["seeds"])) == (200, [512, 256], 20, 5)
    trainings = sum(len(t) for d in record["metrics"]["datasets"].values()
                    for t in d["train_seconds"].values()) + 2 * (len(c["loss_taus"]) - 1)
    assert trainings == 36
    seconds = [s for d in record["metrics"]["datasets"].values() for t in d["train_seconds"].values()
               for s in t]
    assert 6 < sorted(seconds)[len(seconds) // 2] < 8  # "about 7 seconds"
    assert quoted(record["wall_time_s"] / 60, "4.3")


def test_balanced_accuracies(record):
    mnist, fashion = (record["metrics"]["datasets"][k] for k in ("mnist", "fashion-mnist"))
    m, f = medians(mnist), medians(fashion)
    assert quoted(m["cross-entropy"], "0.914") and quoted(m["post-hoc"], "0.933")
    assert quoted(m["logit-adjusted"], "0.933") and quoted(m["reweighted"], "0.919")
    assert quoted(f["cross-entropy"], "0.812") and quoted(f["post-hoc"], "0.836")
    assert quoted(f["logit-adjusted"], "0.839") and quoted(f["reweighted"], "0.832")
    for d in (mnist, fashion):  # "every seed of either correction above every seed of plain"
        plain = max(d["methods"]["cross-entropy"]["balanced_acc"]["per_seed"])
        for method in ("post-hoc", "logit-adjusted"):
            assert min(d["methods"][method]["balanced_acc"]["per_seed"]) > plain
        # "the adjusted loss first or level, the post-hoc correction close behind, plain last"
        s = medians(d)
        assert s["logit-adjusted"] >= s["post-hoc"] - 0.0005 > s["cross-entropy"]
        assert s["reweighted"] < s["post-hoc"]


def test_per_class(record):
    mnist, fashion = (record["metrics"]["datasets"][k] for k in ("mnist", "fashion-mnist"))
    ce = mnist["methods"]["cross-entropy"]["per_class_acc"]["median"]
    ph = mnist["methods"]["post-hoc"]["per_class_acc"]["median"]
    rw = mnist["methods"]["reweighted"]["per_class_acc"]["median"]
    assert mnist["class_counts"][8:] == [83, 50]
    assert quoted(ce[8], "0.773") and quoted(ce[9], "0.731")
    assert quoted(ph[8], "0.850") and quoted(ph[9], "0.825")
    assert quoted(rw[8], "0.772") and quoted(rw[9], "0.774")
    assert max(a - b for a, b in zip(ce[:5], ph[:5])) == pytest.approx(0.009, abs=0.0005)
    assert all(0.07 <= ph[k] - ce[k] <= 0.095 for k in (8, 9))  # "by about 0.08–0.09"
    ce = fashion["methods"]["cross-entropy"]["per_class_acc"]["median"]
    ph = fashion["methods"]["post-hoc"]["per_class_acc"]["median"]
    assert fashion["class_names"][6] == "Shirt" and fashion["class_counts"][6] == 232
    assert min(range(10), key=ce.__getitem__) == 6  # "the hardest class"
    assert max(range(10), key=lambda k: ph[k] - ce[k]) == 6  # "the largest change"
    assert quoted(ce[6], "0.252") and quoted(ph[6], "0.470")
    assert quoted(ce[0], "0.958") and quoted(ph[0], "0.878")


def test_tau(record):
    mnist, fashion = (record["metrics"]["datasets"][k] for k in ("mnist", "fashion-mnist"))
    sweeps = {}
    for name, d in (("mnist", mnist), ("fashion", fashion)):
        p = d["posthoc_tau"]
        test = p["test_balanced_acc"]["median"]
        best = max(range(len(test)), key=test.__getitem__)
        sweeps[name] = (p, test, best, test[p["taus"].index(1.0)])
    p, test, best, one = sweeps["fashion"]
    assert p["best_tau_valid"]["median"] == 1.25 and (min(p["best_tau_valid"]["per_seed"]),
                                                      max(p["best_tau_valid"]["per_seed"])) == (1.0, 1.5)
    assert quoted(one, "0.8355") and p["taus"][best] == 1.5 and quoted(test[best], "0.8368")
    assert quoted(test[best] - one, "0.0013")
    p, test, best, one = sweeps["mnist"]
    assert p["best_tau_valid"]["median"] == 1.75 and (min(p["best_tau_valid"]["per_seed"]),
                                                      max(p["best_tau_valid"]["per_seed"])) == (1.25, 1.75)
    assert p["taus"][best] == 2.0 and quoted(test[best], "0.940") and quoted(one, "0.933")
    assert quoted(test[best] - one, "0.007")
    loss = {"mnist": ["0.925", "0.934", "0.936", "0.936"], "fashion-mnist": ["0.837", "0.843", "0.842", "0.835"]}
    for name, texts in loss.items():
        l = record["metrics"]["datasets"][name]["loss_tau"]
        assert l["taus"] == [0.5, 1.0, 1.5, 2.0]
        assert all(quoted(v, t) for v, t in zip(l["test_balanced_acc"], texts))
        assert max(l["test_balanced_acc"]) - l["test_balanced_acc"][1] <= 0.007
