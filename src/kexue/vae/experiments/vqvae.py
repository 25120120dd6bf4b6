"""The experiment ``vqvae-mnist``: the VQ-VAE of :mod:`kexue.vae.vqvae` on MNIST, its test-set
reconstructions and code usage, then the autoregressive prior of :mod:`kexue.vae.code_prior` on
its code grids, beside two baselines.

Serves chapters/part3-vae/vq-vae.ipynb (post 6760).
"""
from __future__ import annotations

import math
import time

from ... import data, published, runtime
from ...experiments import Headline, experiment, results_dir
from .. import code_prior
from ..vector_quantise import code_counts, dead_codes, perplexity
from ..vqvae import GRID, VQVAE, reconstruction_errors, train_vqvae

__all__ = ["run_vqvae", "full_run"]


def _publish(artifacts: dict) -> dict:
    """What a full run keeps for the page: the VQ-VAE and its code prior."""
    return {**published.module_tensors(artifacts["model"], "model"),
            **published.module_tensors(artifacts["prior"], "prior")}


def full_run() -> dict | None:
    """The committed full run as the page uses it: ``{"record", "model", "prior"}`` (float16
    weights as float32), or None where no full record publishes one."""
    found = published.load("vqvae-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    c = record["config"]
    model = VQVAE(num_codes=c["num_codes"], code_dim=c["code_dim"], channels=c["channels"])
    model.load_state_dict(published.state_dict(tensors, "model"))
    prior = code_prior.CodePrior(c["num_codes"], grid=(GRID, GRID), width=c["prior_width"],
                                 heads=c["prior_heads"], layers=c["prior_layers"])
    prior.load_state_dict(published.state_dict(tensors, "prior"))
    return {"record": record, "model": model.eval(), "prior": prior.eval()}


def run_vqvae(config: dict):
    """Train the VQ-VAE on the first ``n_train`` MNIST training images, score its test-set
    reconstructions and code usage, then train the code prior on the training code grids and
    score its test negative log-likelihood per grid, beside two baselines (uniform codes, and
    independent codes with each position's own smoothed frequencies). With ``plain_run``, also
    train the same VQ-VAE without the data start and the restarts, and score it the same way."""
    dev = runtime.device()
    seed = config["seed"]
    runtime.seed_everything(seed)
    (images, _), (test_images, test_labels) = data.mnist("train"), data.mnist("test")
    x = data.as_float(images[:config["n_train"]], device=dev)
    x_test = data.as_float(test_images, device=dev)
    start = time.perf_counter()
    model, rows, restarted = train_vqvae(x, config, seed)
    vq_time = time.perf_counter() - start
    metrics = {f"test_{k}": v for k, v in reconstruction_errors(model, x_test).items()}
    test_codes, train_codes = model.codes(x_test), model.codes(x)
    counts = code_counts(test_codes, model.num_codes)
    metrics.update(test_perplexity=perplexity(counts), test_dead_codes=dead_codes(counts),
                   train_dead_codes=dead_codes(code_counts(train_codes, model.num_codes)),
                   test_code_counts=counts.tolist(), num_codes=model.num_codes,
                   vqvae_history=[{k: r[k] for k in ("step", "loss", "recon", "codebook",
                                                     "commitment")} for r in rows],
                   codes_restarted=restarted, vqvae_train_s=vq_time)
    if config["plain_run"]:   # the paper's recipe: codebook uniform near zero, no restarts
        plain, _, _ = train_vqvae(x, {**config, "data_init": False, "restart_every": 0}, seed)
        plain_counts = code_counts(plain.codes(x_test), plain.num_codes)
        metrics["plain"] = {"test_mse_per_pixel": reconstruction_errors(plain, x_test)["mse_per_pixel"],
                            "test_perplexity": perplexity(plain_counts),
                            "test_dead_codes": dead_codes(plain_counts)}
    start = time.perf_counter()
    prior, prior_rows = code_prior.train_prior(train_codes, model.num_codes, config, seed)
    metrics["prior_train_s"] = time.perf_counter() - start
    nll = float(prior.nll(test_codes).mean())
    metrics.update(
        prior_test_nll_nats=nll, prior_test_nll_bits=nll / math.log(2),
        uniform_nll_nats=GRID * GRID * math.log(model.num_codes),
        position_nll_nats=float(code_prior.position_baseline_nll(train_codes, test_codes,
                                                                  model.num_codes).mean()),
        prior_history=[{k: r[k] for k in ("step", "loss")} for r in prior_rows])
    artifacts = {"model": model.cpu(), "prior": prior.cpu(), "x_test": x_test.cpu(),
                 "y_test": test_labels, "test_codes": test_codes.cpu()}
    return metrics, artifacts


experiment(
    "vqvae-mnist", post=6760, metric="test_mse_per_pixel", publish=_publish,
    headline=Headline("test reconstruction error (MSE per pixel)", 0.00001, "lower"),
    quick=dict(n_train=10000, num_codes=64, code_dim=16, channels=16, lr=2e-3, batch_size=64,
               steps=160, data_init=True, restart_every=20, seed=0, log_every=20, plain_run=False,
               prior_width=32, prior_heads=2, prior_layers=2, prior_lr=3e-3,
               prior_batch_size=32, prior_steps=150),
    full=dict(n_train=60000, num_codes=64, code_dim=16, channels=32, lr=1e-3, batch_size=128,
              steps=1800, data_init=True, restart_every=100, seed=0, log_every=100, plain_run=True,
              prior_width=64, prior_heads=4, prior_layers=2, prior_lr=1e-3,
              prior_batch_size=128, prior_steps=1500),
    description="A convolutional VQ-VAE on MNIST (a 7x7 grid of codes from a 64-entry codebook, "
                "beta = 0.25) and a causal self-attention prior over the 49 codes: test "
                "reconstruction error (mean squared error per pixel, per image, and BCE per "
                "image), code perplexity and dead codes on the test set, and the prior's test "
                "negative log-likelihood per code grid beside uniform and per-position baselines.",
)(run_vqvae)
