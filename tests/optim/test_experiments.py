"""Tests for kexue.optim.experiments: Part II's drivers and their helpers on small or synthetic
data: gradient accumulation against a larger batch, Heun against SGD at equal gradient
evaluations, the optimisers on the 2-D surfaces, per-layer learning rates on MNIST, and the MNIST
run with its callbacks (consistent numbers, exact resumption). The small runs are made in
conftest.py; the figures drawn from them are tested in test_figures.py."""
import json

import pytest
from matplotlib.figure import Figure

import kexue as kx
from kexue import experiments, runtime
from kexue.optim import adaptive as ad
from kexue.optim import experiments as ex
from kexue.optim import surfaces

from ..conftest import committed


# -- accumulation-mnist ----------------------------------------------------------------------------
def test_compare_batch_sizes_on_synthetic_data(accumulation_comparison):
    """The experiment's comparison, small: accumulated and large-batch runs agree; it reports the
    three runs with their step counts."""
    _, metrics, _ = accumulation_comparison
    runs = metrics["runs"]
    assert [runs[n]["optimizer_steps"] for n in ("small batch", "accumulated", "large batch")] == [40, 10, 10]
    assert metrics["max_param_diff_accumulated_vs_large"] < 1e-6
    assert runs["accumulated"]["test_acc"] == runs["large batch"]["test_acc"]


def _full(name, metrics):
    """A full record of ``name`` with ``metrics``, as one reads back from JSON."""
    return json.loads(json.dumps({"experiment": name, "profile": "full", "config": {},
                                  "metrics": metrics}))


def test_accumulation_full_run_view_is_what_the_run_recorded(accumulation_comparison, monkeypatch,
                                                             tmp_path):
    _, metrics, artifacts = accumulation_comparison
    committed(monkeypatch, tmp_path)
    assert ex.accumulation_full_run() is None               # no record: the page's own run
    data = _full("accumulation-mnist", metrics)
    committed(monkeypatch, tmp_path, data)
    shown = ex.accumulation_full_run()
    assert shown["record"] == data and shown["histories"] == artifacts["histories"]
    fig = Figure()
    kx.optim.figures.accumulation.plot_runs(shown["histories"], fig)
    assert len(fig.axes[0].lines) == 3


# -- heun-vs-sgd-mnist -----------------------------------------------------------------------------
def test_compare_with_sgd_spends_equal_gradient_evaluations(heun_comparison):
    (x, y), metrics, artifacts = heun_comparison
    runs = metrics["runs"]
    assert [(r["method"], r["steps"], r["evaluations"]) for r in runs] == [
        ("sgd", 8, 8), ("heun", 4, 8), ("sgd", 8, 8), ("heun", 4, 8)]
    curve = artifacts["curves"][("heun", 0.4)]
    assert [r["evals"] for r in curve] == [0, 4, 8]
    assert metrics["test_acc_gap"] == metrics["best_heun"]["test_acc"] - metrics["best_sgd"]["test_acc"]
    losses = ex.train_losses(metrics)
    assert sorted(losses) == [("heun", 0.1), ("heun", 0.4), ("sgd", 0.1), ("sgd", 0.4)]
    assert losses[("sgd", 0.4)] == runs[2]["train_loss"]
    diverged = {"runs": [dict(runs[0], diverged=True, train_loss="diverged")]}
    assert ex.train_losses(diverged) == {("sgd", 0.1): float("inf")}
    with pytest.raises(ValueError, match="must be even"):
        ex.compare_with_sgd((x, y), (x, y), lrs=[0.1], evaluations=7, batch=10, hidden=8,
                            eval_every=4, seed=0)


def test_heun_full_run_view_is_what_the_run_recorded(heun_comparison, monkeypatch, tmp_path):
    _, metrics, artifacts = heun_comparison
    committed(monkeypatch, tmp_path)
    assert ex.heun_full_run() is None                       # no record: the page's own run
    committed(monkeypatch, tmp_path, _full("heun-vs-sgd-mnist", metrics))
    shown = ex.heun_full_run()
    best = {k: (k, metrics[f"best_{k}"]["lr"]) for k in ("sgd", "heun")}
    assert shown["curves"] == {key: artifacts["curves"][key] for key in best.values()}
    fig = Figure()
    kx.optim.figures.heun.plot_mnist_runs(shown["metrics"], shown["curves"], fig)
    assert len(fig.axes[1].lines) == 2


