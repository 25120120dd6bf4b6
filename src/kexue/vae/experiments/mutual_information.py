"""The two experiments of the mutual-information chapter: ``vae-information-mnist``, the KL term
of MNIST VAEs split into the mutual information and the prior term
(:mod:`kexue.vae.vae_information`), and ``infomax-mnist``, Deep InfoMax's features
(:mod:`kexue.vae.infomax`) against raw pixels and an untrained encoder. A full run of each publishes
what its page draws: the beta = 1 VAE's explorer, and Deep InfoMax's training curves and retrievals.

Serves chapters/part3-vae/mutual-information.ipynb (posts 6088 and 6024).
"""
from __future__ import annotations

import torch

from ... import classifier, published, runtime
from ...checks import non_negative
from ...experiments import Headline, experiment, results_dir
from ..autoencoder import decoder_variance, model_name, squared_error, train_autoencoder
from ..gaussian import reparametrise, sample
from ..infomax import (
    DeepInfoMax,
    InfoMaxEncoder,
    features,
    knn_accuracy,
    linear_probe,
    pair_bound,
    retrieve,
    train_infomax,
)
from ..mutual_information import dv_bound
from ..vae_information import information_terms
from .explorer import explorer_run, publish_explorer

__all__ = ["run_vae_information", "run_infomax", "full_run", "infomax_full_run"]

#: the retrieval figure: test images 0, 37, 74, ... (``queries`` of them) and their ``neighbours``
#: nearest training images
RETRIEVAL = {"queries": 8, "stride": 37, "neighbours": 9}
_HISTORY = ("epoch", "global_js", "local_js")


def full_run() -> dict | None:
    """The committed full run as the page's explorer uses it (:func:`.explorer.explorer_run`)."""
    return explorer_run("vae-information-mnist")


@experiment(
    "vae-information-mnist",
    quick=dict(n_train=4000, n_test=2000, hidden=[256], epochs=3, batch_size=100, lr=3e-3,
               kl_weights=[0.25, 1.0, 4.0], samples_per_blob=2, seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=[512, 256], epochs=10, batch_size=100, lr=1e-3,
              kl_weights=[0.25, 1.0, 4.0], samples_per_blob=4, seed=0),
    metric="mutual_information", publish=publish_explorer,
    headline=Headline("mutual information I(x; z) (nats)", 0.01, None),
    description="MNIST VAEs with a 2-D latent and KL weights beta (1 is ||x - D(z)||^2 + KL): on "
                "the test images, the KL term E_x KL(p(z|x) || N(0, I)) (closed form) beside its "
                "two parts, the mutual information I(x; z) and KL(aggregate posterior || prior), "
                "each by Monte Carlo with the mixture of the test images' Gaussians; the "
                "headline is I(x; z) at beta = 1.",
    post=6088,
)
def run_vae_information(config: dict):
    """Train one VAE per KL weight on ``n_train`` MNIST images (``kexue.vae.autoencoder``), and
    estimate :func:`information_terms` on the first ``n_test`` test images. The artifacts hold
    the models (on the CPU), the test images, labels and codes."""
    kl_weights = [non_negative(b, "every kl weight") for b in config["kl_weights"]]
    if 1.0 not in kl_weights:
        raise ValueError("kl_weights must include 1, the plain VAE (the headline metric)")
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x_train, _, x_test, y_test = classifier.mnist_subset(config["n_train"], config["n_test"],
                                                         config["seed"], dev)
    generator = torch.Generator().manual_seed(config["seed"] + 1)
    metrics = {"kl_weights": kl_weights, "n_train": len(x_train), "n_test": len(x_test)}
    artifacts = {"x_test": x_test.cpu(), "y_test": y_test.cpu(), "models": {}, "codes": {}}
    for beta in kl_weights:
        model, _ = train_autoencoder("vae", beta, config, x_train)
        with torch.no_grad():
            mean, log_var = model.posterior(x_test)
            z = reparametrise(mean, log_var, noise=torch.randn(mean.shape, generator=generator)
                              .to(mean.device))
            terms = information_terms(mean, log_var, generator=generator,
                                      samples_per_blob=config["samples_per_blob"])
            terms["recon_error"] = float(squared_error(x_test, model.decoder(z)).mean())
        if beta > 0:
            # the loss ||x - D(z)||^2 + beta KL is 2 s^2 times a Gaussian decoder's negative ELBO
            terms["decoder_var"] = decoder_variance(beta)
        name = model_name(beta)
        metrics[name] = terms
        artifacts["models"][name] = model.cpu()
        artifacts["codes"][name] = {"mean": mean.cpu(), "log_var": log_var.cpu()}
    metrics["mutual_information"] = metrics[model_name(1.0)]["mutual_information"]
    return metrics, artifacts


def _publish_infomax(artifacts: dict) -> dict:
    """The retrieval figure's images (as bytes) and the training curves of the two JS bounds."""
    rows = artifacts["history"]
    return {**{f"retrieval.{k}": published.as_levels(v) for k, v in artifacts["retrieval"].items()},
            **{f"history.{k}": torch.tensor([float(r[k]) for r in rows]) for k in _HISTORY}}


