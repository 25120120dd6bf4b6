"""What the VQ-VAE, EAE, mutual-information and NVAE chapters say of their full-profile records
(results/*.json): each quoted number is read back from its record, so a new record that changes
them fails here first."""
import json
from pathlib import Path

import pytest

from ..conftest import quoted

RESULTS = Path(__file__).resolve().parents[2] / "results"


def record(name, n_train=60000):
    path = RESULTS / f"{name}.json"
    if not path.exists():
        pytest.skip(f"no full-profile record {path.name}")
    data = json.loads(path.read_text())
    assert data["profile"] == "full" and data["config"]["n_train"] == n_train
    return data["metrics"]


def test_eae_samples_are_closest_and_its_codes_most_gaussian_of_the_standardised_codes():
    m = record("eae-mnist")
    eae, vae, bn = m["eae"], m["vae"], m["ae-bn"]
    assert eae["fid"] < vae["fid"] < bn["fid"]                  # the EAE paper's ordering
    assert m["fid_floor"] < eae["fid"] / 10                       # all far from the data
    assert bn["code_max_abs_corr"] > 3 * eae["code_max_abs_corr"]
    assert bn["entropy_knn"] < eae["entropy_knn"] < eae["entropy_knn_normal"]
    assert bn["recon_error"] < eae["recon_error"] < vae["recon_error"]
    for value, text in [(eae["fid"], "16.2"), (vae["fid"], "19.3"), (bn["fid"], "27.2"),
                        (m["fid_floor"], "0.52"), (bn["code_max_abs_corr"], "0.27"),
                        (eae["code_max_abs_corr"], "0.07"), (bn["entropy_knn"], "8.74"),
                        (eae["entropy_knn"], "9.81"), (eae["entropy_knn_normal"], "11.28"),
                        (eae["recon_error"], "12.9"), (bn["recon_error"], "12.5"),
                        (vae["recon_error"], "15.1")]:
        assert quoted(value, text), (value, text)


def test_vqvae_remedies_keep_the_codebook_in_use_and_the_prior_beats_its_baselines():
    m = record("vqvae-mnist")
    plain = m["plain"]
    assert m["test_dead_codes"] == 0 < plain["test_dead_codes"] == 5
    assert m["test_perplexity"] > 2 * plain["test_perplexity"]
    assert m["test_mse_per_pixel"] < plain["test_mse_per_pixel"] < 1.2 * m["test_mse_per_pixel"]
    assert m["prior_test_nll_nats"] < m["position_nll_nats"] < m["uniform_nll_nats"]
    for value, text in [(m["test_mse_per_pixel"], "0.0046"), (m["test_mse_per_image"], "3.6"),
                        (m["test_perplexity"], "29.7"), (plain["test_perplexity"], "10.5"),
                        (plain["test_mse_per_pixel"], "0.0052"), (m["prior_test_nll_nats"], "66.8"),
                        (m["prior_test_nll_bits"], "96.3"), (m["position_nll_nats"], "114.3"),
                        (m["uniform_nll_nats"], "203.8"),
                        (m["position_nll_nats"] - m["prior_test_nll_nats"], "47.5")]:
        assert quoted(value, text), (value, text)


def test_the_vae_kl_term_splits_into_mutual_information_and_aggregate_kl_in_the_full_run():
    m = record("vae-information-mnist")
    vaes = [m[f"vae-{b:g}"] for b in (0.25, 1.0, 4.0)]
    for v in vaes:   # the identity, within three standard errors of its Monte-Carlo residual
        assert abs(v["residual"]) < 3 * v["residual_se"] and v["residual_se"] < 0.01
        assert quoted(v["mean_kl"], f"{v['mutual_information'] + v['aggregate_kl']:.1f}")
        assert v["aggregate_kl"] < 0.1 * v["mutual_information"]
    mi, agg, recon = ([v[k] for v in vaes] for k in ("mutual_information", "aggregate_kl", "recon_error"))
    assert mi[0] > mi[1] > mi[2] and agg[0] > agg[1] > agg[2] and recon[0] < recon[1] < recon[2]
    texts = {"residual": ["0.000", "0.004", "0.000"], "mutual_information": ["6.33", "4.89", "2.21"],
             "aggregate_kl": ["0.39", "0.18", "0.06"], "recon_error": ["29.0", "29.9", "38.5"]}
    for key, quotes in texts.items():
        for v, text in zip(vaes, quotes):
            assert quoted(v[key], text), (key, v[key], text)


def test_deep_infomax_beats_pixels_on_a_linear_probe_but_not_on_knn_in_the_full_run():
    m = record("infomax-mnist")
    assert m["probe_acc_dim"] > m["probe_acc_pixels"] > m["probe_acc_random"]
    assert m["knn_acc_dim"] < m["knn_acc_random"] < m["knn_acc_pixels"]
    assert -1.386 < m["local_js"] < m["global_js"] < 0 and m["mixture_mi"] < m["log_n"]
    for value, text in [(100 * m["probe_acc_dim"], "93.0"), (100 * m["probe_acc_pixels"], "90.7"),
                        (100 * m["probe_acc_random"], "82.9"), (100 * m["knn_acc_dim"], "86.9"),
                        (100 * m["knn_acc_pixels"], "97.1"), (100 * m["knn_acc_random"], "90.9"),
                        (m["local_js"], "-1.154"), (m["global_js"], "-0.153"),
                        (m["mixture_mi"], "7.40"), (m["log_n"], "9.21")]:
        assert quoted(value, text), (value, text)


def test_the_cpu_nvae_record_is_level_with_the_mlp_vae_and_within_an_error_of_the_target():
    m = record("nvae-mnist")
    mlp = m["mlp_vae"]
    assert m["stopped_by_time"] and m["k"] == 100 and m["n_test"] == 500
    assert abs(m["nll"] - 86) < m["nll_se"] and abs(m["nll"] - mlp["nll"]) < 2 * (m["nll_se"] + mlp["nll_se"])
    assert m["nll"] < -m["test_elbo"] and mlp["nll"] < -mlp["test_elbo"]   # IS tightens the ELBO
    cost_ratio = (m["train_seconds"] / m["steps"]) / (mlp["train_seconds"] / mlp["steps"])
    for value, text in [(m["steps"], "2745"), (m["epochs"], "5.9"), (m["nll"], "86.9"),
                        (m["nll_se"], "1.0"), (mlp["steps"], "18700"), (mlp["epochs"], "40"),
                        (mlp["nll"], "88.0"), (mlp["nll_se"], "1.2"), (m["test_elbo"], "-91.6"),
                        (mlp["test_elbo"], "-91.7"), (-m["test_elbo"] - m["nll"], "4.8"),
                        (-mlp["test_elbo"] - mlp["nll"], "3.6"), (cost_ratio / 10, "6")]:
        assert quoted(value, text), (value, text)
