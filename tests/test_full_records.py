"""The committed full-profile records of Parts I and II hold what their chapters say the runs show.
(Part III's records have their own tests beside the VAE tests.)"""
import json
from pathlib import Path

import pytest

from kexue import experiments

RESULTS = Path(__file__).resolve().parents[1] / "results"


def record(name):
    path = RESULTS / f"{name}.json"
    if not path.exists():
        pytest.fail(f"no committed full-profile record {path.name}")
    rec = json.loads(path.read_text())
    assert rec["experiment"] == name and rec["profile"] == "full"
    assert rec["config"] == experiments.get(name).full, f"{name}: the record's config is not today's full profile"
    assert rec["provenance"]["git_dirty"] is False, f"{name} was run from sources that differ from its commit"
    return rec["metrics"]


def test_rank_one_flow_reaches_the_least_gap_each_number_of_factors_allows():
    m = record("rank-one-exp-flow")
    for factors, trained, optimal in zip(m["factors"], m["gap_nats_per_dim"], m["optimal_gap_nats_per_dim"]):
        assert optimal - 1e-6 <= trained <= optimal + 1e-3, factors
        if factors >= 16:  # k/2 factors and more: the gap can close, and training closes it
            assert optimal == 0.0 and trained < 1e-3
    assert m["max_inverse_error"] < 1e-10


def test_svd_autoencoder_approaches_the_svd_within_its_time_budget():
    m = record("svd-linear-autoencoder")
    assert m["train_seconds"] is not None and 0 < m["steps_trained"]["linear"] <= m["steps"]
    assert 0 <= m["excess_error"] < 1e-3  # Eckart-Young: never below the SVD's error
    assert sorted(m["angles_deg"])[len(m["angles_deg"]) // 2] < 0.1  # most directions found
    assert m["relu_excess_error"] < 0  # the ReLU on the output beats the linear optimum


def test_accumulated_small_batches_match_the_large_batch_and_beat_batch_one():
    runs = record("accumulation-mnist")["runs"]
    assert runs["accumulated"]["optimizer_steps"] == runs["large batch"]["optimizer_steps"]
    assert abs(runs["accumulated"]["test_acc"] - runs["large batch"]["test_acc"]) < 0.005
    assert runs["small batch"]["test_acc"] < runs["accumulated"]["test_acc"] - 0.01
    assert runs["small batch"]["train_loss"] > 3 * runs["accumulated"]["train_loss"]


def test_heun_is_no_better_than_sgd_on_mnist():
    m = record("heun-vs-sgd-mnist")
    assert m["test_acc_gap"] <= 0.005


def test_the_callbacks_run_restores_and_checkpoints_the_best_weights():
    m = record("mnist-callbacks")
    assert m["best_checkpoint_matches"] is True
    assert m["best_step"] <= m["stopped_step"] == m["steps_run"]
    assert m["test_acc_ema"] > 0.97


def test_layerwise_rates_move_the_first_layer_faster():
    assert record("layerwise-lr-mnist")["movement_ratio"] > 1


def test_spectral_normalisation_bounds_the_lipschitz_constant():
    models = record("lipschitz-mnist")["models"]
    sn = models["spectral norm, K=1"]
    assert sn["jacobian_max"] <= sn["upper_bound"] < 1.5
    assert models["plain"]["upper_bound"] > 10 * sn["upper_bound"]


def test_adam_reaches_the_rosenbrock_threshold():
    assert 0 < record("adaptive-optimisers-2d")["adam_rosenbrock_steps"] < 10000
