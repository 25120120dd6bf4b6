"""The experiments of Part V: ``dcgan-vi-mnist`` (:func:`run_dcgan_vi`), ``wgan-ring-2d``
(:func:`run_ring`), ``wgan-gp-mnist`` (:func:`run_wgan_gp`), ``single-loss-gan-mnist``
(:func:`run_single_loss`), ``ogan-mnist`` (:func:`run_ogan`), and the benchmark
``python -m kexue bench gan-single-loss`` (:func:`benchmark`).

Serves chapters/part5-gans/variational-gan.ipynb (post 5716),
chapters/part5-gans/wasserstein-gan.ipynb (post 6280),
chapters/part5-gans/single-loss-gan.ipynb (post 6387) and
chapters/part5-gans/orthogonal-gan.ipynb (post 6409).
"""
from __future__ import annotations

import time
from functools import partial

import numpy as np
import scipy.optimize
import scipy.stats
import torch

from .. import data, published, runtime, train
from ..experiments import Headline, experiment, results_dir
from ..generative import coverage, frechet
from . import networks, ogan, single_loss, transport, variational, wgan
from .two_players import AdversarialTrainer, Players, adam_pair

__all__ = ["exact_w1", "run_ring", "run_wgan_gp", "wgan_gp_full_run", "train_wgan",
           "hinge_players", "hinge_trainer", "run_single_loss", "benchmark", "RECIPES",
           "run_dcgan_vi", "run_ogan", "ogan_full_run", "linear_probe", "hinge_gan_full_run"]


