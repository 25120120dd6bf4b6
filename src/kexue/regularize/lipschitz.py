"""Lipschitz constraints in deep learning (Su Jianlin, https://spaces.ac.cn/archives/6051).

A model ``f`` is ``C``-Lipschitz when ``||f(x1) - f(x2)|| <= C ||x1 - x2||`` for all inputs. For a
layer ``x -> phi(W x + b)`` with ``|phi'| <= 1`` the best ``C`` is at most the spectral norm
``||W||_2 = sigma_max(W)``; for a stack of such layers, at most the product of the layers' spectral
norms. The spectral norm is found by power iteration (``u <- W v / ||W v||``,
``v <- W^T u / ||W^T u||``, ``sigma ~ u^T W v``); dividing each weight by it (spectral
normalisation, Miyato et al. 2018) makes the network 1-Lipschitz by construction. A gradient
penalty, ``(||grad_x f|| - 1)^2`` or ``max(||grad_x f|| - 1, 0)^2`` (Gulrajani et al. 2017), only
pushes the gradient norm towards 1 where it is evaluated. WGAN needs a 1-Lipschitz critic: by
Kantorovich-Rubinstein duality ``W_1(P, Q) = sup_{|f|_L <= 1} E_P f - E_Q f``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .. import classifier, runtime, train
from ..checks import float_tensor, label_tensor, non_negative_int, positive, positive_int
from ..experiments import Reference, experiment

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


def power_iteration_errors(W: torch.Tensor, iterations: int, v: torch.Tensor | None = None
                           ) -> torch.Tensor:
    """``sigma_k / ||W||_2 - 1`` for ``k = 1 .. iterations`` rounds of :func:`power_iteration`
    (in float64, against ``torch.linalg.matrix_norm(W, 2)``); all are ``<= 0`` up to round-off."""
    W = float_tensor(W, "W", ndim=2, nonempty=True).detach().double()
    iterations = positive_int(iterations, "iterations")
    exact = torch.linalg.matrix_norm(W, 2)
    v = torch.ones(W.shape[1], dtype=W.dtype) if v is None else v.detach().double()
    errors = []
    for _ in range(iterations):
        result = power_iteration(W, 1, v)
        v = result.v
        errors.append(result.sigma / exact - 1)
    return torch.stack(errors)


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


def certified_radius(logits: torch.Tensor, labels: torch.Tensor, lipschitz: float
                     ) -> torch.Tensor:
    """The radius around each input within which no perturbation can change a correct prediction,
    if the logits are ``lipschitz``-Lipschitz: ``(f_y - max_{j != y} f_j) / (sqrt(2) L)``, and 0
    where the prediction is already wrong (Tsuzuku et al. 2018). Each logit difference
    ``f_y - f_j = (e_y - e_j)^T f`` is ``sqrt(2) L``-Lipschitz."""
    logits = float_tensor(logits, "logits", ndim=2, nonempty=True)
    lipschitz = positive(lipschitz, "lipschitz")
    label_tensor(labels, "labels", n=len(logits))
    if logits.shape[1] < 2:
        raise ValueError("logits need at least 2 classes")
    true = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], -math.inf).amax(dim=1)
    return (true - others).clamp_min(0) / (math.sqrt(2) * lipschitz)


def noise_accuracy(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, sigmas,
                   generator: torch.Generator | None = None) -> list[float]:
    """Accuracy on ``x + sigma z`` (``z`` standard Gaussian, the same draw for every sigma, no
    clipping) for each noise level ``sigma`` in ``sigmas``."""
    x = _batch(x, "x")
    sigmas = [float(s) for s in sigmas]
    if not sigmas or any(not math.isfinite(s) or s < 0 for s in sigmas):
        raise ValueError(f"sigmas must be non-negative finite numbers, got {sigmas}")
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                    device="cpu" if generator is None else generator.device).to(x.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [int((model(x + s * z).argmax(1) == labels).sum()) / len(x) for s in sigmas]
    finally:
        model.train(was_training)


# -- the Kantorovich-Rubinstein dual in one dimension ------------------------------------------
def optimal_critic_1d(real: torch.Tensor, fake: torch.Tensor
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The best 1-Lipschitz critic between two 1-D samples: ``f' = sign(F_fake - F_real)`` with the
    empirical CDFs, so that ``mean f(real) - mean f(fake) = int |F_real - F_fake| dx = W_1``."""
    real = float_tensor(real, "real", ndim=1, nonempty=True).double()
    fake = float_tensor(fake, "fake", ndim=1, nonempty=True).double()
    knots = torch.cat([real, fake]).sort().values
    cdf = lambda s: torch.searchsorted(s.sort().values, knots, right=True) / len(s)  # noqa: E731
    slope = torch.sign(cdf(fake) - cdf(real))[:-1]  # on each interval between knots
    values = torch.cat([knots.new_zeros(1), torch.cumsum(slope * knots.diff(), 0)])

    def f(t: torch.Tensor) -> torch.Tensor:
        t = t.double().clamp(knots[0], knots[-1])  # constant outside the samples
        i = torch.searchsorted(knots, t, right=True).clamp(1, len(knots) - 1) - 1
        return values[i] + slope[i] * (t - knots[i])

    return f


