"""Optimisers as discretised dynamics (Su Jianlin, https://spaces.ac.cn/archives/5655).

* **Gradient descent is Euler's method.** ``theta_{n+1} = theta_n - gamma grad L(theta_n)`` is the
  explicit Euler step, of size ``gamma``, for the gradient flow ``theta' = -grad L(theta)``. On
  ``L = theta^T A theta / 2`` the flow is ``theta(t) = exp(-tA) theta_0`` and ``n`` steps of size
  ``gamma`` miss ``theta(n gamma)`` by ``-(gamma T / 2) A^2 exp(-TA) theta_0 + O(gamma^2)``
  at ``T = n gamma``: first order.
* **SGD noise is a Langevin equation.** Noisy gradient descent
  ``theta_{n+1} = theta_n - gamma (grad L(theta_n) + s z_n)``, ``z_n ~ N(0, I)``, is the
  Euler-Maruyama step of size ``gamma`` for ``d theta = -grad L dt + sigma dW`` with
  ``sigma^2 = gamma s^2``, whose stationary density is ``exp(-2 L / sigma^2) / Z``. On
  ``L = a theta^2 / 2`` the chain itself is stationary with variance ``gamma s^2 / (a (2 - gamma a))``,
  which tends to the SDE's ``sigma^2 / (2a)`` as ``gamma a -> 0`` (and, with momentum ``beta``, an
  AR(2) chain with a closed-form variance too).
* **Momentum is a damped oscillator.** ``theta'' + lambda theta' = -grad L`` discretised by
  leapfrog (velocity at half steps, friction averaged) is the heavy-ball update
  ``v <- beta v - alpha grad L(theta)``, ``theta <- theta + v``, with
  ``beta = (1 - lambda gamma/2) / (1 + lambda gamma/2)`` and ``alpha = gamma^2 / (1 + lambda gamma/2)``
  (``v = gamma eta_{n+1/2}``). Keeping ``lambda`` fixed while ``alpha -> r alpha`` gives, to first
  order, ``beta -> 1 - (1 - beta) sqrt(r)``.

The chapter's figures and its momentum explorer are in :mod:`kexue.optim.figures.dynamics`.

Serves chapters/part2-optimisation/gradient-descent-euler.ipynb (post 5655).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..checks import float_tensor, non_negative, positive, positive_int, real_number

Gradient = Callable[[torch.Tensor], torch.Tensor]


# -- input checks ------------------------------------------------------------------------------
def _listed(x):
    """A list or tuple of numbers as a float array (so that ``surface.start`` can be passed)."""
    if isinstance(x, (list, tuple)):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
            raise TypeError("a list or tuple given for a vector must hold only numbers")
        return np.asarray(x, dtype=float)
    return x


def _vector(theta, name: str = "theta0") -> torch.Tensor:
    """``theta`` as a float64 1-D tensor (a numpy array, list or tuple is accepted), if finite and
    non-empty."""
    return float_tensor(_listed(theta), name, ndim=1, nonempty=True,
                        numpy_ok=True).detach().to(torch.float64)


def _spd(A, d: int | None = None) -> torch.Tensor:
    """``A`` as a float64 symmetric positive-definite ``d x d`` matrix."""
    A = float_tensor(A, "A", ndim=2, nonempty=True, numpy_ok=True).detach().to(torch.float64)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square, got shape {tuple(A.shape)}")
    if d is not None and A.shape[0] != d:
        raise ValueError(f"A is {A.shape[0]} x {A.shape[0]} but theta0 has {d} entries")
    if not torch.allclose(A, A.T, rtol=1e-12, atol=1e-12 * float(A.abs().max())):
        raise ValueError("A must be symmetric (L = theta^T A theta / 2 has a symmetric Hessian)")
    if float(torch.linalg.eigvalsh(A)[0]) <= 0:
        raise ValueError("A must be positive definite, so that L has a unique minimum")
    return A


def _callable(grad, name: str = "grad") -> Gradient:
    if not callable(grad):
        raise TypeError(f"{name} must be a callable theta -> grad L(theta), got {type(grad).__name__}")
    return grad


def _times(times) -> torch.Tensor:
    t = float_tensor(_listed(times), "times", ndim=1, nonempty=True, numpy_ok=True).to(torch.float64)
    if bool((t < 0).any()):
        raise ValueError("times must be >= 0")
    return t


def _beta(beta, name: str = "beta") -> float:
    beta = real_number(beta, name)
    if not -1.0 < beta <= 1.0:
        raise ValueError(f"{name} must lie in (-1, 1] (it is (1 - lambda gamma/2) / (1 + lambda gamma/2)), "
                         f"got {beta}")
    return beta


def _steps_to(horizon: float, step: float) -> int:
    """The number of steps of size ``step`` that reach ``horizon`` exactly (an integer is required)."""
    n = round(horizon / step)
    if n < 1 or abs(n * step - horizon) > 1e-9 * horizon:
        raise ValueError(f"horizon {horizon:g} is not a whole number of steps of size {step:g}")
    return n


# -- gradients of the losses used in the chapter ---------------------------------------------------
def quadratic_gradient(A) -> Gradient:
    """``theta -> A theta`` for ``L = theta^T A theta / 2`` (on a batch ``(..., d)`` of points)."""
    A = _spd(A)
    return lambda theta: theta @ A


def surface_gradient(surface) -> Gradient:
    """The closed-form gradient of a :class:`kexue.optim.surfaces.Surface` on points ``(..., 2)``."""
    if not callable(getattr(surface, "gradient", None)):
        raise TypeError(f"expected a kexue.optim.surfaces.Surface, got {type(surface).__name__}")
    return lambda theta: torch.stack(surface.gradient(theta[..., 0], theta[..., 1]), dim=-1)


def double_well(theta, tilt: float = 0.1):
    """``L(theta) = theta^4/4 - theta^2/2 + tilt * theta``: two wells near -1 and +1; a positive
    tilt makes the left one deeper. Works on floats, numpy arrays and tensors."""
    return theta**4 / 4 - theta**2 / 2 + tilt * theta


def double_well_gradient(theta, tilt: float = 0.1):
    """``L'(theta) = theta^3 - theta + tilt`` for :func:`double_well`."""
    return theta**3 - theta + tilt


