"""The experiment ``eae-mnist``: the entropic autoencoder of :mod:`kexue.vae.eae`, the same network
without the entropy term, and a VAE of the same size, judged by the Fréchet distance of their
samples to the test images (:mod:`kexue.generative.frechet`) and by their codes' entropy.

Serves chapters/part3-vae/entropy-autoencoder.ipynb (post 7343).
"""
from __future__ import annotations

import math

import torch

from ... import classifier, published, runtime
from ...experiments import Headline, experiment, results_dir
from ...generative import frechet
from ..autoencoder import VAE, VAELoss, squared_error, train_model
from ..eae import EAE, TITLES, EAELoss, code_moments, draw_samples
from ..entropy import gaussian_entropy, knn_entropy

__all__ = ["run_eae", "full_run"]

#: Samples per model a full run keeps for the page's figure (plot_samples shows the first 40).
PUBLISHED_SAMPLES = 40
#: The code coordinates a full run keeps for the page's scatter (plot_code_marginals' default).
PUBLISHED_COORDINATES = 2


def _publish(artifacts: dict) -> dict:
    """What a full run keeps for the page: the EAE's decoder, each model's first samples, and
    the first two coordinates of each model's test codes."""
    kept = published.module_tensors(artifacts["models"]["eae"].decoder, "eae_decoder")
    for name, samples in artifacts["samples"].items():
        kept[f"samples.{name}"] = samples[:PUBLISHED_SAMPLES]
        kept[f"codes.{name}"] = artifacts["codes"][name][:, :PUBLISHED_COORDINATES]
    return kept


def full_run() -> dict | None:
    """The committed full run as the page uses it: ``{"record", "decoder", "samples", "codes"}``
    (the EAE's decoder, float16 weights as float32; each model's first samples; the first two
    coordinates of each model's test codes, where the run kept them), or None."""
    found = published.load("eae-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    c = record["config"]
    decoder = EAE(c["hidden"], c["latent_dim"]).decoder
    decoder.load_state_dict(published.state_dict(tensors, "eae_decoder"))
    picked = {kind: {name: tensors[f"{kind}.{name}"] for name in TITLES
                     if f"{kind}.{name}" in tensors} for kind in ("samples", "codes")}
    return {"record": record, "decoder": decoder.eval(), **picked}


def _measure_codes(codes: torch.Tensor, k: int, generator: torch.Generator) -> dict:
    """The codes' k-NN entropy estimate beside the same estimate for as many N(0, I) samples and
    the closed form, with the Gaussian bound of their covariance and their moments."""
    n, d = codes.shape
    normal = torch.randn(n, d, generator=generator, dtype=torch.float64)
    cov = torch.cov(codes.double().T)
    return {"entropy_knn": float(knn_entropy(codes.double(), k)),
            "entropy_knn_normal": float(knn_entropy(normal, k)),
            "entropy_gaussian_bound": gaussian_entropy(cov),
            "entropy_normal": 0.5 * d * math.log(2 * math.pi * math.e),
            **{f"code_{key}": value for key, value in code_moments(codes).items()}}


@experiment(
    "eae-mnist",
    quick=dict(n_train=10000, n_test=2000, hidden=[256], latent_dim=8, epochs=4, batch_size=100,
               lr=2e-3, entropy_weight=1.0, k=1, seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=[512, 256], latent_dim=8, epochs=10,
              batch_size=100, lr=1e-3, entropy_weight=1.0, k=1, seed=0),
    metric="fid_eae", publish=_publish,
    headline=Headline("Fréchet distance of EAE samples (book classifier features)", 0.5, "lower"),
    description="MNIST: an entropic autoencoder (BN without scale/shift on an 8-D code, loss "
                "||x - D(z)||^2 - lambda H(z) with the 1-NN entropy estimate), the same network "
                "with lambda = 0, and a VAE of the same size (beta = 1). The Fréchet distance of "
                "each one's N(0, I) samples to the test images on the last hidden layer of our own "
                "MNIST classifier (the book's reference features; no Inception weights offline), against the floor of two halves "
                "of the test set; the codes' entropy estimate against N(0, I)'s; reconstruction "
                "errors.",
    post=7343,
)
def run_eae(config: dict):
    """Train the EAE, the EAE with ``lambda = 0`` and the VAE on ``n_train`` MNIST images (the
    distances are measured on the book's reference features,
    :func:`kexue.generative.frechet.reference_network`); split ``n_test`` test images in two random halves; for each model draw as many
    samples as a half holds and measure their Fréchet distance to the first half, the second half's
    own distance to it being the floor. The artifacts hold the models (on the CPU), the samples and
    the test codes."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x_train, _, x_test, y_test = classifier.mnist_subset(config["n_train"],
                                                               config["n_test"], config["seed"],
                                                               dev)
    feature_net = frechet.reference_network("mnist").to(dev)   # the book's one MNIST features
    # random halves: MNIST's test set is ordered (its first 5,000 images are the cleaner writers)
    order = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(config["seed"])).to(dev)
    half = len(x_test) // 2
    reference, other = x_test[order[:half]], x_test[order[half:2 * half]]
    hidden, d, seed = config["hidden"], config["latent_dim"], config["seed"]
    models = {"eae": (EAE(hidden, d, seed=seed), EAELoss(config["entropy_weight"], k=config["k"])),
              "ae-bn": (EAE(hidden, d, seed=seed), EAELoss(0.0, k=config["k"])),
              "vae": (VAE(hidden, d, seed=seed), VAELoss(1.0))}
    metrics = {"n_train": len(x_train), "n_test": len(x_test), "n_samples": half,
               "classifier_test_acc": classifier.evaluate(feature_net, x_test, y_test)["acc"],
               "fid_floor": frechet.feature_distance(feature_net, other, reference)}
    artifacts = {"x_test": x_test.cpu(), "y_test": y_test.cpu(), "models": {}, "samples": {},
                 "codes": {}, "histories": {}}
    for name, (model, loss) in models.items():
        model, rows = train_model(model, loss, config, x_train, description=TITLES[name])
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            recon = squared_error(x_test, model.decoder(model.codes(x_test))).mean()
            # the codes generation assumes to be N(0, I): a VAE's are the blobs' samples
            codes = (model.sample_codes(x_test, generator=generator)[0] if name == "vae"
                     else model.codes(x_test))
            samples = draw_samples(model.decoder, half, d, generator)
            m = {"recon_error": float(recon),
                 "fid": frechet.feature_distance(feature_net, samples, reference),
                 **_measure_codes(codes.cpu(), config["k"], generator)}
        if name == "vae":
            m["kl"] = rows[-1]["kl"]
        metrics[name] = m
        metrics[f"fid_{name.replace('-', '_')}"] = m["fid"]
        artifacts["models"][name], artifacts["histories"][name] = model.cpu(), rows
        artifacts["samples"][name], artifacts["codes"][name] = samples.cpu(), codes.cpu()
    metrics["frechet"] = {  # the book's table of generative models (kexue.generative.frechet.board)
        "features": frechet.features_id("mnist"),
        "samples": {**{TITLES[name]: metrics[name]["fid"] for name in models},
                    TITLES["floor"]: metrics["fid_floor"]}}
    return metrics, artifacts
