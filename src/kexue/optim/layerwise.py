"""Per-layer learning rates, by reparametrisation or by parameter groups
(Su Jianlin, https://spaces.ac.cn/archives/6418).

Train ``phi`` and let the model use ``theta = lam * phi`` (``lam > 0`` fixed). By the chain rule
``dL/dphi = lam * g`` with ``g = dL/dtheta``, so a gradient step on ``phi`` with rate ``alpha``,
multiplied by ``lam``, is

    theta' = theta - lam^2 alpha g                        (SGD, with or without momentum),

a step on ``theta`` with rate ``lam^2 alpha``. Adaptive optimisers (RMSprop, Adam, Adagrad) divide
by a running root-mean-square of the gradient, which scales by ``lam`` too; one factor cancels and

    theta' = theta - lam alpha m_hat / (sqrt(v_hat) + eps / lam)      (Adam),

a step with rate ``lam alpha`` and ``eps / lam`` in place of ``eps``. :func:`equivalent_settings`
states the rule for each optimiser; :func:`reparametrise` sets per-layer rates the first way
(``torch.nn.utils.parametrize``), :func:`param_groups` the second (one optimiser parameter group
per layer pattern). The MNIST experiment ``layerwise-lr-mnist`` is in :mod:`kexue.optim.experiments`,
the figures and the explorer in :mod:`kexue.optim.figures.layerwise`.

Serves chapters/part2-optimisation/layerwise-learning-rates.ipynb (post 6418).
"""
from __future__ import annotations

import fnmatch
import inspect
from collections import OrderedDict
from typing import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .. import classifier
from ..checks import positive, positive_int

# For each optimiser: the power p in "rate multiplier = lam^p", how each scaled setting transforms
# (setting -> exponent e: the theta-optimiser uses value * lam^e), and the settings that carry over
# unchanged. Coupled weight decay turns the phi-gradient into lam g + wd phi = lam (g + (wd/lam^2)
# theta); AdamW's decoupled decay multiplies phi, hence theta, by (1 - lr wd) at each step.
_ALWAYS_KEPT = {"foreach", "differentiable", "capturable", "fused", "maximize"}
RULES = {
    torch.optim.SGD: dict(power=2, scaled={"lr": 2, "weight_decay": -2},
                          kept={"momentum", "dampening", "nesterov"}),
    torch.optim.Adam: dict(power=1, scaled={"lr": 1, "eps": -1, "weight_decay": -2},
                           kept={"betas", "amsgrad"}),
    torch.optim.AdamW: dict(power=1, scaled={"lr": 1, "eps": -1, "weight_decay": -1},
                            kept={"betas", "amsgrad"}),
    torch.optim.RMSprop: dict(power=1, scaled={"lr": 1, "eps": -1, "weight_decay": -2},
                              kept={"alpha", "momentum", "centered"}),
    torch.optim.Adagrad: dict(power=1, scaled={"lr": 1, "eps": -1, "weight_decay": -2},
                              kept={"lr_decay", "initial_accumulator_value"}),
}


def _rule(optimizer) -> dict:
    if optimizer not in RULES:
        known = ", ".join(cls.__name__ for cls in RULES)
        raise ValueError(f"optimizer must be one of the torch.optim classes {known}; got "
                         f"{getattr(optimizer, '__name__', optimizer)!r}")
    return RULES[optimizer]


def effective_multiplier(optimizer, lam: float) -> float:
    """The factor by which ``theta = lam * phi`` multiplies the learning rate of ``theta``:
    ``lam^2`` for SGD, ``lam`` for the adaptive optimisers."""
    return positive(lam, "lam") ** _rule(optimizer)["power"]


def scale_for(optimizer, multiplier: float) -> float:
    """The ``lam`` that multiplies the learning rate by ``multiplier``: ``sqrt(multiplier)`` for
    SGD, ``multiplier`` itself for the adaptive optimisers (the post's ``is_ada`` switch)."""
    return positive(multiplier, "multiplier") ** (1 / _rule(optimizer)["power"])