# -- gradient descent = explicit Euler ---------------------------------------------------------------
def euler_step(grad: Gradient, theta: torch.Tensor, step: float) -> torch.Tensor:
    """One explicit Euler step for ``theta' = -grad L(theta)``: ``theta - step * grad(theta)``.
    With ``step`` the learning rate this is one gradient-descent (SGD) update."""
    return theta - step * grad(theta)


def gradient_descent(grad: Gradient, theta0, lr: float, steps: int) -> torch.Tensor:
    """The iterates ``theta_0, ..., theta_steps`` (shape ``(steps + 1, d)``) of gradient descent,
    i.e. of Euler's method with step ``lr`` on the gradient flow."""
    grad, theta = _callable(grad), _vector(theta0)
    lr, steps = positive(lr, "lr"), positive_int(steps, "steps")
    path = [theta]
    for _ in range(steps):
        path.append(euler_step(grad, path[-1], lr))
    return torch.stack(path)


def quadratic_flow(A, theta0, times) -> torch.Tensor:
    """The exact gradient flow on ``L = theta^T A theta / 2``: ``theta(t) = exp(-tA) theta_0`` at each
    time, shape ``(len(times), d)``, by the eigendecomposition ``A = Q diag(a) Q^T``."""
    theta0 = _vector(theta0)
    A, t = _spd(A, len(theta0)), _times(times)
    a, Q = torch.linalg.eigh(A)
    return (torch.exp(-t[:, None] * a) * (Q.T @ theta0)) @ Q.T


def euler_error(A, theta0, horizon: float, lrs) -> np.ndarray:
    """``||theta_n - theta(T)||`` after ``n = T / lr`` gradient-descent steps on the quadratic, for
    each learning rate (each must divide ``T``). It is ``O(lr)``: Euler's method is first order."""
    theta0 = _vector(theta0)
    horizon = positive(horizon, "horizon")
    grad = quadratic_gradient(_spd(A, len(theta0)))
    exact = quadratic_flow(A, theta0, [horizon])[0]
    errors = []
    for lr in lrs:
        lr = positive(lr, "lr")
        errors.append(float(torch.linalg.norm(
            gradient_descent(grad, theta0, lr, _steps_to(horizon, lr))[-1] - exact)))
    return np.array(errors)


def euler_error_constant(A, theta0, horizon: float) -> float:
    """``C = ||(T/2) A^2 exp(-TA) theta_0||``: the leading term of :func:`euler_error` is ``C * lr``
    (from ``(1 - lr a)^(T/lr) = exp(-aT) (1 - a^2 T lr / 2 + O(lr^2))`` on each eigenvalue ``a``)."""
    theta0 = _vector(theta0)
    A, horizon = _spd(A, len(theta0)), positive(horizon, "horizon")
    return float(torch.linalg.norm(horizon / 2 * A @ A @ quadratic_flow(A, theta0, [horizon])[0]))


