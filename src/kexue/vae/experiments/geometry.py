"""The experiment ``vae-geometry-mnist``: an autoencoder and VAEs of several KL weights on MNIST
with a 2-D latent (:mod:`kexue.vae.autoencoder`), what each keeps of the image and how its codes
cover the prior.

Serves chapters/part3-vae/vae-geometry.ipynb (post 7725).
"""
from __future__ import annotations

import torch
from torch import nn

from ... import classifier, published, runtime
from ...checks import float_tensor, non_negative, positive_int
from ...experiments import Headline, experiment, results_dir
from ..autoencoder import (
    VAE,
    aggregate_moments,
    coverage,
    decoder_variance,
    elbo_terms,
    evidence_on_grid,
    gaussian_kl_to_prior,
    interpolate,
    latent_grid,
    model_name,
    squared_error,
    train_autoencoder,
)
from .explorer import explorer_from, publish_explorer

__all__ = ["run_vae_geometry", "full_run", "figure_data", "grid_limits", "FIGURE_PAIRS"]

#: the pairs of test images (by index) the page interpolates between
FIGURE_PAIRS = ((0, 1), (2, 3), (4, 5), (7, 8))
_IMAGES = ("grid", "strips")   # images in [0, 1], published as 8-bit grey levels


def grid_limits(codes: torch.Tensor, log_var: torch.Tensor | None) -> tuple[float, ...]:
    """The window a decoded grid spans: 2.5 prior standard deviations for a VAE; for an
    autoencoder, the box holding the central 98% of its codes on each axis."""
    codes = float_tensor(codes, "codes", ndim=2, nonempty=True)
    if codes.shape[1] != 2:
        raise ValueError(f"codes must be 2-D points (n x 2), got shape {tuple(codes.shape)}")
    if log_var is not None:
        return (-2.5, 2.5, -2.5, 2.5)
    low, high = torch.quantile(codes, 0.01, dim=0), torch.quantile(codes, 0.99, dim=0)
    return (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def figure_data(artifacts: dict, *, grid_n: int = 15, steps: int = 10, n_ellipses: int = 150,
                pairs=FIGURE_PAIRS) -> dict:
    """What the page's figures draw, computed once from a run's models, so that a full run can
    publish it in place of the four decoders: ``{"labels", "ends", NAME: {...}}`` with ``ends`` the
    test images of each pair ``[len(pairs), 2, 784]`` and, per model, its test ``codes``, the
    ``log_var`` of the first ``n_ellipses`` (VAEs only), the decoded grid's ``limits`` and its
    ``grid_n**2`` images ``grid``, and ``strips``, the ``steps`` decoded interpolations of each
    pair ``[len(pairs), steps, 784]``."""
    grid_n, steps = positive_int(grid_n, "grid_n"), positive_int(steps, "steps")
    n_ellipses = positive_int(n_ellipses, "n_ellipses")
    x_test = artifacts["x_test"].cpu()
    if not pairs or any(not 0 <= i < len(x_test) for pair in pairs for i in pair):
        raise ValueError(f"pairs must index the {len(x_test)} test images, got {pairs!r}")
    data = {"labels": artifacts["y_test"].cpu(),
            "ends": torch.stack([x_test[list(pair)] for pair in pairs])}
    for name, model in artifacts["models"].items():
        model = model.cpu().eval()
        codes = artifacts["codes"][name]
        lim = grid_limits(codes["mean"], codes["log_var"])
        with torch.no_grad():
            grid = model.decoder(latent_grid(lim, grid_n))
        data[name] = {"codes": codes["mean"].cpu(), "limits": torch.tensor(lim), "grid": grid,
                      "strips": torch.stack([interpolate(model, x_test[a], x_test[b], steps)
                                             for a, b in pairs])}
        if codes["log_var"] is not None:
            data[name]["log_var"] = codes["log_var"][:n_ellipses].cpu()
    return data


def _publish(artifacts: dict) -> dict:
    """The explorer's β = 1 decoder, codes and labels, and the page's :func:`figure_data` (images
    as 8-bit grey levels): a fraction of the weight of the four decoders."""
    data = figure_data(artifacts)
    tensors = {"figures.ends": published.as_levels(data["ends"])}
    for name in artifacts["models"]:
        tensors.update({f"figures.{name}.{key}": published.as_levels(value)
                        if key in _IMAGES else value for key, value in data[name].items()})
    return {**publish_explorer(artifacts), **tensors}


def full_run() -> dict | None:
    """The committed full run as the page uses it: the explorer's decoder, codes and labels
    (:func:`.explorer.explorer_from`), and ``"figures"``, its :func:`figure_data`; or None."""
    found = published.load("vae-geometry-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    shown = explorer_from(record, tensors)
    figures = {"labels": shown["labels"], "ends": published.from_levels(tensors["figures.ends"])}
    for name in ["ae"] + [model_name(b) for b in record["metrics"]["kl_weights"]]:
        figures[name] = {key: published.from_levels(value) if key in _IMAGES else value
                         for key, value in published.state_dict(tensors, f"figures.{name}").items()}
    return {**shown, "figures": figures}


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
    metric="prior_to_aggregate_kl", publish=_publish,
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
