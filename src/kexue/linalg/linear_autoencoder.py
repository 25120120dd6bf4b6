"""SVD and the linear autoencoder (Su Jianlin, https://spaces.ac.cn/archives/4208).

A linear autoencoder ``x -> W2 W1 x`` with a ``k``-dimensional bottleneck, trained on mean-centred
data ``X`` (``n`` rows, one sample per row) to minimise the mean squared reconstruction error

    E(W1, W2) = ||X - X W1^T W2^T||_F^2 / n,

can do no better than the rank-``k`` truncated SVD of ``X`` (Eckart-Young):

    E >= E* = (sigma_{k+1}^2 + ... + sigma_r^2) / n,

with equality exactly when ``W2 W1 = V_k V_k^T``, the orthogonal projector onto the span of the top
``k`` right-singular vectors (when ``sigma_k > sigma_{k+1}``). Only the product is determined:
``(W1, W2)`` and ``(C^{-1} W1, W2 C)`` give the same map for every invertible ``k x k`` matrix
``C``, so training finds the *subspace* ``col(W2) = span(V_k)``, not the singular vectors. The
distance between the two subspaces is measured by their principal angles.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .. import data, runtime, train
from ..checks import float_tensor, positive
from ..experiments import Reference, experiment

BOTTLENECKS = ("linear", "tanh")


# -- input checks ------------------------------------------------------------------------------
def _matrix(name: str, A) -> torch.Tensor:
    """``A`` detached and in float64, if it is a finite, non-empty floating matrix."""
    return float_tensor(A, name, ndim=2, nonempty=True).detach().to(torch.float64)


def _rank(name: str, k, upper: int) -> int:
    """``k`` if it is an int in ``[1, upper]`` (a TypeError for a non-int, unlike
    :func:`kexue.checks.positive_int`)."""
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"{name} must be an int, got {type(k).__name__}")
    if not 1 <= k <= upper:
        raise ValueError(f"{name} must be between 1 and {upper}, got {k}")
    return k


# -- subspaces -----------------------------------------------------------------------------------
def orthonormal_basis(A: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis ``Q`` (``d x p``, by QR) of the column space of ``A``, which must
    have full column rank."""
    A = _matrix("A", A)
    d, p = A.shape
    if p > d:
        raise ValueError(f"A has more columns than rows ({p} > {d}), so they cannot be independent")
    Q, R = torch.linalg.qr(A)
    s = torch.linalg.svdvals(R)  # the singular values of A itself
    if s[-1] <= d * torch.finfo(torch.float64).eps * s[0]:
        raise ValueError("A does not have full column rank: its columns span fewer than "
                         f"{p} dimensions")
    return Q


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of ``A`` and ``B``.

    With orthonormal bases ``Q1``, ``Q2``, the cosines of the angles are the singular values of
    ``Q1^T Q2`` (Bjorck and Golub, 1973). There are ``min(p, q)`` of them. ``arccos`` cannot resolve
    angles below about ``sqrt(eps) ~ 1e-8`` rad in float64; everything here is far above that.
    """
    QA, QB = orthonormal_basis(A), orthonormal_basis(B)
    if QA.shape[0] != QB.shape[0]:
        raise ValueError(f"A and B must live in the same space: they have {QA.shape[0]} and "
                         f"{QB.shape[0]} rows")
    cosines = torch.linalg.svdvals(QA.T @ QB).clamp(0.0, 1.0)
    return torch.arccos(cosines)  # svdvals are descending, so the angles are ascending


def max_angle_deg(A: torch.Tensor, B: torch.Tensor) -> float:
    """The largest principal angle between ``col(A)`` and ``col(B)``, in degrees."""
    return math.degrees(float(principal_angles(A, B)[-1]))


# -- the SVD side --------------------------------------------------------------------------------
def centre(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X - mean, mean)``: the rows of ``X`` shifted to have mean zero, and the mean row."""
    Xd = _matrix("X", X)
    mean = Xd.mean(dim=0)
    return (Xd - mean).to(X.dtype), mean.to(X.dtype)


def reconstruction_error(X: torch.Tensor, X_hat: torch.Tensor) -> float:
    """``||X - X_hat||_F^2 / n``: the squared reconstruction error per sample."""
    X, X_hat = _matrix("X", X), _matrix("X_hat", X_hat)
    if X.shape != X_hat.shape:
        raise ValueError(f"X and X_hat must have the same shape, got {tuple(X.shape)} and "
                         f"{tuple(X_hat.shape)}")
    return float(((X - X_hat) ** 2).sum() / X.shape[0])


