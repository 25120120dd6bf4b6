"""NICE: a flow built from additive couplings and a diagonal scale (post 5776; Dinh et al., 2014).

Split x into two parts x1, x2 and keep one:

    h1 = x1,   h2 = x2 + m(x1)            inverse:  x1 = h1,   x2 = h2 - m(h1),

with m any network. The Jacobian ∂h/∂x is block lower-triangular with identity blocks on the
diagonal, so det = 1 and log |det| = 0: the coupling costs nothing in the likelihood (6) and its
inverse costs one pass of m. Since x1 passes through unchanged, consecutive couplings must change
which part is kept (the post reverses the order of the dimensions before each one). A final
diagonal scale z = exp(s) ⊙ h (log |det| = sum_i s_i) lets the flow shrink the directions the
data do not fill; exp(-s_i) is the prior's standard deviation in direction i, so a large s_i marks
a dimension the model deems unimportant.

:class:`AdditiveCoupling`, :class:`Reverse`, :class:`DiagonalScale` and :class:`FlowSequence` are
:class:`~kexue.generative.flow.Flow` s; :func:`nice` builds the post's MNIST model (four couplings
of m = five ReLU layers of 1000 units and a ReLU output, interleaved halves, reversed before each,
the forward pass subtracting m, as the post's code does); :func:`post_loss` is the loss the post
reports (about -2200), :func:`sample` draws images at a temperature.

Serves chapters/part4-flows/nice.ipynb (post 5776); its experiment ``nice-mnist`` and the
benchmark ``python -m kexue bench nice`` are in :mod:`kexue.flows.experiments`, its figures in
:mod:`kexue.flows.figures`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import float_tensor, non_negative, positive_int
from ..classifier import mlp
from ..generative.flow import LOG_2PI, Flow
from ..runtime import seeded_init

__all__ = ["AdditiveCoupling", "Reverse", "DiagonalScale", "FlowSequence", "nice", "post_loss",
           "sample"]

PARTITIONS = ("interleaved", "halves")


def _check_rows(x, dim: int, name: str = "x") -> torch.Tensor:
    x = float_tensor(x, name, ndim=2, nonempty=True, finite=False)
    if x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns, got shape {tuple(x.shape)}")
    return x


class AdditiveCoupling(Flow):
    """``h_kept = x_kept``, ``h_moved = x_moved + sign * m(x_kept)``: log |det| = 0.

    ``partition`` splits the ``dim`` coordinates into two parts: "interleaved" (even indices,
    odd indices; the post's code) or "halves" (first half, second half; FrEIA's). ``moved`` says
    which part changes ("second" or "first"), ``sign`` whether the forward pass adds m (+1) or
    subtracts it (-1, the post's choice: its inverse, the generator, then adds m's non-negative
    ReLU output, which suits pixels in [0, 1]). ``net`` maps the kept part's width to the moved
    part's.
    """

    def __init__(self, dim: int, net: nn.Module, *, partition: str = "interleaved",
                 moved: str = "second", sign: int = 1):
        super().__init__()
        self.dim = positive_int(dim, "dim")
        if self.dim < 2 or self.dim % 2:
            raise ValueError(f"dim must be even and at least 2 (two equal parts), got {dim}")
        if partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {PARTITIONS}, got {partition!r}")
        if moved not in ("first", "second"):
            raise ValueError(f"moved must be 'first' or 'second', got {moved!r}")
        if sign not in (1, -1):
            raise ValueError(f"sign must be +1 or -1, got {sign!r}")
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
        self.net, self.partition, self.moved, self.sign = net, partition, moved, sign

    def _split(self, x):
        if self.partition == "interleaved":
            pairs = x.reshape(len(x), self.dim // 2, 2)
            first, second = pairs[..., 0], pairs[..., 1]
        else:
            first, second = x[:, :self.dim // 2], x[:, self.dim // 2:]
        return (second, first) if self.moved == "first" else (first, second)

    def _join(self, kept, moved):
        first, second = (moved, kept) if self.moved == "first" else (kept, moved)
        if self.partition == "interleaved":
            return torch.stack((first, second), dim=2).reshape(len(first), self.dim)
        return torch.cat((first, second), dim=1)

    def _shift(self, kept):
        shift = self.net(kept)
        if shift.shape != kept.shape:
            raise ValueError(f"net must map ({len(kept)}, {self.dim // 2}) to the same shape, "
                             f"got {tuple(shift.shape)}")
        return shift

    def forward(self, x):
        kept, moved = self._split(_check_rows(x, self.dim))
        shift = self._shift(kept)
        moved = moved + shift if self.sign > 0 else moved - shift
        return self._join(kept, moved), x.new_zeros(len(x))

    def inverse(self, z):
        kept, moved = self._split(_check_rows(z, self.dim, "z"))
        shift = self._shift(kept)
        moved = moved - shift if self.sign > 0 else moved + shift
        return self._join(kept, moved)


class Reverse(Flow):
    """The coordinates in reverse order: a permutation, log |det| = 0."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = positive_int(dim, "dim")

    def forward(self, x):
        return _check_rows(x, self.dim).flip(1), x.new_zeros(len(x))

    def inverse(self, z):
        return _check_rows(z, self.dim, "z").flip(1)