def exact_w1(x: torch.Tensor, y: torch.Tensor) -> float:
    """W1 between two equal-size samples with uniform masses, exactly. The optimal transport
    linear programme of :mod:`kexue.gans.transport` (Euclidean cost) has a permutation matrix
    ``/ n`` among its optimal plans (Birkhoff-von Neumann: those are the vertices of its feasible
    set), so its optimum is the cheapest assignment, which the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``) finds in a fraction of the programme's time."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be two non-empty samples of one size, got {len(x)} and "
                         f"{len(y)} points")
    cost = transport.cost_matrix(x.flatten(1), y.flatten(1))
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def train_wgan(players: Players, x: torch.Tensor, config: dict, *, constraint: str,
               callbacks=(), description: str) -> tuple[AdversarialTrainer, train.TimeBudget | None]:
    """WGAN training of ``players`` on ``x`` under ``constraint`` with the config's Adam rates and
    betas, ``n_critic`` critic updates per generator update, batch size, penalty weight and clip
    bound, for ``critic_steps`` critic updates or ``train_seconds`` of training (where set: a
    budget for slow devices). Returns the trainer and its time budget (None where unset)."""
    wgan.constrain(players.discriminator, constraint, seed=config["seed"])
    g_opt, d_opt = adam_pair(players, generator_lr=config["lr"], discriminator_lr=config["lr"],
                             betas=tuple(config["betas"]))
    clip = (partial(wgan.clip_weights, bound=config["clip"]) if constraint == "weight-clipping"
            else None)
    budget = [train.TimeBudget(config["train_seconds"])] if config.get("train_seconds") else []
    trainer = AdversarialTrainer(
        players, g_opt, d_opt, wgan.generator_loss,
        partial(wgan.critic_loss, constraint=constraint, penalty_weight=config["penalty_weight"]),
        x, discriminator_steps=config["n_critic"], discriminator_projection=clip,
        batch_size=config["batch_size"], seed=config["seed"], callbacks=[*callbacks, *budget],
        log_every=config["log_every"], description=description)
    trainer.fit(steps=config["critic_steps"])
    return trainer, (budget[0] if budget else None)


# -- two dimensions: the critic's estimate against the exact distance ---------------------------
def run_ring(config: dict):
    """A WGAN on the eight-mode ring (:func:`kexue.gans.wgan.ring_mixture`) under each of
    ``constraints``: small dense players, ``critic_steps`` critic updates; every ``every`` steps,
    on ``eval_points`` fresh real points and as many generated, the critic's gap (its estimate of
    W1) beside the exact W1 of the two samples (:func:`exact_w1`)."""
    runtime.seed_everything(config["seed"])
    real = wgan.ring_mixture(config["n_train"], generator=torch.Generator().manual_seed(config["seed"]))
    metrics, artifacts = {}, {}
    for constraint in config["constraints"]:
        torch.manual_seed(config["seed"])
        hidden = config["hidden"]
        players = Players(networks.mlp_player([2, hidden, hidden, 2]),
                          networks.mlp_player([2, hidden, hidden, 1]), 2)
        fixed = torch.Generator().manual_seed(config["seed"] + 1)

        def evaluate(p, fixed=fixed):
            r = wgan.ring_mixture(config["eval_points"], generator=fixed)
            f = p.generator(torch.randn(config["eval_points"], 2, generator=fixed))
            return {"critic_gap": wgan.critic_gap(p.discriminator, r, f), "exact_w1": exact_w1(r, f)}

        track = train.Evaluate(evaluate, every=config["every"])
        start = time.perf_counter()
        with runtime.cpu_threads(1):
            train_wgan(players, real, config, constraint=constraint, callbacks=[track],
                       description=f"WGAN on the ring ({constraint})")
        gaps, exact = np.array(track["critic_gap"]), np.array(track["exact_w1"])
        metrics[constraint] = {
            "steps": track["step"], "critic_gap": gaps.tolist(), "exact_w1": exact.tolist(),
            "final_gap_over_w1": float(gaps[-1] / exact[-1]),
            "pearson": float(scipy.stats.pearsonr(gaps, exact)[0]),
            "train_seconds": time.perf_counter() - start}
        with torch.no_grad():
            artifacts[constraint] = players.generator.eval()(
                torch.randn(1000, 2, generator=torch.Generator().manual_seed(config["seed"] + 2)))
    metrics["gp_final_gap_over_w1"] = metrics["gradient-penalty"]["final_gap_over_w1"]
    artifacts["real"] = wgan.ring_mixture(1000, generator=torch.Generator().manual_seed(7))
    return metrics, artifacts


_RING = dict(constraints=list(wgan.CONSTRAINTS), n_train=20000, hidden=128, lr=1e-4,
             betas=[0.5, 0.9], n_critic=5, batch_size=256, penalty_weight=10.0, clip=0.01,
             eval_points=256, log_every=500, seed=0)

experiment(
    "wgan-ring-2d", post=6280, metric="gp_final_gap_over_w1",
    publish=dict,  # all of it: 1000 points of the ring and of each generator, 16 kB in float16
    headline=Headline("WGAN-GP critic's gap ÷ exact W1 at the end of training", 0.01, "higher"),
    quick=dict(critic_steps=1000, every=250, **_RING),
    full=dict(critic_steps=25000, every=2500, **_RING),
    description="WGANs on an eight-mode ring in the plane with three ways of keeping the critic "
                "1-Lipschitz (weight clipping, gradient penalty, spectral normalisation): as "
                "training proceeds, the critic's gap E f(real) − E f(fake) on fresh samples "
                "beside the exact W1 of those samples from the optimal transport linear "
                "programme.",
)(run_ring)


# -- MNIST ---------------------------------------------------------------------------------------
def _samples(players: Players, n: int, seed: int, batch_size: int = 1000) -> torch.Tensor:
    """``n`` generated images (flat, in [0, 1]) from codes drawn with ``seed``, generator in eval
    mode (batch norm on its running statistics)."""
    gen = torch.Generator().manual_seed(seed)
    device = next(players.parameters()).device
    was_training = players.training
    players.eval()
    try:
        with torch.no_grad():
            return torch.cat([players.generator(torch.randn(min(batch_size, n - i), players.latent,
                                                            generator=gen).to(device)).flatten(1)
                              for i in range(0, n, batch_size)])
    finally:
        players.train(was_training)


def run_wgan_gp(config: dict):
    """WGAN-GP (:func:`train_wgan`, ``"gradient-penalty"``) with the DCGAN-style players of
    :mod:`kexue.gans.networks` on the MNIST training images; every ``every`` critic steps, the
    critic's gap between ``track_images`` test images and as many samples (its estimate of W1 on
    data it never saw) and the Fréchet distance of those samples to those images on the book's
    reference features; at the end, the Fréchet distance of ``fd_samples`` samples to the test
    set and the correlations of the two tracks."""
    dev = runtime.device()
    runtime.seed_everything(config["seed"])
    (images, _), (test_images, _) = data.mnist("train"), data.mnist("test")
    x = data.as_float(images[:config["n_train"]], device=dev).view(-1, *networks.IMAGE_SHAPE)
    x_test = data.as_float(test_images, device=dev)
    held = x_test[:config["track_images"]]
    torch.manual_seed(config["seed"])
    players = Players(networks.image_generator(config["latent"], config["width"]),
                      networks.image_discriminator(config["width"]), config["latent"]).to(dev)

    def evaluate(p):
        made = _samples(p, len(held), config["seed"] + 1)
        return {"critic_gap": wgan.critic_gap(p.discriminator, held, made),
                "frechet": frechet.reference_distance(made, held)}

    track = train.Evaluate(evaluate, every=config["every"])
    start = time.perf_counter()
    trainer, budget = train_wgan(players, x, config, constraint="gradient-penalty", callbacks=[track],
                         description="WGAN-GP on MNIST")
    seconds = time.perf_counter() - start
    gaps, distances = np.array(track["critic_gap"]), np.array(track["frechet"])
    drawn = _samples(players, config["fd_samples"], config["seed"] + 2)
    final = frechet.reference_distance(drawn, x_test[:config["fd_samples"]])
    metrics = {
        "frechet_distance": final,
        "frechet": {"features": frechet.features_id("mnist"), "samples": {"WGAN-GP": final}},
        "track": {"step": track["step"], "critic_gap": gaps.tolist(),
                  "frechet": distances.tolist()},
        "gap_frechet_pearson": float(scipy.stats.pearsonr(gaps, distances)[0]),
        "gap_frechet_spearman": float(scipy.stats.spearmanr(gaps, distances)[0]),
        "final_critic_gap": float(gaps[-1]),
        "critic_steps": trainer.step, "generator_steps": trainer.step // config["n_critic"],
        "stopped_by_budget": bool(budget and budget.stopped_step is not None),
        "train_seconds": seconds,
        "history": {k: [row.get(k) for row in trainer.history.rows]
                    for k in ("step", "d_gap", "d_penalty", "g_loss")},
        "parameters": {"generator": sum(p.numel() for p in players.generator.parameters()),
                       "critic": sum(p.numel() for p in players.discriminator.parameters())}}
    return metrics, {"generator": players.generator.cpu().eval(),
                     "samples": published.as_levels(drawn[:100]).cpu()}


def _publish(artifacts: dict) -> dict:
    """What a full run keeps for the page: the generator (its weights are small) and 100 samples."""
    return {**published.module_tensors(artifacts["generator"], "generator"),
            "samples": artifacts["samples"]}


def _published_generator(name: str, images: tuple[str, ...]) -> dict | None:
    """Experiment ``name``'s committed full run as a page uses it: ``{"record", "generator",
    *images}`` with the published generator rebuilt at the record's ``latent`` and ``width`` and
    the named 8-bit images, or None where no full record publishes one."""
    found = published.load(name, results_dir())
    if found is None:
        return None
    record, tensors = found
    config = record["config"]
    generator = networks.image_generator(config["latent"], config["width"])
    generator.load_state_dict(published.state_dict(tensors, "generator"))
    return {"record": record, "generator": generator.eval(),
            **{k: tensors[k].to(torch.uint8) for k in images}}


def wgan_gp_full_run() -> dict | None:
    """The committed WGAN-GP run as the page uses it: ``{"record", "generator", "samples"}``."""
    return _published_generator("wgan-gp-mnist", ("samples",))


_WGAN_GP = dict(latent=64, width=32, lr=1e-4, betas=[0.5, 0.9], n_critic=5, batch_size=64,
                penalty_weight=10.0, clip=0.01, log_every=500, seed=0)

experiment(
    "wgan-gp-mnist", post=6280, metric="frechet_distance", publish=_publish,
    headline=Headline("Fréchet distance of 10k samples to the test set (book's features)", 0.1,
                      "lower"),
    quick=dict(n_train=2048, critic_steps=100, every=25, track_images=500, fd_samples=1000,
               train_seconds=None, **_WGAN_GP),
    full=dict(n_train=60000, critic_steps=40000, every=2000, track_images=2000,
              fd_samples=10000, train_seconds=1800, **_WGAN_GP),
    description="WGAN-GP on MNIST with DCGAN-style players (a 64-dimensional code, two "
                "transposed convolutions; a critic of two strided convolutions, no batch norm), "
                "five critic updates per generator update, penalty weight 10, Adam at 1e-4 with "
                "betas (0.5, 0.9), batches of 64. Every 2000 critic steps the critic's gap on "
                "held-out test images (its estimate of W1) and the Fréchet distance of as many "
                "samples on the book's reference features; their correlation over training.",
)(run_wgan_gp)


# -- one loss or two (post 6387) ----------------------------------------------------------------
def hinge_players(config: dict) -> Players:
    """The DCGAN-style players of :mod:`kexue.gans.networks` at the config's ``latent`` and
    ``width``, drawn from torch's global generator."""
    return Players(networks.image_generator(config["latent"], config["width"]),
                   networks.image_discriminator(config["width"]), config["latent"])


