"""The entropic autoencoder, EAE (Su Jianlin, https://spaces.ac.cn/archives/7343, after Ghose,
Rashwan and Poupart, arXiv:2002.10631).

A plain autoencoder whose code passes through batch normalisation without a learned scale or
shift, ``z = BN(E(x))``, so that in every batch each coordinate of the code has mean 0 and
variance 1, and whose loss rewards the codes' entropy:

    L = mean_x ||x - D(BN(E(x)))||^2 - lambda * H(Z),

``H(Z)`` estimated on the batch's codes by the k-nearest-neighbour estimator of
:mod:`kexue.vae.entropy`. Among all laws of ``R^d`` whose coordinates have mean 0 and variance 1,
``N(0, I)`` has the largest entropy, so the codes are pushed towards it, and new images are drawn
as ``D(z)``, ``z ~ N(0, I)``, with no reparametrisation noise in training.

Here: the model (:class:`EAE`) and its loss (:class:`EAELoss`), trained like the VAE it is compared
with by :func:`kexue.vae.autoencoder.train_model`, and the experiment ``eae-mnist``: the Fréchet distance
of each model's samples to the test images on the book's classifier's features
(:mod:`kexue.vae.frechet`), the codes' entropy against that of ``N(0, I)``, and the figures.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import classifier, runtime
from ..checks import non_negative, positive, positive_int
from ..experiments import experiment
from . import frechet
from .autoencoder import VAE, Autoencoder, VAELoss, squared_error, train_model
from .entropy import _k, _norm, entropy_kernel, gaussian_entropy, knn_entropy

__all__ = ["EAE", "EAELoss", "draw_samples", "code_moments", "results_table",
           "plot_samples", "plot_code_marginals"]

IMAGE_DIM = 28 * 28


class EAE(Autoencoder):
    """``x -> E(x) -> z = BN(E(x)) -> D(z)``: the :class:`~kexue.vae.autoencoder.Autoencoder`'s
    encoder (MLP ``input_dim -> hidden -> latent_dim``, linear output) and decoder (the mirror MLP,
    a sigmoid at the end; :func:`~kexue.vae.networks.mlp_decoder`), with a ``BatchNorm1d`` without
    scale and shift (``affine=False``) between them. In training mode the batch's own mean and
    variance standardise each coordinate; in eval mode their running averages do."""

    def __init__(self, hidden=(256,), latent_dim: int = 8, *, input_dim: int = IMAGE_DIM,
                 seed: int | None = None, momentum: float = 0.1):
        super().__init__(hidden, latent_dim, input_dim=input_dim, seed=seed)
        self.norm = nn.BatchNorm1d(self.latent_dim, affine=False,
                                   momentum=positive(momentum, "momentum"))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """``z = BN(E(x))``, the standardised code of each row of ``x``."""
        return self.norm(super().codes(x))


class EAELoss:
    """The EAE's loss for ``kexue.train``: ``mean ||x - D(z)||^2 - lambda * H``, ``H`` the
    k-nearest-neighbour entropy estimate of the batch's codes ``z = BN(E(x))`` in ``norm``
    (``lambda = entropy_weight``; 0 leaves an autoencoder with a standardised code). Logs both
    terms. The codes are not checked for finiteness (no device sync per step)."""

    def __init__(self, entropy_weight: float = 1.0, *, k: int = 1, norm: str = "euclidean"):
        self.entropy_weight = non_negative(entropy_weight, "entropy_weight")
        self.k = positive_int(k, "k")
        _norm(norm)  # rejects an unknown norm now, not at the first step
        self.norm = norm

    def __call__(self, model: EAE, x: torch.Tensor):
        if not isinstance(model, EAE):
            raise TypeError(f"model must be an EAE, got {type(model).__name__}")
        z = model.codes(x)
        reconstruction = squared_error(x, model.decoder(z)).mean()
        entropy = entropy_kernel(z, _k(self.k, len(z)), norm=self.norm)
        return (reconstruction - self.entropy_weight * entropy,
                {"reconstruction": reconstruction.detach(), "entropy": entropy.detach()})


@torch.no_grad()
def draw_samples(decoder: nn.Module, n: int, latent_dim: int, generator: torch.Generator
                 ) -> torch.Tensor:
    """``D(z)`` for ``n`` codes ``z ~ N(0, I)`` of width ``latent_dim`` drawn from ``generator``
    (on the CPU, then moved to the decoder's device)."""
    n, latent_dim = positive_int(n, "n"), positive_int(latent_dim, "latent_dim")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    device = next(decoder.parameters()).device
    return decoder(torch.randn(n, latent_dim, generator=generator).to(device))


@torch.no_grad()
def code_moments(codes: torch.Tensor) -> dict:
    """Per coordinate: the codes' mean and variance (divisor n, as batch norm uses), and the
    largest absolute correlation between two coordinates."""
    codes = codes.double()
    mean, var = codes.mean(0), codes.var(0, unbiased=False)
    corr = torch.corrcoef(codes.T) - torch.eye(codes.shape[1], dtype=codes.dtype)
    return {"mean": mean.tolist(), "var": var.tolist(), "max_abs_corr": float(corr.abs().max())}


# -- the experiment -------------------------------------------------------------------------------
MODELS = ("eae", "ae-bn", "vae")
TITLES = {"eae": "EAE (BN + entropy)", "ae-bn": "AE + BN, λ = 0", "vae": "VAE, β = 1",
          "floor": "test images, other half"}


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
               lr=2e-3, entropy_weight=1.0, k=1, classifier_hidden=[256, 128],
               classifier_epochs=2, seed=0),
    full=dict(n_train=60000, n_test=10000, hidden=[512, 256], latent_dim=8, epochs=10,
              batch_size=100, lr=1e-3, entropy_weight=1.0, k=1, classifier_hidden=[256, 128],
              classifier_epochs=5, seed=0),
    metric="fid_eae",
    description="MNIST: an entropic autoencoder (BN without scale/shift on an 8-D code, loss "
                "||x - D(z)||^2 - lambda H(z) with the 1-NN entropy estimate), the same network "
                "with lambda = 0, and a VAE of the same size (beta = 1). The Fréchet distance of "
                "each one's N(0, I) samples to the test images on the last hidden layer of our own "
                "MNIST classifier (no Inception weights offline), against the floor of two halves "
                "of the test set; the codes' entropy estimate against N(0, I)'s; reconstruction "
                "errors.",
    post=7343,
)
def run_eae(config: dict):
    """Train the feature classifier, the EAE, the EAE with ``lambda = 0`` and the VAE on
    ``n_train`` MNIST images; split ``n_test`` test images in two random halves; for each model draw as many
    samples as a half holds and measure their Fréchet distance to the first half, the second half's
    own distance to it being the floor. The artifacts hold the models (on the CPU), the samples and
    the test codes."""
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x_train, y_train, x_test, y_test = classifier.mnist_subset(config["n_train"],
                                                               config["n_test"], config["seed"],
                                                               dev)
    feature_net = frechet.feature_classifier(
        x_train, y_train, hidden=config["classifier_hidden"], epochs=config["classifier_epochs"],
        batch_size=config["batch_size"], seed=config["seed"])
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
    return metrics, artifacts