class DiagonalScale(Flow):
    """z = exp(s) ⊙ h, log |det| = sum_i s_i. ``s`` starts from N(0, 2/(1 + dim)) (the
    Glorot-normal draw of the post's Keras code for a 1 x dim kernel) with ``seed``."""

    def __init__(self, dim: int, *, seed: int | None = None):
        super().__init__()
        self.dim = positive_int(dim, "dim")
        with seeded_init(seed):
            self.log_scale = nn.Parameter(torch.randn(self.dim) * math.sqrt(2 / (1 + self.dim)))

    def forward(self, x):
        x = _check_rows(x, self.dim)
        return x * self.log_scale.exp(), self.log_scale.sum().expand(len(x))

    def inverse(self, z):
        return _check_rows(z, self.dim, "z") * (-self.log_scale).exp()


class FlowSequence(Flow):
    """Flows applied in order: z = f_n(... f_1(x)), log |det| the sum of theirs; the inverse runs
    the inverses backwards."""

    def __init__(self, flows):
        super().__init__()
        flows = list(flows)
        if not flows or not all(isinstance(f, Flow) for f in flows):
            raise TypeError("flows must be a non-empty list of kexue.generative.flow.Flow")
        dims = {f.dim for f in flows}
        if len(dims) != 1:
            raise ValueError(f"every flow must have the same width, got {sorted(dims)}")
        self.dim, self.flows = dims.pop(), nn.ModuleList(flows)

    def forward(self, x):
        x = _check_rows(x, self.dim)
        log_det = x.new_zeros(len(x))
        for f in self.flows:
            x, step = f(x)
            log_det = log_det + step
        return x, log_det

    def inverse(self, z):
        z = _check_rows(z, self.dim, "z")
        for f in reversed(self.flows):
            z = f.inverse(z)
        return z


INITS = ("torch", "glorot")


def nice(dim: int = 784, *, couplings: int = 4, hidden: int = 1000, depth: int = 5,
         init: str = "torch", seed: int | None = None) -> FlowSequence:
    """The post's NICE: ``couplings`` times [reverse, interleaved additive coupling with
    m = ``depth`` ReLU layers of ``hidden`` units and a ReLU output of width dim/2, forward
    subtracting m], then a diagonal scale. Defaults: the post's MNIST model (about 20 million
    weights). ``init="torch"`` starts the dense layers as PyTorch does; ``"glorot"`` as the
    post's Keras code did (Glorot-uniform weights, zero biases)."""
    couplings, hidden = positive_int(couplings, "couplings"), positive_int(hidden, "hidden")
    depth = positive_int(depth, "depth")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    half = positive_int(dim, "dim") // 2
    flows: list[Flow] = []
    for i in range(couplings):
        layer_seed = None if seed is None else seed + i
        net = nn.Sequential(*mlp([half, *[hidden] * depth, half], seed=layer_seed), nn.ReLU())
        if init == "glorot":
            with seeded_init(layer_seed), torch.no_grad():
                for layer in net:
                    if isinstance(layer, nn.Linear):
                        nn.init.xavier_uniform_(layer.weight)
                        layer.bias.zero_()
        flows += [Reverse(dim), AdditiveCoupling(dim, net, partition="interleaved", sign=-1)]
    flows.append(DiagonalScale(dim, seed=None if seed is None else seed + couplings))
    return FlowSequence(flows)


def post_loss(flow: Flow, x: torch.Tensor) -> torch.Tensor:
    """The loss the post's Keras code reports, mean over rows of 1/2 ||f(x)||^2 - log |det|:
    -log q(x) without its constant D/2 log(2π) (720.4 nats for MNIST's D = 784)."""
    from ..generative.flow import gaussian_nll

    return gaussian_nll(flow, x).mean() - 0.5 * x.shape[1] * LOG_2PI


@torch.no_grad()
def sample(flow: Flow, n: int, *, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws x = g(T ε), ε ~ N(0, I): the flow's samples at temperature T (the post
    samples at T = 0.75). Runs in eval mode without gradients."""
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a kexue.generative.flow.Flow, got {type(flow).__name__}")
    temperature = non_negative(temperature, "temperature")
    device = next(flow.parameters()).device
    eps = torch.randn(positive_int(n, "n"), flow.dim, generator=generator).to(device)
    was_training = flow.training
    flow.eval()
    try:
        return flow.inverse(temperature * eps)
    finally:
        flow.train(was_training)