# -- small networks -----------------------------------------------------------------------------
def mlp(widths, *, spectral_norm: bool = False, scale: float | None = None,
        generator: torch.Generator | None = None) -> nn.Sequential:
    """:func:`kexue.classifier.mlp` (ReLU between the layers) with its weights drawn from
    ``generator`` when given (PyTorch's scheme, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, from the
    caller's stream, which goes on into the spectral norm's vectors and the training); with
    ``spectral_norm`` every weight is divided by its spectral norm (:func:`spectral_normalize`),
    and ``scale`` appends a :class:`Scale`."""
    model = classifier.mlp(widths)
    if generator is not None:
        with torch.no_grad():
            for layer in linear_layers(model):
                out, fan_in = layer.weight.shape
                bound = 1 / math.sqrt(fan_in)
                layer.weight.copy_(torch.rand(out, fan_in, generator=generator) * 2 * bound - bound)
                layer.bias.copy_(torch.rand(out, generator=generator) * 2 * bound - bound)
    if scale is not None:
        model.append(Scale(scale))
    return spectral_normalize(model, generator=generator) if spectral_norm else model


# -- WGAN critics in one dimension ---------------------------------------------------------------
CRITIC_CONSTRAINTS = ("none", "two-sided", "one-sided", "spectral-norm")


