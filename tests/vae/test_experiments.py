"""The experiments of Part III (kexue.vae.experiments): each driver on a small configuration, its
metrics and artifacts, its bad input, the helpers it loads data with; the benchmark's wiring
(python -m kexue bench vae-cluster); and the NVAE's quick profile, bounded by steps, giving the
same numbers every time."""
import json

import pytest
import torch
from matplotlib.figure import Figure

import kexue as kx
from kexue import bench, published
from kexue.vae import figures
from kexue.vae.experiments import bottleneck as vib_exp
from kexue.vae.experiments import clustering as cluster_exp
from kexue.vae.experiments import explorer
from kexue.vae.experiments import geometry as geometry_exp
from kexue.vae.experiments import mutual_information as mi_exp

from ..conftest import published_as_full_run


def _published_full_run(module, record, folder, monkeypatch):
    """``module.full_run()`` reading back what the explorer publication keeps of ``record``'s
    artifacts, saved in ``folder`` as if the run were a full one."""
    assert kx.experiments.REGISTRY[record.experiment].publish is explorer.publish_explorer
    return published_as_full_run(record, explorer, module.full_run, folder, monkeypatch)


def _check_explorer_round_trip(shown, record):
    """The published beta = 1 decoder, test codes and labels are the run's (floats via float16)."""
    art = record.artifacts
    assert shown["record"]["experiment"] == record.experiment and shown["record"]["profile"] == "full"
    state = shown["decoder"].state_dict()
    assert state.keys() == art["models"]["vae-1"].decoder.state_dict().keys()
    for key, value in art["models"]["vae-1"].decoder.state_dict().items():
        assert torch.equal(state[key], value.half().float()), key
    assert torch.equal(shown["codes"], art["codes"]["vae-1"]["mean"].half().float())
    assert shown["labels"].dtype == art["y_test"].dtype and torch.equal(shown["labels"], art["y_test"])
    assert not shown["decoder"].training
    kx.widgets.latent_explorer(shown["decoder"], codes=shown["codes"], labels=shown["labels"])


# -- vib-fashion ---------------------------------------------------------------------------------
def test_experiment_reports_every_beta_and_sigma(vib_record):
    m, a = vib_record.metrics, vib_record.artifacts
    assert vib_record.post == 6181 and m["betas"] == vib_record.config["betas"] == [0.0, 1e-2, 1e-1]
    assert len(m["acc"]) == 3 and all(len(row) == 2 for row in m["acc"])
    assert m["test_acc_vib"] == m["acc"][2][0] and m["test_acc_plain"] == m["acc"][0][0]
    assert m["acc"] == m["acc_per_seed"][0] and m["evaluated_on"] == "test"
    assert all(20 < acc <= 100 for row in m["acc"] for acc in row)  # above chance (10%)
    assert m["kl_nats"][0] is None and m["kl_nats"][1] > m["kl_nats"][2] > 0
    assert m["kl_nats"][1] == pytest.approx(float(a["kl"][1].sum()))
    assert a["models"][0].bottleneck is None and a["models"][1].bottleneck is not None
    assert [r["ce"] for r in a["rows"][0]][-1] < [r["ce"] for r in a["rows"][0]][0]
    with pytest.raises(ValueError, match="headline_beta must be one of the positive betas"):
        kx.experiments.run("vib-fashion", "quick", **dict(vib_record.config, headline_beta=0.0))


