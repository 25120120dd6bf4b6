"""Invertible residual networks (post 6482; Behrmann et al., 2019): a residual block
y = x + g(x) made invertible by keeping Lip(g) < 1.

* **When is it invertible?** When Lip(g) < 1. With 1-Lipschitz activations, Lip(g) is at most the
  product of its weights' spectral norms, so normalising every weight to spectral norm 1
  (:func:`kexue.gradients.spectral_normalize`) and scaling g's output by a coefficient c < 1
  makes Lip(g) <= c.
* **What is the inverse?** The fixed point of x_(n+1) = y - g(x_n). By Banach's fixed-point
  theorem it converges from any start, and ||x* - x_n|| <= c^n / (1 - c) ||x_1 - x_0||: the error
  shrinks like c^n (:func:`fixed_point_inverse`).
* **What is log |det J|?** J = I + J_g with ||J_g||_2 <= c < 1, so det J > 0 and
  log det(I + J_g) = tr ln(I + J_g) = Σ_(k≥1) (-1)^(k-1) tr(J_g^k) / k; truncated after N terms the
  error is O(c^N), and each trace is estimated by Hutchinson's estimator from vector-Jacobian
  products (:mod:`kexue.trace_estimators`), so J_g is never formed (:meth:`ResidualFlow.log_det`).

:class:`ResidualFlow` is one such block as a :class:`~kexue.generative.flow.Flow`;
:func:`exact_log_det` is the exact value from the full Jacobian, for checks on small inputs.

Serves chapters/part4-flows/iresnet.ipynb (post 6482); its experiment ``iresnet-mnist`` is in
:mod:`kexue.flows.experiments`, its figures in :mod:`kexue.flows.figures`.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import trace_estimators
from ..checks import float_tensor, positive_int
from ..generative.flow import Flow
from ..gradients import Scale, spectral_normalize
from ..runtime import seeded_init

__all__ = ["ResidualFlow", "fixed_point_inverse", "exact_log_det", "iresnet"]


def _coefficient(c) -> float:
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < 1:
        raise ValueError(f"c must be a number in (0, 1): with c >= 1 the block x + g(x) need not "
                         f"be invertible and the log-det series need not converge; got {c!r}")
    return float(c)


class ResidualFlow(Flow):
    """y = x + g(x) with g = c · (MLP ``dim -> hidden ... -> dim`` with ELU activations, every
    weight spectrally normalised), so Lip(g) <= c < 1.

    ``forward`` returns y and log |det ∂y/∂x|: the power series truncated after ``terms`` terms
    with ``probes`` Hutchinson probes per row (differentiable in training mode), or the exact value
    with ``exact=True`` (small ``dim`` only). ``inverse`` iterates x <- y - g(x) ``iterations``
    times.
    """

    def __init__(self, dim: int, hidden=(64,), *, c: float = 0.9, terms: int = 10,
                 probes: int = 1, iterations: int = 50, exact: bool = False,
                 seed: int | None = None):
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.c = _coefficient(c)
        self.terms, self.probes = positive_int(terms, "terms"), positive_int(probes, "probes")
        self.iterations, self.exact = positive_int(iterations, "iterations"), bool(exact)
        widths = [self.dim, *[positive_int(h, "every hidden width") for h in hidden], self.dim]
        layers: list[nn.Module] = []
        with seeded_init(seed):
            for i, (a, b) in enumerate(zip(widths, widths[1:])):
                layers.append(nn.Linear(a, b))
                if i < len(widths) - 2:
                    layers.append(nn.ELU())
            body = spectral_normalize(nn.Sequential(*layers))
        self.g = nn.Sequential(body, Scale(self.c))

    def _rows(self, x, name="x"):
        x = float_tensor(x, name, ndim=2, nonempty=True)
        if x.shape[1] != self.dim:
            raise ValueError(f"{name} must have {self.dim} columns, got shape {tuple(x.shape)}")
        return x

    def log_det(self, x: torch.Tensor, *, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, estimate)``: y = x + g(x) and, per row, the mean over ``probes`` probes of
        Σ_(k=1)^terms (-1)^(k-1) ε^T J_g^k ε / k."""
        x = self._rows(x)
        with torch.enable_grad():
            x_in = x if x.requires_grad else x.detach().requires_grad_()
            gx = self.g(x_in)
            apply = trace_estimators.vjp(gx, x_in, create_graph=self.training)
            estimates = torch.stack([
                trace_estimators.logdet_series_estimates(
                    apply, trace_estimators.probes_like(x_in, generator=generator), self.terms)
                for _ in range(self.probes)]).mean(0)
        y = x_in + gx
        if not self.training:
            y, estimates = y.detach(), estimates.detach()
        return y, estimates

    def forward(self, x):
        if self.exact:
            x = self._rows(x)
            return x + self.g(x), exact_log_det(self, x)
        return self.log_det(x)

    @torch.no_grad()
    def inverse(self, y):
        return fixed_point_inverse(self.g, self._rows(y, "y"), self.iterations)[0]


@torch.no_grad()
def fixed_point_inverse(g, y: torch.Tensor, iterations: int, *, start: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, list[float]]:
    """x with x + g(x) = y by the iteration x_(n+1) = y - g(x_n) from ``start`` (default y):
    ``(x_N, steps)``, ``steps[n]`` the largest row norm of x_(n+1) - x_n, which falls like
    Lip(g)^n."""
    if not callable(g):
        raise TypeError(f"g must be callable, got {type(g).__name__}")
    iterations = positive_int(iterations, "iterations")
    x = y.clone() if start is None else start.clone()
    steps = []
    for _ in range(iterations):
        new = y - g(x)
        steps.append(float((new - x).norm(dim=-1).max()))
        x = new
    return x, steps


def exact_log_det(block: ResidualFlow, x: torch.Tensor) -> torch.Tensor:
    """log det(I + J_g(x)) per row of ``x``, from the full Jacobian (``torch.func.jacrev`` and
    ``slogdet``; D^2 numbers per row, for checks on small inputs). Positive det is guaranteed by
    ||J_g||_2 < 1; the sign is checked."""
    if not isinstance(block, ResidualFlow):
        raise TypeError(f"block must be a ResidualFlow, got {type(block).__name__}")
    x = block._rows(x)
    eye = torch.eye(block.dim, dtype=x.dtype, device=x.device)
    out = []
    for row in x:
        jac = torch.func.jacrev(lambda v: block.g(v[None])[0])(row)
        sign, logabs = torch.linalg.slogdet(eye + jac)
        if float(sign.detach()) <= 0:
            raise ValueError("det(I + J_g) is not positive: Lip(g) must have exceeded 1 (converge "
                             "the spectral norms first)")
        out.append(logabs)
    return torch.stack(out)


def iresnet(dim: int = 784, *, blocks: int = 4, hidden=(256,), c: float = 0.9, terms: int = 5,
            probes: int = 1, iterations: int = 50, seed: int | None = None):
    """A stack of ``blocks`` :class:`ResidualFlow` blocks and a final learned diagonal scale (the
    prior's standard deviation per direction, as in NICE): the book's dense i-ResNet. Each block
    gets its own seed."""
    from .nice import DiagonalScale, FlowSequence

    blocks = positive_int(blocks, "blocks")
    layers: list[Flow] = [ResidualFlow(dim, hidden, c=c, terms=terms, probes=probes,
                                       iterations=iterations,
                                       seed=None if seed is None else seed + i)
                          for i in range(blocks)]
    layers.append(DiagonalScale(dim, seed=None if seed is None else seed + blocks))
    return FlowSequence(layers)