def critic_gap(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """``mean f(real) - mean f(fake)`` for 1-D samples: the critic's estimate of ``W_1``, which is at
    most ``L W_1`` for an ``L``-Lipschitz critic (and unbounded without a constraint)."""
    real = float_tensor(real, "real", ndim=1, nonempty=True)
    fake = float_tensor(fake, "fake", ndim=1, nonempty=True)
    was_training = critic.training
    critic.eval()
    try:
        with torch.no_grad():
            return float(critic(real[:, None]).mean() - critic(fake[:, None]).mean())
    finally:
        critic.train(was_training)


def fit_critic(real: torch.Tensor, fake: torch.Tensor, constraint: str, *, steps: int,
               hidden: int = 64, penalty_weight: float = 10.0, lr: float = 1e-3,
               batch_size: int = 256, seed: int = 0) -> nn.Sequential:
    """Train a ReLU critic ``f`` (1 -> hidden -> hidden -> 1) to maximise
    ``mean f(real) - mean f(fake)`` over two 1-D samples of equal size, through ``kexue.train``.

    ``constraint``: ``"none"``; ``"two-sided"`` or ``"one-sided"``, a gradient penalty of weight
    ``penalty_weight`` at random interpolates of a real and a fake sample (WGAN-GP); or
    ``"spectral-norm"``, every weight divided by its spectral norm (the critic is then
    1-Lipschitz up to the power iteration's error).
    """
    if constraint not in CRITIC_CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CRITIC_CONSTRAINTS}, got {constraint!r}")
    real = float_tensor(real, "real", ndim=1, nonempty=True)
    fake = float_tensor(fake, "fake", ndim=1, nonempty=True)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same size, got {len(real)} and {len(fake)}")
    penalty_weight = positive(penalty_weight, "penalty_weight")
    generator = torch.Generator().manual_seed(seed)
    critic = mlp([1, hidden, hidden, 1], spectral_norm=constraint == "spectral-norm",
                 generator=generator).to(real.device, real.dtype)

    def loss_fn(f, r, g):
        gap = f(r).mean() - f(g).mean()
        loss = -gap
        if constraint in ("two-sided", "one-sided"):
            loss = loss + penalty_weight * gradient_penalty(
                f, interpolate(r, g, generator), one_sided=constraint == "one-sided")
        return loss, {"gap": gap}

    with runtime.cpu_threads(1, real.device):
        train.Trainer(critic, torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9)),
                      loss_fn, (real[:, None], fake[:, None]), batch_size=min(batch_size, len(real)),
                      seed=seed, description=f"critic ({constraint})").fit(steps=steps)
    return critic.eval()


def plot_critics(fig, real: torch.Tensor, fake: torch.Tensor, critics: dict) -> None:
    """Left: histograms of the two samples. Right: each critic (shifted so that its mean over the
    fake sample is 0) beside the optimal 1-Lipschitz critic of :func:`optimal_critic_1d`."""
    real, fake = real.detach().cpu().double(), fake.detach().cpu().double()
    lo, hi = float(torch.cat([real, fake]).min()), float(torch.cat([real, fake]).max())
    t = torch.linspace(lo, hi, 400, dtype=torch.float64)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax1.hist(real.numpy(), bins=60, alpha=0.6, density=True, label="real $P$")
    ax1.hist(fake.numpy(), bins=60, alpha=0.6, density=True, label="fake $Q$")
    ax1.set(xlabel="$x$", ylabel="density", title="the two samples")
    ax1.legend(fontsize=8)
    best = optimal_critic_1d(real, fake)
    ax2.plot(t, best(t) - best(fake).mean(), "k", lw=2.5, alpha=0.35, label="optimal, $|f'|=1$")
    for name, critic in critics.items():
        dtype = next(critic.parameters()).dtype
        with torch.no_grad():
            values = critic(t[:, None].to(dtype))[:, 0].double()
            shift = critic(fake[:, None].to(dtype)).mean().double()
        ax2.plot(t, values - shift, lw=1.3, label=name)
    ax2.set(xlabel="$x$", ylabel="$f(x)$", title="critics (mean over fake = 0)")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()


# -- power iteration, pictured ------------------------------------------------------------------
def matrix_with_singular_values(s, m: int, n: int, generator: torch.Generator | None = None
                                ) -> torch.Tensor:
    """A float64 ``m x n`` matrix ``U diag(s) V^T`` with random orthonormal ``U``, ``V`` and the
    given singular values (``len(s) <= min(m, n)``)."""
    s = torch.as_tensor(s, dtype=torch.float64)
    m, n = positive_int(m, "m"), positive_int(n, "n")
    if s.ndim != 1 or not 1 <= len(s) <= min(m, n) or not bool((s >= 0).all()):
        raise ValueError(f"s must hold between 1 and {min(m, n)} non-negative singular values")
    U, _ = torch.linalg.qr(torch.randn(m, len(s), generator=generator, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, len(s), generator=generator, dtype=torch.float64))
    return U @ torch.diag(s) @ V.T