def test_full_run_reads_back_what_a_full_run_publishes(vib_record, tmp_path, monkeypatch):
    assert kx.experiments.REGISTRY["vib-fashion"].publish is vib_exp._publish
    shown = published_as_full_run(vib_record, vib_exp, vib_exp.full_run, tmp_path, monkeypatch)
    a, m = vib_record.artifacts, vib_record.metrics
    assert shown["record"]["profile"] == "full"
    assert (shown["betas"], shown["sigmas"], shown["acc"]) == (m["betas"], m["sigmas"], m["acc"])
    assert torch.equal(shown["predictions"], a["predictions"]) and torch.equal(shown["y_eval"],
                                                                                a["y_eval"])
    assert shown["predictions"].shape == (3, 2, vib_exp.EXPLORER_IMAGES)
    assert torch.allclose(shown["x_eval"], a["x_eval"], atol=1e-3)      # float16 on the way
    assert shown["kl"][0] is None and torch.allclose(shown["kl"][2], a["kl"][2].float(), rtol=1e-3)
    for run, kept in zip(a["rows"], shown["rows"]):
        assert [r["epoch"] for r in kept] == pytest.approx([r["epoch"] for r in run], rel=1e-3)
        assert [r["ce"] for r in kept] == pytest.approx([r["ce"] for r in run], rel=1e-3)
    assert all(r["kl"] == 0 for r in shown["rows"][0])                  # no bottleneck, no KL
    widget = kx.vae.figures.bottleneck.explore_noise(shown, n_images=4)
    assert "σ = 0.5" in widget.figure(sigma=0.5).axes[0].get_title()
    with pytest.raises(ValueError, match="n_images must be at most the 8 images"):
        kx.vae.figures.bottleneck.explore_noise(shown, n_images=9)


def test_validation_images_are_held_out_from_training():
    x, y, x_val, y_val = vib_exp._fashion(300, 100, 500, 0, "cpu")
    assert x.shape == (300, 784) and x_val.shape == (100, 784) and y_val.shape == (100,)
    pixels = lambda images: [tuple(row.tolist()) for row in (images * 255).round().to(torch.uint8)]
    assert not set(pixels(x)) & set(pixels(x_val))
    _, _, x_test, _ = vib_exp._fashion(300, 100, 0, 0, "cpu")
    test_images = kx.data.fashion_mnist("test")[0][:100]
    assert torch.equal(x_test, kx.data.as_float(test_images, device="cpu"))
    with pytest.raises(ValueError, match="only 59500 training images are left"):
        vib_exp._fashion(59600, 10, 500, 0, "cpu")


# -- vae-geometry-mnist --------------------------------------------------------------------------
def test_experiment_reports_every_model_and_the_kl_chain(geometry_record):
    m = geometry_record.metrics
    assert m["prior_to_aggregate_kl"] == m["vae-1"]["prior_to_aggregate_kl"]
    assert set(geometry_record.artifacts["models"]) == {"ae", "vae-0.5", "vae-1"}
    assert "kl" not in m["ae"] and m["ae"]["moment_kl_to_prior"] > 0
    for name in ("vae-0.5", "vae-1"):
        v = m[name]
        # mean KL >= KL(aggregate || prior) >= moment-matched KL, up to Monte-Carlo error
        aggregate, se = v["aggregate_to_prior_kl"], v["aggregate_to_prior_kl_se"]
        assert v["kl"] > aggregate - 5 * se and aggregate + 5 * se > v["moment_kl_to_prior"]
        assert v["elbo_gap_mean"] >= 0 and v["edge_mass_max"] < 1e-3
        assert v["recon_error_sampled"] >= 0
    codes = geometry_record.artifacts["codes"]
    assert codes["ae"]["log_var"] is None and codes["vae-1"]["log_var"].shape == (200, 2)
    with pytest.raises(ValueError, match="kl_weights must include 1"):
        kx.experiments.run("vae-geometry-mnist", n_train=100, n_test=50, hidden=[8], epochs=1,
                           kl_weights=[0.5])


def test_grid_limits_are_the_prior_window_or_the_codes_central_box():
    codes = torch.linspace(0, 99, 100)[:, None] * torch.tensor([[1.0, -2.0]])
    assert geometry_exp.grid_limits(codes, torch.zeros(100, 2)) == (-2.5, 2.5, -2.5, 2.5)
    x0, x1, y0, y1 = geometry_exp.grid_limits(codes, None)
    # torch.quantile interpolates linearly: the 1% point of 0..99 is 0.99 (float32 round-off)
    assert (x0, x1, y0, y1) == pytest.approx((0.99, 98.01, -196.02, -1.98), rel=1e-5)
    with pytest.raises(ValueError, match="codes must be 2-D points"):
        geometry_exp.grid_limits(torch.zeros(10, 3), None)


