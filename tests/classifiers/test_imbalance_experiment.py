"""The quick profile of ``logit-adjustment-lt`` (kexue.classifiers.experiments.imbalance): the
record's layout, and the numbers in it that must agree with each other."""
import statistics

import pytest
import torch

from kexue import experiments
from kexue.classifiers.long_tail import long_tail_counts

CLASSIFIERS = ["cross-entropy", "post-hoc", "logit-adjusted", "reweighted"]


@pytest.fixture(scope="module")
def record():
    return experiments.run("logit-adjustment-lt", "quick")


def test_the_record_holds_every_dataset_method_and_seed(record):
    m, config = record.metrics, record.config
    assert record.post == 7615 and record.metric == "fashion_mnist_logit_adjusted"
    assert list(m["datasets"]) == config["datasets"] == ["mnist", "fashion-mnist"]
    counts = long_tail_counts(config["n_max"], 10, config["ratio"])
    assert m["profile_counts"] == counts
    seeds = config["seeds"]
    for name, d in m["datasets"].items():
        assert d["class_counts"] == counts and d["n_train"] == sum(counts)
        assert d["n_valid"] == 10 * config["n_valid_per_class"]
        assert d["n_test"] == 10000 == sum(d["test_class_counts"])
        assert list(d["methods"]) == CLASSIFIERS and d["seeds"] == seeds
        for method, r in d["methods"].items():
            assert m[f"{name}_{method}".replace("-", "_")] == r["balanced_acc"]["median"]
            for key in ("balanced_acc", "acc", "valid_balanced_acc"):
                assert len(r[key]["per_seed"]) == len(seeds)
                assert r[key]["median"] == statistics.median(r[key]["per_seed"])
                assert all(0 <= a <= 1 for a in r[key]["per_seed"])
            for per_class, balanced in zip(r["per_class_acc"]["per_seed"], r["balanced_acc"]["per_seed"]):
                assert len(per_class) == 10 and sum(per_class) / 10 == pytest.approx(balanced, abs=1e-12)
        assert set(d["train_seconds"]) == {"cross-entropy", "logit-adjusted", "reweighted"}
    assert m["fashion_mnist_logit_adjusted"] == \
        m["datasets"]["fashion-mnist"]["methods"]["logit-adjusted"]["balanced_acc"]["median"]
    # Fashion-MNIST's test split is balanced: its plain accuracy is its balanced accuracy
    fashion = m["datasets"]["fashion-mnist"]
    assert fashion["test_class_counts"] == [1000] * 10
    for r in fashion["methods"].values():
        assert r["acc"]["per_seed"] == pytest.approx(r["balanced_acc"]["per_seed"], abs=1e-12)


def test_the_tau_sweeps_agree_with_the_methods(record):
    config = record.config
    for d in record.metrics["datasets"].values():
        sweep, taus = d["posthoc_tau"], d["posthoc_tau"]["taus"]
        assert taus == config["tau_grid"]
        at = {t: i for i, t in enumerate(taus)}
        for s, seed_scores in enumerate(sweep["test_balanced_acc"]["per_seed"]):
            assert len(seed_scores) == len(taus)
            # tau = 0 is the plain model, tau = config's tau the post-hoc method
            assert seed_scores[at[0.0]] == d["methods"]["cross-entropy"]["balanced_acc"]["per_seed"][s]
            assert seed_scores[at[config["tau"]]] == d["methods"]["post-hoc"]["balanced_acc"]["per_seed"][s]
        valid = sweep["valid_balanced_acc"]["per_seed"]
        for s, best in enumerate(sweep["best_tau_valid"]["per_seed"]):
            assert valid[s][at[best]] == max(valid[s])
            assert sweep["test_balanced_acc_at_best_tau"]["per_seed"][s] == \
                sweep["test_balanced_acc"]["per_seed"][s][at[best]]
        per_class = sweep["per_class_test_acc_first_seed"]  # the chapter's tau slider
        assert len(per_class) == len(taus) and all(len(row) == 10 for row in per_class)
        for row, balanced in zip(per_class, sweep["test_balanced_acc"]["per_seed"][0]):
            assert sum(row) / 10 == pytest.approx(balanced, abs=1e-12)
        loss = d["loss_tau"]
        assert loss["taus"] == config["loss_taus"] and loss["seed"] == config["seeds"][0]
        assert loss["test_balanced_acc"][loss["taus"].index(config["tau"])] == \
            d["methods"]["logit-adjusted"]["balanced_acc"]["per_seed"][0]


def test_the_artifacts_hold_the_first_seeds_models(record):
    models = record.artifacts["models"]
    assert list(models) == ["mnist", "fashion-mnist"]
    for trained in models.values():
        assert list(trained) == ["cross-entropy", "logit-adjusted", "reweighted"]
        assert all(isinstance(model, torch.nn.Module) for model in trained.values())
        assert trained["cross-entropy"](torch.zeros(2, 784)).shape == (2, 10)


def test_bad_configurations_are_errors_before_any_training():
    with pytest.raises(ValueError, match="tau_grid must hold tau=1.0"):
        experiments.run("logit-adjustment-lt", "quick", tau_grid=[0.0, 0.5])
    known = "unknown dataset 'cifar10'; the known ones are mnist, fashion-mnist"
    with pytest.raises(ValueError, match=known):
        experiments.run("logit-adjustment-lt", "quick", datasets=["cifar10"])