def hinge_trainer(players: Players, x: torch.Tensor, config: dict, recipe: str,
                  **kwargs) -> train.Trainer:
    """A trainer for the hinge GAN by ``recipe``: ``"single-loss"``, one Adam over both players on
    :func:`kexue.gans.single_loss.single_loss` with ``weight``; or ``"alternating"``, one Adam per
    player, the discriminator's hinge loss then the generator's on each batch. Same rates and
    betas either way; ``kwargs`` go to the trainer."""
    common = dict(batch_size=config["batch_size"], seed=config["seed"], **kwargs)
    betas = tuple(config["betas"])
    if recipe == "single-loss":
        return train.Trainer(players, train.adam(players.parameters(), config["lr"], betas=betas),
                             partial(single_loss.single_loss, weight=config["weight"]), x,
                             **common)
    if recipe == "alternating":
        g_opt, d_opt = adam_pair(players, generator_lr=config["lr"],
                                 discriminator_lr=config["lr"], betas=betas)
        return AdversarialTrainer(players, g_opt, d_opt, single_loss.generator_hinge_loss,
                                  single_loss.discriminator_hinge_loss, x, **common)
    raise ValueError(f"recipe must be 'single-loss' or 'alternating', got {recipe!r}")


RECIPES = ("alternating", "single-loss")


