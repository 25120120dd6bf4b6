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


# -- figures -----------------------------------------------------------------------------------------
def _contours(ax, surface, n: int = 160) -> None:
    X, Y, Z = surface.grid(n)
    ax.contour(X, Y, Z, levels=np.geomspace(max(Z.min(), 1e-3) + 1e-2, Z.max(), 14), colors="0.75",
               linewidths=0.7)
    for m in surface.minima:
        ax.plot(*m, "k*", ms=8)
    ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel=r"$\theta_1$", ylabel=r"$\theta_2$")


def plot_gd_vs_flow(fig, kappa: float = 20.0, lrs=(0.01, 0.05, 0.09), horizon: float = 3.0) -> None:
    """Left: gradient-descent iterates for several learning rates and the exact flow
    ``exp(-tA) theta_0`` on the ill-conditioned quadratic ``A = diag(1, kappa)``.
    Right: the gap ``||theta_n - theta(n lr)||`` against time."""
    from . import surfaces

    surface = surfaces.get("quadratic", kappa=kappa)
    A = torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64))
    ax1, ax2 = fig.subplots(1, 2)
    _contours(ax1, surface)
    t = np.linspace(0, horizon, 400)
    flow = quadratic_flow(A, surface.start, t).numpy()
    ax1.plot(flow[:, 0], flow[:, 1], "k", lw=1.2, zorder=5, label="exact flow")
    for i, lr in enumerate(lrs):
        n = math.ceil(horizon / lr)
        path = gradient_descent(surface_gradient(surface), surface.start, lr, n).numpy()
        ax1.plot(path[:, 0], path[:, 1], "o-", color=f"C{i}", ms=2.5, lw=0.8,
                 label=fr"GD, $\gamma = {lr:g}$ ($\gamma\kappa = {lr * kappa:.2g}$)")
        exact = quadratic_flow(A, surface.start, lr * np.arange(n + 1)).numpy()
        ax2.plot(lr * np.arange(n + 1), np.linalg.norm(path - exact, axis=1), color=f"C{i}",
                 label=fr"$\gamma = {lr:g}$")
    ax1.set_title(f"gradient descent and the gradient flow (κ = {kappa:g})")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.set(xlabel=r"time $t = n\gamma$", ylabel=r"$\|\theta_n - \theta(n\gamma)\|$",
            title="distance from the exact flow")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()


def plot_euler_error(fig, lrs, errors, constant: float | None = None) -> None:
    """Error after ``T / lr`` steps against ``lr`` (log-log) with the fitted slope, and the
    leading-order line ``constant * lr`` when given."""
    lrs, errors = np.asarray(lrs, float), np.asarray(errors, float)
    ax = fig.add_subplot(1, 1, 1)
    ax.loglog(lrs, errors, "o", color="C0", label="measured")
    slope = loglog_slope(lrs, errors)
    coef = np.polyfit(np.log(lrs), np.log(errors), 1)
    ax.loglog(lrs, np.exp(np.polyval(coef, np.log(lrs))), "C0-", lw=1,
              label=f"least-squares fit, slope {slope:.3f}")
    if constant is not None:
        ax.loglog(lrs, constant * lrs, "k--", lw=1, label=r"leading term $C\gamma$")
    ax.set(xlabel=r"learning rate (step) $\gamma$", ylabel=r"$\|\theta_{T/\gamma} - \theta(T)\|$",
           title="gradient descent is first order")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()