def infomax_full_run() -> dict | None:
    """The committed full run of ``infomax-mnist`` as its page draws it: ``{"record", "retrieval",
    "history"}`` (images in [0, 1], the history's rows), or None."""
    found = published.load("infomax-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    history = published.state_dict(tensors, "history")
    return {"record": record,
            "retrieval": {k: published.from_levels(v)
                          for k, v in published.state_dict(tensors, "retrieval").items()},
            "history": [dict(zip(_HISTORY, values))
                        for values in zip(*(history[k].tolist() for k in _HISTORY))]}


@torch.no_grad()
def _mi_estimates(model: DeepInfoMax, x: torch.Tensor, generator: torch.Generator) -> dict:
    """On held-out images: the two JS bounds, and the Donsker-Varadhan bound of the global
    critic (a lower bound on I(x; z) whatever trained the critic), in batches of 500."""
    sums = {"global_js": 0.0, "local_js": 0.0, "global_dv": 0.0}
    parts = [p for p in x.split(500) if len(p) > 1]
    for part in parts:
        c, mean, log_var = model.encoder(part)
        z = sample(mean, log_var, torch.randn(mean.shape, generator=generator).to(mean.device))
        t_global, t_local = model.scores(c, z)
        sums["global_js"] += float(pair_bound(t_global))
        sums["local_js"] += float(pair_bound(t_local))
        sums["global_dv"] += float(pair_bound(t_global, dv_bound))
    return {k: v / len(parts) for k, v in sums.items()}


@experiment(
    "infomax-mnist",
    quick=dict(n_train=6000, n_test=1000, channels=[16, 32], hidden=128, latent_dim=32,
               critic_hidden=64, alpha=0.5, beta=1.5, gamma=0.01, prior_delay=100, lr=1e-3,
               epochs=3,
               batch_size=64, k=10, probe_epochs=10, seed=0),
    full=dict(n_train=60000, n_test=10000, channels=[32, 64], hidden=256, latent_dim=64,
              critic_hidden=256, alpha=0.5, beta=1.5, gamma=0.01, prior_delay=200, lr=1e-3,
              epochs=3,
              batch_size=128, k=10, probe_epochs=20, seed=0),
    metric="knn_acc_dim", publish=_publish_infomax,
    headline=Headline("k-NN test accuracy on the learnt codes", 0.003, "higher"),
    description="Deep InfoMax on MNIST (conv encoder, global + local JS mutual information + a "
                "KL prior term, no decoder, no labels): k-NN (cosine, k neighbours among the "
                "training images) and linear-probe test accuracy of its code means, beside raw "
                "pixels and the same encoder untrained; the JS and DV bounds on held-out images.",
    post=6024,
)
def run_infomax(config: dict):
    """Train Deep InfoMax on ``n_train`` MNIST images, then score three feature sets on the
    first ``n_test`` test images. The artifacts hold the trained model (CPU), the images, labels
    and features (CPU), the training history and the :data:`RETRIEVAL` figure's images: the
    queries and their neighbours by the codes and by the pixels."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x_train, y_train, x_test, y_test = classifier.mnist_subset(config["n_train"], config["n_test"],
                                                               config["seed"], dev)
    with runtime.cpu_threads(1, dev):
        model, rows = train_infomax(config, x_train)
        untrained = InfoMaxEncoder(config["channels"], config["hidden"], config["latent_dim"],
                                   seed=config["seed"]).to(dev).eval()
        sets = {"pixels": (x_train, x_test),
                "random": (features(untrained, x_train), features(untrained, x_test)),
                "dim": (features(model.encoder, x_train), features(model.encoder, x_test))}
        metrics = {"n_train": len(x_train), "n_test": len(x_test), "k": config["k"]}
        for name, (f_train, f_test) in sets.items():
            metrics[f"knn_acc_{name}"] = knn_accuracy(f_train, y_train, f_test, y_test,
                                                      k=config["k"])
            metrics[f"probe_acc_{name}"] = linear_probe(f_train, y_train, f_test, y_test,
                                                        epochs=config["probe_epochs"],
                                                        seed=config["seed"])
        generator = torch.Generator().manual_seed(config["seed"] + 1)
        metrics.update(_mi_estimates(model, x_test, generator))
        with torch.no_grad():
            _, mean, log_var = model.encoder(x_test)
            info = information_terms(mean, log_var, generator=generator)
    metrics.update(prior_kl=info["mean_kl"], mixture_mi=info["mutual_information"],
                   mixture_mi_se=info["mutual_information_se"], log_n=info["log_n"],
                   final_train=rows[-1])
    artifacts = {"model": model.cpu(), "history": rows, "x_train": x_train.cpu(),
                 "y_train": y_train.cpu(), "x_test": x_test.cpu(), "y_test": y_test.cpu(),
                 "features": {k: (a.cpu(), b.cpu()) for k, (a, b) in sets.items()}}
    picked = torch.arange(RETRIEVAL["queries"]) * RETRIEVAL["stride"]
    (f_train, f_test), k = artifacts["features"]["dim"], RETRIEVAL["neighbours"]
    x_train, x_test = artifacts["x_train"], artifacts["x_test"]
    artifacts["retrieval"] = {"queries": x_test[picked],
                              "codes": retrieve(f_test[picked], f_train, x_train, k),
                              "pixels": retrieve(x_test[picked], x_train, x_train, k)}
    return metrics, artifacts
