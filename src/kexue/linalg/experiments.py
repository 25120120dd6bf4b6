"""Part I's experiments: every driver registered with :mod:`kexue.experiments` for the
linear-algebra chapters, with the helpers that run it (data, configurations, seeds, metrics). The
maths they run lives in the idea modules (:mod:`kexue.linalg.matrix_exp`,
:mod:`kexue.linalg.nonsquare`, :mod:`kexue.linalg.rank_one_exp`,
:mod:`kexue.linalg.linear_autoencoder`); the figures and tables in :mod:`kexue.linalg.figures`.

Serves chapters/part1-linear-algebra/det-exp-trace.ipynb (post 6377),
chapters/part1-linear-algebra/nonsquare-determinants.ipynb (post 6096),
chapters/part1-linear-algebra/explicit-invertible-matrix.ipynb (post 6407) and
chapters/part1-linear-algebra/svd-linear-autoencoder.ipynb (post 4208).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .. import data, published, runtime, train
from ..experiments import Headline, Reference, experiment, results_dir
from ..generative.flow import nll_per_dim
from .linear_autoencoder import (
    Autoencoder,
    _matrix,
    centre,
    clip_below,
    fit_autoencoder,
    max_angle_deg,
    principal_angles,
    reconstruction_error,
    svd_baseline,
)
from .matrix_exp import hutchinson_samples, hutchinson_variance, logdet_series, logdet_series_samples
from .nonsquare import (
    inverse_stereographic,
    log_density_on_image,
    stereographic,
    stereographic_band_probabilities,
    stereographic_mass_without_jacobian,
)
from .rank_one_exp import RankOneExpLinear, gaussian_data, gaussian_nll_floor, optimal_gap


# -- det-exp-trace-hutchinson: Hutchinson's trace estimator ----------------------------------------
@experiment(
    "det-exp-trace-hutchinson",
    quick=dict(dim=64, trials=200, probes=[1, 2, 4, 8, 16, 32, 64, 128, 256], norm=0.5, terms=40,
               logdet_probes=4096, seed=0),
    full=dict(dim=2048, trials=1000, probes=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
              norm=0.5, terms=60, logdet_probes=65536, seed=0),
    metric="variance_slope",
    headline=Headline("slope of log variance against log samples (theory: -1)", 0.01, None),
    description="Hutchinson's trace estimator on a random non-symmetric matrix: its bias, its "
                "variance against the number of probes (slope -1 on log-log axes), and the "
                "stochastic power series for log det(I + A).",
    post=6377,
)
def run_hutchinson(config: dict):
    """Measure the Hutchinson estimator on A = norm * G / ||G||_2 (G Gaussian, dim x dim)."""
    dev = runtime.device(float64=True)  # float64 throughout: not on MPS
    runtime.seed_everything(config["seed"])
    gen = torch.Generator(device=dev).manual_seed(config["seed"])
    n, trials, probes = config["dim"], config["trials"], list(config["probes"])
    G = torch.randn(n, n, generator=gen, dtype=torch.float64, device=dev)
    A = config["norm"] * G / torch.linalg.matrix_norm(G, ord=2)

    # trace: trials x max(probes) single-probe estimates; an m-probe estimate averages m of them
    samples = torch.stack([hutchinson_samples(A, max(probes), generator=gen) for _ in range(trials)])
    variance = np.array([samples[:, :m].mean(1).var().item() for m in probes])
    v1 = hutchinson_variance(A).item()
    slope = float(np.polyfit(np.log(probes), np.log(variance), 1)[0])
    bias_z = (samples.mean().item() - torch.trace(A).item()) / math.sqrt(v1 / samples.numel())

    # log det(I + A) by the stochastic series, against the exact series and slogdet
    chunk = 8192
    draws = torch.cat([logdet_series_samples(A, config["terms"], min(chunk, config["logdet_probes"] - i),
                                             generator=gen)
                       for i in range(0, config["logdet_probes"], chunk)]).cpu().double()
    exact = torch.linalg.slogdet(torch.eye(n, dtype=A.dtype, device=dev) + A).logabsdet.item()
    series = logdet_series(A, config["terms"]).item()
    k = torch.arange(1, len(draws) + 1, dtype=torch.float64)
    running = torch.cumsum(draws, 0) / k
    second = torch.cumsum(draws**2, 0) / k
    stderr = torch.sqrt(torch.clamp(second - running**2, min=0) / k)
    estimate, se = running[-1].item(), stderr[-1].item()
    metrics = {
        "variance_slope": slope,
        "variance_ratio_1_probe": samples.var().item() / v1,
        "trace_bias_z": bias_z,
        "logdet_exact": exact,
        "logdet_series_truncation_error": abs(series - exact),
        "logdet_estimate": estimate,
        "logdet_stderr": se,
        "logdet_z": (estimate - series) / se,
        "logdet_abs_error": abs(estimate - exact),
    }
    artifacts = {"probes": probes, "variance": variance, "variance_exact": v1,
                 "logdet_running": running.numpy(), "logdet_stderr": stderr.numpy(),
                 "logdet_exact": exact}
    return metrics, artifacts


# -- injective-flow-density: a density pushed onto the sphere --------------------------------------
def _normal_log_prob(sigma: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def log_prob(z: torch.Tensor) -> torch.Tensor:
        k = z.shape[-1]
        return -0.5 * z.square().sum(-1) / sigma ** 2 - k * math.log(sigma * math.sqrt(2 * math.pi))

    return log_prob


@experiment(
    "injective-flow-density",
    quick=dict(n_samples=500_000, chunk=250_000, sigma=0.5, n_bands=10, seed=0),
    full=dict(n_samples=100_000_000, chunk=4_000_000, sigma=0.5, n_bands=10, seed=0),
    metric="mass",
    headline=Headline("probability mass of the flow's density (exact: 1)", 0.0001, None),
    description="Push N(0, sigma^2 I_2) onto the unit sphere with the injective inverse stereographic "
                "map R^2 -> R^3; check that p(z) / sqrt(det(J^T J)) integrates to 1 over the sphere "
                "(Monte Carlo over uniform points of the sphere) and predicts the band probabilities "
                "of the pushed samples.",
    post=6096,
)
def run_injective_flow_density(config: dict):
    """Monte Carlo check of the change of variables for an injective map (the chapter's experiment).

    * Mass: for x uniform on the unit sphere (area 4 pi), 4 pi E[p_X(x)] should be 1, where
      p_X(x) = p_Z(z) / sqrt(det(J^T J)) at z = stereographic(x); without the area factor it is not.
    * Bands: the probability of each band h_i < x_3 <= h_{i+1} three ways: exactly, as the fraction
      of pushed samples g(z), z ~ p_Z, and as 4 pi E[p_X(x) 1_band(x)] over uniform x.
    """
    n, chunk, sigma = int(config["n_samples"]), int(config["chunk"]), float(config["sigma"])
    n_bands = int(config["n_bands"])
    if n < 2 or chunk < 1 or n_bands < 1:
        raise ValueError(f"need n_samples >= 2, chunk >= 1 and n_bands >= 1, got {config}")
    dev = runtime.device(float64=True)  # float64 throughout: not on MPS
    gen = torch.Generator(device=dev).manual_seed(int(config["seed"]))
    log_pz = _normal_log_prob(sigma)
    edges = torch.linspace(-1, 1, n_bands + 1, dtype=torch.float64, device=dev)
    sums = dict(p=0.0, p2=0.0, naive=0.0)
    band_density = torch.zeros(n_bands, dtype=torch.float64, device=dev)
    band_pushed = torch.zeros(n_bands, dtype=torch.float64, device=dev)
    keep = min(n, 4000)
    shown = {}
    done = 0
    while done < n:
        m = min(chunk, n - done)
        # uniform points of the sphere (normalised Gaussians), away from the pole where z blows up
        x = torch.randn(m, 3, generator=gen, dtype=torch.float64, device=dev)
        x = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        x = x[x[:, 2] < 1 - 1e-12]
        z = stereographic(x)
        p = log_density_on_image(log_pz, inverse_stereographic, z).exp()
        sums["p"] += float(p.sum())
        sums["p2"] += float(p.square().sum())
        sums["naive"] += float(log_pz(z).exp().sum())
        band = torch.bucketize(x[:, 2].contiguous(), edges[1:-1])
        band_density += torch.bincount(band, weights=p, minlength=n_bands)
        # samples pushed through g
        zs = sigma * torch.randn(m, 2, generator=gen, dtype=torch.float64, device=dev)
        xs = inverse_stereographic(zs)
        band_pushed += torch.bincount(torch.bucketize(xs[:, 2].contiguous(), edges[1:-1]), minlength=n_bands)
        if not shown:
            shown = dict(points=xs[:keep].cpu().numpy(),
                         log_density=log_density_on_image(log_pz, inverse_stereographic,
                                                          zs[:keep]).cpu().numpy())
        done += m
    area = 4 * math.pi
    mean_p = sums["p"] / n
    std_p = math.sqrt(max(sums["p2"] / n - mean_p ** 2, 0.0))
    exact = stereographic_band_probabilities(edges.cpu().numpy(), sigma)
    pushed = (band_pushed / n).cpu().numpy()
    density = (area * band_density / n).cpu().numpy()
    metrics = dict(
        mass=area * mean_p,
        mass_stderr=area * std_p / math.sqrt(n),
        mass_without_jacobian=area * sums["naive"] / n,
        mass_without_jacobian_exact=stereographic_mass_without_jacobian(sigma),
        band_max_abs_err_pushed=float(np.abs(pushed - exact).max()),
        band_max_abs_err_density=float(np.abs(density - exact).max()),
        n_samples=n,
    )
    artifacts = dict(edges=edges.cpu().numpy(), exact=exact, pushed=pushed, density=density, **shown)
    return metrics, artifacts


# -- rank-one-exp-flow: how many factors does a linear flow need? ----------------------------------
@experiment(
    "rank-one-exp-flow",
    quick=dict(dim=6, samples=1000, cond=20.0, factors=[1, 2, 3], steps=500, lr=0.08, seed=0),
    full=dict(dim=32, samples=50000, cond=100.0, factors=[1, 2, 4, 8, 12, 16, 24, 32], steps=5000,
              lr=0.02, seed=0),
    metric="max_excess_over_optimum",
    headline=Headline("largest NLL excess over the optimum (nats/dim)", 0.0001, "lower"),
    description="Fit a correlated Gaussian in R^k by maximum likelihood with the invertible linear "
                "flow exp(u_m v_mᵀ)...exp(u_1 v_1ᵀ) x + b, for several numbers m of rank-one "
                "factors; compare the trained NLL gap (nats per dimension) with the least gap m "
                "factors can reach, optimal_gap (zero from m = k/2 on).",
    post=6407,
)
def run_flow_experiment(config: dict):
    """Train one :class:`RankOneExpLinear` per number of factors: full-batch Adam, cosine-decayed
    learning rate, float32 on the current device; evaluate in float64 on the CPU."""
    gen = torch.Generator().manual_seed(config["seed"])
    data = gaussian_data(config["samples"], config["dim"], cond=config["cond"], generator=gen)
    floor = gaussian_nll_floor(data)
    dev = runtime.device()
    data_dev = data.to(dev, torch.float32)
    gaps, histories, inverse_errors = [], {}, []
    for m in config["factors"]:
        layer = RankOneExpLinear(config["dim"], m, generator=gen).to(dev)
        with torch.no_grad():
            layer.bias.copy_(-data_dev.mean(0))
        opt = torch.optim.Adam(layer.parameters(), lr=config["lr"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config["steps"])
        history = train.fit(layer, opt, nll_per_dim, data_dev, batch_size=len(data_dev),
                            steps=config["steps"], log_every=1,
                            callbacks=[train.StepScheduler(sched)], description=f"flow, m={m}")
        layer = layer.cpu().double()
        with torch.no_grad():
            x = data[:256]
            inverse_errors.append(float((layer.inverse(layer(x)[0]) - x).abs().max()))
            gaps.append(float(nll_per_dim(layer, data)) - floor)
        histories[m] = np.asarray(history["loss"]) - floor
    optimal = [optimal_gap(data, m) for m in config["factors"]]
    metrics = {
        "factors": list(config["factors"]),
        "gap_nats_per_dim": gaps,
        "optimal_gap_nats_per_dim": optimal,
        "max_excess_over_optimum": max(g - o for g, o in zip(gaps, optimal)),
        "floor_nats_per_dim": floor,
        "max_inverse_error": max(inverse_errors),
    }
    return metrics, {"histories": histories}


# -- svd-linear-autoencoder: the autoencoder against the SVD ---------------------------------------
def _snapshot_steps(steps: int, every: int, count: int) -> list[int]:
    """About ``count`` multiples of ``every`` from 0 to ``steps``, spaced geometrically."""
    grid = torch.logspace(0, math.log10(steps / every), max(count - 1, 1)).round().long() * every
    return sorted({0, *(int(t) for t in grid if t <= steps)})


def compare_with_svd(X: torch.Tensor, test: torch.Tensor, k: int, *, steps: int, lr: float,
                     momentum: float, probe_every: int, n_snapshots: int, seed: int,
                     train_seconds: float | None = None) -> tuple[dict, dict]:
    """Train the linear autoencoder and the one with a ReLU on its output pixels on ``X``
    (samples as rows, pixels ``>= 0``), each for ``steps`` steps or ``train_seconds`` of training
    if sooner; compare both with the rank-``k`` SVD of the centred data.

    Returns ``(metrics, artifacts)``: errors are per sample on the centred training data, angles
    are between the decoder's column space and ``span(V_k)``; ``test`` rows are reconstructed
    for figures.
    """
    _matrix("X", X)
    _matrix("test", test)
    if test.shape[1] != X.shape[1]:
        raise ValueError(f"test must have {X.shape[1]} columns like X, got {test.shape[1]}")
    Xc, mean = centre(X)
    base = svd_baseline(Xc, k)
    floor = -mean
    if not base.optimum > 1e-12 * float((Xc ** 2).sum(1).mean()):
        raise ValueError(f"k={k} reaches the rank of the centred data: the SVD optimum is 0, so "
                         "there is no excess error to measure; choose a smaller k")
    settings = dict(steps=steps, lr=lr, momentum=momentum, reference=base.basis,
                    probe_every=probe_every, seed=seed, seconds=train_seconds,
                    snapshot_steps=_snapshot_steps(steps, probe_every, n_snapshots))
    linear, linear_probe = fit_autoencoder(Xc, k, **settings)
    relu, relu_probe = fit_autoencoder(Xc, k, floor=floor, **settings)
    with torch.no_grad():
        linear_error = reconstruction_error(Xc, linear(Xc))
        relu_error = reconstruction_error(Xc, relu(Xc))
    clipped_error = reconstruction_error(Xc, clip_below(base.reconstruct(Xc), floor))
    optimum = base.optimum
    angles = torch.rad2deg(principal_angles(linear.decoder.detach().cpu(), base.basis.cpu()))
    metrics = {
        "max_angle_deg": float(angles[-1]),
        "angles_deg": [round(float(a), 6) for a in angles],
        "encoder_max_angle_deg": max_angle_deg(linear.encoder.detach().cpu().T, base.basis.cpu()),
        "svd_optimum": optimum,
        "linear_error": linear_error,
        "excess_error": (linear_error - optimum) / optimum,
        "relu_error": relu_error,
        "relu_excess_error": (relu_error - optimum) / optimum,
        "relu_max_angle_deg": max_angle_deg(relu.decoder.detach().cpu(), base.basis.cpu()),
        "svd_clipped_excess_error": (clipped_error - optimum) / optimum,
        "n_train": X.shape[0], "dim": X.shape[1], "k": k, "steps": steps,
        "steps_trained": {"linear": linear_probe.steps_trained, "relu": relu_probe.steps_trained},
        "train_seconds": train_seconds,
    }
    cpu = torch.device("cpu")
    artifacts = {
        "basis": base.basis.to(cpu), "singular_values": base.singular_values.to(cpu),
        "mean": mean.to(cpu), "optimum": optimum, "clipped_error": clipped_error, "k": k,
        "test": (test - mean).to(cpu), "linear": linear.to(cpu), "relu": relu.to(cpu),
        "linear_rows": linear_probe.rows, "relu_rows": relu_probe.rows,
        "snapshots": linear_probe.snapshots,
    }
    return metrics, artifacts


def _publish_svd(artifacts: dict) -> dict:
    """What the page's reconstructions, decoder columns and training explorer draw: the SVD basis,
    the mean and the centred test images, both trained models, the linear model's snapshots and
    its recorded angles."""
    steps = sorted(artifacts["snapshots"])
    rows = artifacts["linear_rows"]
    return {"basis": artifacts["basis"], "mean": artifacts["mean"], "test": artifacts["test"],
            **published.module_tensors(artifacts["linear"], "linear"),
            **published.module_tensors(artifacts["relu"], "relu"),
            "snapshot_steps": torch.tensor(steps),
            "snapshot_encoders": torch.stack([artifacts["snapshots"][t][0] for t in steps]),
            "snapshot_decoders": torch.stack([artifacts["snapshots"][t][1] for t in steps]),
            "row_steps": torch.tensor([r["step"] for r in rows]),
            "row_angles": torch.tensor([r["angles_deg"] for r in rows]),
            "row_errors": torch.tensor([r["error"] for r in rows])}


def svd_full_run() -> dict | None:
    """The committed full run of ``svd-linear-autoencoder`` in the form of the run's artifacts
    that the page's reconstructions, decoder columns and training explorer take (weights via
    float16, in float64), plus ``"record"``; None without one."""
    found = published.load("svd-linear-autoencoder", results_dir())
    if found is None:
        return None
    record, t = found
    f64 = {k: v.double() if v.is_floating_point() else v for k, v in t.items()}
    k, mean = record["config"]["k"], f64["mean"]
    models = {}
    for name, floor in (("linear", None), ("relu", -mean)):
        model = Autoencoder(len(mean), k, floor=floor).double()
        model.load_state_dict(published.state_dict(f64, name))
        models[name] = model
    steps = f64["snapshot_steps"].tolist()
    return {"record": record, "k": k, "basis": f64["basis"], "mean": mean, "test": f64["test"],
            **models,
            "snapshots": {s: (w1, w2) for s, w1, w2 in zip(steps, f64["snapshot_encoders"],
                                                             f64["snapshot_decoders"])},
            "linear_rows": [{"step": s, "angles_deg": a, "error": e} for s, a, e in zip(
                f64["row_steps"].tolist(), f64["row_angles"].tolist(),
                f64["row_errors"].tolist())]}


@experiment(
    "svd-linear-autoencoder",
    quick=dict(n_train=800, k=6, steps=200, lr=0.02, momentum=0.9, probe_every=10,
               n_snapshots=12, seed=0, train_seconds=None),
    # float64 full-batch steps on 60k images: on a 2-core CPU 5000 of them take hours, so each
    # of the two models trains for at most 15 minutes (the record says how many steps that was)
    full=dict(n_train=60000, k=32, steps=5000, lr=0.02, momentum=0.9, probe_every=50,
              n_snapshots=12, seed=0, train_seconds=900),
    metric="max_angle_deg",
    headline=Headline("largest angle to the SVD subspace (degrees)", 0.01, "lower"),
    description="Train a linear autoencoder x -> W2 W1 x (k-dim bottleneck, centred MNIST, squared "
                "error) by full-batch gradient descent (for steps, or train_seconds if sooner); "
                "measure the principal angles between its decoder's column space and the top-k "
                "right-singular subspace, and its error over the SVD optimum; then the same with a "
                "ReLU on the reconstructed pixels.",
    post=4208, publish=_publish_svd,
    reference=Reference(value="same optimum as the SVD", metric="linear autoencoder vs truncated SVD",
                        where="post 4208, section 等价性 (equivalence)"),
)
def run_svd_linear_autoencoder(config: dict):
    """The chapter's experiment on MNIST: ``n_train`` training images (a seeded random subset
    unless all), ``k``-dim bottleneck; eight test images are reconstructed for the figures."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device(float64=True)  # float64 throughout: not on MPS
    images, _ = data.mnist("train")
    n = config["n_train"]
    if n < len(images):
        images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(
            config["seed"]))[:n]]
    X = data.as_float(images, device=dev)
    test = data.as_float(data.mnist("test")[0][:8], device=dev)
    return compare_with_svd(X, test, config["k"], steps=config["steps"], lr=config["lr"],
                            momentum=config["momentum"], probe_every=config["probe_every"],
                            n_snapshots=config["n_snapshots"], seed=config["seed"],
                            train_seconds=config["train_seconds"])
