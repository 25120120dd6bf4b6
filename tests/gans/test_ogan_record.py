"""What the O-GAN chapter says of its full-profile record (results/ogan-mnist.json): each quoted
number is read back, and the claims about them checked."""
import pytest

from kexue import data

from ..conftest import full_record, quoted


def test_the_full_run_quotes():
    record = full_record("ogan-mnist")
    m = record["metrics"]
    plain, ogan = m["plain GAN"], m["O-GAN"]
    assert round(record["wall_time_s"] / 60) == 7 and record["config"]["steps"] == 6000
    assert quoted(ogan["frechet_distance"], "21.5") and quoted(plain["frechet_distance"], "19.5")
    assert quoted(ogan["pearson"], "0.72") and quoted(plain["pearson"], "-0.001")
    assert quoted(ogan["reconstruction_mse"], "0.022") and quoted(plain["reconstruction_mse"], "0.133")
    assert quoted(plain["probe_accuracy"] * 100, "90.5") and quoted(ogan["probe_accuracy"] * 100, "89.6")
    assert m["frechet"]["samples"] == {"plain GAN": plain["frechet_distance"],
                                       "O-GAN": ogan["frechet_distance"]}


def test_the_seed_spread_the_chapter_compares_with():
    """"the variational chapter's three seeds of the plain GAN ended between 15.2 and 16.5"."""
    runs = full_record("dcgan-vi-mnist")["metrics"]["runs"].values()
    ends = [r["final"]["frechet"] for r in runs if r["weight"] == 0.0]
    assert len(ends) == 3 and quoted(min(ends), "15.2") and quoted(max(ends), "16.5")


def test_the_average_training_image_reconstructs_at_0_065():
    """The chapter's yardstick: every test image replaced by the average training image."""
    train = data.as_float(data.mnist("train")[0])
    test = data.as_float(data.mnist("test")[0][:1000])
    assert quoted(float((test - train.mean(0)).pow(2).mean()), "0.065")


def test_the_clustering_vaes_codes_probe_at_92_2():
    """The chapter's probe on Part III's clustering VAE (the committed vae-cluster-mnist model):
    a logistic regression on its encoder's means of 10,000 training images, 92.2% on the test."""
    import torch

    from kexue.gans.experiments import linear_probe
    from kexue.vae.experiments.clustering import full_run

    vae = full_run("vae-cluster-mnist")
    if vae is None:
        pytest.skip("no committed vae-cluster-mnist record")
    images, labels = data.mnist("train")
    test_images, test_labels = data.mnist("test")
    with torch.no_grad():
        accuracy = linear_probe(lambda x: vae["model"].encoder(x)[0],
                                data.as_float(images[:10000]), labels[:10000],
                                data.as_float(test_images), test_labels)
    assert quoted(accuracy * 100, "92.2")
