"""Heun's method as an optimiser (Su Jianlin, https://spaces.ac.cn/archives/5879, section on
"intrusive" optimisers).

Gradient descent ``p <- p - lr g(p)`` is Euler's method for the gradient flow ``dp/dt = -g(p)``,
``g = grad L``. Heun's method (improved Euler, a predictor-corrector) takes an Euler step to a trial
point and then averages the slopes at both ends:

    p~ = p - lr g(p),         p <- p - (lr / 2) (g(p) + g(p~)).

Its one-step error against the exact flow is O(lr^3) (Euler's: O(lr^2)), so over a fixed time
O(lr^2) (Euler's: O(lr)). It needs two gradients per step, at two different points, so its
``step`` takes a closure that recomputes loss and gradients, like ``torch.optim.LBFGS``.

On a quadratic ``L = p^T A p / 2`` a step multiplies the component along an eigenvector of
curvature ``lam`` by ``R(-lr lam)``, with ``R(z) = 1 + z`` for Euler and ``1 + z + z^2 / 2`` for
Heun. Both are stable for ``lr lam < 2``; Heun's factor is never below 1/2, and two Euler steps
(the same two gradients) contract every component at least as much: ``(1 - x)^2 <= 1 - x + x^2/2``
for ``0 <= x <= 2``. Whether that helps in training (the experiment ``heun-vs-sgd-mnist``) is
measured in :mod:`kexue.optim.experiments`.

Serves chapters/part2-optimisation/writing-an-optimiser.ipynb (post 5879).
"""
from __future__ import annotations

import numpy as np
import torch

from ..checks import float_tensor, positive, positive_int


class Heun(torch.optim.Optimizer):
    """Heun's method on the gradient flow: ``p~ = p - lr g(p)``, ``p <- p - lr (g(p) + g(p~)) / 2``.

    ``step(closure)`` needs ``closure()`` to compute the loss at the current parameters, call
    ``backward()`` and return the loss; it is called twice per step (gradients are zeroed before
    each call), and ``step`` returns the loss at the starting point.
    """

    def __init__(self, params, lr: float = 1e-3):
        super().__init__(params, dict(lr=positive(lr, "lr")))

    def _gradients(self, closure):
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()
        grads = [[torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                  for p in group["params"]] for group in self.param_groups]
        return loss, grads

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            raise ValueError("Heun needs the gradient at two points per step: call step(closure) "
                             "with a closure that computes the loss, calls backward() and returns it")
        loss, g0 = self._gradients(closure)
        starts = [[p.detach().clone() for p in group["params"]] for group in self.param_groups]
        for group, grads in zip(self.param_groups, g0):
            for p, g in zip(group["params"], grads):
                p.add_(g, alpha=-group["lr"])                      # predictor: an Euler step
        _, g1 = self._gradients(closure)
        for group, start, grads0, grads1 in zip(self.param_groups, starts, g0, g1):
            for p, p0, a, b in zip(group["params"], start, grads0, grads1):
                p.copy_(p0).add_(a + b, alpha=-group["lr"] / 2)   # corrector: the mean slope
        return loss


# -- paths on 2-D surfaces, written out in NumPy (the figures, and a check on the optimisers) ----
def _path(gradient, start, lr: float, steps: int, heun: bool) -> np.ndarray:
    lr, steps = positive(lr, "lr"), positive_int(steps, "steps")
    p = np.asarray(start, dtype=np.float64)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"start must be a finite point (x, y), got {start!r}")
    g = lambda q: np.array(gradient(q[0], q[1]), dtype=np.float64)  # noqa: E731
    path = [p]
    for _ in range(steps):
        g0 = g(p)
        p = p - lr * g0 if not heun else p - lr / 2 * (g0 + g(p - lr * g0))
        path.append(p)
        if not np.all(np.isfinite(p)):
            break
    return np.array(path)


