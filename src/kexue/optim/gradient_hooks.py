"""Changing gradients on their way to the optimiser, through autograd hooks
(Su Jianlin, https://spaces.ac.cn/archives/6418).

The post overrides Keras' ``get_gradients`` to transform every gradient before the optimiser sees
it. In PyTorch a hook on a parameter does the same without touching the optimiser:

* ``when="backward"`` uses ``Tensor.register_hook``: the transform receives the gradient of one
  backward pass and returns the one to add into ``.grad``;
* ``when="accumulated"`` uses ``Tensor.register_post_accumulate_grad_hook``: after each backward
  pass has been added into ``.grad``, the transform replaces ``.grad`` (the running sum) by its
  image, so after two passes ``.grad = T(T(g1) + g2)``.

With a single backward pass per step the two agree. Two transforms are provided:
:func:`clip_gradient_norm` (each parameter's gradient scaled to norm at most ``c``:
``g <- g min(1, c / ||g||)``) and :func:`project_gradient` (``g <- g - Q Q^T g`` or ``Q Q^T g``
for an orthonormal basis ``Q`` of given directions). Their figures are in
:mod:`kexue.optim.figures.gradient_hooks`.

Serves chapters/part2-optimisation/layerwise-learning-rates.ipynb (post 6418).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..checks import float_tensor, positive

WHEN = ("backward", "accumulated")


class HookHandles(list):
    """The handles of registered hooks; ``remove()`` (or leaving a ``with`` block) removes them all."""

    def remove(self) -> None:
        while self:
            self.pop().remove()

    def __enter__(self) -> "HookHandles":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _parameters(params) -> list[torch.Tensor]:
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    if not params:
        raise ValueError("no parameters given")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"parameter {i} must be a torch.Tensor, got {type(p).__name__}")
        if not (p.is_leaf and p.requires_grad):
            raise ValueError(f"parameter {i} must be a leaf tensor that requires grad (a model "
                             "parameter); hooks on other tensors would not see its gradient")
    return params


def register_gradient_transform(params, transform: Callable[[torch.Tensor, torch.Tensor],
                                                            torch.Tensor],
                                *, when: str = "backward") -> HookHandles:
    """Hook ``transform(grad, param) -> new grad`` onto each parameter (see the module docstring
    for ``when``). Returns the handles; ``handles.remove()`` restores plain gradients."""
    params = _parameters(params)
    if not callable(transform):
        raise TypeError("transform must be a callable transform(grad, param) -> grad")
    if when not in WHEN:
        raise ValueError(f"when must be one of {WHEN}, got {when!r}")
    handles = HookHandles()
    for p in params:
        if when == "backward":
            handles.append(p.register_hook(lambda g, p=p: transform(g, p)))
        else:
            def after_accumulation(p):
                with torch.no_grad():
                    p.grad.copy_(transform(p.grad, p))
            handles.append(p.register_post_accumulate_grad_hook(after_accumulation))
    return handles


# -- clipping ------------------------------------------------------------------------------------
def clip_norm(g: torch.Tensor, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
    """``g * min(1, max_norm / ||g||_p)``: unchanged when ``||g||_p <= max_norm``, else rescaled
    to norm ``max_norm`` exactly (up to rounding; torch's ``clip_grad_norm_`` divides by
    ``||g|| + 1e-6`` instead)."""
    norm = torch.linalg.vector_norm(g, norm_type)
    return torch.where(norm > max_norm, g * (max_norm / norm), g)


def clip_gradient_norm(params, max_norm: float, *, norm_type: float = 2.0,
                       when: str = "backward") -> HookHandles:
    """Clip each parameter's gradient to ``||g||_p <= max_norm`` on its own (the global
    ``clip_grad_norm_`` scales all gradients by one factor instead)."""
    max_norm = positive(max_norm, "max_norm")
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or not norm_type >= 1:
        raise ValueError(f"norm_type must be a number >= 1 or math.inf, got {norm_type!r}")
    return register_gradient_transform(
        params, lambda g, p: clip_norm(g, max_norm, float(norm_type)), when=when)


# -- projection ----------------------------------------------------------------------------------
def orthonormal_directions(directions: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """An orthonormal basis ``Q`` (``numel x k``, by QR) of the span of ``directions``: one
    tensor of ``shape``, or ``k`` of them stacked (``(k, *shape)``); they must be independent."""
    directions = float_tensor(directions, "directions")
    shape = torch.Size(shape)
    if directions.shape == shape:
        directions = directions.unsqueeze(0)
    if directions.ndim != len(shape) + 1 or directions.shape[1:] != shape:
        raise ValueError(f"directions must have the parameter's shape {tuple(shape)} or be k of "
                         f"them stacked, (k, {', '.join(map(str, shape))}); got "
                         f"{tuple(directions.shape)}")
    A = directions.reshape(len(directions), -1).T.to(torch.float64)
    if A.shape[1] > A.shape[0]:
        raise ValueError(f"{A.shape[1]} directions cannot be independent in a space of dimension "
                         f"{A.shape[0]}")
    Q, R = torch.linalg.qr(A)
    s = torch.linalg.svdvals(R)
    if s[0] == 0 or s[-1] <= A.shape[0] * torch.finfo(torch.float64).eps * s[0]:
        raise ValueError("the directions are linearly dependent (or zero): give independent ones")
    return Q


def project_gradient(param: torch.Tensor, directions: torch.Tensor, *, keep: str = "complement",
                     when: str = "backward") -> HookHandles:
    """Project ``param``'s gradient: ``keep="complement"`` removes its components along
    ``directions`` (``g - Q Q^T g``), ``keep="span"`` keeps only them (``Q Q^T g``).

    Under SGD (with momentum) every step is then a combination of projected gradients, so
    ``param`` stays in ``param_0 + span`` (or keeps its components along ``directions``). Adaptive
    optimisers divide coordinate by coordinate and leave the subspace: project the update instead.
    """
    (param,) = _parameters(param)
    if keep not in ("complement", "span"):
        raise ValueError(f"keep must be 'complement' or 'span', got {keep!r}")
    Q = orthonormal_directions(directions, param.shape).to(param.device, param.dtype)

    def project(g, p):
        along = (Q @ (Q.T @ g.reshape(-1))).reshape(g.shape)
        return g - along if keep == "complement" else along

    return register_gradient_transform(param, project, when=when)


# -- what the chapter draws: paths on a surface, gradient norms -----------------------------------
def projected_paths(surface, direction=(2.0, 1.0), *, steps: int = 60,
                    optimizers: dict | None = None) -> dict[str, torch.Tensor]:
    """Paths ``(steps + 1, 2)`` of optimisers on a 2-D ``surface`` from its start, with the
    gradient's component along ``direction`` removed by a hook; without the hook for reference."""
    direction = torch.as_tensor(direction, dtype=torch.float64)
    optimizers = optimizers or {"SGD": (torch.optim.SGD, dict(lr=0.02, momentum=0.8)),
                                "Adam": (torch.optim.Adam, dict(lr=0.1))}
    paths = {}
    for label, (cls, settings) in optimizers.items():
        for hooked in (True, False):
            point = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
            handles = project_gradient(point, direction) if hooked else HookHandles()
            opt = cls([point], **settings)
            path = [point.detach().clone()]
            with handles:
                for _ in range(steps):
                    opt.zero_grad()
                    surface(point).backward()
                    opt.step()
                    path.append(point.detach().clone())
            paths[label if hooked else f"{label}, no hook"] = torch.stack(path)
    return paths


def clipping_comparison(model: torch.nn.Module, loss_fn: Callable, batch: tuple,
                        max_norm: float) -> dict:
    """The gradient norm of each named parameter of ``model`` on ``batch`` (``loss_fn(model,
    *batch)`` returns the loss or ``(loss, metrics)``): raw; after torch's global
    ``clip_grad_norm_`` (one factor for all); after :func:`clip_gradient_norm` (each on its own)."""
    max_norm = positive(max_norm, "max_norm")
    names, params = zip(*model.named_parameters())

    def norms():
        model.zero_grad()
        out = loss_fn(model, *batch)
        (out[0] if isinstance(out, tuple) else out).backward()
        return [float(p.grad.norm()) for p in params]

    raw = norms()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    global_clip = [float(p.grad.norm()) for p in params]
    with clip_gradient_norm(params, max_norm):
        per_parameter = norms()
    model.zero_grad()
    return {"names": list(names), "raw": raw, "global": global_clip,
            "per_parameter": per_parameter, "max_norm": max_norm}
