"""The figures and tables of Part III's chapters (kexue.vae.figures), drawn from small runs of the
experiments (tests/vae/conftest.py) or from hand-made metrics: what each draws, and what it
refuses."""
import math

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

import kexue as kx
from kexue.vae import nvae, vqvae
from kexue.vae.experiments import geometry as geometry_exp
from kexue.vae.figures import bottleneck as vib_fig
from kexue.vae.figures import clustering as cluster_fig
from kexue.vae.figures import eae as eae_fig
from kexue.vae.figures import geometry as geo_fig
from kexue.vae.figures import mutual_information as mi_fig
from kexue.vae.figures import nvae as nvae_fig
from kexue.vae.figures import vqvae as vq_fig

matplotlib.use("Agg")


# -- the information bottleneck ------------------------------------------------------------------
def test_bottleneck_figures_draw(vib_record):
    a = vib_record.artifacts
    fig = Figure()
    vib_fig.plot_accuracy_vs_beta(a, fig.add_subplot(1, 3, 1))
    vib_fig.plot_accuracy_vs_noise(a, fig.add_subplot(1, 3, 2))
    vib_fig.plot_kl_per_dimension(a, fig.add_subplot(1, 3, 3))
    beta_ax, noise_ax, kl_ax = fig.axes
    assert len(beta_ax.lines) == 2 * 2  # per sigma: the VIB curve and the no-bottleneck line
    assert len(noise_ax.lines) == 3 and len(kl_ax.lines) == 2
    assert kl_ax.get_legend().get_texts()[0].get_text().startswith("β = 0.01: total")
    training = Figure()
    vib_fig.plot_training(a, training)
    ce_ax, kl_ax = training.axes
    assert len(ce_ax.lines) == 3 and len(kl_ax.lines) == 2  # the KL only where there is one
    widget = vib_fig.explore_noise(a, n_images=4)
    assert [s.grid for s in widget.sliders] == [vib_record.config["sigmas"]]
    (ax,) = widget.figure(sigma=0.5).axes
    assert "σ = 0.5" in ax.get_title()
    texts = ax.texts
    assert len(texts) == (1 + len(vib_record.config["betas"])) * (1 + 4)  # a label and 4 classes per row
    x, y = a["x_eval"][:4], a["y_eval"][:4]
    for i, model in enumerate(a["models"]):
        row = texts[(i + 1) * 5:(i + 2) * 5]
        assert row[0].get_text().startswith(("no bottleneck", f"β = {vib_record.config['betas'][i]:g}"))
        with torch.no_grad():
            pred = model.eval()(x + 0.5 * a["noise"][:4]).argmax(1)
        assert [t.get_text() for t in row[1:]] == [kx.data.FASHION_CLASSES[int(k)] for k in pred]
        assert sum(t.get_color() == "C2" for t in row[1:]) == int((pred == y).sum())


def test_bottleneck_results_table_has_a_row_per_beta():
    metrics = {"betas": [0.0, 0.1], "sigmas": [0.0, 0.5], "kl_nats": [None, 4.26],
               "acc": [[89.31, 51.0], [88.7, 44.62]]}
    header, rows = vib_fig.results_table(metrics)
    assert header == ["model", "E KL (nats)", "accuracy, σ = 0 (%)", "accuracy, σ = 0.5 (%)"]
    assert rows == [["no bottleneck", "—", "89.31", "51.00"], ["VIB, β = 0.1", "4.3", "88.70", "44.62"]]


# -- the geometry of a VAE -----------------------------------------------------------------------
def test_summary_tables_have_one_row_per_model_and_dashes_for_the_autoencoder(geometry_record):
    (keep_header, keep), (cover_header, cover) = geo_fig.summary_tables(geometry_record.metrics)
    assert [row[0] for row in keep] == ["autoencoder", "VAE, β = 0.5", "VAE, β = 1"]
    assert all(len(row) == len(keep_header) for row in keep)
    assert all(len(row) == len(cover_header) for row in cover)
    assert keep[0][2:4] == ["—", "—"] and cover[0][4:] == ["—", "—"]
    v = geometry_record.metrics["vae-1"]
    assert keep[2][3] == f"{v['kl']:.3f}"
    assert cover[2][5] == f"{v['prior_to_aggregate_kl']:.3f} ± {v['prior_to_aggregate_kl_se']:.3f}"
    with pytest.raises(ValueError, match="metrics of the vae-geometry-mnist experiment"):
        geo_fig.summary_tables({"ae": {}})