def equivalent_settings(optimizer, settings: Mapping, lam: float) -> dict:
    """The settings of ``optimizer`` acting on ``theta`` that reproduce ``optimizer(**settings)``
    acting on ``phi = theta / lam``, step for step: ``lr`` times ``lam^2`` (SGD) or ``lam``
    (adaptive), ``eps`` divided by ``lam``, weight decay divided by ``lam^2`` (coupled) or ``lam``
    (AdamW). Unset scaled settings take the optimiser's defaults.
    """
    rule = _rule(optimizer)
    lam = positive(lam, "lam")
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping of optimiser settings, got "
                        f"{type(settings).__name__}")
    unknown = set(settings) - set(rule["scaled"]) - rule["kept"] - _ALWAYS_KEPT
    if unknown:
        raise ValueError(f"no rule for the {optimizer.__name__} settings {sorted(unknown)}; the "
                         f"rule covers {sorted(set(rule['scaled']) | rule['kept'])}")
    if optimizer is torch.optim.Adagrad and settings.get("initial_accumulator_value", 0) != 0:
        # theta's accumulator would have to start at value / lam^2, but torch fills every
        # accumulator from the constructor's value and ignores a parameter group's own.
        raise ValueError("Adagrad: initial_accumulator_value must be 0 here (torch ignores a "
                         "per-group value, so the scaled one could not be honoured)")
    defaults = inspect.signature(optimizer.__init__).parameters
    out = dict(settings)
    for key, exponent in rule["scaled"].items():
        value = settings.get(key, defaults[key].default)
        value = float(value) if isinstance(value, (int, float)) else value
        if not isinstance(value, float):
            raise TypeError(f"{optimizer.__name__}: {key} must be a real number, got "
                            f"{type(value).__name__}")
        out[key] = value * lam ** exponent
    return out