# -- adaptive-optimisers-2d ------------------------------------------------------------------------
def test_experiment_reports_each_optimiser_on_each_surface(adaptive_record):
    m = adaptive_record.metrics
    for name in ("quadratic", "quadratic-rotated", "rosenbrock"):
        assert set(m[name]) == set(ad.OPTIMISERS)
        for row in m[name].values():
            assert row["n_lrs"] == 9 and 0 <= row["n_reaching"] <= 9
            assert row["best_lr"] in [float(v) for v in adaptive_record.artifacts["lrs"]]
    # the same sweep by hand agrees with the record, and the best rate is the fastest one
    lrs = adaptive_record.artifacts["lrs"]
    with runtime.cpu_threads(1):
        result = ad.sweep(surfaces.get("quadratic"), "SGD", lrs, 120)
    reached = ad.steps_to(result["losses"], 1e-4)
    assert m["quadratic"]["SGD"]["steps_to_threshold"] == min(
        (k for k in reached if k is not None), default=None)
    assert m["quadratic"]["SGD"]["n_reaching"] == sum(k is not None for k in reached)
    # gradient descent diverges beyond 2 / kappa = 0.1 on the quadratic; the adaptive ones never do
    assert m["quadratic"]["SGD"]["n_diverged"] == int((lrs > 0.11).sum()) > 0
    assert m["quadratic"]["Adam"]["n_diverged"] == m["quadratic"]["RMSprop"]["n_diverged"] == 0


def test_compare_on_surfaces_refuses_bad_input():
    with pytest.raises(ValueError, match="one step count per surface"):
        ex.compare_on_surfaces(["quadratic"], [10, 10], [0.1], 1e-4)


# -- layerwise-lr-mnist ----------------------------------------------------------------------------
def test_experiment_moves_the_faster_layer_further(layerwise_record):
    """A tiny run of the chapter's MNIST experiment: the two ways agree to rounding, and the layer
    given 10x the rate moves further than at 1x, which moves further than at 0.1x."""
    record = layerwise_record
    runs = {r["multiplier"]: r for r in record.metrics["runs"]}
    moved = [runs[m]["movement"]["hidden1"] for m in (0.1, 1.0, 10.0)]
    assert moved[0] < moved[1] < moved[2]
    assert all(r["max_gap_reparametrise_vs_groups"] < 1e-10 for r in runs.values())
    assert record.metrics["movement_ratio"] == pytest.approx(moved[2] / moved[1])
    assert len(record.artifacts["runs"][1.0]["movement"]) == 4  # steps 0, 10, 20, 30


def test_layerwise_full_run_view_is_what_the_run_recorded(layerwise_record, monkeypatch, tmp_path):
    committed(monkeypatch, tmp_path)
    assert ex.layerwise_full_run() is None                 # no record: the page's own run
    data = json.loads(json.dumps(layerwise_record.to_json()))  # as a committed record reads back
    committed(monkeypatch, tmp_path, data)
    shown, art = ex.layerwise_full_run(), layerwise_record.artifacts
    assert shown["runs"] == art["runs"] and shown["layer"] == art["layer"] == "hidden1"
    assert shown["layers"] == art["layers"] and shown["record"] == data
    fig = Figure()
    kx.optim.figures.layerwise.plot_layerwise_runs(shown, fig)
    assert [len(line.get_xdata()) for line in fig.axes[1].lines] == [4, 4, 4]