def loglog_slope(x, y) -> float:
    """The least-squares slope of ``log y`` against ``log x``: the order ``p`` in ``y ~ C x^p``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("x and y must be finite and positive to take logarithms")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# -- noisy gradient descent = Euler-Maruyama for the Langevin equation ----------------------------
def sde_noise_variance(lr: float, noise_std: float) -> float:
    """``sigma^2 = lr * s^2``: the noise ``lr * s * z`` added per step of length ``lr`` has variance
    ``lr^2 s^2 = sigma^2 * lr``, that of ``sigma (W(t + lr) - W(t))``."""
    return positive(lr, "lr") * positive(noise_std, "noise_std") ** 2


def noisy_gradient_descent(grad: Gradient, theta0, lr: float, noise_std: float, steps: int, *,
                           chains: int = 1, record_every: int | None = None,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Run ``chains`` independent copies of ``theta <- theta - lr (grad L(theta) + noise_std z)`` from
    ``theta0``, ``z ~ N(0, I)``: the Euler-Maruyama scheme for ``d theta = -grad L dt + sigma dW``
    with ``sigma^2 = lr noise_std^2``. Returns the states every ``record_every`` steps (default:
    only the start and the end), shape ``(snapshots, chains, d)``; ``[-1]`` holds the final states."""
    grad, theta0 = _callable(grad), _vector(theta0)
    lr, noise_std = positive(lr, "lr"), positive(noise_std, "noise_std")
    steps, chains = positive_int(steps, "steps"), positive_int(chains, "chains")
    record_every = steps if record_every is None else positive_int(record_every, "record_every")
    theta = theta0.expand(chains, -1)
    snapshots = [theta]
    for n in range(1, steps + 1):
        noise = noise_std * torch.randn(theta.shape, generator=generator, dtype=torch.float64)
        theta = euler_step(lambda th: grad(th) + noise, theta, lr)
        if n % record_every == 0:
            snapshots.append(theta)
    return torch.stack(snapshots)


def stationary_density(loss: Callable, sigma2: float, grid) -> np.ndarray:
    """The stationary density ``exp(-2 L / sigma^2) / Z`` of ``d theta = -L'(theta) dt + sigma dW``
    on an evenly spaced 1-D ``grid`` (normalised there by the trapezoid rule; the grid must cover
    the mass)."""
    loss, sigma2 = _callable(loss, "loss"), positive(sigma2, "sigma2")
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or len(grid) < 3 or not np.all(np.diff(grid) > 0):
        raise ValueError("grid must be an increasing 1-D array of at least 3 points")
    energy = 2 * np.asarray(loss(grid), dtype=float) / sigma2
    p = np.exp(-(energy - energy.min()))
    return p / np.trapezoid(p, grid)


def stationary_cdf(loss: Callable, sigma2: float, grid) -> Callable[[np.ndarray], np.ndarray]:
    """The cumulative distribution of :func:`stationary_density`, as a function (linear
    interpolation of the cumulative trapezoid rule on ``grid``), e.g. for a Kolmogorov-Smirnov test."""
    from scipy.integrate import cumulative_trapezoid

    grid = np.asarray(grid, dtype=float)
    cdf = cumulative_trapezoid(stationary_density(loss, sigma2, grid), grid, initial=0.0)
    return lambda x: np.interp(x, grid, cdf / cdf[-1])


def quadratic_stationary_variance(curvature: float, lr: float, noise_std: float, beta: float = 0.0
                                  ) -> float:
    """The exact stationary variance of noisy gradient descent, with momentum ``beta`` (default
    none), on ``L = a theta^2 / 2``. Without momentum, ``theta_{n+1} = (1 - lr a) theta_n - lr s z_n``
    is an AR(1) chain, so ``v = (1 - lr a)^2 v + lr^2 s^2``, i.e. ``v = lr s^2 / (a (2 - lr a))``;
    the Langevin density ``exp(-a theta^2 / sigma^2)`` has variance ``lr s^2 / (2a)``, the same to
    first order in ``lr a``. With momentum the chain is AR(2),
    ``theta_{n+1} = (1 + beta - lr a) theta_n - beta theta_{n-1} - lr s z_n``, and
    ``v = lr s^2 (1 + beta) / (a (1 - beta) (2 (1 + beta) - lr a))``, for ``0 < lr a < 2 (1 + beta)``."""
    a, lr, s = positive(curvature, "curvature"), positive(lr, "lr"), positive(noise_std, "noise_std")
    beta = _beta(beta)
    if beta == 1:
        raise ValueError("beta = 1 means no friction: the noise pumps energy in without limit and "
                         "there is no stationary distribution")
    if lr * a >= 2 * (1 + beta):
        raise ValueError(f"lr * curvature = {lr * a:g} >= 2 (1 + beta) = {2 * (1 + beta):g}: the "
                         "iteration diverges and has no stationary distribution")
    return lr * s * s * (1 + beta) / (a * (1 - beta) * (2 * (1 + beta) - lr * a))


