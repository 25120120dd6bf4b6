"""The experiments of Part IV: ``nice-mnist`` (:func:`run_nice`), the same model trained without
the post's noise, ``nice-mnist-noise-free`` (:func:`run_nice_without_noise`), ``iresnet-mnist``
(:func:`run_iresnet`), and the benchmark ``python -m kexue bench nice`` (:func:`benchmark`).

Serves chapters/part4-flows/nice.ipynb (post 5776) and chapters/part4-flows/iresnet.ipynb
(post 6482).
"""
from __future__ import annotations

import contextlib
import time
from functools import partial

import torch

from .. import data, published, runtime, train
from ..experiments import Headline, Reference, experiment, results_dir
from ..generative import dequantise, frechet
from ..generative.flow import gaussian_nll
from .iresnet import ResidualFlow, exact_log_det, iresnet
from .nice import nice, post_loss, sample

__all__ = ["noisy", "nice_loss", "evaluate_nice", "run_nice", "run_nice_without_noise",
           "full_run", "benchmark",
           "POST_BINS", "bits_loss", "run_iresnet", "c_tradeoff", "iresnet_frames",
           "FRAME_TEMPERATURES", "FRAME_STEPS", "FRAME_PAIRS"]

#: Level k of a pixel scaled by 1/255 owns [(k - 1)/255, k/255): bins on the post's scale,
#: below each level as the post's negative noise is. They are the standard bins [k/256,
#: (k + 1)/256) mapped by x = (256/255) y - 1/255, so the bound on -log P(k) they give is the
#: number the standard convention gives for the same model composed with that map.
POST_BINS = dequantise.Bins(-1 / 255, 1 / 255)


@contextlib.contextmanager
def _settings(blocks, **values):
    """Within the block, every one of ``blocks`` has the attributes ``values`` (the series'
    ``terms`` and ``probes``, the inverse's ``iterations``); restored afterwards."""
    saved = [{k: getattr(b, k) for k in values} for b in blocks]
    for b in blocks:
        for k, v in values.items():
            setattr(b, k, v)
    try:
        yield
    finally:
        for b, old in zip(blocks, saved):
            for k, v in old.items():
                setattr(b, k, v)


