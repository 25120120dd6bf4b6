"""The variational information bottleneck (Su Jianlin, https://spaces.ac.cn/archives/6181;
Alemi, Fischer, Dillon and Murphy, "Deep variational information bottleneck", ICLR 2017,
arXiv:1612.00410).

A classifier ``x -> z -> y`` with a stochastic code ``p(z|x) = N(mu(x), diag(sigma^2(x)))`` is
asked to pass as little information about ``x`` through ``z`` as its task allows. The mutual
information ``I(x; z)`` needs the marginal ``p(z) = E_x p(z|x)``, which cannot be computed; for
any fixed ``q(z)`` (here ``N(0, I)``)

    I(x; z) = E_x KL(p(z|x) || q(z)) - KL(p(z) || q(z)) <= E_x KL(p(z|x) || q(z)),

so the trainable loss is

    E_x [ E_{z ~ p(z|x)} (-log p(y|z)) + beta * KL(p(z|x) || N(0, I)) ],

a VAE's loss with the label in place of the reconstruction. In eval mode the layer passes the
mean ``mu(x)``.

:func:`gaussian_channel` gives every term of the bound in closed form for a linear-Gaussian
encoder of Gaussian data, where ``I(x; z)`` is known exactly.
"""
from __future__ import annotations

import statistics
from typing import Callable, Sequence

import torch
from torch import nn

from .. import classifier, data, runtime, train
from ..checks import float_tensor, label_tensor, non_negative, positive, positive_int
from ..experiments import Reference, experiment
from .gaussian import kl_standard_normal, kl_to_standard, sample

__all__ = ["VariationalBottleneck", "BottleneckClassifier", "BottleneckLoss",
           "linear_gaussian_layer", "gaussian_channel", "kl_per_dimension", "noisy_accuracy",
           "train_classifier", "plot_accuracy_vs_beta", "plot_accuracy_vs_noise",
           "plot_kl_per_dimension", "plot_training", "explore_noise"]


# -- the layer ---------------------------------------------------------------------------------
class VariationalBottleneck(nn.Module):
    """``h -> z``: linear maps to the mean and log-variance of
    ``p(z|h) = N(mu, diag(exp(log_var)))``; in training mode the reparametrised sample
    ``z = mu + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``, in eval mode ``z = mu``. After each
    forward, ``self.kl`` holds ``KL(p(z|h) || N(0, I))`` per sample (summed over the latent
    dimensions; with gradient), and ``self.last`` the batch's ``(mean, log_var)``."""

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.mean = nn.Linear(self.in_features, self.latent_dim)
        self.log_var = nn.Linear(self.in_features, self.latent_dim)
        self.kl: torch.Tensor | None = None
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not isinstance(h, torch.Tensor) or h.ndim != 2 or h.shape[1] != self.in_features:
            raise ValueError(f"the bottleneck takes a batch of shape (n, {self.in_features}), got "
                             f"{tuple(getattr(h, 'shape', ())) or type(h).__name__}")
        mean, log_var = self.mean(h), self.log_var(h)
        self.last = (mean, log_var)
        # the unchecked kernels: a finiteness check here would sync the device every step
        self.kl = kl_to_standard(mean, log_var)
        return sample(mean, log_var, torch.randn_like(mean)) if self.training else mean


class BottleneckClassifier(nn.Module):
    """``x -> body -> z -> logits``: an MLP ``widths[0] -> ... -> widths[-1]`` with ``activation``
    after every layer, then a ``latent_dim``-wide code, then a linear head to ``classes`` logits.
    With ``bottleneck=True`` the code is a :class:`VariationalBottleneck`; without, the same width
    from a plain linear layer (the deterministic network the bottleneck is compared with)."""

    def __init__(self, widths: Sequence[int], latent_dim: int, classes: int, *,
                 bottleneck: bool = True, activation: Callable[[], nn.Module] = nn.ReLU,
                 seed: int | None = None):
        super().__init__()
        widths = list(widths)
        if len(widths) < 2:
            raise ValueError(f"widths must name an input and at least one hidden width, got "
                             f"{widths}")
        latent_dim = positive_int(latent_dim, "latent_dim")
        classes = positive_int(classes, "classes")
        with runtime.seeded_init(seed):
            self.body = nn.Sequential(*classifier.mlp(widths, activation=activation), activation())
            self.code = (VariationalBottleneck(widths[-1], latent_dim) if bottleneck
                         else nn.Linear(widths[-1], latent_dim))
            self.head = nn.Linear(latent_dim, classes)

    @property
    def bottleneck(self) -> VariationalBottleneck | None:
        return self.code if isinstance(self.code, VariationalBottleneck) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.code(self.body(x)))