def test_figures_draw_what_they_say(geometry_record):
    data = geometry_exp.figure_data(geometry_record.artifacts, grid_n=5, steps=6, n_ellipses=40,
                                    pairs=((0, 1), (2, 3)))
    fig = Figure()
    ax = fig.add_subplot()
    geo_fig.plot_latent_clouds(ax, data["vae-1"]["codes"], data["labels"], data["vae-1"]["log_var"])
    assert len(ax.collections[1].get_offsets()) == 40  # one ellipse per code asked for
    assert len(ax.patches) == 2  # the prior's circles of radius 1 and 2
    assert sorted(p.get_radius() for p in ax.patches) == [1, 2]

    ax = Figure().add_subplot()
    geo_fig.plot_decoded_grid(ax, data["vae-1"]["grid"], (-2, 2, -1, 1))
    image = ax.images[0]
    assert image.get_array().shape == (5 * 28, 5 * 28)
    assert image.get_extent() == [-2.5, 2.5, -1.25, 1.25]  # half a cell beyond the grid's points

    fig = Figure()
    strips = {name: data[name]["strips"][0] for name in ("ae", "vae-1")}
    geo_fig.plot_interpolations(fig, strips, *data["ends"][0])
    assert len(fig.axes) == 3 and fig.axes[-1].get_title() == "pixels blended"
    assert fig.axes[-1].images[0].get_array().shape == (28, 6 * 28 + 5)  # six steps, padded

    fig = Figure(figsize=(10, 10))
    geo_fig.plot_kl_weight_comparison(fig, data, suffix=" (full run)")
    assert len(fig.axes) == 3 * 3
    assert fig.axes[3].get_title() == "VAE, $\\beta = 0.5$: codes (full run)"
    assert fig.axes[5].images[0].get_array().shape[0] == 2 * 28 + 1  # two pairs, one row each


def test_figures_reject_bad_input(geometry_record):
    ax = Figure().add_subplot()
    y = geometry_record.artifacts["y_test"]
    with pytest.raises(ValueError, match="codes must be 2-D points"):
        geo_fig.plot_latent_clouds(ax, torch.zeros(200, 3), y)
    with pytest.raises(ValueError, match=r"labels must have shape \(200,\)"):
        geo_fig.plot_latent_clouds(ax, torch.zeros(200, 2), y[:10])
    with pytest.raises(ValueError, match="log_var must be that of the first k of the 200 codes"):
        geo_fig.plot_latent_clouds(ax, torch.zeros(200, 2), y, torch.zeros(201, 2))
    with pytest.raises(ValueError, match="images must be the n [*] n images of a square grid"):
        geo_fig.plot_decoded_grid(ax, torch.zeros(24, 784), (-1, 1, -1, 1))
    with pytest.raises(ValueError, match="strips must be a non-empty dict"):
        geo_fig.plot_interpolations(Figure(), {}, torch.zeros(784), torch.zeros(784))
    with pytest.raises(ValueError, match="data must hold at least one model"):
        geo_fig.plot_kl_weight_comparison(Figure(), {"labels": y, "ends": None})


# -- clustering ----------------------------------------------------------------------------------
def test_clustering_table_and_figures(clustering_run):
    """The table and the figures of a tiny run (tests/vae/conftest.py: two seeds, every
    baseline)."""
    metrics, artifacts = clustering_run
    html = cluster_fig.results_table(metrics, post=0.83).data
    assert "k-means on pixels" in html and "about 0.830" in html and "[" in html
    fig = Figure()
    cluster_fig.plot_contingency(fig.add_subplot(), artifacts["clusters"], artifacts["y_test"])
    cluster_fig.plot_cluster_members(Figure(), artifacts["x_test"], artifacts["clusters"])
    cluster_fig.plot_conditional_samples(Figure(), artifacts["model"], per_cluster=3)