def test_figure_data_is_what_the_models_draw(geometry_record):
    art = geometry_record.artifacts
    data = geometry_exp.figure_data(art, grid_n=4, steps=5, n_ellipses=30, pairs=((0, 1), (2, 3)))
    assert list(data) == ["labels", "ends", "ae", "vae-0.5", "vae-1"]
    assert torch.equal(data["ends"][1, 0], art["x_test"][2])
    vae = art["models"]["vae-1"]
    with torch.no_grad():
        corner = vae.decoder(torch.tensor([[-2.5, 2.5]]))[0]        # the grid's top-left point
    assert torch.allclose(data["vae-1"]["grid"][0], corner, atol=1e-6)
    assert data["vae-1"]["grid"].shape == (16, 784) and data["vae-1"]["strips"].shape == (2, 5, 784)
    assert torch.equal(data["vae-1"]["log_var"], art["codes"]["vae-1"]["log_var"][:30])
    assert "log_var" not in data["ae"] and data["ae"]["limits"].tolist() == pytest.approx(
        geometry_exp.grid_limits(art["codes"]["ae"]["mean"], None))
    with pytest.raises(ValueError, match="pairs must index the 200 test images"):
        geometry_exp.figure_data(art, pairs=((0, 200),))


def test_geometry_publishes_its_explorer_and_its_figures(geometry_record, tmp_path, monkeypatch):
    assert kx.experiments.REGISTRY["vae-geometry-mnist"].publish is geometry_exp._publish
    shown = published_as_full_run(geometry_record, geometry_exp, geometry_exp.full_run, tmp_path,
                                  monkeypatch)
    _check_explorer_round_trip(shown, geometry_record)
    made, read = geometry_exp.figure_data(geometry_record.artifacts), shown["figures"]
    assert list(read) == list(made) and torch.equal(read["labels"], made["labels"])
    assert torch.equal(read["ends"], made["ends"])  # 8-bit images, exact as 8-bit levels
    for name in ("ae", "vae-0.5", "vae-1"):
        assert read[name].keys() == made[name].keys()
        for key, value in made[name].items():     # images to 8-bit grey levels, the rest float16
            tolerance = 0.5 / 255 if key in ("grid", "strips") else 1e-3 * value.abs().max()
            assert (read[name][key] - value).abs().max() <= tolerance + 1e-7, (name, key)
    fig = Figure(figsize=(10, 10))
    figures.geometry.plot_kl_weight_comparison(fig, read)
    assert len(fig.axes) == 3 * 3


# -- vae-cluster-mnist, vae-cluster-fashion and the benchmark ------------------------------------
def test_run_clustering_on_a_tiny_config(clustering_run):
    """The experiment's plumbing on 400 images: per-seed scores and their spread, the baselines,
    the post-recipe run, the artifacts."""
    metrics, artifacts = clustering_run
    assert [r["seed"] for r in metrics["runs"]] == [0, 1]
    per_seed = [r["majority_acc"] for r in metrics["runs"]]
    assert metrics["majority_acc"]["per_seed"] == per_seed
    assert metrics["majority_acc"]["min"] <= metrics["test_acc"] <= metrics["majority_acc"]["max"]
    for name in ("kmeans_pixels", "kmeans_vae", "gmm_vae"):
        assert 0.1 <= metrics[name]["hungarian_acc"]["median"] <= 1
    assert metrics["post_recipe"]["seed"] == 0
    assert artifacts["clusters"].shape == (10000,) and artifacts["x_test"].shape == (10000, 784)


def test_load_images_names_the_datasets():
    with pytest.raises(ValueError, match="dataset"):
        cluster_exp.load_images("cifar", 10, "cpu")


def test_steps_per_second_times_only_the_requested_steps():
    calls = []
    rate = bench.steps_per_second(calls.append, 40, sync=lambda: None, warmup=3)
    assert calls == [3, 40] and rate > 0


def test_unknown_benchmark_is_named():
    with pytest.raises(KeyError, match="vae-cluster"):
        bench.get("vae-clusters")