def run_single_loss(config: dict):
    """The hinge GAN on the MNIST training images trained both ways (:func:`hinge_trainer`) from
    the same initial players for ``steps`` steps each (a step: one update of each player), timed;
    the Fréchet distance of ``fd_samples`` samples of each to the test set. The alternating
    run's generator is kept for the page's explorer."""
    dev = runtime.device()
    runtime.seed_everything(config["seed"])
    (images, _), (test_images, _) = data.mnist("train"), data.mnist("test")
    x = data.as_float(images[:config["n_train"]], device=dev).view(-1, *networks.IMAGE_SHAPE)
    x_test = data.as_float(test_images[:config["fd_samples"]], device=dev)
    metrics, artifacts = {"frechet": {"features": frechet.features_id("mnist"), "samples": {}}}, {}
    for recipe in RECIPES:
        torch.manual_seed(config["seed"])
        players = hinge_players(config).to(dev)
        trainer = hinge_trainer(players, x, config, recipe, log_every=config["log_every"],
                                description=f"hinge GAN ({recipe})")
        start = time.perf_counter()
        trainer.fit(steps=config["steps"])
        seconds = time.perf_counter() - start
        drawn = _samples(players, config["fd_samples"], config["seed"] + 2)
        distance = frechet.reference_distance(drawn, x_test)
        metrics[recipe] = {"frechet_distance": distance, "train_seconds": seconds,
                           "steps_per_second": config["steps"] / seconds,
                           "d_loss": [row.get("d_loss") for row in trainer.history.rows],
                           "g_loss": [row.get("g_loss") for row in trainer.history.rows],
                           "step": [row["step"] for row in trainer.history.rows]}
        metrics["frechet"]["samples"][f"hinge GAN ({recipe})"] = distance
        artifacts[f"samples_{recipe}"] = published.as_levels(drawn[:100]).cpu()
        if recipe == "alternating":
            artifacts["generator"] = players.generator.cpu()
    metrics["speedup"] = (metrics["single-loss"]["steps_per_second"]
                          / metrics["alternating"]["steps_per_second"])
    return metrics, artifacts


_SINGLE = dict(latent=64, width=32, lr=2e-4, betas=[0.5, 0.999], weight=1.0, batch_size=64,
               seed=0)