@dataclasses.dataclass(frozen=True)
class SVDBaseline:
    """The rank-``k`` truncated SVD of data ``X`` (``n x d``): what no ``k``-dim linear code beats."""

    basis: torch.Tensor  # V_k, d x k: the top-k right-singular vectors (orthonormal columns)
    singular_values: torch.Tensor  # all min(n, d) singular values, descending
    k: int
    n: int

    @property
    def optimum(self) -> float:
        """Eckart-Young: ``min E = (sigma_{k+1}^2 + ...) / n``, the discarded energy per sample."""
        return float((self.singular_values[self.k:] ** 2).sum() / self.n)

    def reconstruct(self, X: torch.Tensor) -> torch.Tensor:
        """``X V_k V_k^T``: each row projected onto the top-``k`` right-singular subspace."""
        Xd = _matrix("X", X)
        if Xd.shape[1] != self.basis.shape[0]:
            raise ValueError(f"X must have {self.basis.shape[0]} columns, got {Xd.shape[1]}")
        return (Xd @ self.basis @ self.basis.T).to(X.dtype)


def svd_baseline(X: torch.Tensor, k: int) -> SVDBaseline:
    """The truncated SVD of ``X`` at rank ``k`` (``X`` is used as given: centre it first)."""
    Xd = _matrix("X", X)
    k = _rank("k", k, min(Xd.shape))
    _, S, Vh = torch.linalg.svd(Xd, full_matrices=False)
    return SVDBaseline(basis=Vh[:k].T.contiguous(), singular_values=S, k=k, n=Xd.shape[0])