def plot_langevin(fig, snapshots, times, loss: Callable, sigma2: float, lo: float = -2.2,
                  hi: float = 2.2, traces: int = 4) -> None:
    """Left: a few noisy-GD chains over time, hopping between the wells. Right: the histogram of
    the final states of all chains against ``exp(-2L/sigma^2)`` (and the density with the
    factor 2 left out, dashed)."""
    snapshots = np.asarray(snapshots)[..., 0]
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    for i in range(min(traces, snapshots.shape[1])):
        ax1.plot(times, snapshots[:, i], lw=0.6)
    ax1.set(xlabel=r"time $t = n\gamma$", ylabel=r"$\theta$", ylim=(lo, hi),
            title=f"{min(traces, snapshots.shape[1])} of {snapshots.shape[1]} noisy-GD chains")
    ax1.grid(alpha=0.3)
    grid = np.linspace(lo, hi, 801)
    ax2.hist(snapshots[-1], bins=60, range=(lo, hi), density=True, color="C0", alpha=0.45,
             label="final states")
    ax2.plot(grid, stationary_density(loss, sigma2, grid), "k", lw=1.5,
             label=r"$\propto e^{-2L/\sigma^2}$")
    ax2.plot(grid, stationary_density(loss, 2 * sigma2, grid), "C3--", lw=1,
             label=r"$\propto e^{-L/\sigma^2}$")
    energy = loss(grid)
    twin = ax2.twinx()
    twin.plot(grid, energy, color="0.5", lw=0.8)
    twin.set_ylabel(r"$L(\theta)$ (grey)", color="0.4")
    ax2.set(xlabel=r"$\theta$", ylabel="density", title=fr"stationary density, $\sigma^2 = {sigma2:g}$")
    ax2.legend(fontsize=8, loc="upper center")
    fig.tight_layout()


def plot_momentum(fig, lr: float = 0.01, beta: float = 0.9, kappa: float = 20.0, steps: int = 120
                  ) -> None:
    """On the quadratic ``diag(1, kappa)``: plain GD and heavy ball with the same learning rate, and
    the exact damped oscillator the heavy ball discretises. Left: paths. Right: distance to the
    minimum against the step (the oscillator against ``t / gamma``)."""
    from . import surfaces

    surface = surfaces.get("quadratic", kappa=kappa)
    grad = surface_gradient(surface)
    A = torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64))
    gamma, lam = physical_parameters(lr, beta)
    ax1, ax2 = fig.subplots(1, 2)
    _contours(ax1, surface)
    gd = gradient_descent(grad, surface.start, lr, steps).numpy()
    hb = momentum_descent(grad, surface.start, lr, beta, steps).numpy()
    t = np.linspace(0, steps * gamma, 600)
    ode = damped_quadratic_flow(A, surface.start, lam, t).numpy()
    ode_label = fr"$\ddot\theta + {lam:.2f}\,\dot\theta = -\nabla L$"
    ax1.plot(ode[:, 0], ode[:, 1], "k", lw=1.5, label=ode_label)
    ax1.plot(hb[:, 0], hb[:, 1], "o", color="C1", ms=2.5,
             label=fr"momentum, $\alpha = {lr:g}$, $\beta = {beta:g}$")
    ax1.plot(gd[:, 0], gd[:, 1], "o-", color="C0", ms=2.5, lw=0.8, label=fr"GD, $\gamma = {lr:g}$")
    ax1.set_title(f"{steps} steps each (κ = {kappa:g})")
    ax1.legend(fontsize=7, loc="lower right")
    n = np.arange(steps + 1)
    ax2.semilogy(t / gamma, np.linalg.norm(ode, axis=1), "k", lw=1, label=r"oscillator at $t = n\gamma$")
    ax2.semilogy(n, np.linalg.norm(hb, axis=1), "o", color="C1", ms=2.5, label="momentum")
    ax2.semilogy(n, np.linalg.norm(gd, axis=1), color="C0", label="GD")
    ax2.set(xlabel="step n", ylabel=r"$\|\theta_n\|$", title="distance to the minimum")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()