# -- choosing parameters by layer name -----------------------------------------------------------
def assign(model: nn.Module, multipliers: Mapping[str, float]) -> dict[str, tuple[str, float]]:
    """``{parameter name: (pattern, multiplier)}`` for every parameter of a module whose name
    matches a pattern (``fnmatch``: ``"encoder"``, ``"blocks.*.attn"``), submodules included.

    Refuses a pattern that matches no module or only modules without parameters, a multiplier that
    is not a positive number, and a parameter reached by two patterns.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(multipliers, Mapping) or not multipliers:
        raise ValueError("multipliers must be a non-empty mapping {module-name pattern: multiplier}")
    modules = [(name, m) for name, m in model.named_modules() if name]
    order = {name: i for i, (name, _) in enumerate(model.named_parameters())}
    out: dict[str, tuple[str, float]] = {}
    for pattern, multiplier in multipliers.items():
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"patterns must be non-empty strings, got {pattern!r}")
        multiplier = positive(multiplier, f"the multiplier of {pattern!r}")
        matched = [(name, m) for name, m in modules if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            names = ", ".join(name for name, _ in modules[:12])
            more = ", ..." if len(modules) > 12 else ""
            raise ValueError(f"no module of the model is called {pattern!r}; its modules are "
                             f"{names}{more}")
        found = {f"{name}.{p}" for name, m in matched for p, _ in m.named_parameters()}
        if not found:
            raise ValueError(f"{pattern!r} matches only modules without parameters "
                             f"({', '.join(name for name, _ in matched)})")
        for param in sorted(found, key=lambda n: (order.get(n, len(order)), n)):
            if param in out and out[param][0] != pattern:
                raise ValueError(f"parameter {param} is matched by both {out[param][0]!r} and "
                                 f"{pattern!r}: make the patterns disjoint")
            out[param] = (pattern, multiplier)
    return out


def param_groups(model: nn.Module, multipliers: Mapping[str, float], lr: float) -> list[dict]:
    """Parameter groups for a ``torch.optim`` optimiser: one per pattern with rate
    ``lr * multiplier``, and one with rate ``lr`` for every parameter no pattern reaches.

    Groups hold ``(name, parameter)`` pairs (torch records the names) and the keys
    ``lr_multiplier`` and ``pattern``. Other settings (``eps``, ``weight_decay``, ...) are the
    optimiser's, the same for every group unless set on a group by hand.
    """
    lr = positive(lr, "lr")
    chosen = assign(model, multipliers)
    groups = {pattern: [] for pattern in multipliers}
    rest = []
    for name, p in model.named_parameters():
        (groups[chosen[name][0]] if name in chosen else rest).append((name, p))
    out = [{"params": params, "lr": lr * multipliers[pattern],
            "lr_multiplier": float(multipliers[pattern]), "pattern": pattern}
           for pattern, params in groups.items()]
    if rest:
        out.append({"params": rest, "lr": lr, "lr_multiplier": 1.0, "pattern": None})
    return out


# -- the reparametrisation theta = lam * phi -----------------------------------------------------
class Scaled(nn.Module):
    """The parametrisation ``theta = lam * phi`` (for ``torch.nn.utils.parametrize``): the module
    sees ``lam * phi`` while the optimiser trains ``phi``; ``right_inverse`` sets ``phi = theta /
    lam``, so registering it leaves the module's tensor as it was (exactly when ``lam`` is a power
    of two, else to one rounding)."""

    def __init__(self, lam: float):
        super().__init__()
        self.lam = positive(lam, "lam")

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return phi * self.lam

    def right_inverse(self, theta: torch.Tensor) -> torch.Tensor:
        return theta / self.lam

    def extra_repr(self) -> str:
        return f"lam={self.lam:g}"


def reparametrise(model: nn.Module, multipliers: Mapping[str, float], optimizer=torch.optim.SGD
                  ) -> dict[str, float]:
    """Give the layers matching each pattern the rate multiplier ``multipliers[pattern]`` under
    ``optimizer`` without touching the optimiser: each of their parameters becomes ``lam * phi``
    with ``lam = scale_for(optimizer, multiplier)``, initial values preserved. In place; returns
    ``{parameter name: lam}``. Build the optimiser afterwards, from ``model.parameters()``.

    For an adaptive optimiser the reparametrised layer behaves as one with ``eps / lam``; give the
    optimiser ``eps`` small against the gradients' scale, or see :func:`equivalent_settings`.
    """
    chosen = assign(model, multipliers)
    for name in chosen:
        if ".parametrizations." in f".{name}":
            raise ValueError(f"{name} is already parametrised; remove its parametrisation first")
    lams = {}
    for name, (_, multiplier) in chosen.items():
        owner, _, tensor = name.rpartition(".")
        lam = scale_for(optimizer, multiplier)
        parametrize.register_parametrization(model.get_submodule(owner), tensor, Scaled(lam))
        lams[name] = lam
    return lams


def remove_reparametrisation(model: nn.Module) -> list[str]:
    """Undo :func:`reparametrise`: every tensor parametrised by :class:`Scaled` becomes a plain
    parameter again, holding its current value ``lam * phi``. Returns the names restored."""
    restored = []
    for owner, module in list(model.named_modules()):
        if not parametrize.is_parametrized(module):
            continue
        for tensor, plist in list(module.parametrizations.items()):
            if len(plist) == 1 and isinstance(plist[0], Scaled):
                parametrize.remove_parametrizations(module, tensor, leave_parametrized=True)
                restored.append(f"{owner}.{tensor}" if owner else tensor)
    return restored


# -- checking the rule on a real network --------------------------------------------------------
def trajectory_gap(X: torch.Tensor, y: torch.Tensor, optimizer, settings: Mapping, lam: float, *,
                   layer: str = "hidden1", scale_eps: bool = True, steps: int = 20,
                   hidden: int = 32, seed: int = 0) -> float:
    """Train a :func:`mlp` on ``(X, y)`` (full batch) twice: once with ``layer`` reparametrised as
    ``theta = lam phi`` under ``optimizer(**settings)``; once plain, with ``layer`` in a parameter
    group of :func:`equivalent_settings` (except ``eps``, when ``scale_eps`` is false). Returns
    the largest relative difference ``max|theta_a - theta_b| / max|theta_b|`` over steps and
    tensors."""
    positive_int(steps, "steps")
    models = [mlp((X.shape[1], hidden, int(y.max()) + 1), generator=torch.Generator().manual_seed(
        seed)).to(X.device, X.dtype) for _ in range(2)]
    a, b = models
    reparametrise(a, {layer: effective_multiplier(optimizer, lam)}, optimizer)
    group = equivalent_settings(optimizer, settings, lam)
    if not scale_eps:
        group.pop("eps")  # the group falls back on the optimiser's own eps
    rest = [p for n, p in b.named_parameters() if not n.startswith(f"{layer}.")]
    optimizers = [optimizer(a.parameters(), **settings),
                  optimizer([{"params": b.get_submodule(layer).parameters(), **group},
                             {"params": rest}], **settings)]
    gap = 0.0
    for _ in range(steps):
        for model, opt in zip(models, optimizers):
            opt.zero_grad()
            classifier.classification_loss(model, X, y)[0].backward()
            opt.step()
        ta, tb = effective_parameters(a), effective_parameters(b)
        gap = max(gap, *(float((ta[n] - tb[n]).abs().max() / tb[n].abs().max()) for n in tb))
    return gap


# -- the network of the MNIST experiment, and what it computes with -------------------------------
def mlp(sizes=(784, 100, 100, 10), generator: torch.Generator | None = None) -> nn.Sequential:
    """:func:`kexue.classifier.mlp` (ReLU) with its layers named ``hidden1, relu1, hidden2, ...,
    out``, the names that :func:`param_groups` and :func:`reparametrise` take; seeded from
    ``generator`` when given."""
    seed = None if generator is None else int(torch.randint(2**31, (), generator=generator))
    model = classifier.mlp(sizes, seed=seed)
    n = len(model) // 2  # hidden layers, each followed by its ReLU
    names = [f"{kind}{i}" for i in range(1, n + 1) for kind in ("hidden", "relu")] + ["out"]
    return nn.Sequential(OrderedDict(zip(names, model)))


def effective_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` of what the model computes with: ``lam * phi`` for a reparametrised
    tensor (under its plain name, e.g. ``hidden1.weight``), the parameter itself otherwise."""
    out = {}
    for owner, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            out[f"{owner}.{name}" if owner else name] = p.detach()
        if parametrize.is_parametrized(module):
            for name in module.parametrizations:
                out[f"{owner}.{name}" if owner else name] = getattr(module, name).detach()
    return {k: v for k, v in out.items() if ".parametrizations." not in f".{k}"}