def clip_below(X_hat: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
    """``max(X_hat, floor)`` row by row, written ``relu(X_hat - floor) + floor``.

    For centred pixels and ``floor = -mean`` this is the post's ReLU on reconstructed pixels: a
    negative pixel value is replaced by 0. Where the true pixels are ``>= 0`` it can only move a
    reconstruction closer to them, so it never increases the error.
    """
    return torch.relu(X_hat - floor) + floor


# -- the autoencoder side ------------------------------------------------------------------------
class Autoencoder(nn.Module):
    """``x -> max(W2 phi(W1 x), floor)`` on centred ``x``, with a ``k``-dimensional bottleneck.

    ``bottleneck="linear"`` (phi = identity) and ``floor=None`` is the linear autoencoder
    ``x -> W2 W1 x``. ``phi`` may be ``tanh``; ``floor`` (a vector) clips the output
    from below: for centred pixels ``x - mu`` with pixels ``>= 0``, ``floor = -mu`` is the ReLU on
    the reconstructed pixels that the post uses to discard negative reconstructions.
    """

    def __init__(self, dim: int, k: int, *, bottleneck: str = "linear",
                 floor: torch.Tensor | None = None, generator: torch.Generator | None = None):
        super().__init__()
        dim = _rank("dim", dim, 10**9)
        k = _rank("k", k, dim)
        if bottleneck not in BOTTLENECKS:
            raise ValueError(f"bottleneck must be one of {BOTTLENECKS}, got {bottleneck!r}")
        if floor is not None:
            if not isinstance(floor, torch.Tensor) or floor.shape != (dim,):
                raise ValueError(f"floor must be a tensor of shape ({dim},), got "
                                 f"{getattr(floor, 'shape', type(floor).__name__)}")
            if not torch.isfinite(floor).all():
                raise ValueError("floor has non-finite entries")
        self.bottleneck = bottleneck
        # Small random weights, entries N(0, 1/dim): W2 W1 starts near zero, far from any projector.
        self.encoder = nn.Parameter(torch.randn(k, dim, generator=generator) / math.sqrt(dim))
        self.decoder = nn.Parameter(torch.randn(dim, k, generator=generator) / math.sqrt(dim))
        self.register_buffer("floor", None if floor is None else floor.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.encoder.T
        if self.bottleneck == "tanh":
            z = torch.tanh(z)
        out = z @ self.decoder.T
        return out if self.floor is None else clip_below(out, self.floor)


def gradients(X: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of ``E = ||X - X W1^T W2^T||_F^2 / n`` with residual ``R = X - X W1^T W2^T``:

    ``dE/dW2 = -(2/n) R^T X W1^T`` and ``dE/dW1 = -(2/n) W2^T R^T X``.
    """
    X, W1, W2 = _matrix("X", X), _matrix("W1", W1), _matrix("W2", W2)
    n, d = X.shape
    k = W1.shape[0]
    if W1.shape != (k, d) or W2.shape != (d, k):
        raise ValueError(f"for X with {d} columns, W1 must be (k, {d}) and W2 ({d}, k); got "
                         f"{tuple(W1.shape)} and {tuple(W2.shape)}")
    R = X - X @ W1.T @ W2.T
    return -2 / n * W2.T @ R.T @ X, -2 / n * R.T @ X @ W1.T


# -- training (through the book's one loop, kexue.train) -----------------------------------------
def squared_error_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The training loss on a batch: mean over samples of ``||x - model(x)||^2`` (the ``E`` above)."""
    return ((x - model(x)) ** 2).sum(dim=1).mean()


class SubspaceProbe(train.Callback):
    """A :class:`kexue.train.Callback` that, every ``every`` steps (and before the first), records
    the principal angles (degrees) between ``col(W2)`` and ``reference`` and the error ``E`` on ``X``;
    at ``snapshot_steps`` it also keeps a copy of ``(W1, W2)``.
    """

    def __init__(self, X: torch.Tensor, reference: torch.Tensor, every: int,
                 snapshot_steps=()):
        _matrix("X", X)
        reference = _matrix("reference", reference)
        if reference.shape[0] != X.shape[1]:
            raise ValueError(f"reference must have {X.shape[1]} rows (one per feature), got "
                             f"{reference.shape[0]}")
        self.every = _rank("every", every, 10**9)
        self.X, self.reference = X, reference.cpu()
        self.rows: list[dict] = []
        self.snapshot_steps = {int(t) for t in snapshot_steps}
        if any(t % self.every for t in self.snapshot_steps):
            raise ValueError(f"snapshot_steps must be multiples of every={self.every}")
        self.snapshots: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # step -> (W1, W2)

    def record(self, model: nn.Module, step: int) -> None:
        with torch.no_grad():
            error = float(squared_error_loss(model, self.X))
        if not math.isfinite(error):
            raise FloatingPointError(f"training diverged by step {step} (the error is {error}); "
                                     "use a smaller learning rate")
        angles = torch.rad2deg(principal_angles(model.decoder.detach().cpu(), self.reference))
        self.rows.append({"step": step, "error": error, "angles_deg": angles.tolist()})
        if step in self.snapshot_steps:
            self.snapshots[step] = (model.encoder.detach().cpu().clone(),
                                    model.decoder.detach().cpu().clone())

    def on_train_begin(self, trainer) -> None:
        if trainer.step == 0 and not self.rows:
            self.record(trainer.model, 0)

    def on_step_end(self, trainer, logs) -> None:
        if trainer.step % self.every == 0:
            self.record(trainer.model, trainer.step)

    def state_dict(self) -> dict:
        return {"rows": list(self.rows), "snapshots": dict(self.snapshots)}

    def load_state_dict(self, state: dict) -> None:
        self.rows, self.snapshots = list(state["rows"]), dict(state["snapshots"])


def fit_autoencoder(X: torch.Tensor, k: int, *, steps: int, lr: float, momentum: float = 0.0,
                    bottleneck: str = "linear", floor: torch.Tensor | None = None,
                    reference: torch.Tensor | None = None, probe_every: int = 10,
                    snapshot_steps=(), seed: int = 0, batch_size: int | None = None
                    ) -> tuple[Autoencoder, SubspaceProbe]:
    """Train an :class:`Autoencoder` on centred ``X`` by (full-batch, unless ``batch_size``)
    gradient descent with momentum, through ``kexue.train``; return the model and its
    :class:`SubspaceProbe` (angles to ``reference``, by default the top-``k`` right-singular
    subspace of ``X``, and the error ``E`` along the way)."""

    _matrix("X", X)
    lr = positive(lr, "lr")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if reference is None:
        reference = svd_baseline(X, k).basis
    model = Autoencoder(X.shape[1], k, bottleneck=bottleneck, floor=floor,
                        generator=torch.Generator().manual_seed(seed)).to(X.device, X.dtype)
    probe = SubspaceProbe(X, reference, probe_every, snapshot_steps)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    train.Trainer(model, optimizer, squared_error_loss, X, batch_size=batch_size or len(X),
                  seed=seed, callbacks=[probe], description=f"{bottleneck} autoencoder, k={k}"
                  ).fit(steps=steps)
    return model, probe


# -- the experiment ------------------------------------------------------------------------------
def _snapshot_steps(steps: int, every: int, count: int) -> list[int]:
    """About ``count`` multiples of ``every`` from 0 to ``steps``, spaced geometrically."""
    grid = torch.logspace(0, math.log10(steps / every), max(count - 1, 1)).round().long() * every
    return sorted({0, *(int(t) for t in grid if t <= steps)})


def compare_with_svd(X: torch.Tensor, test: torch.Tensor, k: int, *, steps: int, lr: float,
                     momentum: float, probe_every: int, n_snapshots: int, seed: int
                     ) -> tuple[dict, dict]:
    """Train the linear autoencoder and the one with a ReLU on its output pixels on ``X``
    (samples as rows, pixels ``>= 0``); compare both with the rank-``k`` SVD of the centred data.

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
                    probe_every=probe_every, seed=seed,
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


@experiment(
    "svd-linear-autoencoder",
    quick=dict(n_train=800, k=6, steps=200, lr=0.02, momentum=0.9, probe_every=10,
               n_snapshots=12, seed=0),
    full=dict(n_train=60000, k=32, steps=5000, lr=0.02, momentum=0.9, probe_every=50,
              n_snapshots=12, seed=0),
    metric="max_angle_deg",
    description="Train a linear autoencoder x -> W2 W1 x (k-dim bottleneck, centred MNIST, squared "
                "error) by full-batch gradient descent; measure the principal angles between its "
                "decoder's column space and the top-k right-singular subspace, and its error over "
                "the SVD optimum; then the same with a ReLU on the reconstructed pixels.",
    post=4208,
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
                            n_snapshots=config["n_snapshots"], seed=config["seed"])


# -- figures -------------------------------------------------------------------------------------
def _curve_data(rows: list[dict]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    steps = [r["step"] for r in rows]
    return (steps, torch.tensor([r["angles_deg"] for r in rows]),
            torch.tensor([r["error"] for r in rows]))


def plot_training(artifacts: dict, fig) -> None:
    """Three panels over training: every principal angle of the linear autoencoder (the largest
    of the ReLU-output one dashed); both errors over the SVD optimum; the linear one's excess."""
    steps, angles, errors = _curve_data(artifacts["linear_rows"])
    relu_steps, relu_angles, relu_errors = _curve_data(artifacts["relu_rows"])
    optimum = artifacts["optimum"]
    ax1, ax2, ax3 = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    k = angles.shape[1]
    for i in range(k):
        ax1.plot(steps, angles[:, i].clamp_min(1e-6), color=(0.1, 0.3 + 0.6 * i / max(k - 1, 1), 0.8),
                 lw=1)
    ax1.plot(relu_steps, relu_angles[:, -1], "k--", lw=1.2, label="largest, ReLU output")
    ax1.set(yscale="log", xlabel="step", ylabel="degrees",
            title=f"principal angles to span$(V_{{{artifacts['k']}}})$")
    ax1.legend(fontsize=8)
    ax2.plot(steps, errors / optimum, label="linear autoencoder")
    ax2.plot(relu_steps, relu_errors / optimum, "k--", label="ReLU output")
    ax2.axhline(1, color="C3", lw=1, label="SVD optimum $E^*$")
    ax2.axhline(artifacts["clipped_error"] / optimum, color="C2", lw=1, ls=":",
                label="SVD, then ReLU")
    low = float(min(relu_errors.min(), torch.tensor(artifacts["clipped_error"]))) / optimum
    ax2.set(ylim=(low - 0.01, 1 + 2 * (1 - low) + 0.01), xlabel="step", ylabel="$E / E^*$",
            title="error over the SVD optimum")
    ax2.legend(fontsize=8)
    ax3.plot(steps[1:], (errors[1:] / optimum - 1).clamp_min(1e-12))
    ax3.set(xscale="log", yscale="log", xlabel="step", ylabel="$E / E^* - 1$",
            title="linear: excess error")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    fig.tight_layout()


def _pixels(artifacts: dict, centred: torch.Tensor) -> torch.Tensor:
    return (centred + artifacts["mean"]).float()


def plot_reconstructions(artifacts: dict, fig) -> None:
    """Rows: test images; the rank-k SVD reconstruction; the linear autoencoder's; the SVD one with
    negative pixels set to 0; the autoencoder trained with that ReLU on its output."""
    from .. import viz

    test = artifacts["test"].to(torch.float64)
    V = artifacts["basis"]
    floor = -artifacts["mean"].to(torch.float64)
    svd = test @ V @ V.T
    with torch.no_grad():
        linear, relu = (artifacts[name](test.to(artifacts[name].decoder.dtype)).double()
                        for name in ("linear", "relu"))
    rows = [(test, "test images"), (svd, f"rank-{artifacts['k']} SVD"),
            (linear, "linear autoencoder"), (clip_below(svd, floor), "SVD, then ReLU on pixels"),
            (relu, "autoencoder trained with ReLU on pixels")]
    for i, (images, title) in enumerate(rows):
        viz.image_grid(_pixels(artifacts, images), ncols=len(test),
                       ax=fig.add_subplot(len(rows), 1, i + 1), title=title)
    fig.tight_layout()


def align_decoder(decoder: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``W2 C`` with ``C = argmin ||W2 C - V_k||_F``: the decoder with its free invertible ``k x k``
    map chosen to match the singular vectors (exactly ``V_k`` when ``col(W2) = span(V_k)``)."""
    W2, V = _matrix("decoder", decoder), _matrix("basis", basis)
    if W2.shape != V.shape:
        raise ValueError(f"decoder and basis must have the same shape, got {tuple(W2.shape)} and "
                         f"{tuple(V.shape)}")
    return W2 @ torch.linalg.lstsq(W2, V).solution


def plot_decoder_columns(artifacts: dict, fig, n: int = 8) -> None:
    """Rows: the top right-singular vectors; the trained decoder's columns as they are; the decoder
    after the k x k map that aligns it with the singular vectors. Each image scaled to its max |.|."""
    from .. import viz

    V = artifacts["basis"]
    W2 = artifacts["linear"].decoder.detach().double()
    n = min(n, V.shape[1])
    rows = [(V, "right-singular vectors $v_1, v_2, \\dots$"), (W2, "decoder columns (as trained)"),
            (align_decoder(W2, V), "decoder columns $\\times\\, C$ (aligned)")]
    for i, (M, title) in enumerate(rows):
        images = M[:, :n].T
        tiled = viz.tile_images(images / images.abs().amax(dim=1, keepdim=True), ncols=n,
                                pad_value=0.0)
        ax = fig.add_subplot(len(rows), 1, i + 1)
        ax.imshow(tiled, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()


def explore_training(artifacts: dict, n_images: int = 6):
    """A slider over the training snapshots: the largest angle so far, and the linear
    autoencoder's reconstructions of test images at that step beside the SVD's."""
    from .. import viz, widgets

    snapshots = artifacts["snapshots"]
    if len(snapshots) < 2:
        raise ValueError("the run kept fewer than 2 snapshots; nothing to explore")
    steps, angles, _ = _curve_data(artifacts["linear_rows"])
    test = artifacts["test"][:n_images].to(torch.float64)
    V = artifacts["basis"]

    def draw(fig, step):
        step = int(round(step))
        W1, W2 = snapshots[step]
        ax = fig.add_subplot(1, 2, 1)
        ax.plot(steps, angles[:, -1], color="C0")
        at = steps.index(step)
        ax.plot([step], [angles[at, -1]], "o", color="C3")
        ax.set(yscale="log", xlabel="step", ylabel="largest angle (degrees)",
               title=f"step {step}: largest angle {float(angles[at, -1]):.3g}°")
        ax.grid(alpha=0.3)
        recon = test @ W1.double().T @ W2.double().T
        grid = torch.cat([_pixels(artifacts, test), _pixels(artifacts, recon),
                          _pixels(artifacts, test @ V @ V.T)])
        viz.image_grid(grid, ncols=n_images, ax=fig.add_subplot(1, 2, 2),
                       title="test / autoencoder / SVD")
        fig.tight_layout()

    return widgets.SliderFigure(draw, [widgets.Slider("step", values=sorted(snapshots),
                                                      value=max(snapshots),
                                                      description="training step")],
                                figsize=(9, 3.2))