def euler_path(gradient, start, lr: float, steps: int) -> np.ndarray:
    """Points of gradient descent ``p <- p - lr g(p)`` from ``start`` (``steps + 1`` rows, fewer if
    it overflows); ``gradient(x, y) -> (gx, gy)``, e.g. a :mod:`kexue.optim.surfaces` gradient."""
    return _path(gradient, start, lr, steps, heun=False)


def heun_path(gradient, start, lr: float, steps: int) -> np.ndarray:
    """Points of Heun's method ``p <- p - lr (g(p) + g(p - lr g(p))) / 2`` from ``start``."""
    return _path(gradient, start, lr, steps, heun=True)


def amplification(method: str, z):
    """The factor ``R(z)`` by which one step multiplies an eigen-component of a quadratic,
    ``z = -lr * curvature``: ``1 + z`` (``"euler"``), ``1 + z + z^2 / 2`` (``"heun"``), and
    ``(1 + z)^2`` (``"euler-twice"``: two Euler steps, the same two gradient evaluations as Heun)."""
    forms = {"euler": lambda z: 1 + z, "heun": lambda z: 1 + z + z * z / 2,
             "euler-twice": lambda z: (1 + z) ** 2}
    if method not in forms:
        raise ValueError(f"method must be one of {sorted(forms)}, got {method!r}")
    return forms[method](np.asarray(z, dtype=np.float64))


# -- orders of accuracy on a quadratic, against the exact flow -----------------------------------
def _quadratic(A) -> torch.Tensor:
    A = float_tensor(A, "A", ndim=2, numpy_ok=True).to(torch.float64)
    if A.shape[0] != A.shape[1] or not torch.allclose(A, A.T):
        raise ValueError(f"A must be a symmetric square matrix, got shape {tuple(A.shape)}")
    return A


def quadratic_flow(A, x0, t: float) -> np.ndarray:
    """The exact gradient flow of ``L = x^T A x / 2`` at time ``t``: ``expm(-A t) x0``."""
    import scipy.linalg

    A = _quadratic(A).numpy()
    return scipy.linalg.expm(-A * t) @ np.asarray(x0, dtype=np.float64)


def integrate_quadratic(A, x0, lr: float, steps: int, method: str) -> np.ndarray:
    """Run a torch optimiser (``"euler"``: ``torch.optim.SGD``; ``"heun"``: :class:`Heun`) for
    ``steps`` steps on ``L = x^T A x / 2`` from ``x0``, in float64, with autograd gradients."""
    A = _quadratic(A)
    x = torch.tensor(np.asarray(x0, dtype=np.float64)).requires_grad_()
    if x.shape != (A.shape[0],):
        raise ValueError(f"x0 must have {A.shape[0]} entries, got shape {tuple(x.shape)}")
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    lr = positive(lr, "lr")
    opt = torch.optim.SGD([x], lr=lr) if method == "euler" else Heun([x], lr=lr)

    def closure():
        opt.zero_grad()
        loss = 0.5 * x @ A @ x
        loss.backward()
        return loss

    for _ in range(positive_int(steps, "steps")):
        opt.step(closure)
    return x.detach().numpy()


def local_errors(A, x0, lrs, method: str) -> np.ndarray:
    """``|x_1 - expm(-A lr) x0|`` after one step, for each step size in ``lrs``."""
    return np.array([np.linalg.norm(integrate_quadratic(A, x0, lr, 1, method)
                                    - quadratic_flow(A, x0, lr)) for lr in lrs])


def global_errors(A, x0, T: float, step_counts, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lrs, errors)``: ``|x_N - expm(-A T) x0|`` after ``N`` steps of size ``T / N``, for each
    ``N`` in ``step_counts``."""
    T = positive(T, "T")
    exact = quadratic_flow(A, x0, T)
    lrs = np.array([T / positive_int(n, "step count") for n in step_counts])
    errors = np.array([np.linalg.norm(integrate_quadratic(A, x0, T / n, n, method) - exact)
                       for n in step_counts])
    return lrs, errors
