"""The experiment of the denoising chapter: ``dae-langevin-mnist`` (:func:`run_dae_langevin`).

Serves chapters/part5-gans/denoising-score.ipynb (post 7038).
"""
from __future__ import annotations

import time

import torch

from .. import data, published, runtime, train
from ..experiments import Headline, experiment
from ..generative import frechet
from .denoising import NoiseConditionalDense, annealed_langevin, denoising_score_loss, noise_ladder

__all__ = ["run_dae_langevin"]


def run_dae_langevin(config: dict):
    """A noise-conditional dense score model (:class:`NoiseConditionalDense`) trained by
    denoising score matching over a geometric ladder of ``levels`` noise levels from ``largest``
    to ``smallest`` on the MNIST training images, for ``steps`` steps or ``train_seconds`` of
    training, with an exponential moving average of its weights (``ema``); then ``fd_samples``
    samples by annealed Langevin dynamics (``langevin_steps`` per level, ``step_size``) from
    uniform noise, with the average's weights, and their Fréchet distance to as many test images;
    also the distance before the last denoising step, and the test loss of the averaged model."""
    dev = runtime.device()
    runtime.seed_everything(config["seed"])
    (images, _), (test_images, _) = data.mnist("train"), data.mnist("test")
    x = data.as_float(images[:config["n_train"]], device=dev)
    x_test = data.as_float(test_images[:config["fd_samples"]], device=dev)
    sigmas = noise_ladder(config["largest"], config["smallest"], config["levels"]).float().to(dev)
    torch.manual_seed(config["seed"])
    model = NoiseConditionalDense(784, config["hidden"], config["depth"]).to(dev)
    ema = train.EMA(model, config["ema"])
    budget = [train.TimeBudget(config["train_seconds"])] if config["train_seconds"] else []
    start = time.perf_counter()
    history = train.fit_adam(model, lambda m, b: denoising_score_loss(m, b, sigmas), x,
                             lr=config["lr"], batch_size=config["batch_size"],
                             steps=config["steps"], seed=config["seed"], threads=None,
                             callbacks=[ema, *budget], log_every=config["log_every"],
                             description="denoising score matching")
    seconds = time.perf_counter() - start
    gen = torch.Generator().manual_seed(config["seed"] + 1)
    model.eval()
    with ema.averaged(), torch.no_grad():
        test_loss = float(denoising_score_loss(model, x_test, sigmas,
                                               torch.Generator().manual_seed(config["seed"] + 2)))
        begin = torch.rand(config["fd_samples"], 784, generator=gen).to(dev)
        sample_start = time.perf_counter()
        noisy = annealed_langevin(model, begin, sigmas, steps=config["langevin_steps"],
                                  step_size=config["step_size"], generator=gen, denoise=False)
        last = torch.full((len(noisy),), float(sigmas[-1]), device=dev)
        drawn = noisy + float(sigmas[-1]) ** 2 * model(noisy, last)
        sample_seconds = time.perf_counter() - sample_start
    metrics = {
        "frechet_distance": frechet.reference_distance(drawn.clamp(0, 1), x_test),
        "frechet_before_denoising": frechet.reference_distance(noisy.clamp(0, 1), x_test),
        "train_loss": history["loss"], "test_loss": test_loss,
        "steps": history.rows[-1]["step"], "train_seconds": seconds,
        "stopped_by_budget": bool(budget and budget[0].stopped_step is not None),
        "sample_seconds": sample_seconds,
        "network_evaluations": config["levels"] * config["langevin_steps"] + 1,
        "parameters": sum(p.numel() for p in model.parameters()),
        "sigmas": sigmas.tolist()}
    metrics["frechet"] = {"features": frechet.features_id("mnist"),
                          "samples": {"DAE + annealed Langevin": metrics["frechet_distance"]}}
    return metrics, {"samples": published.as_levels(drawn[:100]).cpu(),
                     "noisy": published.as_levels(noisy[:100]).cpu()}


_DAE = dict(largest=1.0, smallest=0.01, levels=10, lr=1e-3, ema=0.999, langevin_steps=50,
            step_size=2e-5, seed=0)

experiment(
    "dae-langevin-mnist", post=7038, metric="frechet_distance", publish=dict,
    headline=Headline("Fréchet distance of 2000 samples to 2000 test images", 0.1, "lower"),
    quick=dict(n_train=4096, steps=200, train_seconds=None, batch_size=128, hidden=256, depth=2,
               fd_samples=200, log_every=50, **_DAE),
    full=dict(n_train=60000, steps=30000, train_seconds=1200, batch_size=128, hidden=1024,
              depth=3, fd_samples=2000, log_every=1000, **_DAE),
    description="A denoiser becomes a generator (post 7038): a dense noise-conditional score "
                "model trained by denoising score matching on MNIST over ten noise levels from "
                "1 to 0.01, sampled by annealed Langevin dynamics (50 steps a level) and a last "
                "Tweedie denoising step; the Fréchet distance of 2000 samples on the book's "
                "reference features.",
)(run_dae_langevin)