def plot_power_iteration(fig, ratios=(0.5, 0.8, 0.95), iterations: int = 40, seed: int = 0) -> None:
    """The relative error of the power-iteration estimate against the number of rounds, for
    ``64 x 32`` matrices with ``sigma_2 / sigma_1`` in ``ratios``, beside the predicted rate
    ``(sigma_2 / sigma_1)^(4k)``."""
    ax = fig.add_subplot(1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    k = torch.arange(1, iterations + 1)
    for i, rho in enumerate(ratios):
        rho = float(rho)
        s = torch.cat([torch.tensor([1.0, rho]), rho * torch.linspace(0.6, 0.0, 30)])
        errors = -power_iteration_errors(matrix_with_singular_values(s, 64, 32, generator),
                                         iterations, torch.randn(32, generator=generator,
                                                                 dtype=torch.float64))
        ax.semilogy(k, errors.clamp_min(1e-17), "o-", ms=3, color=f"C{i}",
                    label=f"$\\sigma_2/\\sigma_1={rho:g}$")
        ax.semilogy(k, errors[0] * rho ** (4 * (k - 1)), "--", color=f"C{i}", lw=1)
    ax.axhline(torch.finfo(torch.float64).eps, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="rounds $k$", ylabel="$1-\\hat\\sigma_k/\\|W\\|_2$", ylim=(1e-17, 1),
           title="power iteration: error (dots) and $(\\sigma_2/\\sigma_1)^{4k}$ (dashed)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()


# -- the MNIST experiment ------------------------------------------------------------------------
def _classifier_variants(config: dict) -> dict:
    """Name -> (model builder, extra loss term or None) for the chapter's classifiers."""
    widths = [784, *([config["hidden"]] * config["depth"]), 10]
    weight_decay, gp_weight = config["weight_decay"], config["gp_weight"]

    def l2(model, x, y, generator):  # the post's lambda ||W||_F^2, summed over the layers
        return weight_decay * sum((layer.weight ** 2).sum() for layer in linear_layers(model))

    def penalty(model, x, y, generator):  # one-sided, at random interpolates of training images
        between = interpolate(x, x[torch.randperm(len(x), generator=generator).to(x.device)],
                              generator)
        return gp_weight * gradient_penalty(random_projection(model, generator), between,
                                            one_sided=True, target=config["gp_target"])

    variants = {"plain": (lambda g: mlp(widths, generator=g), None),
                "weight decay": (lambda g: mlp(widths, generator=g), l2)}
    for K in config["sn_scales"]:
        variants[f"spectral norm, K={K:g}"] = (
            lambda g, K=K: mlp(widths, spectral_norm=True, scale=None if K == 1 else K,
                               generator=g), None)
    variants["gradient penalty"] = (lambda g: mlp(widths, generator=g), penalty)
    return variants


def classifier_loss(extra=None, generator: torch.Generator | None = None) -> Callable:
    """``loss_fn(model, x, y)`` for :mod:`kexue.train`: cross-entropy, plus
    ``extra(model, x, y, generator)`` where given (a penalty)."""

    def loss_fn(model, xb, yb):
        ce, metrics = classifier.classification_loss(model, xb, yb)
        loss = ce if extra is None else ce + extra(model, xb, yb, generator)
        return loss, {"ce": ce, **metrics}

    return loss_fn


def train_classifier(build, extra, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
                     batch_size: int, seed: int) -> tuple[nn.Sequential, train.History]:
    """Train ``build(generator)`` with Adam on :func:`classifier_loss` through ``kexue.train``."""
    generator = torch.Generator().manual_seed(seed)
    model = build(generator).to(x.device)
    history = train.Trainer(model, torch.optim.Adam(model.parameters(), lr=lr),
                            classifier_loss(extra, generator), (x, y), batch_size=batch_size,
                            seed=seed).fit(epochs=epochs)
    return model.eval(), history


def seconds_per_step(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor, *,
                     repeats: int = 30) -> float:
    """The fastest of ``repeats`` forward and backward passes of ``loss_fn`` on the batch
    ``(x, y)``, on a copy of ``model`` in training mode: the cost of a step's gradient, with
    interference from other processes filtered out by the minimum."""
    repeats = positive_int(repeats, "repeats")
    model = copy.deepcopy(model).train()
    times = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = loss_fn(model, x, y)
        (out[0] if isinstance(out, tuple) else out).backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, sigmas, n_jacobian: int,
            generator: torch.Generator) -> dict:
    """Everything the chapter reports about one trained classifier on test data ``(x, y)``."""
    with torch.no_grad():
        logits = model(x)
    upper = lipschitz_upper_bound(model)
    jac = torch.cat([jacobian_norms(model, x[i:i + 500]) for i in range(0, n_jacobian, 500)])
    half = len(x) // 2
    radius = certified_radius(logits, y, upper)
    return {
        "test_acc": int((logits.argmax(1) == y).sum()) / len(y),
        "upper_bound": upper,
        "layer_norms": layer_spectral_norms(model),
        "jacobian_max": float(jac.max()),
        "jacobian_median": float(jac.median()),
        "pair_max": float(difference_quotients(model, x[:half], x[half:2 * half]).max()),
        "noise_acc": noise_accuracy(model, x, y, sigmas, generator),
        "median_certified_radius": float(radius.median()),
    }


@experiment(
    "lipschitz-mnist",
    quick=dict(n_train=4000, n_test=2000, epochs=4, hidden=128, depth=2, batch_size=128, lr=1e-3,
               weight_decay=1e-3, sn_scales=[1, 4], gp_weight=1.0, gp_target=1.0,
               n_jacobian=500, sigmas=[round(0.1 * i, 1) for i in range(11)], seed=0),
    full=dict(n_train=60000, n_test=10000, epochs=5, hidden=256, depth=2, batch_size=128, lr=1e-3,
              weight_decay=1e-3, sn_scales=[1, 4], gp_weight=1.0, gp_target=1.0,
              n_jacobian=2000, sigmas=[round(0.1 * i, 1) for i in range(11)], seed=0),
    metric="sn_upper_bound",
    description="Train ReLU MLP classifiers on MNIST without a constraint, with weight decay, with "
                "spectral normalisation (Lipschitz budget K = 1 and 4) and with a one-sided "
                "gradient penalty; measure each one's Lipschitz constant from above (product of "
                "the layers' exact spectral norms) and below (largest Jacobian norm at test "
                "images, largest difference quotient between test images), its test accuracy, "
                "and its accuracy under Gaussian input noise.",
    post=6051,
    reference=Reference(value="<= 1 by construction",
                        metric="Lipschitz bound of a spectrally normalised network",
                        where="post 6051, section 谱归一化 (spectral normalisation)"),
)
def run_lipschitz_mnist(config: dict):
    """The chapter's experiment. Returns metrics per model (under ``models``) with the headline
    ``sn_upper_bound`` (the K = 1 network's exact product bound), and the trained models, the
    noise levels and a few noisy test images with every model's predictions as artifacts.

    On the CPU it runs on one thread (see :func:`kexue.runtime.cpu_threads`). Denormal floats are
    flushed to zero while it runs (where the CPU supports it): weight decay drives the weights of
    MNIST's always-blank border pixels towards 0 until they are denormal, where x86 CPUs compute
    slowly: without the flush, the full run's weight-decay network trained several times slower
    than the plain one.
    """
    flushed = torch.set_flush_denormal(True)
    try:
        with runtime.cpu_threads(1, runtime.device()):
            return _run_lipschitz_mnist(config)
    finally:
        if flushed:
            torch.set_flush_denormal(False)  # PyTorch's default


def _run_lipschitz_mnist(config: dict):
    runtime.seed_everything(config["seed"])
    dev = runtime.device()
    x, y, xt, yt = classifier.mnist_subset(config["n_train"], config["n_test"], config["seed"], dev)
    sigmas = config["sigmas"]
    models, results, histories = {}, {}, {}
    for name, (build, extra) in _classifier_variants(config).items():
        start = time.perf_counter()
        model, history = train_classifier(build, extra, x, y, epochs=config["epochs"],
                                          lr=config["lr"], batch_size=config["batch_size"],
                                          seed=config["seed"])
        seconds = time.perf_counter() - start
        results[name] = measure(model, xt, yt, sigmas=sigmas, n_jacobian=config["n_jacobian"],
                                generator=torch.Generator(dev).manual_seed(config["seed"] + 1))
        results[name]["train_time_s"] = round(seconds, 2)
        results[name]["ms_per_step"] = 1000 * seconds_per_step(
            model, classifier_loss(extra, torch.Generator().manual_seed(0)),
            x[:config["batch_size"]], y[:config["batch_size"]])
        if any(isinstance(mod, SpectralNorm) for mod in model.modules()):
            results[name]["converged"] = _after_convergence(model, xt, yt, config["n_jacobian"])
        models[name], histories[name] = model.cpu(), history.rows
    examples = _noisy_examples(models, xt[:8].cpu(), yt[:8].cpu(), sigmas, config["seed"])
    metrics = {"sn_upper_bound": results["spectral norm, K=1"]["upper_bound"]
               if "spectral norm, K=1" in results else None,
               "models": results, "sigmas": sigmas, "n_train": len(x), "n_test": len(xt)}
    artifacts = {"models": models, "histories": histories, "sigmas": sigmas,
                 "examples": examples}
    return metrics, artifacts


def _after_convergence(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_jacobian: int
                       ) -> dict:
    """For a spectrally normalised classifier: ``sigma_2 / sigma_1`` of each raw weight, and the
    bound, largest Jacobian norm and accuracy of a copy after 200 more power-iteration rounds."""
    ratios = []
    for layer in linear_layers(model):
        s = torch.linalg.svdvals(layer.parametrizations.weight.original.detach().double())
        ratios.append(float(s[1] / s[0]))
    model = converge_spectral_norms(copy.deepcopy(model), 200).eval()
    return {"raw_sigma_ratios": ratios, "upper_bound": lipschitz_upper_bound(model),
            "jacobian_max": float(jacobian_norms(model, x[:n_jacobian]).max()),
            "test_acc": classifier.evaluate(model, x, y)["acc"]}


def _noisy_examples(models: dict, x: torch.Tensor, y: torch.Tensor, sigmas, seed: int) -> dict:
    """A few test images with noise ``sigma z`` at every level (one draw ``z``), and every model's
    predicted labels on them."""
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 2))
    noisy = torch.stack([x + s * z for s in sigmas])
    with torch.no_grad():
        predictions = {name: torch.stack([m(batch).argmax(1) for batch in noisy])
                       for name, m in models.items()}
    return {"images": noisy, "labels": y, "predictions": predictions}