# -- VQ-VAE --------------------------------------------------------------------------------------
def _images(n, seed=0):
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))


def test_vqvae_figures_draw():
    model = vqvae.VQVAE(num_codes=8, code_dim=4, channels=4, seed=0).eval()
    x = _images(5)
    vq_fig.plot_reconstructions(Figure(), model, x, n=4, title="t")
    ax = Figure().add_subplot()
    vq_fig.plot_usage(ax, [5, 0, 3, 1], title="usage")
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.556, 0.333, 0.111, 0.0]
    fig = Figure()
    vq_fig.draw_code_swap(fig, model, x[0], cell=24, code=3)
    assert len(fig.axes) == 3


def test_code_swap_rejects_a_cell_or_code_out_of_range():
    model = vqvae.VQVAE(num_codes=8, code_dim=4, channels=4, seed=0)
    with pytest.raises(ValueError, match="cell"):
        vq_fig.draw_code_swap(Figure(), model, _images(1)[0], cell=49, code=0)
    with pytest.raises(ValueError, match="code must"):
        vq_fig.draw_code_swap(Figure(), model, _images(1)[0], cell=0, code=8)


# -- the entropic autoencoder --------------------------------------------------------------------
def test_eae_results_table_needs_the_experiments_metrics():
    with pytest.raises(ValueError, match="eae-mnist"):
        eae_fig.results_table({"fid": 1.0})


# -- NVAE ----------------------------------------------------------------------------------------
def test_nll_rows_of_a_record(nvae_record):
    rows = nvae_fig.nll_rows({"quick": nvae_record.metrics})
    assert len(rows) == 3 and all(len(r) == len(nvae_fig.NLL_HEADER) for r in rows)
    assert rows[0][3] == "3 × 6" and rows[-1][4] == "78.01"


def test_nvae_figures_draw_and_label():
    rows = [{"step": s, "elbo": -300.0 + s, "recon": 250.0, "kl": 50.0 - s} for s in (5, 10)]
    fig = Figure()
    nvae_fig.plot_training(fig, rows, [0.1, 0.5, 1.0])
    left, right = fig.axes[0], fig.axes[1]
    assert left.get_xlabel() == "step" and "nats" in left.get_ylabel()
    assert list(left.get_lines()[0].get_ydata()) == [295.0, 290.0]    # -ELBO
    assert right.get_title().startswith("KL term")
    with pytest.raises(ValueError, match="training history"):
        nvae_fig.plot_training(Figure(), [], [])
    model = nvae.NVAE(channels=(4, 8, 8), latent=2, groups=2, expansion=2, seed=0).eval()
    fig = Figure()
    nvae_fig.draw_samples(fig, model, 0.5, n=4)
    assert fig.axes[0].get_title() == "samples at temperature 0.50"
    fig = Figure()
    nvae_fig.plot_temperatures(fig, model, temperatures=(0.0, 1.0), n=3)
    assert [ax.get_title() for ax in fig.axes] == ["T = 0", "T = 1"]


# -- mutual information --------------------------------------------------------------------------
def test_terms_table():
    metrics = {"kl_weights": [1.0], "vae-1": dict(recon_error=40.0, mean_kl=2.5,
               mutual_information=2.3, mutual_information_se=0.02, aggregate_kl=0.2,
               aggregate_kl_se=0.01, residual=0.0, residual_se=0.02, log_n=math.log(100))}
    header, rows = mi_fig.terms_table(metrics)
    assert len(rows) == 1 and len(rows[0]) == len(header) and rows[0][5] == "2.500"
    with pytest.raises(ValueError, match="metrics must be"):
        mi_fig.terms_table({})


def test_infomax_results_table():
    metrics = {"k": 10, **{f"{a}_acc_{n}": 0.5 for a in ("knn", "probe")
                           for n in ("pixels", "random", "dim")}}
    header, rows = mi_fig.results_table(metrics)
    assert len(rows) == 3 and all(len(r) == len(header) for r in rows)
    with pytest.raises(ValueError, match="metrics must be"):
        mi_fig.results_table({})