class BottleneckLoss:
    """``loss_fn(model, x, y)`` for :class:`kexue.train.Trainer`: the mean cross-entropy plus
    ``beta`` times the batch mean of the bottleneck's ``KL(p(z|x) || N(0, I))`` (the post's VIB
    loss). With ``beta = 0`` the loss *is* the cross-entropy (the KL is still logged where the
    model has a bottleneck)."""

    def __init__(self, beta: float):
        self.beta = non_negative(beta, "beta")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        bottleneck = getattr(model, "bottleneck", None)
        if self.beta > 0 and bottleneck is None:
            raise ValueError(f"beta = {self.beta} > 0 needs a model with a VariationalBottleneck "
                             "(a BottleneckClassifier built with bottleneck=True)")
        loss, metrics = classifier.classification_loss(model, x, y)
        metrics["ce"] = loss.detach()
        if bottleneck is not None:
            kl = bottleneck.kl.mean()
            metrics["kl"] = kl.detach()
            if self.beta > 0:
                loss = loss + self.beta * kl
        return loss, metrics


# -- the bound on a Gaussian toy problem ----------------------------------------------------------
def _encoder(A, b, noise_var) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(A, b, noise_var)`` in float64, if they describe an encoder
    ``p(z|x) = N(A x + b, diag(noise_var))``."""
    A = float_tensor(A, "A", ndim=2, nonempty=True).double()
    b = float_tensor(b, "b", ndim=1).double()
    noise_var = float_tensor(noise_var, "noise_var", ndim=1).double()
    if b.shape != A.shape[:1] or noise_var.shape != A.shape[:1]:
        raise ValueError(f"for A of shape {tuple(A.shape)}, b and noise_var must have shape "
                         f"({A.shape[0]},); got {tuple(b.shape)} and {tuple(noise_var.shape)}")
    if not bool((noise_var > 0).all()):
        raise ValueError("noise_var must be positive")
    return A, b, noise_var


def linear_gaussian_layer(A: torch.Tensor, b: torch.Tensor, noise_var: torch.Tensor
                          ) -> VariationalBottleneck:
    """A :class:`VariationalBottleneck` (float64) whose encoder is ``p(z|x) = N(A x + b,
    diag(noise_var))``: the mean head is ``(A, b)``, the log-variance head a constant."""
    A, b, noise_var = _encoder(A, b, noise_var)
    layer = VariationalBottleneck(A.shape[1], A.shape[0]).double()
    with torch.no_grad():
        layer.mean.weight.copy_(A)
        layer.mean.bias.copy_(b)
        layer.log_var.weight.zero_()
        layer.log_var.bias.copy_(noise_var.log())
    return layer


def gaussian_channel(A: torch.Tensor, b: torch.Tensor, cov_x: torch.Tensor,
                     noise_var: torch.Tensor) -> dict[str, float]:
    """Closed forms (float64) for data ``x ~ N(0, cov_x)`` and the encoder
    ``p(z|x) = N(A x + b, D)``, ``D = diag(noise_var)``:

    * ``information``: ``I(x; z) = 1/2 log det(I + D^-1 A cov_x A^T)``;
    * ``bound``: ``E_x KL(p(z|x) || N(0, I))
      = 1/2 [tr(A cov_x A^T) + |b|^2 + sum(noise_var - log noise_var - 1)]``;
    * ``gap``: ``KL(p(z) || N(0, I))`` with the marginal ``p(z) = N(b, A cov_x A^T + D)``.

    Then ``information = bound - gap``."""
    A, b, noise_var = _encoder(A, b, noise_var)
    k, d = A.shape
    cov_x = float_tensor(cov_x, "cov_x", ndim=2).double()
    if cov_x.shape != (d, d):
        raise ValueError(f"cov_x must have shape ({d}, {d}) for A of shape {(k, d)}, got "
                         f"{tuple(cov_x.shape)}")
    if not torch.allclose(cov_x, cov_x.T) or float(torch.linalg.eigvalsh(cov_x)[0]) < 0:
        raise ValueError("cov_x must be a symmetric positive semi-definite matrix")
    signal = A @ cov_x @ A.T
    cov_z = signal + torch.diag(noise_var)
    eye = torch.eye(k, dtype=A.dtype)
    information = 0.5 * float(torch.logdet(eye + signal / noise_var[:, None]))
    bound = 0.5 * float(signal.trace() + b @ b + (noise_var - noise_var.log() - 1).sum())
    gap = 0.5 * float(cov_z.trace() + b @ b - k - torch.logdet(cov_z))
    return {"information": information, "bound": bound, "gap": gap}


# -- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def kl_per_dimension(model: BottleneckClassifier, x: torch.Tensor, *, batch_size: int = 4096
                     ) -> torch.Tensor:
    """``E_x KL(p(z_j|x) || N(0, 1))`` for each latent dimension ``j`` (eval mode, on the CPU):
    their sum is the bound on ``I(x; z)``; a dimension with ~0 carries nothing about ``x``."""
    bottleneck = getattr(model, "bottleneck", None)
    if bottleneck is None:
        raise ValueError("the model has no VariationalBottleneck")
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    batch_size = positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    total = torch.zeros(bottleneck.latent_dim, dtype=torch.float64)
    try:
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size])
            mean, log_var = bottleneck.last
            per_dim = kl_standard_normal(mean.unsqueeze(-1), log_var.unsqueeze(-1))  # (n, k)
            total += per_dim.sum(0).double().cpu()
    finally:
        model.train(was_training)
    return total / len(x)


def noisy_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float], *,
                   noise: torch.Tensor | None = None, seed: int = 0) -> list[float]:
    """Accuracy (eval mode) on ``x + sigma * eps`` for each ``sigma``, with one standard-normal
    ``eps`` shaped like ``x`` (``noise``, or drawn from ``seed``) shared by every ``sigma`` (and by
    every model given the same one). Pixels are not clipped."""
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    y = label_tensor(y, "y", n=len(x))
    sigmas = [non_negative(s, "sigma") for s in sigmas]
    if not sigmas:
        raise ValueError("give at least one sigma")
    if noise is None:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
    elif not isinstance(noise, torch.Tensor) or noise.shape != x.shape:
        raise ValueError(f"noise must be a tensor shaped like x {tuple(x.shape)}")
    return [classifier.evaluate(model, x + s * noise, y)["acc"] for s in sigmas]


# -- the experiment ------------------------------------------------------------------------------
def _fashion(n_train: int, n_eval: int, validation: int, seed: int, device):
    """A seeded random ``n_train`` of Fashion-MNIST's training images and ``n_eval`` evaluation
    images: the test set's first or, with ``validation > 0``, held-out training images that are
    not among the ``n_train`` (for tuning, never the test set)."""
    images, labels = data.fashion_mnist("train")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    if validation > 0:
        held, perm = perm[:validation], perm[validation:]
        x_eval, y_eval = images[held][:n_eval], labels[held][:n_eval]
    else:
        x_eval, y_eval = (t[:n_eval] for t in data.fashion_mnist("test"))
    if n_train > len(perm):
        raise ValueError(f"only {len(perm)} training images are left for n_train={n_train}")
    pick = perm[:n_train]
    return (data.as_float(images[pick], device=device), labels[pick].to(device),
            data.as_float(x_eval, device=device), y_eval.to(device))


def train_classifier(x: torch.Tensor, y: torch.Tensor, beta: float, *, widths, latent_dim: int,
                     epochs: int, batch_size: int, lr: float, seed: int
                     ) -> tuple[BottleneckClassifier, train.History]:
    """Train a :class:`BottleneckClassifier` with Adam on :class:`BottleneckLoss` through
    :func:`kexue.train.fit`: with the bottleneck for ``beta > 0``, the deterministic network
    for ``beta = 0``."""
    beta = non_negative(beta, "beta")
    runtime.seed_everything(seed)
    model = BottleneckClassifier(widths, latent_dim, int(y.max()) + 1, bottleneck=beta > 0,
                                 seed=seed).to(x.device)
    optimizer = train.adam(model.parameters(), positive(lr, "lr"))
    steps_per_epoch = len(x) // batch_size
    history = train.fit(model, optimizer, BottleneckLoss(beta), (x, y), batch_size=batch_size,
                        epochs=epochs, seed=seed, log_every=max(steps_per_epoch * epochs // 20, 1),
                        description=f"beta = {beta:g}, seed {seed}")
    return model, history


@experiment(
    "vib-fashion",
    quick=dict(seeds=[0], n_train=5000, n_eval=10000, validation=0, widths=[784, 256],
               latent_dim=64, betas=[0.0, 1e-3, 1e-2, 1e-1], sigmas=[0.0, 0.2, 0.4, 0.6, 0.8],
               epochs=5, batch_size=100, lr=1e-3, headline_beta=1e-1, cpu_threads=1),
    full=dict(seeds=[0, 1, 2], n_train=60000, n_eval=10000, validation=0, widths=[784, 512, 512],
              latent_dim=128, betas=[0.0, 1e-3, 1e-2, 1e-1], sigmas=[0.0, 0.2, 0.4, 0.6, 0.8],
              epochs=20, batch_size=100, lr=1e-3, headline_beta=1e-1, cpu_threads=1),
    metric="test_acc_vib",
    description="Fashion-MNIST MLP classifiers with a variational information bottleneck (KL "
                "weight beta > 0) and without (beta = 0, the same network with a deterministic "
                "code): clean test accuracy (%) and accuracy under Gaussian input noise of "
                "several sigma, mean over seeds; the KL (nats) that bounds I(x; z) per beta. The "
                "headline is the clean accuracy at headline_beta = 0.1, the weight of the post's "
                "own code.",
    post=6181,
    reference=Reference(value="89%+ with VIB, 88%+ without",
                        metric="validation accuracy on IMDB (a text CNN; not Fashion-MNIST)",
                        where="post 6181, section 结果观察与实现 (results and "
                              "implementation)"),
)
def run_vib_fashion(config: dict):
    """For every seed, one classifier per ``beta`` (``beta = 0``: no bottleneck) on its own random
    ``n_train`` training images; accuracies (%) on the evaluation images, clean and with noise of
    each ``sigma`` (one noise draw per seed, shared by all models). Artifacts: the first seed's
    models, training histories, KL per latent dimension and evaluation data."""
    dev = runtime.device()
    betas = [non_negative(b, "beta") for b in config["betas"]]
    if config["headline_beta"] not in betas or config["headline_beta"] == 0:
        raise ValueError("headline_beta must be one of the positive betas")
    per_seed, first = [], {"models": [], "rows": [], "kl": []}
    with runtime.cpu_threads(config["cpu_threads"], dev):
        for n, seed in enumerate(config["seeds"]):
            x, y, x_eval, y_eval = _fashion(config["n_train"], config["n_eval"],
                                            config["validation"], seed, dev)
            noise = torch.randn(x_eval.shape, generator=torch.Generator().manual_seed(1000 + seed)
                                ).to(x_eval)
            rows = []
            for beta in betas:
                model, history = train_classifier(
                    x, y, beta, widths=config["widths"], latent_dim=config["latent_dim"],
                    epochs=config["epochs"], batch_size=config["batch_size"], lr=config["lr"],
                    seed=seed)
                acc = noisy_accuracy(model, x_eval, y_eval, config["sigmas"], noise=noise)
                kl = kl_per_dimension(model, x_eval) if beta > 0 else None
                rows.append({"acc": [100 * a for a in acc], "kl": kl})
                if n == 0:
                    first["models"].append(model.cpu())
                    first["rows"].append(history.rows)
                    first["kl"].append(kl)
            per_seed.append(rows)
            if n == 0:
                first.update(x_eval=x_eval.cpu(), y_eval=y_eval.cpu(), noise=noise.cpu())
    n_seeds = len(per_seed)
    acc = [[statistics.fmean(per_seed[s][i]["acc"][j] for s in range(n_seeds))
            for j in range(len(config["sigmas"]))] for i in range(len(betas))]
    rate = [None if b == 0 else statistics.fmean(float(per_seed[s][i]["kl"].sum())
                                                 for s in range(n_seeds))
            for i, b in enumerate(betas)]
    active = [None if b == 0 else statistics.fmean(int((per_seed[s][i]["kl"] > 0.01).sum())
                                                   for s in range(n_seeds))
              for i, b in enumerate(betas)]
    head = betas.index(config["headline_beta"])
    metrics = {
        "test_acc_vib": acc[head][0], "test_acc_plain": acc[betas.index(0.0)][0]
        if 0.0 in betas else None,
        "betas": betas, "sigmas": list(config["sigmas"]), "seeds": list(config["seeds"]),
        "acc": acc, "acc_per_seed": [[r["acc"] for r in rows] for rows in per_seed],
        "kl_nats": rate, "active_dims": active,
        "evaluated_on": "validation" if config["validation"] > 0 else "test",
    }
    artifacts = {"betas": betas, "sigmas": list(config["sigmas"]), "acc": acc,
                 "models": first["models"], "rows": first["rows"], "kl": first["kl"],
                 "x_eval": first["x_eval"], "y_eval": first["y_eval"], "noise": first["noise"]}
    return metrics, artifacts


# -- figures -------------------------------------------------------------------------------------
def _beta_label(beta: float) -> str:
    return "no bottleneck" if beta == 0 else f"β = {beta:g}"


def plot_accuracy_vs_beta(artifacts: dict, ax) -> None:
    """Accuracy (%) against ``beta`` (log axis; the deterministic network, ``beta = 0``, as a
    horizontal line), one curve per noise level."""
    betas, sigmas, acc = artifacts["betas"], artifacts["sigmas"], artifacts["acc"]
    from matplotlib import colormaps

    positive_betas = [(b, i) for i, b in enumerate(betas) if b > 0]
    colours = colormaps["viridis"]([j / max(len(sigmas) - 1, 1) * 0.85 for j in range(len(sigmas))])
    for j, s in enumerate(sigmas):
        ax.plot([b for b, _ in positive_betas], [acc[i][j] for _, i in positive_betas], "o-",
                color=colours[j], label=f"σ = {s:g}")
        if 0.0 in betas:
            ax.axhline(acc[betas.index(0.0)][j], color=colours[j], ls="--", lw=1)
    ax.set(xscale="log", xlabel="β (KL weight)", ylabel="accuracy (%)",
           title="accuracy against β (dashed: no bottleneck)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, title="input noise", title_fontsize=8)


def plot_accuracy_vs_noise(artifacts: dict, ax, highlight: int | None = None) -> None:
    """Accuracy (%) against the input-noise scale ``sigma``, one curve per ``beta``
    (``highlight``: the index of one ``beta`` drawn bold, the others faded)."""
    betas, sigmas, acc = artifacts["betas"], artifacts["sigmas"], artifacts["acc"]
    for i, b in enumerate(betas):
        faded = highlight is not None and i != highlight
        ax.plot(sigmas, acc[i], "o-" if b > 0 else "s--", color=f"C{i}", label=_beta_label(b),
                alpha=0.3 if faded else 1.0, lw=2.5 if highlight == i else 1.5, ms=4)
    ax.set(xlabel="input noise σ (pixels in [0, 1])", ylabel="accuracy (%)",
           title="accuracy under Gaussian input noise")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_kl_per_dimension(artifacts: dict, ax) -> None:
    """For each ``beta > 0``: the latent dimensions' mean KL (nats), sorted in decreasing order, on
    a log axis; the sum over dimensions (the bound on ``I(x; z)``) in the legend."""
    for i, (b, kl) in enumerate(zip(artifacts["betas"], artifacts["kl"])):
        if kl is None:
            continue
        values = kl.sort(descending=True).values.clamp_min(1e-6).numpy()
        ax.plot(range(1, len(values) + 1), values, "o-", ms=3, color=f"C{i}",
                label=f"β = {b:g}: total {float(kl.sum()):.1f} nats")
    ax.set(yscale="log", xlabel="latent dimension (sorted)", ylabel="E KL per dimension (nats)",
           title="what passes the bottleneck")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def plot_training(artifacts: dict, fig) -> None:
    """Two panels over training: the cross-entropy for every ``beta``, and the KL (nats per
    example) for every ``beta > 0``."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, (b, rows) in enumerate(zip(artifacts["betas"], artifacts["rows"])):
        epochs = [r["epoch"] for r in rows]
        ax1.plot(epochs, [r["ce"] for r in rows], color=f"C{i}", label=_beta_label(b))
        if b > 0:
            ax2.plot(epochs, [r["kl"] for r in rows], color=f"C{i}", label=_beta_label(b))
    ax1.set(xlabel="epoch", ylabel="cross-entropy (nats)",
            title="training cross-entropy (sampled codes)")
    ax2.set(yscale="log", xlabel="epoch", ylabel="KL (nats per example)",
            title="KL(p(z|x) ‖ N(0, I)) during training")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()