def plot_noise_accuracy(metrics: dict, fig) -> None:
    """Left: test accuracy against the noise level for every model. Right: each model's Lipschitz
    constant bracketed: the product bound from above, the largest Jacobian norm and the largest
    difference quotient from below (log scale)."""
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    sigmas = metrics["sigmas"]
    names = list(metrics["models"])
    for i, name in enumerate(names):
        ax1.plot(sigmas, metrics["models"][name]["noise_acc"], "o-", ms=3, color=f"C{i}",
                 label=name)
    ax1.set(xlabel="noise $\\sigma$ (per pixel)", ylabel="test accuracy", ylim=(0, 1),
            title="accuracy on $x+\\sigma z$")
    ax1.legend(fontsize=8)
    pos = range(len(names))
    for key, marker, label in (("upper_bound", "v", "upper: $\\prod\\|W_l\\|_2$"),
                               ("jacobian_max", "^", "lower: $\\max_x\\|J(x)\\|_2$"),
                               ("pair_max", "o", "lower: max difference quotient")):
        ax2.scatter(pos, [metrics["models"][n][key] for n in names], marker=marker, s=40,
                    label=label)
    for i, name in enumerate(names):
        m = metrics["models"][name]
        ax2.plot([i, i], [m["pair_max"], m["upper_bound"]], color="gray", lw=1, zorder=0)
    ax2.set_xticks(list(pos), [n.replace(", ", "\n") for n in names], fontsize=8)
    ax2.set(yscale="log", ylabel="Lipschitz constant", title="bounds on the Lipschitz constant")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()


