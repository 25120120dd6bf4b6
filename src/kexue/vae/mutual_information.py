"""Lower bounds on mutual information with a learned critic (Su Jianlin,
https://spaces.ac.cn/archives/6024).

Mutual information is a KL divergence between the joint distribution and the product of the
marginals, ``I(X; Z) = KL(P || Q)`` with ``P = p(x, z)`` and ``Q = p(x) p(z)``. Samples of ``Q``
come for free: pair each ``x`` of a batch with the ``z`` of another sample (shuffle the batch).
A critic ``T(x, z)`` then gives three lower bounds, each tight at the critic
``T* = log p(x, z) / (p(x) p(z))`` (plus a constant for the first and third):

* Donsker-Varadhan (MINE):  ``I >= E_P[T] - log E_Q[exp T]``  (:func:`dv_bound`);
* the f-GAN bound on the Jensen-Shannon divergence Deep InfoMax maximises,
  ``2 JS(P, Q) - log 4 >= E_P[log sigmoid T] + E_Q[log(1 - sigmoid T)]`` (:func:`js_bound`),
  with ``JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2`` and ``M = (P + Q) / 2``;
* InfoNCE: ``I >= E[T(x_i, z_i) - log (1/n) sum_j exp T(x_i, z_j)]`` over batches of ``n``
  pairs (:func:`infonce_bound`); it can never exceed ``log n``.

Correlated Gaussians are the test case with a closed form: ``x, z`` standard normal with
correlation ``rho`` in each of ``dim`` independent coordinates have
``I = -dim / 2 * log(1 - rho^2)`` (:func:`gaussian_mi`) and the log density ratio
:func:`gaussian_log_ratio`. :func:`estimate_mi` trains a :class:`Critic` on samples through
``kexue.train`` and returns the bound it reaches on held-out samples.

Serves chapters/part3-vae/mutual-information.ipynb (post 6024).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .. import runtime, train
from ..checks import float_tensor, positive_int, real_number
from ..classifier import mlp

__all__ = ["BOUNDS", "gaussian_mi", "correlated_gaussians", "gaussian_log_ratio", "dv_bound",
           "js_bound", "infonce_bound", "Critic", "estimate_mi"]

BOUNDS = ("dv", "js", "infonce")


def _rho(rho) -> float:
    rho = real_number(rho, "rho")
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
    return rho


def gaussian_mi(rho: float, dim: int = 1) -> float:
    """``I(X; Z) = -dim / 2 * log(1 - rho^2)`` nats for ``dim`` independent pairs of standard
    normals with correlation ``rho``."""
    return -0.5 * positive_int(dim, "dim") * math.log1p(-_rho(rho) ** 2)


def correlated_gaussians(n: int, rho: float, dim: int = 1, *,
                         generator: torch.Generator | None = None,
                         dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``(x, z)``, each ``n x dim``: ``x ~ N(0, I)``, ``z = rho x + sqrt(1 - rho^2) e``
    with ``e ~ N(0, I)``, so each coordinate pair has correlation ``rho``."""
    n, dim, rho = positive_int(n, "n"), positive_int(dim, "dim"), _rho(rho)
    x = torch.randn(n, dim, generator=generator, dtype=dtype)
    e = torch.randn(n, dim, generator=generator, dtype=dtype)
    return x, rho * x + math.sqrt(1 - rho ** 2) * e


def gaussian_log_ratio(x: torch.Tensor, z: torch.Tensor, rho: float) -> torch.Tensor:
    """The optimal critic ``log p(x, z) / (p(x) p(z))`` of :func:`correlated_gaussians`, summed over
    coordinates: ``-log(1 - rho^2) / 2 - (rho^2 (x^2 + z^2) - 2 rho x z) / (2 (1 - rho^2))``.
    Pairs broadcast (``x[:, None]`` against ``z[None]`` gives every pair)."""
    x, z = float_tensor(x, "x", nonempty=True), float_tensor(z, "z", nonempty=True)
    rho = _rho(rho)
    s = 1 - rho ** 2
    return (-0.5 * math.log(s) - (rho ** 2 * (x ** 2 + z ** 2) - 2 * rho * x * z) / (2 * s)).sum(-1)


def _scores(joint, marginal) -> tuple[torch.Tensor, torch.Tensor]:
    joint = float_tensor(joint, "joint", ndim=1, nonempty=True, finite=False)
    marginal = float_tensor(marginal, "marginal", ndim=1, nonempty=True, finite=False)
    return joint, marginal


def dv_bound(joint: torch.Tensor, marginal: torch.Tensor) -> torch.Tensor:
    """Donsker-Varadhan: ``mean(joint) - log mean(exp(marginal))``, with ``joint`` the critic's
    values on pairs drawn from ``p(x, z)`` and ``marginal`` on pairs from ``p(x) p(z)``."""
    joint, marginal = _scores(joint, marginal)
    return joint.mean() - (torch.logsumexp(marginal, 0) - math.log(len(marginal)))


def js_bound(joint: torch.Tensor, marginal: torch.Tensor) -> torch.Tensor:
    """The f-GAN Jensen-Shannon bound ``mean(log sigmoid(joint)) + mean(log(1 - sigmoid(marginal)))``
    ``= -mean(softplus(-joint)) - mean(softplus(marginal))``: at most ``2 JS(P, Q) - log 4``, so it
    lies in ``[-log 4, 0]`` at the optimum; minus it is the cross-entropy of telling positive pairs
    from shuffled ones."""
    joint, marginal = _scores(joint, marginal)
    return -F.softplus(-joint).mean() - F.softplus(marginal).mean()


