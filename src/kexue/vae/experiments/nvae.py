"""The experiment ``nvae-mnist``: the NVAE of :mod:`kexue.vae.nvae` and a plain MLP VAE on
dynamically binarised MNIST, their test negative log-likelihoods estimated by importance sampling
(:mod:`kexue.generative.likelihood`).

Serves chapters/part3-vae/nvae.ipynb (post 7574).
"""
from __future__ import annotations

import math
import time

import torch

from ... import data, published, runtime
from ...experiments import Headline, Reference, experiment, results_dir
from ...generative.likelihood import importance_log_likelihood
from ...train import TimeBudget, Trainer
from ..nvae import MLPVAE, NVAE, NVAELoss, Schedule, mlp_vae_loss

__all__ = ["run_nvae", "full_run"]


def _publish(artifacts: dict) -> dict:
    """What a full run keeps for the page: the trained NVAE (weights and batch-norm statistics)."""
    return published.module_tensors(artifacts["model"], "model")


def full_run() -> dict | None:
    """The committed full run as the page uses it: ``{"record", "model"}`` (float16 weights as
    float32, in evaluation mode), or None where no full record publishes one."""
    found = published.load("nvae-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    c = record["config"]
    model = NVAE(channels=c["channels"], latent=c["latent"], groups=c["groups"], expansion=c["expansion"])
    model.load_state_dict(published.state_dict(tensors, "model"))
    return {"record": record, "model": model.eval()}


def _train(model, loss_fn, x, config, seconds, steps, lr, schedule_loss=None):
    """Adamax (NVAE's optimiser) for ``steps`` steps or ``seconds``, whichever ends first; with
    ``seconds`` None, for ``steps`` steps alone (the same run on every machine)."""
    budget = None if seconds is None else TimeBudget(seconds)
    opt = torch.optim.Adamax(model.parameters(), lr=lr)
    callbacks = [] if budget is None else [budget]
    schedule = None
    if schedule_loss is not None:
        schedule = Schedule(schedule_loss, steps, lr=lr,
                            warmup_portion=config["warmup_portion"], budget=budget)
        callbacks.append(schedule)
    trainer = Trainer(model, opt, loss_fn, x, batch_size=config["batch_size"], seed=config["seed"],
                      callbacks=callbacks, log_every=config["log_every"],
                      description=type(model).__name__)
    start = time.perf_counter()
    history = trainer.fit(steps=steps)
    stopped_by_time = budget is not None and budget.stopped_step is not None
    return history, {"steps": trainer.step, "train_seconds": time.perf_counter() - start,
                     "epochs": trainer.step / trainer.steps_per_epoch,
                     "stopped_by_time": stopped_by_time}, schedule


def _nll(model, x_test, k, batch_size):
    model.eval()
    ll = importance_log_likelihood(model.log_weight, x_test, k=k, batch_size=batch_size)
    elbo = importance_log_likelihood(model.log_weight, x_test, k=1, batch_size=batch_size)
    return {"nll": float(-ll.mean()), "nll_se": float(ll.std() / math.sqrt(len(ll))),
            "test_elbo": float(elbo.mean())}


@experiment(
    "nvae-mnist",
    quick=dict(n_train=10000, n_test=100, steps=40, train_seconds=None, batch_size=32, lr=1e-2,
               warmup_portion=0.3, spectral_weight=1e-2, channels=[8, 16, 16], expansion=2,
               latent=4, groups=2, k=10, eval_batch=1000, baseline_steps=300, baseline_lr=2e-3,
               baseline_seconds=None, log_every=5, seed=0),
    full=dict(n_train=60000, n_test=500, steps=200 * 468, train_seconds=1080, batch_size=128,
              lr=1e-2, warmup_portion=0.3, spectral_weight=1e-2, channels=[16, 32, 32],
              expansion=3, latent=4, groups=2, k=100, eval_batch=2000, baseline_steps=50 * 468,
              baseline_lr=2e-3, baseline_seconds=120, log_every=20, seed=0),
    metric="nll", publish=_publish,
    headline=Headline("test NLL (nats per image)", 0.1, "lower"),
    description="A two-scale NVAE (4 latent groups at 7x7 and 14x14, residual normal posteriors, "
                "SE residual cells, KL warm-up, spectral regularisation) on dynamically binarised "
                "MNIST, trained for a number of steps (the full profile also within a wall-clock "
                "budget); test NLL in nats by importance sampling with k samples on the first "
                "n_test test images (binarised once), beside a plain MLP VAE's.",
    post=7574,
    reference=Reference(value=78.01, metric="nll", where="the NVAE paper (arXiv 2007.03898), "
                        "Table 2, dynamically binarised MNIST, quoted by post 7574's discussion"),
)
def run_nvae(config: dict):
    """Train the NVAE for ``steps`` steps or ``train_seconds`` (whichever ends first; warm-up and
    the cosine learning rate follow that progress; ``train_seconds`` None: the steps alone), and a
    plain MLP VAE likewise (``baseline_steps``, ``baseline_seconds``); estimate both test NLLs
    with K = ``k`` importance samples. Artifacts: the model (BN re-estimated at T = 1 is left to
    the chapter), the histories, the KL-weight schedule."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    images, _ = data.mnist("train")
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(config["seed"]))
    x_train = data.as_float(images[pick[:config["n_train"]]], device=dev)
    test_images, _ = data.mnist("test")
    x_test = data.binarise(data.as_float(test_images[:config["n_test"]], device=dev),
                           torch.Generator(device=dev).manual_seed(config["seed"] + 1))

    model = NVAE(channels=config["channels"], latent=config["latent"], groups=config["groups"],
                 expansion=config["expansion"], seed=config["seed"]).to(dev)
    loss = NVAELoss(spectral_weight=config["spectral_weight"])
    history, info, schedule = _train(model, loss, x_train, config, config["train_seconds"],
                                     config["steps"], config["lr"], schedule_loss=loss)
    start = time.perf_counter()
    nvae = _nll(model, x_test, config["k"], config["eval_batch"])
    nvae["eval_seconds"] = time.perf_counter() - start

    baseline = MLPVAE(seed=config["seed"]).to(dev)
    base_history, base_info, _ = _train(baseline, mlp_vae_loss, x_train, config,
                                        config["baseline_seconds"], config["baseline_steps"],
                                        config["baseline_lr"])
    base = {**_nll(baseline, x_test, config["k"], config["eval_batch"]), **base_info}

    metrics = {"nll": nvae["nll"], "nll_se": nvae["nll_se"], "test_elbo": nvae["test_elbo"],
               "k": config["k"], "n_test": len(x_test), **info,
               "eval_seconds": nvae["eval_seconds"],
               "final_train_elbo": history.rows[-1]["elbo"],
               "parameters": sum(p.numel() for p in model.parameters()),
               "latent_dims": config["latent"] * config["groups"] * (7 * 7 + 14 * 14),
               "mlp_vae": base,
               "history": {key: [row[key] for row in history.rows]
                           for key in ("step", "elbo", "recon", "kl")}}
    artifacts = {"model": model.cpu().eval(), "history": history.rows,
                 "mlp_history": base_history.rows, "kl_weights": schedule.kl_weights,
                 "x_test": x_test.cpu()}
    return metrics, artifacts
