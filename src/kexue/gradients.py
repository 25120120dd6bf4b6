"""Gradients and Lipschitz constants of networks: the shared tools.

A model ``f`` is ``C``-Lipschitz when ``||f(x1) - f(x2)|| <= C ||x1 - x2||`` for all inputs. For a
layer ``x -> phi(W x + b)`` with ``|phi'| <= 1`` the best ``C`` is at most the spectral norm
``||W||_2 = sigma_max(W)``; for a stack of such layers, at most the product of the layers' spectral
norms. Here are the blocks for working with that:

* the spectral norm by power iteration (``u <- W v / ||W v||``, ``v <- W^T u / ||W^T u||``,
  ``sigma ~ u^T W v``): :func:`power_iteration`;
* spectral normalisation (Miyato et al. 2018), which divides each weight by it and makes the
  network 1-Lipschitz by construction: :class:`SpectralNorm`, :func:`spectral_normalize`,
  :func:`converge_spectral_norms`;
* input gradients and the gradient penalty, ``(||grad_x f|| - 1)^2`` or
  ``max(||grad_x f|| - 1, 0)^2`` (Gulrajani et al. 2017), at random interpolates and along random
  output projections: :func:`input_gradients`, :func:`gradient_penalty`, :func:`interpolate`,
  :func:`random_projection`;
* bounds on a network's Lipschitz constant, from above (the product of the layers' exact spectral
  norms, times any budget :class:`Scale`) and from below (Jacobian norms, difference quotients):
  :func:`linear_layers`, :func:`layer_spectral_norms`, :func:`lipschitz_upper_bound`,
  :func:`jacobian_norms`, :func:`difference_quotients`.

Serves chapters/part2-optimisation/lipschitz-constraints.ipynb (post 6051), where they are derived
and tested; later parts use them without reaching into that chapter's module: Parts V and VII
(WGAN critics and their gradient penalties, gradients for attribution).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .checks import float_tensor, non_negative_int, positive, positive_int

#: Activations whose derivative lies in [-1, 1] (1-Lipschitz), so the product bound applies.
ONE_LIPSCHITZ = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Identity)


class Scale(nn.Module):
    """``x -> K x`` for a fixed ``K > 0``: a Lipschitz budget ``K`` in front of a network whose layers
    are normalised to 1 (its Lipschitz constant is exactly ``K``)."""

    def __init__(self, K: float):
        super().__init__()
        self.K = positive(K, "K")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.K * x

    def extra_repr(self) -> str:
        return f"K={self.K:g}"


# -- input checks ------------------------------------------------------------------------------
def _batch(x, name: str) -> torch.Tensor:
    """``x`` if it is a finite floating tensor with a batch dimension and at least one sample."""
    x = float_tensor(x, name, nonempty=True)
    if x.ndim < 2:
        raise ValueError(f"{name} must have a batch dimension and features, got shape "
                         f"{tuple(x.shape)}")
    return x


# -- the spectral norm by power iteration ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PowerIteration:
    """The result of power iteration on ``W``: the estimate ``sigma = u^T W v`` of ``||W||_2`` and
    the unit vectors ``u`` (output side) and ``v`` (input side) that approximate the top singular
    pair."""

    sigma: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


def _power_steps(W: torch.Tensor, v: torch.Tensor, iterations: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` rounds of ``u <- W v / ||W v||``, ``v <- W^T u / ||W^T u||``."""
    for _ in range(iterations):
        u = F.normalize(W @ v, dim=0)
        v = F.normalize(W.T @ u, dim=0)
    return u, v


def power_iteration(W: torch.Tensor, iterations: int, v: torch.Tensor | None = None
                    ) -> PowerIteration:
    """Estimate the spectral norm ``||W||_2`` of a matrix (``m x n``) by power iteration.

    Each round is ``u <- W v / ||W v||``, ``v <- W^T u / ||W^T u||``: one multiplication by
    ``W^T W``, so ``v`` tends to the top eigenvector of ``W^T W`` (the top right-singular vector)
    with an error shrinking like ``(sigma_2 / sigma_1)^2`` per round, and the estimate
    ``sigma = u^T W v = ||W^T u||`` (never above ``||W||_2``) like ``(sigma_2 / sigma_1)^4``.
    ``v`` defaults to the all-ones vector, the post's start.
    """
    W = float_tensor(W, "W", ndim=2, nonempty=True)
    iterations = positive_int(iterations, "iterations")
    if v is None:
        v = torch.ones(W.shape[1], dtype=W.dtype, device=W.device)
    else:
        v = float_tensor(v, "v", ndim=1)
        if v.shape[0] != W.shape[1]:
            raise ValueError(f"v must have {W.shape[1]} entries (the columns of W), got {v.shape[0]}")
        if not bool(v.any()):
            raise ValueError("v must not be the zero vector")
    u, v = _power_steps(W, v.to(W.dtype), iterations)
    return PowerIteration(sigma=u @ W @ v, u=u, v=v)