def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE on an ``n x n`` matrix ``scores[i, j] = T(x_i, z_j)`` (positives on the diagonal):
    ``mean_i (scores[i, i] - logsumexp_j scores[i, j]) + log n``, never above ``log n``."""
    scores = float_tensor(scores, "scores", ndim=2, nonempty=True, finite=False)
    if scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be a square matrix of all pairs, got shape "
                         f"{tuple(scores.shape)}")
    return (scores.diagonal() - torch.logsumexp(scores, 1)).mean() + math.log(len(scores))


class Critic(nn.Module):
    """``T(x, z) = MLP([x, z])``: the two inputs concatenated, as the post's critics do."""

    def __init__(self, x_dim: int, z_dim: int, hidden=(64, 64), *, seed: int | None = None):
        super().__init__()
        self.x_dim, self.z_dim = positive_int(x_dim, "x_dim"), positive_int(z_dim, "z_dim")
        self.net = mlp([self.x_dim + self.z_dim, *hidden, 1], seed=seed)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``T(x_i, z_i)`` for each row ``i``."""
        return self.net(torch.cat([x, z], -1)).squeeze(-1)

    def matrix(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``T(x_i, z_j)`` for every pair: an ``n x m`` matrix."""
        n, m = len(x), len(z)
        return self(x[:, None].expand(n, m, -1), z[None].expand(n, m, -1))


def _bound(critic: Critic, bound: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The bound on one batch: InfoNCE over all pairs; DV and JS with the batch's ``z`` shifted by
    one place as the negatives (a shuffle with no fixed point)."""
    if bound == "infonce":
        return infonce_bound(critic.matrix(x, z))
    joint, marginal = critic(x, z), critic(x, z.roll(1, 0))
    return dv_bound(joint, marginal) if bound == "dv" else js_bound(joint, marginal)


def estimate_mi(x: torch.Tensor, z: torch.Tensor, bound: str = "dv", *, x_eval=None, z_eval=None,
                steps: int = 500, batch_size: int = 128, hidden=(64, 64), lr: float = 3e-3,
                seed: int = 0) -> dict:
    """Train a :class:`Critic` to maximise ``bound`` (``"dv"``, ``"js"`` or ``"infonce"``) on the
    paired rows of ``x`` and ``z`` (``steps`` Adam steps of ``batch_size`` pairs, through
    ``kexue.train``), then evaluate on held-out pairs ``(x_eval, z_eval)`` (default: the training
    pairs). Returns ``{"bound": ..., "dv": ..., "critic": ...}``: the trained bound, and the
    Donsker-Varadhan bound of the same critic (a lower bound on the mutual information whatever
    objective trained it; for InfoNCE, batches of ``batch_size``). The evaluation uses the
    all-pairs matrix in blocks of ``batch_size`` for InfoNCE, and every shifted pairing's mean
    over ``x_eval`` for DV and JS."""
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    x = float_tensor(x, "x", ndim=2, nonempty=True)
    z = float_tensor(z, "z", ndim=2, nonempty=True)
    if len(x) != len(z):
        raise ValueError(f"x and z must hold the same number of pairs, got {len(x)} and {len(z)}")
    x_eval = x if x_eval is None else float_tensor(x_eval, "x_eval", ndim=2, nonempty=True)
    z_eval = z if z_eval is None else float_tensor(z_eval, "z_eval", ndim=2, nonempty=True)
    if len(x_eval) != len(z_eval) or x_eval.shape[1] != x.shape[1] or z_eval.shape[1] != z.shape[1]:
        raise ValueError("x_eval and z_eval must pair up and have the widths of x and z")
    batch_size = min(positive_int(batch_size, "batch_size"), len(x))
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2: negatives come from other pairs")
    critic = Critic(x.shape[1], z.shape[1], hidden, seed=seed).to(x.device)
    runtime.seed_everything(seed)
    train.fit_adam(critic, lambda model, xb, zb: -_bound(model, bound, xb, zb), (x, z), lr=lr,
                   batch_size=batch_size, steps=positive_int(steps, "steps"), seed=seed,
                   description=f"critic ({bound})")
    critic.eval()
    with torch.no_grad():
        if bound == "infonce":
            blocks = [(xb, zb) for xb, zb in zip(x_eval.split(batch_size), z_eval.split(batch_size))
                      if len(xb) == batch_size] or [(x_eval, z_eval)]
            value = torch.stack([_bound(critic, bound, xb, zb) for xb, zb in blocks]).mean()
            dv = torch.stack([dv_bound(m.diagonal(), m[~torch.eye(len(m), dtype=torch.bool)])
                              for m in (critic.matrix(xb, zb) for xb, zb in blocks)]).mean()
        else:
            joint = critic(x_eval, z_eval)
            marginal = torch.cat([critic(x_eval, z_eval.roll(s, 0)) for s in (1, 7, 31)])
            dv = dv_bound(joint, marginal)
            value = dv if bound == "dv" else js_bound(joint, marginal)
    return {"bound": float(value), "dv": float(dv), "critic": critic}
