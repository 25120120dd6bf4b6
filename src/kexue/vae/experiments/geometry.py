"""The experiment ``vae-geometry-mnist``: an autoencoder and VAEs of several KL weights on MNIST
with a 2-D latent (:mod:`kexue.vae.autoencoder`), what each keeps of the image and how its codes
cover the prior.

Serves chapters/part3-vae/vae-geometry.ipynb (post 7725).
"""
from __future__ import annotations

import torch
from torch import nn

from ... import classifier, runtime
from ...checks import non_negative
from ...experiments import Headline, experiment
from ..autoencoder import (
    VAE,
    aggregate_moments,
    coverage,
    decoder_variance,
    elbo_terms,
    evidence_on_grid,
    gaussian_kl_to_prior,
    model_name,
    squared_error,
    train_autoencoder,
)
from .explorer import explorer_run, publish_explorer

__all__ = ["run_vae_geometry", "full_run"]


def full_run() -> dict | None:
    """The committed full run as the page's explorer uses it (:func:`.explorer.explorer_run`)."""
    return explorer_run("vae-geometry-mnist")


def _measure(model: nn.Module, x_test: torch.Tensor, config: dict, kl_weight: float | None
             ) -> tuple[dict, dict]:
    """The metrics of one trained model on the test images, and its codes for the figures."""
    generator = torch.Generator().manual_seed(config["seed"] + 1)
    with torch.no_grad():
        if isinstance(model, VAE):
            mean, log_var = model.posterior(x_test)
            terms = elbo_terms(model, x_test, noise=torch.randn(
                mean.shape, generator=generator).to(mean.device))
            bounds = [evidence_on_grid(model.decoder, x_test[i], mean[i], log_var[i],
                                       decoder_var=decoder_variance(kl_weight), n=config["grid_n"])
                      for i in range(config["n_evidence"])] if kl_weight > 0 else []
            extra = {"recon_error_sampled": float(terms.reconstruction.mean()),
                     "kl": float(terms.kl.mean()),
                     "median_sigma": log_var.mul(0.5).exp().median(0).values.tolist(),
                     **coverage(mean, log_var, generator, config["n_samples"]),
                     "elbo_gap_mean": sum(b["gap"] for b in bounds) / max(len(bounds), 1),
                     "elbo_gap_max": max((b["gap"] for b in bounds), default=0.0),
                     "edge_mass_max": max((b["edge_mass"] for b in bounds), default=0.0)}
        else:
            mean, log_var, extra = model.codes(x_test), None, {}
        m, C = aggregate_moments(mean, log_var)
        metrics = {"recon_error": float(squared_error(x_test, model.decoder(mean)).mean()),
                   **extra, "aggregate_mean": m.tolist(), "aggregate_cov": C.tolist(),
                   "moment_kl_to_prior": gaussian_kl_to_prior(m, C)}
    codes = {"mean": mean.cpu(), "log_var": None if log_var is None else log_var.cpu()}
    return metrics, codes


@experiment(
    "vae-geometry-mnist",
    quick=dict(n_train=10000, n_test=2000, hidden=[256], epochs=5, batch_size=100, lr=3e-3,
               kl_weights=[0.1, 1.0, 4.0], n_samples=2000, n_evidence=10, grid_n=41, seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=[512, 256], epochs=30, batch_size=100, lr=1e-3,
              kl_weights=[0.1, 1.0, 4.0], n_samples=10000, n_evidence=200, grid_n=61, seed=0),
    metric="prior_to_aggregate_kl", publish=publish_explorer,
    headline=Headline("KL, prior to aggregate posterior (nats)", 0.01, None),
    description="MNIST with a 2-D latent: an autoencoder and VAEs with KL weights beta (1 is the "
                "post's objective ||x - D(mu + sigma eps)||^2 + KL). Test reconstruction error and "
                "KL; how the test images' blobs cover the prior N(0, I): the aggregated "
                "posterior's mean and covariance, KL(prior || aggregate) (holes; the headline, at "
                "beta = 1) and KL(aggregate || prior) by Monte Carlo; the ELBO's gap by quadrature "
                "over the latent plane.",
    post=7725,
)
def run_vae_geometry(config: dict):
    """Train the autoencoder and one VAE per KL weight on ``n_train`` MNIST images; measure on
    ``n_test`` test images (the blobs' coverage with ``n_samples`` prior samples, the ELBO's gap on
    the first ``n_evidence`` test images with a ``grid_n``-point grid per axis). The artifacts hold
    the models (on the CPU), the test images and their codes."""
    kl_weights = [non_negative(b, "every kl weight") for b in config["kl_weights"]]
    if 1.0 not in kl_weights:
        raise ValueError("kl_weights must include 1, the post's objective (the headline metric)")
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x_train, _, x_test, y_test = classifier.mnist_subset(config["n_train"], config["n_test"],
                                                         config["seed"], dev)
    metrics = {"kl_weights": kl_weights, "n_train": len(x_train), "n_test": len(x_test)}
    artifacts = {"x_test": x_test.cpu(), "y_test": y_test.cpu(), "models": {}, "codes": {},
                 "histories": {}}
    for kind, beta in [("ae", None)] + [("vae", b) for b in kl_weights]:
        model, rows = train_autoencoder(kind, beta, config, x_train)
        name = model_name(beta)
        metrics[name], artifacts["codes"][name] = _measure(model, x_test, config, beta)
        artifacts["models"][name], artifacts["histories"][name] = model.cpu(), rows
    metrics["prior_to_aggregate_kl"] = metrics[model_name(1.0)]["prior_to_aggregate_kl"]
    return metrics, artifacts