# -- spectral normalisation --------------------------------------------------------------------
class SpectralNorm(nn.Module):
    """The parametrisation ``W -> W / sigma``, ``sigma = u^T W v`` from stored power-iteration
    vectors (Miyato et al. 2018; the post's ``w / ||w||_2``).

    In training mode every forward pass first runs ``iterations`` rounds of power iteration on the
    current weight (one, as in SN-GAN: ``W`` moves little per step, so the vectors carried over
    stay close to the top singular pair). ``u`` and ``v`` are constants for autograd, so the
    gradient of ``sigma`` is ``u v^T``, the gradient of ``||W||_2`` once the vectors have
    converged. Weights with more than two dimensions are read as ``out x (everything else)``.
    Register it with :func:`spectral_normalize`.
    """

    def __init__(self, weight: torch.Tensor, *, iterations: int = 1, warmup: int = 15,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
            raise ValueError("SpectralNorm needs a weight with at least 2 dimensions, got "
                             f"{getattr(weight, 'shape', type(weight).__name__)}")
        self.iterations = positive_int(iterations, "iterations")
        warmup = non_negative_int(warmup, "warmup")
        M = weight.detach().flatten(1)
        v = F.normalize(torch.randn(M.shape[1], generator=generator, dtype=M.dtype).to(M.device),
                        dim=0)
        u = F.normalize(M @ v, dim=0)
        if warmup:
            u, v = _power_steps(M, v, warmup)
        self.register_buffer("u", u)
        self.register_buffer("v", v)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        M = weight.flatten(1)
        if self.training:
            with torch.no_grad():  # new tensors, not in-place: earlier graphs keep their u, v
                self.u, self.v = _power_steps(M, self.v, self.iterations)
        sigma = self.u @ M @ self.v
        return weight / sigma


def spectral_normalize(model: nn.Module, *, iterations: int = 1, warmup: int = 15,
                       generator: torch.Generator | None = None) -> nn.Module:
    """Register :class:`SpectralNorm` on the weight of every ``nn.Linear`` and ``nn.Conv*d`` in
    ``model`` (in place); return ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d,
                                                            nn.Conv3d))]
    if not layers:
        raise ValueError("model has no nn.Linear or nn.Conv layer to normalise")
    for layer in layers:
        if parametrize.is_parametrized(layer, "weight"):
            raise ValueError(f"the weight of {layer} is already parametrised")
        parametrize.register_parametrization(
            layer, "weight", SpectralNorm(layer.weight, iterations=iterations, warmup=warmup,
                                          generator=generator))
    return model


def converge_spectral_norms(model: nn.Module, iterations: int = 100) -> nn.Module:
    """Run ``iterations`` more rounds of power iteration in every :class:`SpectralNorm` of
    ``model`` on its current weight (the weights themselves are not changed); return ``model``.

    During training each round sees a different weight, so the stored vectors trail the moving top
    singular pair; where ``sigma_2 / sigma_1`` is close to 1 they trail far, ``sigma`` is
    underestimated and the normalised weight's norm ends above 1. This closes the gap."""
    iterations = positive_int(iterations, "iterations")
    norms = [m for m in model.modules() if isinstance(m, SpectralNorm)]
    if not norms:
        raise ValueError("model has no SpectralNorm parametrisation")
    for layer in model.modules():
        for p in getattr(getattr(layer, "parametrizations", None), "weight", []):
            if isinstance(p, SpectralNorm):
                with torch.no_grad():
                    p.u, p.v = _power_steps(layer.parametrizations.weight.original.flatten(1),
                                            p.v, iterations)
    return model


# -- the gradient penalty ----------------------------------------------------------------------
def input_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *,
                    create_graph: bool = True) -> torch.Tensor:
    """``grad_x f(x_i)`` for every sample of the batch ``x``, where ``f`` maps a batch to one number
    per sample (shape ``(B,)`` or ``(B, 1)``).

    One backward pass of ``sum_i f(x_i)``: this is each sample's gradient as long as samples do not
    interact inside ``f`` (no batch-norm in training mode). With ``create_graph`` the result can be
    differentiated again (with respect to the parameters of ``f``), which training on it needs.
    """
    if not callable(f):
        raise TypeError(f"f must be callable (a model), got {type(f).__name__}")
    x = _batch(x, "x").detach().requires_grad_(True)
    out = f(x)
    if not isinstance(out, torch.Tensor) or out.shape not in ((len(x),), (len(x), 1)):
        raise ValueError(f"f must return one number per sample, shape ({len(x)},) or "
                         f"({len(x)}, 1); got {getattr(out, 'shape', type(out).__name__)}")
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return grad