def test_bench_command_prints_the_ratio(capsys):
    from kexue.__main__ import main

    assert main(["bench", "vae-cluster", "--steps", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "ours / reference:" in out and '"ratio"' in out


# -- vqvae-mnist ---------------------------------------------------------------------------------
def test_registered_quick_run_is_consistent():
    exp = kx.experiments.get("vqvae-mnist")
    assert exp.config("quick")["steps"] < exp.config("full")["steps"]
    record = kx.experiments.run("vqvae-mnist", "quick", n_train=1000, steps=30, restart_every=10,
                                prior_steps=20, channels=8)
    m = record.metrics
    assert sum(m["test_code_counts"]) == 10000 * 49
    assert m["test_dead_codes"] == sum(c == 0 for c in m["test_code_counts"])
    assert 1 <= m["test_perplexity"] <= 64 - m["test_dead_codes"]
    assert m["prior_test_nll_bits"] == pytest.approx(m["prior_test_nll_nats"] / 0.6931471805599453)


# -- nvae-mnist ----------------------------------------------------------------------------------
def test_nvae_experiment_runs_end_to_end_on_a_tiny_config(nvae_record):
    record = nvae_record
    m = record.metrics
    assert m["k"] == 3 and m["n_test"] == 6 and m["steps"] == 4
    # untrained, but both estimates must be finite, positive numbers of nats
    assert 0 < m["nll"] < 2000 and 0 < -m["test_elbo"] < 2000
    assert m["latent_dims"] == 4 * 2 * (49 + 196)
    assert len(record.artifacts["kl_weights"]) == 4


def test_quick_profiles_have_no_wall_clock_budget():
    """A configuration key ending in ``_seconds`` is a wall-clock budget: every quick profile of
    Part III leaves it None, so its step counts and numbers are the same on every machine; the
    NVAE's full profile keeps its budgets."""
    for name in ("vib-fashion", "vae-geometry-mnist", "vae-cluster-mnist", "vae-cluster-fashion",
                 "vqvae-mnist", "eae-mnist", "nvae-mnist", "infomax-mnist", "vae-information-mnist"):
        quick = kx.experiments.get(name).config("quick")
        assert all(quick[k] is None for k in quick if k.endswith("_seconds")), name
    full = kx.experiments.get("nvae-mnist").config("full")
    assert full["train_seconds"] > 0 and full["baseline_seconds"] > 0


def test_nvae_runs_bounded_by_steps_repeat_exactly(nvae_record):
    """Without a time budget both models train for exactly their steps, the warm-up follows the
    steps alone, and a second run gives the same metrics (all but the measured seconds)."""
    m = nvae_record.metrics
    assert m["steps"] == 4 and m["mlp_vae"]["steps"] == 4
    assert not m["stopped_by_time"] and not m["mlp_vae"]["stopped_by_time"]
    # the KL weight each step trained with: warm-up over the first 30% of the 4 steps
    assert nvae_record.artifacts["kl_weights"] == [1e-4, pytest.approx(0.25 / 0.3), 1.0, 1.0]
    again = kx.experiments.run("nvae-mnist", "quick", **{k: nvae_record.config[k] for k in (
        "n_train", "n_test", "steps", "baseline_steps", "k", "log_every", "channels")})

    def timeless(metrics):
        return {k: timeless(v) if isinstance(v, dict) else v for k, v in metrics.items()
                if "seconds" not in k}

    assert timeless(again.metrics) == timeless(m)


# -- vae-information-mnist and infomax-mnist ----------------------------------------------------
def test_vae_information_registration_and_bad_input():
    exp = kx.experiments.REGISTRY["vae-information-mnist"]
    assert exp.post == 6088 and 1.0 in exp.quick["kl_weights"]
    with pytest.raises(ValueError, match="kl_weights must include 1"):
        mi_exp.run_vae_information(dict(kl_weights=[0.5]))


def test_vae_information_publishes_the_explorer_s_decoder_codes_and_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("KEXUE_PROFILE", "quick")
    record = kx.experiments.run("vae-information-mnist", n_train=300, n_test=100, hidden=[16],
                                epochs=1, kl_weights=[1.0], samples_per_blob=1)
    shown = _published_full_run(mi_exp, record, tmp_path, monkeypatch)
    _check_explorer_round_trip(shown, record)


def test_infomax_publishes_its_retrievals_and_curves(tmp_path, monkeypatch):
    record = kx.experiments.run("infomax-mnist", "quick", n_train=400, n_test=300, channels=[4, 8],
                                hidden=16, latent_dim=4, critic_hidden=8, prior_delay=2, epochs=2,
                                batch_size=64, probe_epochs=1)
    art, spec = record.artifacts, mi_exp.RETRIEVAL
    shown = art["retrieval"]
    assert shown["codes"].shape == shown["pixels"].shape == (spec["queries"], spec["neighbours"], 784)
    assert torch.equal(shown["queries"][1], art["x_test"][spec["stride"]])
    f_train, f_test = art["features"]["dim"]  # the first neighbour is the nearest by the codes
    nearest = torch.nn.functional.cosine_similarity(f_test[:1], f_train).argmax()
    assert torch.equal(shown["codes"][0, 0], art["x_train"][nearest])
    assert kx.experiments.REGISTRY["infomax-mnist"].publish is mi_exp._publish_infomax
    full = published_as_full_run(record, mi_exp, mi_exp.infomax_full_run, tmp_path, monkeypatch)
    for key, images in shown.items():  # MNIST's pixels k / 255 come back exactly
        assert torch.equal(full["retrieval"][key], images)
    assert [r["epoch"] for r in full["history"]] == [r["epoch"] for r in art["history"]]
    assert [r["local_js"] for r in full["history"]] == pytest.approx(
        [r["local_js"] for r in art["history"]], rel=1e-3, abs=1e-3)
    fig = Figure()
    kx.vae.figures.mutual_information.plot_retrieval(
        fig, full["retrieval"]["queries"], {k: full["retrieval"][k] for k in ("codes", "pixels")})
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match=r"expected \(8, neighbours, 784\)"):
        kx.vae.figures.mutual_information.plot_retrieval(
            Figure(), full["retrieval"]["queries"], {"bad": full["retrieval"]["codes"][:3]})


def test_eae_publishes_its_decoder_samples_and_two_code_coordinates(tmp_path, monkeypatch):
    from kexue.vae import eae
    from kexue.vae.experiments import eae as eae_exp

    config = dict(kx.experiments.REGISTRY["eae-mnist"].full, hidden=[16])
    g = torch.Generator().manual_seed(0)
    artifacts = {"models": {"eae": eae.EAE(config["hidden"], config["latent_dim"], seed=0)},
                 "samples": {n: torch.rand(50, 784, generator=g) for n in ("eae", "ae-bn", "vae")},
                 "codes": {n: torch.randn(30, 8, generator=g) for n in ("eae", "ae-bn", "vae")}}
    monkeypatch.setattr(eae_exp, "results_dir", lambda: tmp_path)
    assert eae_exp.full_run() is None
    record = {"experiment": "eae-mnist", "profile": "full", "config": config,
              "published": published.save(eae_exp._publish(artifacts), tmp_path, "eae-mnist")}
    (tmp_path / "eae-mnist.json").write_text(json.dumps(record))
    shown = eae_exp.full_run()
    assert set(shown["codes"]) == set(shown["samples"]) == {"eae", "ae-bn", "vae"}
    for name, codes in artifacts["codes"].items():
        assert torch.allclose(shown["codes"][name], codes[:, :2], atol=2e-3)   # via float16
        assert shown["samples"][name].shape == (eae_exp.PUBLISHED_SAMPLES, 784)
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.allclose(shown["decoder"](z), artifacts["models"]["eae"].decoder(z), atol=2e-2)
    axes = [Figure().add_subplot() for _ in range(3)]
    kx.vae.figures.eae.plot_code_marginals(axes, shown["codes"])
    assert axes[0].get_xlabel() == "$z_1$"