def plot_rescaling(fig, lr: float = 0.01, beta: float = 0.9, r: float = 0.25, kappa: float = 20.0,
                   horizon: float = 12.0) -> None:
    """``|theta_1|`` against physical time on the quadratic ``diag(1, kappa)`` for heavy ball
    ``(lr, beta)``, ``(r lr, 1 - (1 - beta) sqrt(r))`` and ``(r lr, beta)``, with the damped
    oscillator of the first as a thin line."""
    from . import surfaces

    surface = surfaces.get("quadratic", kappa=kappa)
    grad = surface_gradient(surface)
    A = torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64))
    ax = fig.add_subplot(1, 1, 1)
    t = np.linspace(0, horizon, 800)
    _, lam = physical_parameters(lr, beta)
    ax.plot(t, np.abs(damped_quadratic_flow(A, surface.start, lam, t).numpy()[:, 0]), color="0.6",
            lw=3, alpha=0.5, label=fr"oscillator, $\lambda = {lam:.3f}$")
    new_lr, new_beta = rescale_momentum(lr, beta, r)
    runs = [((lr, beta), "C1", "-", "reference"), ((new_lr, new_beta), "C2", "--", "rescaled β (rule)"),
            ((new_lr, beta), "C3", ":", "same β")]
    for (a, b), color, ls, what in runs:
        g, _ = physical_parameters(a, b)
        n = math.ceil(horizon / g)
        path = momentum_descent(grad, surface.start, a, b, n).numpy()
        ax.plot(g * np.arange(n + 1), np.abs(path[:, 0]), color=color, ls=ls,
                label=fr"{what}: $\alpha = {a:g}$, $\beta = {b:.4g}$")
    ax.set(yscale="log", ylim=(3e-4, 10), xlabel=r"physical time $t = n\gamma$",
           ylabel=r"$|\theta_1|$", title=fr"learning rate $\times\,{r:g}$: does the trajectory survive?")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()


EXPLORER_LRS = (0.01, 0.03, 0.06, 0.1)
EXPLORER_BETAS = (0.0, 0.5, 0.7, 0.9, 0.95, 0.98)


def draw_momentum_explorer(fig, lr: float, beta: float, kappa: float = 20.0, steps: int = 80) -> None:
    """The widget's frame: heavy ball ``(lr, beta)`` and plain GD with the same ``lr`` on the
    quadratic ``diag(1, kappa)``: paths (left) and loss against step (right). Plain-text labels
    (no mathtext) keep each frame fast to draw."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from . import surfaces

    lr, beta = positive(lr, "lr"), _beta(beta)
    surface = surfaces.get("quadratic", kappa=kappa)
    grad = surface_gradient(surface)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.88, wspace=0.25)
    _contours(ax1, surface, n=100)
    ax1.set(xlabel="θ₁", ylabel="θ₂")
    runs = [(momentum_descent(grad, surface.start, lr, beta, steps), "C1", f"momentum, β = {beta:g}"),
            (gradient_descent(grad, surface.start, lr, steps), "C0", "GD")]
    for path, color, label in runs:
        p = path.numpy()
        shown = np.clip(p, [surface.xlim[0], surface.ylim[0]], [surface.xlim[1], surface.ylim[1]])
        ax1.plot(shown[:, 0], shown[:, 1], "o-", color=color, ms=2, lw=0.7, label=label)
        loss = surface.value(p[:, 0], p[:, 1])
        ax2.semilogy(np.arange(steps + 1), np.clip(loss, 1e-10, 1e3), color=color, label=label)
    ax1.set_title(f"α = {lr:g}, β = {beta:g}: {steps} steps (κ = {kappa:g})")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.yaxis.set_major_locator(FixedLocator([1e-9, 1e-6, 1e-3, 1.0, 1e3]))
    ax2.yaxis.set_minor_locator(NullLocator())
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{round(math.log10(v))}"))
    ax2.set(xlabel="step", ylabel="loss", ylim=(1e-10, 1e3), title="loss (clipped to the plot)")
    ax2.grid(alpha=0.3)


def explorer():
    """A :class:`kexue.widgets.SliderFigure` over the learning rate and beta (24 frames)."""
    from ..widgets import Slider, SliderFigure

    return SliderFigure(draw_momentum_explorer,
                        [Slider("lr", values=EXPLORER_LRS, value=0.03, description="learning rate α"),
                         Slider("beta", values=EXPLORER_BETAS, value=0.9, description="momentum β")],
                        figsize=(8.5, 3.4), title="Momentum on an ill-conditioned quadratic")