def explore_noise(metrics: dict, artifacts: dict):
    """A slider over every other measured noise level: the accuracy curves with the level marked,
    and a few noisy test images with every model's predictions (green right, red wrong)."""
    from .. import viz, widgets

    sigmas = artifacts["sigmas"]
    examples = artifacts["examples"]
    names = list(examples["predictions"])
    labels = examples["labels"].tolist()

    def draw(fig, sigma):
        i = min(range(len(sigmas)), key=lambda j: abs(sigmas[j] - sigma))
        grid = fig.add_gridspec(1, 2, width_ratios=[1, 1.8])
        ax = fig.add_subplot(grid[0])
        for k, name in enumerate(names):
            ax.plot(sigmas, metrics["models"][name]["noise_acc"], color=f"C{k}", label=name)
        ax.axvline(sigmas[i], color="k", lw=1, ls="--")
        ax.set(xlabel="noise $\\sigma$", ylabel="test accuracy", ylim=(0, 1),
               title=f"$\\sigma={sigmas[i]:g}$")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = fig.add_subplot(grid[1])
        images = examples["images"][i]
        viz.image_grid(images.clamp(0, 1), ncols=len(images), ax=ax,
                       title=f"noisy test images (true labels {' '.join(map(str, labels))})")
        width = images.shape[1] ** 0.5 + 1
        for k, name in enumerate(names):
            row = examples["predictions"][name][i].tolist()
            for j, (p, t) in enumerate(zip(row, labels)):
                ax.text(j * width + width / 2, 30 + 7 * k, str(p), ha="center", va="top",
                        fontsize=8, color="tab:green" if p == t else "tab:red")
            ax.text(-2, 30 + 7 * k, name, ha="right", va="top", fontsize=7)
        ax.set_ylim(30 + 7 * len(names), -1)
        fig.tight_layout()

    levels = sigmas[::2]  # every other measured level: fewer frames for the static page
    return widgets.SliderFigure(draw, [widgets.Slider("sigma", values=levels,
                                                      value=levels[len(levels) // 2],
                                                      description="noise σ")], figsize=(11, 3.6))


def results_table(metrics: dict, sigma: float = 0.5) -> tuple[list[str], list[list]]:
    """``(header, rows)`` for :func:`kexue.notebook.table`: one row per model of a
    ``lipschitz-mnist`` record, with its accuracy under noise of level ``sigma``."""
    if sigma not in metrics["sigmas"]:
        raise ValueError(f"sigma must be one of the measured levels {metrics['sigmas']}, "
                         f"got {sigma}")
    at = metrics["sigmas"].index(sigma)
    header = ["model", "test acc.", f"acc., σ={sigma:g}", "upper: ∏‖W‖₂", "lower: max ‖J(x)‖₂",
              "lower: max quotient", "median certified radius", "ms / step"]
    rows = [[name, f"{m['test_acc']:.2%}", f"{m['noise_acc'][at]:.2%}", m["upper_bound"],
             m["jacobian_max"], m["pair_max"], m["median_certified_radius"], m["ms_per_step"]]
            for name, m in metrics["models"].items()]
    return header, rows