def explore_noise(artifacts: dict, n_images: int = 8):
    """A slider over the noise ``sigma``: the first evaluation images with that noise, and under
    them what each model predicts (green: right, red: wrong), with its accuracy at that
    ``sigma``."""
    from .. import viz, widgets

    betas, sigmas = artifacts["betas"], artifacts["sigmas"]
    n_images = positive_int(n_images, "n_images")
    x = artifacts["x_eval"][:n_images]
    y = artifacts["y_eval"][:n_images]
    noise = artifacts["noise"][:n_images]
    with torch.no_grad():
        predictions = [[m.eval()(x + s * noise).argmax(1) for s in sigmas]
                       for m in artifacts["models"]]
    pad, row_height = 6, 12
    width = n_images * (28 + pad) - pad

    def draw(fig, sigma):
        j = min(range(len(sigmas)), key=lambda k: abs(sigmas[k] - sigma))
        ax = fig.add_axes((0.0, 0.0, 1.0, 0.9))
        ax.imshow(viz.tile_images((x + sigmas[j] * noise).clamp(0, 1), ncols=n_images, pad=pad,
                                  pad_value=0.0), cmap="gray_r", vmin=0, vmax=1)
        rows = [("true class", None, y)] + [
            (f"{_beta_label(b)} ({artifacts['acc'][i][j]:.1f}%)", i, predictions[i][j])
            for i, b in enumerate(betas)]
        for r, (label, i, classes) in enumerate(rows):
            top = 28 + (r + 0.6) * row_height
            ax.text(-pad, top, label, ha="right", va="center", fontsize=10)
            for k in range(n_images):
                colour = "k" if i is None else ("C2" if classes[k] == y[k] else "C3")
                ax.text(k * (28 + pad) + 14, top, data.FASHION_CLASSES[int(classes[k])],
                        ha="center", va="center", fontsize=9.5, color=colour)
        ax.set(xlim=(-92, width + 3), ylim=(28 + (len(rows) + 0.2) * row_height, -1))
        ax.set_axis_off()
        ax.set_title(f"test images with Gaussian noise σ = {sigmas[j]:g}, and each model's "
                     "prediction (accuracy on all test images)", fontsize=10)

    return widgets.SliderFigure(draw, [widgets.Slider("sigma", values=sigmas,
                                                      value=sigmas[len(sigmas) // 2],
                                                      description="noise σ")],
                                figsize=(10, 3.0))