experiment(
    "single-loss-gan-mnist", post=6387, metric="speedup",
    headline=Headline("training steps per second, one loss ÷ alternating", 0.01, "higher"),
    publish=lambda artifacts: {**published.module_tensors(artifacts["generator"], "generator"),
                               **{k: v for k, v in artifacts.items() if k != "generator"}},
    quick=dict(n_train=2048, steps=60, fd_samples=1000, log_every=10, **_SINGLE),
    full=dict(n_train=60000, steps=6000, fd_samples=10000, log_every=200, **_SINGLE),
    description="The post's hinge-loss GAN on MNIST (DCGAN-style players, Adam at 2e-4 with "
                "betas (0.5, 0.999), batches of 64) trained two ways from the same initial "
                "weights for the same number of steps: alternating updates with two losses and "
                "two optimisers, and the post's single loss with stopped gradients and one "
                "optimiser; time per step and the Fréchet distance of each one's samples.",
)(run_single_loss)


def benchmark(*, steps: int = 50, batch_size: int = 64, device: str | None = None,
              seed: int = 0, repeats: int = 3) -> dict:
    """Training steps per second of the hinge GAN two ways on one device, timed in turn
    ``repeats`` times and compared by their medians: the post's single loss (one generator pass,
    one backward pass) and the alternating two-loss update (:func:`hinge_trainer`)."""
    import statistics

    from ..bench import steps_per_second
    from ..checks import positive_int

    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    dev = runtime.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    x = data.as_float(data.mnist("train")[0], device=dev).view(-1, *networks.IMAGE_SHAPE)
    config = dict(_SINGLE, batch_size=batch_size, seed=seed)
    runs = {}
    for recipe in RECIPES:
        torch.manual_seed(seed)
        trainer = hinge_trainer(hinge_players(config).to(dev), x, config, recipe, progress=False)
        runs[recipe] = lambda n, t=trainer: t.fit(steps=t.step + n)
    timings = {recipe: [] for recipe in RECIPES}
    for _ in range(positive_int(repeats, "repeats")):
        for recipe in RECIPES:
            timings[recipe].append(steps_per_second(runs[recipe], steps, sync=sync, warmup=3))
    single, alternating = (statistics.median(timings[r]) for r in ("single-loss", "alternating"))
    return {"device": runtime.provenance(dev)["device_name"], "batch_size": batch_size,
            "steps": steps, "repeats": repeats, "single_loss_steps_per_s": single,
            "alternating_steps_per_s": alternating, "ratio": single / alternating,
            "ratio_means": "single loss / alternating"}


# -- the GAN as variational inference (post 5716) ----------------------------------------------
def _coverage_and_distance(players: Players, held: torch.Tensor, config: dict, seed: int) -> dict:
    """Of ``coverage_samples`` samples: the classes the reference classifier finds and the
    histogram's divergence from uniform; of the first ``len(held)`` of them, the Fréchet distance
    to ``held``."""
    made = _samples(players, config["coverage_samples"], seed)
    found = coverage.coverage(made, threshold=config["class_threshold"])
    return {"classes_found": found["classes_found"], "kl_from_uniform": found["kl_from_uniform"],
            "frechet": frechet.reference_distance(made[:len(held)], held),
            "histogram": found["histogram"]}