def gradient_penalty(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *,
                     one_sided: bool = False, target: float = 1.0,
                     create_graph: bool = True) -> torch.Tensor:
    """The batch mean of ``(||grad_x f|| - target)^2`` (two-sided, WGAN-GP) or of
    ``max(||grad_x f|| - target, 0)^2`` (one-sided, the post's suggestion: only gradients steeper
    than ``target`` are penalised)."""
    target = positive(target, "target")
    grad = input_gradients(f, x, create_graph=create_graph)
    excess = grad.flatten(1).norm(dim=1) - target
    if one_sided:
        excess = excess.clamp_min(0)
    return (excess ** 2).mean()


def interpolate(x_a: torch.Tensor, x_b: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """``eps x_a + (1 - eps) x_b`` with one ``eps ~ U[0, 1]`` per sample: the random points between
    real and generated samples where WGAN-GP evaluates its penalty."""
    x_a, x_b = _batch(x_a, "x_a"), _batch(x_b, "x_b")
    if x_a.shape != x_b.shape:
        raise ValueError(f"x_a and x_b must have the same shape, got {tuple(x_a.shape)} and "
                         f"{tuple(x_b.shape)}")
    eps = torch.rand(len(x_a), *([1] * (x_a.ndim - 1)), generator=generator, dtype=x_a.dtype,
                     device="cpu" if generator is None else generator.device).to(x_a.device)
    return eps * x_a + (1 - eps) * x_b


def random_projection(model: nn.Module, generator: torch.Generator | None = None
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> <r, model(x)>`` with a fresh unit vector ``r`` per sample (uniform on the sphere):
    a scalar view of a vector-valued model. ``||grad_x <r, f(x)>|| = ||J(x)^T r|| <= ||J(x)||_2``,
    so penalising it pushes down the Jacobian in random output directions."""

    def f(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if out.ndim != 2:
            raise ValueError(f"model must return (batch, outputs), got {tuple(out.shape)}")
        r = torch.randn(out.shape, generator=generator, dtype=out.dtype,
                        device="cpu" if generator is None else generator.device).to(out.device)
        return (F.normalize(r, dim=1) * out).sum(dim=1)

    return f


# -- measuring Lipschitz constants -------------------------------------------------------------
def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a ``nn.Sequential`` of linear layers, 1-Lipschitz activations
    (ReLU, leaky ReLU with slope <= 1, tanh) and :class:`Scale`; anything else is refused, since
    the product bound would not cover it."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            layers.append(m)
        elif isinstance(m, nn.LeakyReLU) and abs(m.negative_slope) > 1:
            raise ValueError(f"{m} has slope {m.negative_slope}, so it is not 1-Lipschitz")
        elif not isinstance(m, (*ONE_LIPSCHITZ, Scale)):
            raise ValueError(f"{type(m).__name__} is not a linear layer, a 1-Lipschitz activation "
                             "or a Scale; the product bound does not cover it")
    if not layers:
        raise ValueError("model has no nn.Linear layer")
    return layers


def layer_spectral_norms(model: nn.Module) -> list[float]:
    """The exact spectral norm (largest singular value) of each linear layer's weight as the model
    uses it (after any parametrisation such as :class:`SpectralNorm`)."""
    with torch.no_grad():
        return [float(torch.linalg.matrix_norm(layer.weight.double(), 2))
                for layer in linear_layers(model)]


def lipschitz_upper_bound(model: nn.Module) -> float:
    """``K prod_l ||W_l||_2``: an upper bound on the Lipschitz constant (Euclidean norms on both
    sides) of a stack of linear layers and 1-Lipschitz activations (times any :class:`Scale`)."""
    scales = [m.K for m in model if isinstance(m, Scale)] if isinstance(model, nn.Sequential) else []
    return math.prod(layer_spectral_norms(model)) * math.prod(scales)


def jacobian_norms(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``||J(x_i)||_2`` for each sample: the spectral norm of the model's Jacobian (``outputs x
    inputs``), one backward pass per output. Every value is a lower bound on the Lipschitz
    constant, and for a piecewise-linear network their supremum over all ``x`` equals it."""
    x = _batch(x, "x").detach().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        out = model(x)
        rows = [torch.autograd.grad(out[:, j].sum(), x, retain_graph=j < out.shape[1] - 1)[0]
                .flatten(1) for j in range(out.shape[1])]
    finally:
        model.train(was_training)
    return torch.linalg.matrix_norm(torch.stack(rows, dim=1), 2)


def difference_quotients(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``||f(x1_i) - f(x2_i)|| / ||x1_i - x2_i||`` for each pair: lower bounds on the Lipschitz
    constant of ``f`` (the model in eval mode)."""
    x1, x2 = _batch(x1, "x1"), _batch(x2, "x2")
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have the same shape, got {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}")
    gaps = (x1 - x2).flatten(1).norm(dim=1)
    if not bool((gaps > 0).all()):
        raise ValueError("every pair must hold two different inputs")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return (model(x1) - model(x2)).flatten(1).norm(dim=1) / gaps
    finally:
        model.train(was_training)
