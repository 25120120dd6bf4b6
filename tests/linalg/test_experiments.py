"""Tests for kexue.linalg.experiments: the four registered experiments of Part I run (in small
configurations) and reach what their chapters claim, and the comparison of the linear autoencoder
with the SVD that ``svd-linear-autoencoder`` runs. Figures drawn from a run's artifacts are checked
with the run."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from kexue import data, experiments
from kexue.linalg import experiments as lx
from kexue.linalg import figures as fg

from ..conftest import published_as_full_run

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def low_rank_plus_noise(n, scales, noise, dim, generator):
    """``n`` centred samples in ``R^dim``: a random ``len(scales)``-dim subspace with those standard
    deviations along its axes, plus isotropic Gaussian noise of standard deviation ``noise``."""
    basis, _ = torch.linalg.qr(torch.randn(dim, len(scales), generator=generator, dtype=F64))
    latent = torch.randn(n, len(scales), generator=generator, dtype=F64) * torch.tensor(scales)
    X = latent @ basis.T + noise * torch.randn(n, dim, generator=generator, dtype=F64)
    return X - X.mean(dim=0)


# -- det-exp-trace-hutchinson ----------------------------------------------------------------------
def test_hutchinson_experiment_quick():
    record = experiments.run("det-exp-trace-hutchinson", profile="quick")
    m = record.metrics
    # 200 trials give each variance a relative s.e. ~ sqrt(2/200) = 0.1, so the log-log slope over
    # 9 doublings has s.e. ~ 0.1 / sqrt(28.8) ~ 0.02: allow 5 s.e.
    assert abs(m["variance_slope"] + 1) < 0.1
    assert abs(m["variance_ratio_1_probe"] - 1) < 0.1  # 51200 draws: s.e. ~ 0.01
    assert abs(m["trace_bias_z"]) < 5 and abs(m["logdet_z"]) < 5
    assert m["logdet_series_truncation_error"] < 1e-10  # 0.5^41 * 64 / (41 * 0.5) ~ 1e-12
    assert m["logdet_abs_error"] < 5 * m["logdet_stderr"]
    fig = Figure()
    fg.plot_hutchinson(fig, record.artifacts)
    assert len(fig.axes) == 2
    with pytest.raises(KeyError, match="artifacts lack"):
        fg.plot_hutchinson(Figure(), {"probes": [1, 2]})


def test_hutchinson_experiment_draws_log_det_probes_in_chunks():
    # more log det probes than one chunk (8192): the chunks must add up to the requested count
    record = experiments.run("det-exp-trace-hutchinson", profile="quick", dim=8, trials=20,
                             probes=[1, 2, 4], logdet_probes=8200)
    assert len(record.artifacts["logdet_running"]) == 8200
    assert abs(record.metrics["logdet_z"]) < 5


# -- injective-flow-density ------------------------------------------------------------------------
def test_injective_flow_experiment_integrates_to_one():
    assert "injective-flow-density" in experiments.names()
    rec = experiments.run("injective-flow-density", profile="quick", n_samples=60_000, chunk=25_000)
    m = rec.metrics
    assert rec.metric == "mass" and m["n_samples"] == 60_000
    assert 0 < m["mass_stderr"] < 0.01
    assert abs(m["mass"] - 1) < 5 * m["mass_stderr"]
    # forgetting the area factor is wrong by far more than the noise, and matches its closed form
    assert abs(m["mass_without_jacobian"] - 1) > 1.0
    assert abs(m["mass_without_jacobian"] - m["mass_without_jacobian_exact"]) < 0.03
    # band probabilities: sd <= sqrt(0.25 / 60000) = 0.002 per band for the pushed fractions
    assert m["band_max_abs_err_pushed"] < 0.01
    assert m["band_max_abs_err_density"] < 0.01
    a = rec.artifacts
    assert a["points"].shape == (4000, 3) and a["log_density"].shape == (4000,)
    assert np.allclose(np.linalg.norm(a["points"], axis=1), 1.0)


# -- rank-one-exp-flow -----------------------------------------------------------------------------
def test_flow_experiment_reaches_the_optimum():
    record = experiments.run("rank-one-exp-flow", dim=4, factors=[1, 2], steps=300, samples=500, seed=1)
    m = record.metrics
    assert m["gap_nats_per_dim"][0] > 0.05  # one factor cannot whiten 4 dimensions
    assert m["optimal_gap_nats_per_dim"][1] == 0.0
    assert 0 <= m["max_excess_over_optimum"] < 1e-5
    assert m["max_inverse_error"] < 1e-12
    fig = Figure()
    fg.plot_flow(fig, record)
    assert len(fig.axes) == 2


def test_experiment_is_registered_with_both_profiles():
    exp = experiments.get("rank-one-exp-flow")
    assert exp.post == 6407 and exp.metric == "max_excess_over_optimum"
    assert exp.full["dim"] // 2 in exp.full["factors"] and exp.quick["dim"] // 2 in exp.quick["factors"]


# -- svd-linear-autoencoder: the comparison, its figures and the MNIST experiment ------------------
def test_snapshot_steps_are_spread_multiples_of_the_probe_interval():
    steps = lx._snapshot_steps(200, 10, 12)
    assert steps[0] == 0 and steps[-1] == 200 and all(t % 10 == 0 for t in steps)
    assert len(steps) >= 8


def sparse_images(n, seed):
    """Nonnegative 4x4 'images' with many zero pixels: a ReLU of low-rank Gaussian data."""
    return torch.relu(low_rank_plus_noise(n, [3.0, 2.0, 1.5], 0.3, 16, gen(seed)) - 0.5)


@pytest.fixture(scope="module")
def small_comparison():
    return lx.compare_with_svd(sparse_images(300, 20), sparse_images(6, 21), 3, steps=200, lr=0.02,
                               momentum=0.9, probe_every=20, n_snapshots=5, seed=0)


def test_compare_with_svd_on_nonnegative_data(small_comparison):
    metrics, artifacts = small_comparison
    assert metrics["max_angle_deg"] < 1.0
    assert 0 <= metrics["excess_error"] < 1e-2  # its slow tail: the tight check is above
    # a ReLU on the output can beat the SVD; clipping the SVD already does
    assert metrics["svd_clipped_excess_error"] < 0
    assert metrics["relu_excess_error"] < 0
    assert metrics["angles_deg"] == sorted(metrics["angles_deg"])
    assert len(artifacts["snapshots"]) >= 2


def test_figures_and_explorer_draw(small_comparison):
    _, artifacts = small_comparison
    for plot in (fg.plot_training, fg.plot_reconstructions, fg.plot_decoder_columns):
        fig = Figure()
        plot(artifacts, fig)
        assert fig.axes
    widget = fg.explore_training(artifacts, n_images=3)
    for step in sorted(artifacts["snapshots"])[:2]:
        assert widget.png(step=step).startswith(b"\x89PNG")


def test_compare_with_svd_checks_its_inputs():
    with pytest.raises(ValueError, match="16 columns"):
        lx.compare_with_svd(sparse_images(30, 1), torch.zeros(2, 9), 2, steps=10, lr=0.01,
                            momentum=0.9, probe_every=5, n_snapshots=3, seed=0)


def _mnist_cached() -> bool:
    folder = data.MNIST.directory()
    return all((folder / name).is_file() for name in data.MNIST.files)


@pytest.mark.skipif(not _mnist_cached(), reason="MNIST is not in the data cache")
def test_quick_experiment_on_mnist():
    record = experiments.run("svd-linear-autoencoder", "quick")
    m = record.metrics
    assert m["max_angle_deg"] < 1.0
    assert 0 <= m["excess_error"] < 1e-3
    assert m["relu_excess_error"] < m["svd_clipped_excess_error"] < 0
    assert m["relu_max_angle_deg"] > 5  # the ReLU model's decoder leaves the SVD subspace
    assert m["encoder_max_angle_deg"] > 10  # never-lit border pixels keep their random weights


def test_compare_with_svd_refuses_k_at_full_rank():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(30, 3, generator=gen, dtype=torch.float64) @ torch.randn(3, 8, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match="reaches the rank of the centred data"):
        lx.compare_with_svd(X, X[:5], 3, steps=10, lr=0.01, momentum=0.9, probe_every=5,
                            n_snapshots=2, seed=0)


@pytest.mark.skipif(not _mnist_cached(), reason="MNIST is not in the data cache")
def test_svd_full_run_reads_back_what_a_full_run_publishes(tmp_path, monkeypatch):
    record = experiments.run("svd-linear-autoencoder", "quick", n_train=300, k=4, steps=40,
                             probe_every=10, n_snapshots=4)
    art = record.artifacts
    assert experiments.REGISTRY["svd-linear-autoencoder"].publish is lx._publish_svd
    shown = published_as_full_run(record, lx, lx.svd_full_run, tmp_path, monkeypatch)
    assert sorted(shown["snapshots"]) == sorted(art["snapshots"]) and shown["k"] == 4
    last = max(art["snapshots"])
    for kept, made in zip(shown["snapshots"][last], art["snapshots"][last]):
        assert torch.allclose(kept, made.double(), rtol=2e-3, atol=1e-4)       # float16 on the way
    assert [r["step"] for r in shown["linear_rows"]] == [r["step"] for r in art["linear_rows"]]
    with torch.no_grad():  # both models reconstruct as the run's did, to float16 precision
        for name in ("linear", "relu"):
            x = art["test"].to(art[name].decoder.dtype)
            assert torch.allclose(shown[name](shown["test"]), art[name](x).double(), atol=2e-2)
    fg.plot_reconstructions(shown, Figure())
    fg.plot_decoder_columns(shown, Figure())
    assert fg.explore_training(shown).png(step=last)[:4] == b"\x89PNG"