def minibatch_sgd_mean(data, lr: float, batch_size: int, steps: int, *, chains: int = 1,
                       theta0=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Real minibatch SGD on ``L(theta) = mean_i ||theta - x_i||^2 / 2`` (its minimum is the mean
    of the data): each step draws ``batch_size`` rows with replacement and uses the minibatch
    gradient ``theta - mean_R(x)``. Its error ``mean(x) - mean_R(x)`` does not depend on
    ``theta`` and has variance ``Var(x) / batch_size`` per coordinate, so this is noisy gradient
    descent with ``s^2 = Var(x) / B``. Returns the final states of ``chains`` independent runs,
    shape ``(chains, d)``."""
    data = float_tensor(data, "data", ndim=2, nonempty=True, numpy_ok=True).to(torch.float64)
    lr = positive(lr, "lr")
    batch_size, steps = positive_int(batch_size, "batch_size"), positive_int(steps, "steps")
    chains = positive_int(chains, "chains")
    n, d = data.shape
    theta0 = torch.zeros(d, dtype=torch.float64) if theta0 is None else _vector(theta0)
    if len(theta0) != d:
        raise ValueError(f"theta0 has {len(theta0)} entries but the data have {d} columns")
    theta = theta0.expand(chains, -1)
    for _ in range(steps):
        rows = torch.randint(n, (chains * batch_size,), generator=generator)
        batch_mean = data.index_select(0, rows).reshape(chains, batch_size, d).mean(dim=1)
        theta = euler_step(lambda th: th - batch_mean, theta, lr)
    return theta


# -- momentum = leapfrog for the damped oscillator --------------------------------------------------
def momentum_coefficients(gamma: float, friction: float) -> tuple[float, float]:
    """``(alpha, beta)`` of the heavy-ball update that is leapfrog with step ``gamma`` for
    ``theta'' + friction theta' = -grad L``: ``beta = (1 - friction gamma/2) / (1 + friction gamma/2)``,
    ``alpha = gamma^2 / (1 + friction gamma/2)``."""
    gamma, lam = positive(gamma, "gamma"), non_negative(friction, "friction")
    half = lam * gamma / 2
    return gamma * gamma / (1 + half), (1 - half) / (1 + half)


def physical_parameters(lr: float, beta: float) -> tuple[float, float]:
    """The inverse of :func:`momentum_coefficients`: the step ``gamma = sqrt(2 alpha / (1 + beta))``
    and friction ``lambda = 2 (1 - beta) / ((1 + beta) gamma)`` of a heavy ball ``(alpha, beta)``."""
    lr, beta = positive(lr, "lr"), _beta(beta)
    gamma = math.sqrt(2 * lr / (1 + beta))
    return gamma, 2 * (1 - beta) / ((1 + beta) * gamma)


def half_step_velocity(grad: Gradient, theta0, gamma: float, friction: float, velocity0=None
                       ) -> torch.Tensor:
    """A start consistent to second order: ``eta_{-1/2} = eta(-gamma/2)
    = eta_0 + (gamma/2) (friction eta_0 + grad L(theta_0)) + O(gamma^2)`` for ``theta'(0) = eta_0``
    (zero by default). torch's momentum buffer starts at zero instead, ``eta_{-1/2} = 0``."""
    grad, theta0 = _callable(grad), _vector(theta0)
    gamma, lam = positive(gamma, "gamma"), non_negative(friction, "friction")
    eta0 = torch.zeros_like(theta0) if velocity0 is None else _vector(velocity0, "velocity0")
    return eta0 + gamma / 2 * (lam * eta0 + grad(theta0))


def leapfrog_damped(grad: Gradient, theta0, gamma: float, friction: float, steps: int, *,
                    velocity=None) -> torch.Tensor:
    """Leapfrog for ``theta' = eta``, ``eta' = -friction eta - grad L(theta)`` (post 5655, eqs. 13-14):

        (eta_{n+1/2} - eta_{n-1/2}) / gamma = -friction (eta_{n+1/2} + eta_{n-1/2}) / 2 - grad L(theta_n)
        (theta_{n+1} - theta_n) / gamma = eta_{n+1/2}

    from ``eta_{-1/2} = velocity`` (default 0, like torch's empty momentum buffer). Returns
    ``theta_0, ..., theta_steps``, shape ``(steps + 1, d)``."""
    grad, theta = _callable(grad), _vector(theta0)
    gamma, lam = positive(gamma, "gamma"), non_negative(friction, "friction")
    steps = positive_int(steps, "steps")
    eta = torch.zeros_like(theta) if velocity is None else _vector(velocity, "velocity")
    if eta.shape != theta.shape:
        raise ValueError(f"velocity has shape {tuple(eta.shape)}, theta0 {tuple(theta.shape)}")
    half = lam * gamma / 2
    path = [theta]
    for _ in range(steps):
        eta = ((1 - half) * eta - gamma * grad(path[-1])) / (1 + half)
        path.append(path[-1] + gamma * eta)
    return torch.stack(path)


def momentum_descent(grad: Gradient, theta0, lr: float, beta: float, steps: int) -> torch.Tensor:
    """Gradient descent with heavy-ball momentum ``(lr, beta)`` from a zero buffer (as torch.optim.SGD
    with ``momentum=beta``), run as :func:`leapfrog_damped` with :func:`physical_parameters`."""
    return leapfrog_damped(grad, theta0, *physical_parameters(lr, beta), steps)


def damped_quadratic_flow(A, theta0, friction: float, times, velocity0=None) -> torch.Tensor:
    """The exact solution of ``theta'' + friction theta' = -A theta`` from ``(theta0, velocity0)``:
    positions at ``times``, shape ``(len(times), d)``, via the matrix exponential of
    ``[[0, I], [-A, -friction I]]``."""
    theta0 = _vector(theta0)
    d = len(theta0)
    A, t, lam = _spd(A, d), _times(times), non_negative(friction, "friction")
    eta0 = torch.zeros(d, dtype=torch.float64) if velocity0 is None else _vector(velocity0, "velocity0")
    eye = torch.eye(d, dtype=torch.float64)
    M = torch.cat([torch.cat([torch.zeros_like(eye), eye], 1), torch.cat([-A, -lam * eye], 1)], 0)
    state = torch.cat([theta0, eta0])
    return (torch.linalg.matrix_exp(t[:, None, None] * M) @ state)[:, :d]


def rescale_momentum(lr: float, beta: float, r: float, *, exact: bool = False) -> tuple[float, float]:
    """``(r lr, beta')`` keeping the friction ``lambda`` of the underlying ODE. The post's rule uses
    ``beta ~ 1 - lambda gamma`` and ``alpha ~ gamma^2``: ``beta' = 1 - (1 - beta) sqrt(r)``. With
    ``exact=True``, ``gamma'`` solves ``gamma'^2 = r alpha (1 + lambda gamma' / 2)`` and
    ``beta' = (1 - lambda gamma'/2) / (1 + lambda gamma'/2)`` exactly."""
    lr, beta, r = positive(lr, "lr"), _beta(beta), positive(r, "r")
    new_lr = r * lr
    if exact:
        _, lam = physical_parameters(lr, beta)
        b = new_lr * lam / 2
        gamma = (b + math.sqrt(b * b + 4 * new_lr)) / 2
        return new_lr, momentum_coefficients(gamma, lam)[1]
    new_beta = 1 - (1 - beta) * math.sqrt(r)
    if new_beta <= -1:
        raise ValueError(f"the rule gives beta' = {new_beta:g} <= -1 for r = {r:g}: r is too large")
    return new_lr, new_beta


def physical_time_gap(grad: Gradient, theta0, reference: tuple[float, float],
                      other: tuple[float, float], horizon: float) -> float:
    """Run momentum descent with ``reference = (lr, beta)`` and with ``other`` up to physical time
    ``horizon`` (step ``n`` is at time ``n gamma``, ``gamma`` from :func:`physical_parameters`) and
    return ``max_n ||theta_ref(t_n) - theta_other(t_n)||`` over the reference's times, the other
    run interpolated linearly in its own time."""
    horizon = positive(horizon, "horizon")
    runs = []
    for lr, beta in (reference, other):
        gamma, _ = physical_parameters(lr, beta)
        steps = max(1, math.ceil(horizon / gamma))
        runs.append((gamma * np.arange(steps + 1), momentum_descent(grad, theta0, lr, beta, steps).numpy()))
    (t_ref, ref), (t_other, oth) = runs
    keep = t_ref <= horizon + 1e-12
    moved = np.stack([np.interp(t_ref[keep], t_other, oth[:, j]) for j in range(ref.shape[1])], 1)
    return float(np.linalg.norm(ref[keep] - moved, axis=1).max())