# -- mnist-callbacks -------------------------------------------------------------------------------
def test_mnist_run_reports_consistent_numbers(callbacks_record, tiny_callbacks_config):
    m, a = callbacks_record.metrics, callbacks_record.artifacts
    tiny = tiny_callbacks_config
    assert m["best_checkpoint_matches"] is True
    rows = {r["step"]: r for r in a["rows"]}
    best = max(a["rows"], key=lambda r: r["val_acc"])  # the first of the highest
    assert m["best_step"] == best["step"] and m["monitor_best"] == best["val_acc"]
    # the weights early stopping restored score on the test set what the run recorded for them
    assert m["test_acc_best"] == pytest.approx(rows[m["best_step"]]["test_acc"], abs=1e-6)
    assert m["steps_run"] == (m["stopped_step"] or tiny["steps"])
    assert len(a["lr"]) == m["steps_run"] and a["lr"][tiny["warmup"] - 1] == pytest.approx(0.1)
    assert m["test_acc_ema"] > 0.5 and m["test_acc_last"] > 0.5  # it learned (chance is 0.1)
    assert all(b > 0 for b in m["beta"])


def test_full_run_view_is_what_the_run_recorded(callbacks_record, monkeypatch, tmp_path):
    art = callbacks_record.artifacts
    committed(monkeypatch, tmp_path)
    assert ex.callbacks_full_run() is None                 # no record: the page's own run
    data = json.loads(json.dumps(callbacks_record.to_json()))  # as a committed record reads back
    committed(monkeypatch, tmp_path, data)
    shown = ex.callbacks_full_run()
    assert shown["rows"] == art["rows"] and shown["config"] == art["config"]
    assert (shown["best_step"], shown["stopped_step"]) == (art["best_step"], art["stopped_step"])
    # the schedule recomputed from the config is the one the run recorded, step for step
    assert shown["lr_steps"] == art["lr_steps"] and shown["lr"] == pytest.approx(art["lr"], rel=1e-12)
    assert ex.ema_advantage(shown) == ex.ema_advantage(art)
    fig = Figure()
    kx.optim.figures.layers.plot_run(shown, fig)
    assert len(fig.axes) == 3


def test_ema_advantage_averages_the_gaps_by_phase():
    rows = [{"step": t, "val_acc": 0.5, "ema_val_acc": 0.5 + g, "val_loss": 1.0, "ema_val_loss": 1.0 - g}
            for t, g in [(1, -0.2), (2, -0.1), (5, 0.04), (6, 0.02), (9, 0.0)]]
    art = {"rows": rows, "config": {"ema_decay": 0.5}, "lr_steps": list(range(1, 10)),
           "lr": [1.0, 1.0, 1.0, 1.0, 0.9, 0.6, 0.4, 0.2, 0.1]}
    # 0.5^t > 0.2 for t <= 2; then the rate is above 0.5 at steps 5 and 6, below at step 9
    phases = ex.ema_advantage(art, start_weight=0.2)
    assert [(p["evaluations"], p["steps"]) for p in phases] == [(2, (1, 2)), (2, (5, 6)), (1, (9, 9))]
    assert [p["acc"] for p in phases] == pytest.approx([-0.15, 0.03, 0.0])
    assert [p["loss"] for p in phases] == pytest.approx([0.15, -0.03, 0.0])
    with pytest.raises(ValueError, match="start_weight must be positive"):
        ex.ema_advantage(art, start_weight=0)


def test_resume_check_on_mnist_is_exact(tmp_path, tiny_callbacks_config):
    config = {**tiny_callbacks_config, "steps": 60, "n_train": 256}
    result = ex.resume_check(config, 25, tmp_path)
    assert result["checkpoint_step"] == 25
    assert result["weights"] == 0.0 and result["ema"] == 0.0
    assert result["evaluations_equal"] and result["lr_equal"]
    assert result["steps"][0] == result["steps"][1]
    with pytest.raises(ValueError, match="before the last step"):
        ex.resume_check(config, 60, tmp_path)


def test_splits_reject_more_images_than_mnist_has():
    with pytest.raises(ValueError, match="MNIST has 60000 training images; 60500 were asked for"):
        experiments.run("mnist-callbacks", "quick", n_train=59_500, n_val=1000)