# -- a picture on a 2-D surface ------------------------------------------------------------------
class _Coordinate(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value), dtype=torch.float64))


def surface_paths(surface, lam: float, optimizer, settings: Mapping, *, layer: str = "x",
                  steps: int = 40) -> dict[str, np.ndarray]:
    """Paths ``(steps + 1, 2)`` of ``optimizer(**settings)`` on a 2-D ``surface`` whose point is
    two one-parameter "layers" ``x`` and ``y``: ``"plain"``; ``"reparametrised"``, with ``layer``
    trained as ``theta = lam phi`` (shown in ``theta``); and ``"equivalent"``, plain ``theta`` with
    that layer in a parameter group of :func:`equivalent_settings`."""
    if layer not in ("x", "y"):
        raise ValueError(f"layer must be 'x' or 'y', got {layer!r}")
    positive_int(steps, "steps")
    multiplier = effective_multiplier(optimizer, lam)
    paths = {}
    for kind in ("plain", "reparametrised", "equivalent"):
        point = nn.Module()
        point.x, point.y = _Coordinate(surface.start[0]), _Coordinate(surface.start[1])
        if kind == "reparametrised":
            reparametrise(point, {layer: multiplier}, optimizer)
            opt = optimizer(point.parameters(), **settings)
        elif kind == "equivalent":
            other = "y" if layer == "x" else "x"
            opt = optimizer([{"params": point.get_submodule(other).parameters()},
                             {"params": point.get_submodule(layer).parameters(),
                              **equivalent_settings(optimizer, settings, lam)}], **settings)
        else:
            opt = optimizer(point.parameters(), **settings)
        path = [(surface.start[0], surface.start[1])]
        for _ in range(steps):
            opt.zero_grad()
            surface.value(point.x.value, point.y.value).backward()
            opt.step()
            path.append((float(point.x.value.detach()), float(point.y.value.detach())))
        paths[kind] = np.array(path)
    return paths