def run_dcgan_vi(config: dict):
    """DCGAN-style players (:func:`hinge_players`' networks) trained with the non-saturating loss
    on the MNIST training images, with the post's term at each of ``weights`` (0: the plain GAN)
    and each of ``seeds``; after every epoch, the Fréchet distance of ``track_images`` samples to
    as many test images and the mode coverage of ``coverage_samples`` samples; a run counts as
    collapsed when, at the end, fewer than ten classes hold ``class_threshold`` of its samples."""
    dev = runtime.device()
    runtime.seed_everything(config["seeds"][0])
    (images, _), (test_images, _) = data.mnist("train"), data.mnist("test")
    x = data.as_float(images[:config["n_train"]], device=dev).view(-1, *networks.IMAGE_SHAPE)
    held = data.as_float(test_images[:config["track_images"]], device=dev)
    runs, artifacts = {}, {}
    for weight in config["weights"]:
        for seed in config["seeds"]:
            torch.manual_seed(seed)
            players = variational.VariationalPlayers(
                networks.image_generator(config["latent"], config["width"]),
                networks.image_discriminator(config["width"]), config["latent"]).to(dev)

            def evaluate(p, seed=seed):
                out = _coverage_and_distance(p, held, config, seed + 1)
                out.pop("histogram")
                return out

            track = train.Evaluate(evaluate, every=len(x) // config["batch_size"])
            g_opt, d_opt = adam_pair(players, generator_lr=config["lr"],
                                     discriminator_lr=config["lr"], betas=tuple(config["betas"]))
            trainer = AdversarialTrainer(
                players, g_opt, d_opt, partial(variational.generator_loss, weight=weight),
                variational.discriminator_loss, x, batch_size=config["batch_size"], seed=seed,
                callbacks=[track], log_every=config["log_every"],
                description=f"DCGAN, weight {weight}, seed {seed}")
            start = time.perf_counter()
            trainer.fit(epochs=config["epochs"])
            final = _coverage_and_distance(players, held, config, seed + 2)
            runs[f"{weight}/{seed}"] = {
                "weight": weight, "seed": seed, "train_seconds": time.perf_counter() - start,
                "epochs": track["epoch"], "frechet": track["frechet"],
                "classes_found": track["classes_found"], "kl_from_uniform": track["kl_from_uniform"],
                "final": final, "collapsed": final["classes_found"] < 10,
                "step_distance": [row.get("g_step_distance") for row in trainer.history.rows]}
            if seed == config["seeds"][0]:
                made = _samples(players, 100, seed + 3)
                artifacts[f"samples_{weight}"] = published.as_levels(made).cpu()
    summary = {}
    for weight in config["weights"]:
        mine = [r for r in runs.values() if r["weight"] == weight]
        summary[str(weight)] = {
            "median_frechet": float(np.median([r["final"]["frechet"] for r in mine])),
            "collapsed": sum(r["collapsed"] for r in mine), "runs": len(mine),
            "median_kl": float(np.median([r["final"]["kl_from_uniform"] for r in mine]))}
    term = str(config["weights"][-1])
    return {"runs": runs, "summary": summary,
            "median_frechet_with_term": summary[term]["median_frechet"],
            "median_frechet_without_term": summary["0.0"]["median_frechet"]}, artifacts


_DCGAN_VI = dict(latent=64, width=32, lr=2e-4, betas=[0.5, 0.999], batch_size=64,
                 weights=[0.0, 1.0], class_threshold=0.01, log_every=200)

experiment(
    "dcgan-vi-mnist", post=5716, metric="median_frechet_with_term", publish=dict,
    headline=Headline("median Fréchet distance with the post's term (2000 samples)", 0.1, "lower"),
    quick=dict(n_train=2048, epochs=2, seeds=[0], track_images=500, coverage_samples=1000,
               **_DCGAN_VI),
    full=dict(n_train=60000, epochs=10, seeds=[0, 1, 2], track_images=2000,
              coverage_samples=10000, **_DCGAN_VI),
    description="The GAN the post derives from variational inference: DCGAN-style players with "
                "the non-saturating loss on MNIST, with and without the post's generator term "
                "λ E||G(z) − G_o(z)||² (λ = 1; G_o the generator before its last update), three "
                "seeds each, ten epochs; after each epoch the Fréchet distance (2000 samples) and "
                "the classes the book's reference classifier finds in 10,000 samples.",
)(run_dcgan_vi)


# -- O-GAN (post 6409) -------------------------------------------------------------------------
def linear_probe(encode, x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of a logistic regression on standardised features ``encode(x)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with torch.no_grad():
        train_f, test_f = encode(x_train).cpu().numpy(), encode(x_test).cpu().numpy()
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(train_f, y_train.numpy())
    return float(probe.score(test_f, y_test.numpy()))


def run_ogan(config: dict):
    """O-GAN (:mod:`kexue.gans.ogan`) on the MNIST training images at each of ``weights`` (0: the
    plain GAN with the same players), from the same initial weights for ``steps`` steps; then the
    Fréchet distance of ``fd_samples`` samples, the reconstruction error of ``G(N(E(x)))`` on
    ``n_eval`` test images (mean squared error per pixel), the correlation ``rho(z, E(G(z)))`` on
    as many codes, and the test accuracy of a linear probe on the encoder's features of
    ``probe_train`` training images."""
    dev = runtime.device()
    runtime.seed_everything(config["seed"])
    (images, labels), (test_images, test_labels) = data.mnist("train"), data.mnist("test")
    x = data.as_float(images[:config["n_train"]], device=dev).view(-1, *networks.IMAGE_SHAPE)
    x_test = data.as_float(test_images, device=dev)
    probe_x = data.as_float(images[:config["probe_train"]], device=dev)
    metrics, artifacts = {"frechet": {"features": frechet.features_id("mnist"), "samples": {}}}, {}
    for weight in config["weights"]:
        torch.manual_seed(config["seed"])
        players = Players(networks.image_generator(config["latent"], config["width"]),
                          ogan.AveragedEncoder(networks.image_discriminator(
                              config["width"], outputs=config["latent"])), config["latent"]).to(dev)
        g_opt, d_opt = adam_pair(players, generator_lr=config["lr"], discriminator_lr=config["lr"],
                                 betas=tuple(config["betas"]))
        trainer = AdversarialTrainer(
            players, g_opt, d_opt, partial(ogan.generator_loss, weight=weight),
            partial(ogan.discriminator_loss, weight=weight), x, batch_size=config["batch_size"],
            seed=config["seed"], log_every=config["log_every"],
            description=f"O-GAN, weight {weight}")
        start = time.perf_counter()
        trainer.fit(steps=config["steps"])
        seconds = time.perf_counter() - start
        players.eval()
        drawn = _samples(players, config["fd_samples"], config["seed"] + 2)
        distance = frechet.reference_distance(drawn, x_test[:config["fd_samples"]])
        held = x_test[:config["n_eval"]]
        rebuilt = ogan.reconstruct(players, held)
        with torch.no_grad():
            z = torch.randn(config["n_eval"], config["latent"],
                            generator=torch.Generator().manual_seed(config["seed"] + 3)).to(dev)
            rho = float(ogan.pearson(z, players.discriminator.encode(players.generator(z))).mean())
        name = "O-GAN" if weight else "plain GAN"
        metrics[name] = {
            "weight": weight, "frechet_distance": distance, "train_seconds": seconds,
            "reconstruction_mse": float((rebuilt - held).pow(2).mean()),
            "pearson": rho,
            "probe_accuracy": linear_probe(players.discriminator.encode, probe_x,
                                            labels[:config["probe_train"]], x_test, test_labels),
            "history_pearson": [row.get("g_pearson") for row in trainer.history.rows]}
        metrics["frechet"]["samples"][name] = distance
        if weight:
            artifacts = {"generator": players.generator.cpu(),
                         "samples": published.as_levels(drawn[:100]).cpu(),
                         "originals": published.as_levels(held[:20]).cpu(),
                         "reconstructions": published.as_levels(rebuilt[:20]).cpu()}
    for key in ("probe_accuracy", "reconstruction_mse", "frechet_distance"):
        metrics[key] = metrics["O-GAN"][key]
    return metrics, artifacts


def _publish_ogan(artifacts: dict) -> dict:
    """The O-GAN generator (for the page's explorer), its samples and 20 test images with their
    reconstructions."""
    return {**published.module_tensors(artifacts["generator"], "generator"),
            **{k: v for k, v in artifacts.items() if k != "generator"}}


def hinge_gan_full_run() -> dict | None:
    """The committed single-loss run's alternating hinge GAN as the page uses it: ``{"record",
    "generator", "samples_alternating", "samples_single-loss"}``."""
    return _published_generator("single-loss-gan-mnist",
                                ("samples_alternating", "samples_single-loss"))


def ogan_full_run() -> dict | None:
    """The committed O-GAN run as the page uses it: ``{"record", "generator", "samples",
    "originals", "reconstructions"}``."""
    return _published_generator("ogan-mnist", ("samples", "originals", "reconstructions"))


_OGAN = dict(latent=64, width=32, lr=2e-4, betas=[0.5, 0.999], batch_size=64, weights=[0.0, 1.0],
             seed=0)

experiment(
    "ogan-mnist", post=6409, metric="probe_accuracy", publish=_publish_ogan,
    headline=Headline("test accuracy of a linear probe on O-GAN's encoder features", 0.005,
                      "higher"),
    quick=dict(n_train=2048, steps=60, fd_samples=500, n_eval=200, probe_train=1000, log_every=10,
               **_OGAN),
    full=dict(n_train=60000, steps=6000, fd_samples=10000, n_eval=1000, probe_train=10000,
              log_every=200, **_OGAN),
    description="O-GAN on MNIST (post 6409): DCGAN-style players whose discriminator is an "
                "encoder to 64 numbers with their average as the score, the non-saturating "
                "losses and the Pearson-correlation term (λ = 1) against the same players "
                "without it (λ = 0), 6000 steps each from the same weights; samples (Fréchet "
                "distance), reconstructions G(N(E(x))), and a linear probe on the encoder's "
                "features.",
)(run_ogan)
