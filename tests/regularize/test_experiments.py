"""Tiny runs of the regularisation chapters' experiments (kexue.regularize.experiments):
``lipschitz-mnist`` (and the figures drawn from its record) and ``vat-mnist-100``."""

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from kexue import experiments
from kexue.regularize import experiments as regularize_experiments
from kexue.regularize import figures

from ..conftest import published_as_full_run


def test_lipschitz_mnist_tiny_run(tmp_path, monkeypatch):
    record = experiments.run("lipschitz-mnist", "quick", n_train=512, n_test=200, epochs=1,
                             hidden=16, n_jacobian=100, sigmas=[0.0, 0.5, 1.0])
    m = record.metrics
    assert list(m["models"]) == ["plain", "weight decay", "spectral norm, K=1",
                                 "spectral norm, K=4", "gradient penalty"]
    for name, r in m["models"].items():
        assert r["pair_max"] <= r["upper_bound"] and r["jacobian_max"] <= r["upper_bound"]
        assert r["noise_acc"][0] == pytest.approx(r["test_acc"])
        assert 0.1 < r["test_acc"] <= 1
    assert m["sn_upper_bound"] == m["models"]["spectral norm, K=1"]["upper_bound"]
    assert 1 - 1e-6 < m["sn_upper_bound"] < 1.3
    for name, K in (("spectral norm, K=1", 1), ("spectral norm, K=4", 4)):
        converged = m["models"][name]["converged"]  # 200 more rounds: the bound is K
        assert converged["upper_bound"] == pytest.approx(K, rel=1e-6)
        assert converged["jacobian_max"] <= converged["upper_bound"]
    assert "converged" not in m["models"]["plain"]
    # a penalty step differentiates through a gradient: dearer than a plain one
    assert m["models"]["gradient penalty"]["ms_per_step"] > m["models"]["plain"]["ms_per_step"]
    header, rows = figures.results_table(m, sigma=0.5)
    assert len(rows) == 5 and all(len(r) == len(header) for r in rows)
    with pytest.raises(ValueError, match="measured levels"):
        figures.results_table(m, sigma=0.3)
    fig = Figure()
    figures.plot_noise_accuracy(m, fig)
    assert len(fig.axes) == 2
    widget = figures.explore_noise(m, record.artifacts)
    assert widget.png(sigma=1.0)[:4] == b"\x89PNG"
    examples = record.artifacts["examples"]
    with torch.no_grad():  # the explorer's predictions are each model's on x + sigma z
        model = record.artifacts["models"]["plain"]
        noisy = examples["x"] + 0.5 * examples["z"]
        assert torch.equal(examples["predictions"]["plain"][1], model(noisy).argmax(1))
    # what a full run publishes reads back as the explorer takes it
    assert experiments.REGISTRY["lipschitz-mnist"].publish is regularize_experiments._publish_lipschitz
    shown = published_as_full_run(record, regularize_experiments,
                                  regularize_experiments.lipschitz_full_run, tmp_path, monkeypatch)
    kept = shown["artifacts"]["examples"]
    assert list(kept["predictions"]) == list(m["models"]) and shown["artifacts"]["sigmas"] == m["sigmas"]
    for name, p in examples["predictions"].items():
        assert torch.equal(kept["predictions"][name], p)
    assert torch.allclose(kept["z"], examples["z"], atol=2e-3) and torch.equal(kept["labels"],
                                                                                examples["labels"])
    assert figures.explore_noise(shown["metrics"], shown["artifacts"]).png(sigma=0.5)[:4] == b"\x89PNG"


def test_vat_mnist_100_runs_small_and_can_hold_out_validation():
    threads = torch.get_num_threads()
    record = experiments.run("vat-mnist-100", "quick", steps=10, baseline_steps=10,
                             n_unlabelled=300, n_eval=300, validation=1000, widths=[784, 32, 10])
    assert torch.get_num_threads() == threads  # run on cpu_threads threads, then restored
    m = record.metrics
    assert m["evaluated_on"] == "validation" and m["n_labelled"] == 100
    assert len(m["vat_acc_per_seed"]) == len(m["seeds"]) == 1
    assert all(0 <= a <= 100 for a in m["vat_acc_per_seed"] + m["baseline_acc_per_seed"])
    assert m["test_acc_vat"] == m["vat_acc_per_seed"][0]
    assert isinstance(record.artifacts["vat_model"], nn.Module)


def test_vat_full_run_reads_back_what_a_full_run_publishes(tmp_path, monkeypatch):
    record = experiments.run("vat-mnist-100", "quick", steps=10, baseline_steps=10,
                             n_unlabelled=300, n_eval=300, widths=[784, 32, 10])
    assert experiments.REGISTRY["vat-mnist-100"].publish is regularize_experiments._publish_vat
    shown = published_as_full_run(record, regularize_experiments,
                                  regularize_experiments.vat_full_run, tmp_path, monkeypatch)
    art = record.artifacts
    assert shown["record"]["profile"] == "full"
    for rows in ("baseline_rows", "vat_rows"):
        assert [r["step"] for r in shown[rows]] == [r["step"] for r in art[rows]]
        assert [r["ce"] for r in shown[rows]] == pytest.approx([r["ce"] for r in art[rows]],
                                                               rel=2e-3)
    assert set(shown["vat_rows"][0]) == {"step", "ce", "acc", "vat", "entropy"}
    frames, kept = art["explorer"], shown["explorer"]
    assert kept["names"] == frames["names"] == ["VAT", "labels only"]
    assert torch.equal(kept["y"], frames["y"]) and len(kept["y"]) == 3
    assert torch.allclose(kept["probabilities"], frames["probabilities"], atol=1e-3)
    assert figures.explore_perturbation(kept).png(epsilon=2.0, image=2)[:4] == b"\x89PNG"