def results_table(metrics: dict) -> tuple[list[str], list[list]]:
    """``(header, rows)``: per model, the Fréchet distance of its samples (ours), the test
    reconstruction error, and its test codes' entropy estimate beside that of as many N(0, I)
    samples; the floor row last."""
    if not isinstance(metrics, dict) or "fid_floor" not in metrics:
        raise ValueError("metrics must be the metrics of the eae-mnist experiment")
    dash = "—"
    rows = [[TITLES[name], f"{metrics[name]['fid']:.2f}", f"{metrics[name]['recon_error']:.2f}",
             f"{metrics[name]['entropy_knn']:.2f}", f"{metrics[name]['entropy_knn_normal']:.2f}"]
            for name in MODELS if name in metrics]
    rows.append([TITLES["floor"], f"{metrics['fid_floor']:.2f}", dash, dash, dash])
    return (["model", "Fréchet distance (our features)", "test ‖x − D(E(x))‖²",
             "codes' 1-NN entropy (nats)", "same for N(0, I) samples"], rows)


# -- figures --------------------------------------------------------------------------------------
def plot_samples(fig, samples: dict, *, n: int = 40, ncols: int = 10) -> None:
    """One panel per entry of ``samples`` (name -> images n x 784): its first ``n`` images."""
    from .. import viz

    if not isinstance(samples, dict) or not samples:
        raise ValueError("samples must be a non-empty dict of name -> images")
    n = positive_int(n, "n")
    for i, (name, images) in enumerate(samples.items()):
        viz.image_grid(images[:n], ncols=ncols, ax=fig.add_subplot(1, len(samples), i + 1),
                       title=TITLES.get(name, name))
    fig.tight_layout()


def plot_code_marginals(axes, codes: dict, *, coordinates=(0, 1)) -> None:
    """For each entry of ``codes`` (name -> test codes n x d), on its own axes: the scatter of two
    ``coordinates`` over the circles of radius 1 and 2 of N(0, I)."""
    from matplotlib.patches import Circle

    i, j = coordinates
    if len(axes) != len(codes):
        raise ValueError(f"give one axes per model: {len(axes)} axes for {len(codes)} models")
    for ax, (name, z) in zip(axes, codes.items()):
        ax.scatter(z[:, i], z[:, j], s=2, alpha=0.4, linewidths=0)
        for radius in (1, 2):
            ax.add_patch(Circle((0, 0), radius, fill=False, color="k", lw=1,
                                ls="--" if radius == 2 else "-"))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set(xlabel=f"$z_{i + 1}$", ylabel=f"$z_{j + 1}$", title=TITLES.get(name, name))
