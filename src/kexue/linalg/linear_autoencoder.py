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

Serves chapters/part1-linear-algebra/svd-linear-autoencoder.ipynb (post 4208); its figures and
explorer are in :mod:`kexue.linalg.figures`, its experiment ``svd-linear-autoencoder`` (and the
comparison :func:`kexue.linalg.experiments.compare_with_svd` it runs) in
:mod:`kexue.linalg.experiments`.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .. import train
from ..checks import float_tensor, positive

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
        """Reconstruct the rows of ``x`` (..., dim), of the weights' dtype."""
        x = float_tensor(x, "x", dtypes=(self.encoder.dtype,), finite=False)
        if x.ndim < 1 or x.shape[-1] != self.encoder.shape[1]:
            raise ValueError(f"x must have {self.encoder.shape[1]} entries along its last axis (one "
                             f"centred sample per row), got shape {tuple(x.shape)}")
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
    at ``snapshot_steps`` it also keeps a copy of ``(W1, W2)``; ``steps_trained`` is the step
    training ended at.
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
        self.steps_trained = 0

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

    def on_train_end(self, trainer) -> None:
        self.steps_trained = trainer.step

    def state_dict(self) -> dict:
        return {"rows": list(self.rows), "snapshots": dict(self.snapshots)}

    def load_state_dict(self, state: dict) -> None:
        self.rows, self.snapshots = list(state["rows"]), dict(state["snapshots"])


def fit_autoencoder(X: torch.Tensor, k: int, *, steps: int, lr: float, momentum: float = 0.0,
                    bottleneck: str = "linear", floor: torch.Tensor | None = None,
                    reference: torch.Tensor | None = None, probe_every: int = 10,
                    snapshot_steps=(), seed: int = 0, batch_size: int | None = None,
                    seconds: float | None = None) -> tuple[Autoencoder, SubspaceProbe]:
    """Train an :class:`Autoencoder` on centred ``X`` by (full-batch, unless ``batch_size``)
    gradient descent with momentum, through ``kexue.train``, for ``steps`` steps or, given
    ``seconds``, until that much training time is spent if sooner; return the model and its
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
    callbacks = [probe] if seconds is None else [probe, train.TimeBudget(seconds)]
    train.Trainer(model, optimizer, squared_error_loss, X, batch_size=batch_size or len(X),
                  seed=seed, callbacks=callbacks, description=f"{bottleneck} autoencoder, k={k}"
                  ).fit(steps=steps)
    return model, probe


# -- the free invertible map of the bottleneck ---------------------------------------------------
def align_decoder(decoder: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``W2 C`` with ``C = argmin ||W2 C - V_k||_F``: the decoder with its free invertible ``k x k``
    map chosen to match the singular vectors (exactly ``V_k`` when ``col(W2) = span(V_k)``)."""
    W2, V = _matrix("decoder", decoder), _matrix("basis", basis)
    if W2.shape != V.shape:
        raise ValueError(f"decoder and basis must have the same shape, got {tuple(W2.shape)} and "
                         f"{tuple(V.shape)}")
    return W2 @ torch.linalg.lstsq(W2, V).solution