def noisy(x: torch.Tensor, noise: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x - noise * u, u ~ U[0, 1): the post's negative dequantisation noise U[-noise, 0]."""
    u = torch.rand(x.shape, generator=generator, device="cpu").to(x.device) if generator \
        else torch.rand_like(x)
    return x - noise * u


def nice_loss(flow, x: torch.Tensor, *, noise: float):
    """The post's training loss on a batch with fresh noise: a loss function for ``kexue.train``."""
    loss = post_loss(flow, noisy(x, noise))
    return loss, {"post_loss": loss.detach()}


@torch.no_grad()
def evaluate_nice(flow, x_test: torch.Tensor, pixels: torch.Tensor, *, noise: float, seed: int,
                  samples: int, temperatures, batch_size: int = 1000) -> dict:
    """On the test set: the post's loss on noisy images (its convention), the bound on -log P(k)
    in bits per dimension with uniform dequantisation into :data:`POST_BINS`, and the Fréchet
    distance of ``samples`` draws at each of ``temperatures`` (clipped to [0, 1], as the post
    displays them) to as many test images, on the reference features."""
    flow.eval()
    gen = torch.Generator().manual_seed(seed)
    post, nll = [], []
    for start in range(0, len(x_test), batch_size):
        x = x_test[start:start + batch_size]
        post.append(post_loss(flow, noisy(x, noise, gen)) * len(x))
        y = dequantise.dequantise(pixels[start:start + batch_size].flatten(1), POST_BINS,
                                  generator=gen).to(x.device)
        nll.append(gaussian_nll(flow, y).sum())
    dims = x_test.shape[1]
    density_nll = float(sum(nll)) / len(x_test)
    frechet_at = {}
    for t in temperatures:
        drawn = torch.cat([sample(flow, min(batch_size, samples - i), temperature=t,
                                  generator=gen) for i in range(0, samples, batch_size)])
        frechet_at[str(t)] = frechet.reference_distance(drawn.clamp(0, 1), x_test[:samples])
    return {"test_post_loss": float(sum(post)) / len(x_test),
            "test_density_nll_nats": density_nll,
            "test_bits_per_dim": dequantise.bits_per_dim(
                dequantise.discrete_nll(density_nll, dims, POST_BINS), dims),
            "frechet_by_temperature": frechet_at, "features": frechet.features_id("mnist")}


def _train_and_evaluate(x, x_test, test_pixels, config, model_key: str, description: str):
    shape = config[model_key]
    flow = nice(784, couplings=shape["couplings"], hidden=shape["hidden"], depth=shape["depth"],
                init=config["init"], seed=config["seed"]).to(x.device)
    start = time.perf_counter()
    history = train.fit_adam(flow, partial(nice_loss, noise=config["noise"]), x, lr=config["lr"],
                             batch_size=config["batch_size"], epochs=config["epochs"],
                             seed=config["seed"], threads=None, description=description)
    seconds = time.perf_counter() - start
    losses = history["post_loss"]
    reached = [i + 1 for i, v in enumerate(losses) if v <= config["post_target"]]
    metrics = {"train_post_loss": losses, "final_train_post_loss": losses[-1],
               "epoch_reaching_post": reached[0] if reached else None,
               "train_seconds": seconds,
               "parameters": sum(p.numel() for p in flow.parameters()),
               **evaluate_nice(flow, x_test, test_pixels, noise=config["noise"],
                               seed=config["seed"], samples=config["fd_samples"],
                               temperatures=config["fd_temperatures"])}
    return flow.cpu().eval(), metrics


def _mnist(config: dict) -> tuple:
    """``(x, x_test, test_pixels, test_labels)``: the first ``n_train`` training images and the
    test images as floats in [0, 1] on the run's device, the test images' 8-bit pixels and labels."""
    dev = runtime.device()
    runtime.seed_everything(config["seed"])
    (images, _), (test_images, test_labels) = data.mnist("train"), data.mnist("test")
    return (data.as_float(images[:config["n_train"]], device=dev),
            data.as_float(test_images, device=dev), test_images, test_labels)


def run_nice(config: dict):
    """Train the post's NICE (``model``) and the smaller page model (``page_model``, small enough
    for the page's explorer) on the first ``n_train`` MNIST training images with the post's noise,
    Adam and batch size, for ``epochs`` epochs; score both on the test set (:func:`evaluate_nice`).
    The artifacts hold both flows, the test images and 100 samples of the post's model."""
    x, x_test, test_images, test_labels = _mnist(config)
    metrics, flows = {}, {}
    for key, title in (("model", "NICE (the post's)"), ("page_model", "NICE (page model)")):
        flows[key], metrics[key] = _train_and_evaluate(x, x_test, test_images, config, key, title)
    metrics["test_post_loss"] = metrics["model"]["test_post_loss"]
    metrics["frechet"] = {  # the book's table of generative models (kexue.generative.frechet.board)
        "features": metrics["model"]["features"],
        "samples": {f"NICE{name}, T = {t}": metrics[key]["frechet_by_temperature"][str(t)]
                    for key, name in (("model", ""), ("page_model", " (page model)"))
                    for t in (config["temperature"], 1.0)}}
    shown = sample(flows["model"], 100, temperature=config["temperature"],
                   generator=torch.Generator().manual_seed(config["seed"] + 1))
    artifacts = {"model": flows["model"], "page_model": flows["page_model"],
                 "samples": published.as_levels(shown),
                 "x_test": x_test.cpu(), "y_test": test_labels}
    return metrics, artifacts


def _publish(artifacts: dict) -> dict:
    """What a full run keeps for the page: the page model and 100 samples of the post's model
    (its 20 million weights would not fit a page)."""
    return {**published.module_tensors(artifacts["page_model"], "page_model"),
            "samples": artifacts["samples"]}


def full_run() -> dict | None:
    """The committed full run as the page uses it: ``{"record", "page_model", "samples"}``, or
    None where no full record publishes one."""
    found = published.load("nice-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    shape = record["config"]["page_model"]
    flow = nice(784, couplings=shape["couplings"], hidden=shape["hidden"], depth=shape["depth"])
    flow.load_state_dict(published.state_dict(tensors, "page_model"))
    return {"record": record, "page_model": flow.eval(),
            "samples": tensors["samples"].to(torch.uint8)}


#: the sizes both NICE experiments train at: the quick profile's and the post's (full)
_QUICK = dict(n_train=10000, epochs=3, fd_samples=2000, model=dict(couplings=4, hidden=200, depth=3))
_FULL = dict(n_train=60000, epochs=20, fd_samples=10000,
             model=dict(couplings=4, hidden=1000, depth=5))
_COMMON = dict(lr=1e-3, batch_size=128, noise=0.01, temperature=0.75, post_target=-2200.0,
               fd_temperatures=[0.5, 0.75, 1.0], init="glorot", seed=0)

experiment(
    "nice-mnist", post=5776, metric="test_post_loss", publish=_publish,
    headline=Headline("test loss in the post's convention, mean ½‖z‖² − log|det| (nats)", 1.0,
                      "lower"),
    reference=Reference(value=-2200, metric="training loss in the post's convention",
                        where="post 5776, section 'Reference code' (about -2200 within 20 "
                              "epochs, 11 s an epoch on a GTX 1070)"),
    quick=dict(_QUICK, page_model=dict(couplings=4, hidden=64, depth=2), **_COMMON),
    full=dict(_FULL, page_model=dict(couplings=4, hidden=128, depth=3), **_COMMON),
    description="NICE on MNIST as in post 5776: four additive couplings (interleaved halves, "
                "reversed before each, m = five ReLU layers of 1000 units, started as Keras "
                "does), a diagonal scale, "
                "noise U[-0.01, 0] on pixels / 255, Adam at 1e-3, batches of 128. The post's "
                "loss (mean ½‖z‖² − log|det|) on the training and test images, the test "
                "likelihood bound in bits per dimension, and the Fréchet distance of samples at "
                "temperature 0.75 on the book's reference MNIST features; beside it a small page "
                "model that the web page runs in JavaScript.",
)(run_nice)


def run_nice_without_noise(config: dict) -> dict:
    """Train the post's NICE as ``nice-mnist`` does but on the images themselves, without the
    noise (``config["noise"]`` is 0; the post shows samples of such a model too), and score it
    with :func:`evaluate_nice`: its test loss is then that of the clean test images, and its
    bound in bits per dimension that of the same images spread over their 8-bit bins. Pixels that
    are 0 in every training image give the scale layer nothing to fit, so their s_i grow as long
    as training lasts (``largest_log_scale``)."""
    if config["noise"] != 0:
        raise ValueError(f"this experiment trains without noise: noise must be 0, got "
                         f"{config['noise']}")
    x, x_test, test_images, _ = _mnist(config)
    flow, model = _train_and_evaluate(x, x_test, test_images, config, "model",
                                      "NICE (the post's), no noise")
    constant = int((x.amax(0) == x.amin(0)).sum())
    return {"model": model, "final_train_post_loss": model["final_train_post_loss"],
            "constant_training_pixels": constant,
            "largest_log_scale": float(flow.flows[-1].log_scale.detach().max())}


experiment(
    "nice-mnist-noise-free", post=5776, metric="final_train_post_loss",
    headline=Headline("training loss in the post's convention, last epoch, trained without "
                      "noise (nats)", 1.0, "lower"),
    reference=Reference(value=-2200, metric="training loss in the post's convention",
                        where="post 5776, section 'Reference code' (about -2200 within 20 "
                              "epochs; the post shows samples of models trained with and "
                              "without its noise)"),
    quick=dict(_QUICK, **{**_COMMON, "noise": 0.0}),
    full=dict(_FULL, **{**_COMMON, "noise": 0.0}),
    description="The post's NICE on MNIST trained exactly as nice-mnist trains it but on the "
                "pixels / 255 themselves, without the noise U[-0.01, 0]: the post's loss on the "
                "training and clean test images, the epoch it first reaches the post's -2200, "
                "the test bound in bits per dimension (the images spread over their 8-bit "
                "bins), the Fréchet distance of samples, and the largest learned log-scale.",
)(run_nice_without_noise)


def benchmark(*, steps: int = 20, batch_size: int = 128, device: str | None = None,
              seed: int = 0, repeats: int = 3, samples: int = 1000) -> dict:
    """Training steps per second of the post's NICE on MNIST, two ways on one device: ours
    (``kexue.train.Trainer`` with ``kexue.train.adam``; the images sit on the device and batches
    are drawn by indexing there) and a plain reference (``torch.optim.Adam`` fed by
    ``DataLoader(TensorDataset(images), batch_size, shuffle=True)`` over CPU tensors, each batch
    copied to the device, ``loss.item()`` read every step), timed in turn ``repeats`` times and
    compared by their medians; then the inverse's throughput, images sampled per second."""
    import statistics

    from torch.utils.data import DataLoader, TensorDataset

    from ..bench import steps_per_second
    from ..checks import positive_int

    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    dev = runtime.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    images = data.as_float(data.mnist("train")[0], device="cpu")
    loss_fn = partial(nice_loss, noise=0.01)

    flow = nice(784, seed=seed).to(dev)
    trainer = train.Trainer(flow, train.adam(flow.parameters(), 1e-3), loss_fn, images.to(dev),
                            batch_size=batch_size, seed=seed, progress=False)
    ours_run = lambda n: trainer.fit(steps=trainer.step + n)  # noqa: E731

    reference = nice(784, seed=seed).to(dev)   # its own copy, from the same initial weights
    optimiser = torch.optim.Adam(reference.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    batches = iter(loader)

    def reference_run(n):
        nonlocal batches
        for _ in range(n):
            try:
                (x,) = next(batches)
            except StopIteration:
                batches = iter(loader)
                (x,) = next(batches)
            optimiser.zero_grad()
            loss, _ = loss_fn(reference, x.to(dev))
            loss.backward()
            optimiser.step()
            loss.item()

    timings = {"ours": [], "reference": [], "sampling": []}
    samples = positive_int(samples, "samples")
    for _ in range(positive_int(repeats, "repeats")):
        timings["ours"].append(steps_per_second(ours_run, steps, sync=sync, warmup=2))
        timings["reference"].append(steps_per_second(reference_run, steps, sync=sync, warmup=2))
        start = time.perf_counter()
        sample(flow, samples)
        sync()
        timings["sampling"].append(samples / (time.perf_counter() - start))
    ours, ref, sampled = (statistics.median(timings[k]) for k in ("ours", "reference", "sampling"))
    return {"device": runtime.provenance(dev)["device_name"], "batch_size": batch_size,
            "steps": steps, "repeats": repeats, "ours_steps_per_s": ours,
            "reference_steps_per_s": ref, "ratio": ours / ref,
            "sampled_images_per_s": sampled, "ours_images_per_s": ours * batch_size,
            "sampling_to_training_ratio": sampled / (ours * batch_size)}


# -- invertible ResNets ---------------------------------------------------------------------------
def bits_loss(flow, levels: torch.Tensor):
    """Bits per dimension of a batch of 8-bit images (``levels``, integer, flat), dequantised
    afresh into the standard bins: a loss function for ``kexue.train``."""
    y = dequantise.dequantise(levels.long(), dequantise.STANDARD).to(levels.device)
    nll = gaussian_nll(flow, y).mean()
    bits = dequantise.bits_per_dim(dequantise.discrete_nll(nll, y.shape[1]), y.shape[1])
    return bits, {"bits_per_dim": bits.detach()}


def _test_bits(flow, levels, *, terms: int, probes: int, seed: int, batch_size: int = 250):
    """Mean test bits per dimension with the series at ``terms`` terms and ``probes`` probes."""
    gen = torch.Generator().manual_seed(seed)
    flow.eval()
    total = 0.0
    with _settings([b for b in flow.flows if isinstance(b, ResidualFlow)], terms=terms,
                   probes=probes):
        for start in range(0, len(levels), batch_size):
            k = levels[start:start + batch_size].long()
            y = dequantise.dequantise(k, dequantise.STANDARD, generator=gen).to(k.device)
            with torch.no_grad():   # the blocks enable gradients for their own products
                total += float(gaussian_nll(flow, y).sum())
    nll = total / len(levels)
    return dequantise.bits_per_dim(dequantise.discrete_nll(nll, levels.shape[1]), levels.shape[1])


def c_tradeoff(flow, x: torch.Tensor, *, iterations: int, probes: int, seed: int) -> dict:
    """For a trained i-ResNet and data rows ``x``: the largest error of the fixed-point inverse
    after ``iterations`` iterations per block, and the variance of a single probe's log-det
    estimate (one block, averaged over rows), from ``probes`` probes."""
    flow.eval()
    gen = torch.Generator().manual_seed(seed)
    blocks = [b for b in flow.flows if isinstance(b, ResidualFlow)]
    with torch.no_grad(), _settings(blocks, iterations=iterations):
        z, _ = flow(x)
        error = float((flow.inverse(z) - x).abs().max())
    with _settings(blocks[:1], probes=1):
        estimates = torch.stack([blocks[0].log_det(x, generator=gen)[1] for _ in range(probes)])
    return {"inverse_error": error, "log_det_variance": float(estimates.var(0).mean())}


def run_iresnet(config: dict):
    """Train the book's dense i-ResNet (:func:`kexue.flows.iresnet.iresnet`) on the first
    ``n_train`` MNIST training images in bits per dimension (standard dequantisation), for
    ``epochs`` epochs or ``train_seconds`` of training (a budget for slow devices; None: the
    epochs alone); score the test bits per dimension with ``eval_terms`` terms and
    ``eval_probes`` probes, the series' bias against the exact log-det on ``exact_images`` test
    images, and samples at temperature 0.75 by the Fréchet distance; then the trade-off in c:
    for each c of ``c_sweep`` a smaller model (``sweep_blocks`` blocks of ``sweep_hidden``)
    trained ``sweep_steps`` steps, its inverse error after
    ``sweep_iterations`` iterations, its log-det estimator's variance and its test bits."""
    dev = runtime.device()
    runtime.seed_everything(config["seed"])
    (images, _), (test_images, _) = data.mnist("train"), data.mnist("test")
    levels = images[:config["n_train"]].flatten(1).to(dev)
    test_levels = test_images[:config["n_eval"]].flatten(1).to(dev)
    shape = {k: config[k] for k in ("blocks", "hidden", "terms", "probes")}
    flow = iresnet(784, c=config["c"], seed=config["seed"], **shape).to(dev)
    budget = ([train.TimeBudget(config["train_seconds"])] if config["train_seconds"] else [])
    start = time.perf_counter()
    history = train.fit_adam(flow, bits_loss, levels, lr=config["lr"],
                             batch_size=config["batch_size"], epochs=config["epochs"],
                             seed=config["seed"], threads=None, callbacks=budget,
                             description="i-ResNet")
    metrics = {"train_bits_per_dim": history["bits_per_dim"],
               "train_seconds": time.perf_counter() - start,
               "steps": history.rows[-1]["step"] if history.rows else 0,
               "stopped_by_budget": bool(budget and budget[0].stopped_step is not None),
               "parameters": sum(p.numel() for p in flow.parameters()),
               "test_bits_per_dim": _test_bits(flow, test_levels, terms=config["eval_terms"],
                                               probes=config["eval_probes"], seed=config["seed"])}
    x = dequantise.dequantise(test_levels[:config["exact_images"]].long(),
                              generator=torch.Generator().manual_seed(config["seed"])).to(dev)
    block = flow.flows[0]
    series = block.log_det(x)[1]
    metrics["series_minus_exact_log_det"] = float((series - exact_log_det(block, x)).detach().mean())
    drawn = sample(flow, config["fd_samples"], temperature=0.75,
                   generator=torch.Generator().manual_seed(config["seed"] + 1))
    x_test = data.as_float(test_images[:config["fd_samples"]], device=dev)
    metrics["frechet"] = {"features": frechet.features_id("mnist"),
                          "samples": {"i-ResNet, T = 0.75": frechet.reference_distance(
                              drawn.clamp(0, 1), x_test)}}
    sweep = {}
    for c in config["c_sweep"]:
        small = iresnet(784, c=c, seed=config["seed"], blocks=config["sweep_blocks"],
                        hidden=config["sweep_hidden"], terms=config["terms"],
                        probes=config["probes"]).to(dev)
        train.fit_adam(small, bits_loss, levels, lr=config["lr"], batch_size=config["batch_size"],
                       steps=config["sweep_steps"], seed=config["seed"], threads=None,
                       description=f"i-ResNet, c = {c}")
        sweep[str(c)] = {**c_tradeoff(small, x, iterations=config["sweep_iterations"],
                                      probes=config["sweep_probes"], seed=config["seed"]),
                         "test_bits_per_dim": _test_bits(small, test_levels,
                                                         terms=config["eval_terms"],
                                                         probes=config["eval_probes"],
                                                         seed=config["seed"])}
    metrics["c_sweep"] = sweep
    return metrics, {"flow": flow.cpu(), "samples": drawn.cpu(),
                     **_frames(flow.cpu(), data.as_float(test_images[:8]), config["seed"])}


#: The temperatures and interpolation points the i-ResNet page's precomputed frames show.
FRAME_TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 1.0)
FRAME_STEPS = 9
FRAME_PAIRS = ((0, 1), (2, 3), (4, 7))


@torch.no_grad()
def _frames(flow, x_test: torch.Tensor, seed: int) -> dict:
    """What the page shows of an i-ResNet whose inverse is iterative (too slow and too large to
    run in a page): 12 draws mapped back at each of :data:`FRAME_TEMPERATURES`, and for each of
    :data:`FRAME_PAIRS` of test images :data:`FRAME_STEPS` points of the line between their codes,
    as 8-bit images."""
    from ..generative.flow import interpolate

    flow.eval()
    eps = torch.randn(12, flow.dim, generator=torch.Generator().manual_seed(seed + 2))
    by_temperature = torch.stack([published.as_levels(flow.inverse(t * eps))
                                  for t in FRAME_TEMPERATURES])
    paths = torch.stack([published.as_levels(interpolate(flow, x_test[a], x_test[b], FRAME_STEPS))
                         for a, b in FRAME_PAIRS])
    return {"temperature_frames": by_temperature, "path_frames": paths}


def _publish_iresnet(artifacts: dict) -> dict:
    """What a full run keeps for the page: 8-bit samples and precomputed frames (the model's
    weights would not fit a page, and its inverse is an iteration)."""
    return {"samples": published.as_levels(artifacts["samples"][:100]),
            "temperature_frames": artifacts["temperature_frames"],
            "path_frames": artifacts["path_frames"]}


def iresnet_frames() -> dict | None:
    """The committed full run's published frames: ``{"record", "samples", "temperature_frames",
    "path_frames"}`` as uint8 tensors, or None where there is none."""
    found = published.load("iresnet-mnist", results_dir())
    if found is None:
        return None
    record, tensors = found
    return {"record": record, **{k: v.to(torch.uint8) for k, v in tensors.items()}}


_IRESNET = dict(lr=1e-3, batch_size=64, c=0.9, terms=5, probes=1, eval_terms=10, eval_probes=4,
                c_sweep=[0.5, 0.7, 0.9, 0.97], sweep_iterations=10, sweep_probes=64, seed=0)

experiment(
    "iresnet-mnist", post=6482, metric="test_bits_per_dim", publish=_publish_iresnet,
    headline=Headline("test bits per dimension (8-bit MNIST, upper bound)", 0.01, "lower"),
    reference=Reference(value=1.06, metric="test bits per dimension on MNIST",
                        where="Behrmann et al. (2019), Table 2 (the post quotes the paper's "
                              "results; its convolutional multi-scale model, c in 0.5-0.9)"),
    quick=dict(n_train=3200, n_eval=500, epochs=1, train_seconds=None, blocks=2, hidden=[64],
               exact_images=4, fd_samples=500, sweep_steps=20, sweep_blocks=2, sweep_hidden=[64],
               **_IRESNET),
    full=dict(n_train=60000, n_eval=10000, epochs=10, train_seconds=1500, blocks=8, hidden=[512],
              exact_images=16, fd_samples=10000, sweep_steps=2000, sweep_blocks=4,
              sweep_hidden=[256], **_IRESNET),
    description="A dense invertible ResNet on MNIST (post 6482): residual blocks x + g(x) with "
                "Lip(g) <= c by spectral normalisation, log-det by the power series with "
                "Hutchinson probes from vector-Jacobian products, a learned diagonal scale; test "
                "bits per dimension (standard dequantisation), the series' bias against the "
                "exact log-det, samples by the Fréchet distance on the reference features, and "
                "the trade-off in c (inverse error, estimator variance, likelihood).",
)(run_iresnet)
