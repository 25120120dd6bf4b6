"""Tests for kexue.optim.dynamics: optimisers as discretised dynamics (post 5655)."""
import math

import numpy as np
import pytest
import scipy.linalg
import sympy as sp
import torch
from scipy import stats
from scipy.integrate import solve_ivp

from kexue.optim import dynamics as D
from kexue.optim import surfaces

F64 = torch.float64


def random_spd(d=3, seed=0, low=0.5, high=6.0):
    """A symmetric positive-definite matrix with eigenvalues in [low, high] and random eigenvectors."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    a = low + (high - low) * torch.rand(d, generator=g, dtype=F64)
    return Q @ torch.diag(a) @ Q.T


def torch_sgd_path(loss, theta0, steps, **sgd):
    """Iterates of torch.optim.SGD on ``loss`` from ``theta0``: an implementation independent of ours."""
    p = torch.nn.Parameter(torch.as_tensor(theta0, dtype=F64).clone())
    opt = torch.optim.SGD([p], **sgd)
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss(p).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


# -- gradient descent is Euler's method ------------------------------------------------------------
def test_one_sgd_step_is_one_euler_step():
    A = random_spd()
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    ours = D.euler_step(D.quadratic_gradient(A), theta, 0.07)
    theirs = torch_sgd_path(lambda p: 0.5 * p @ A @ p, theta, 1, lr=0.07)[1]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-15)


def test_gradient_descent_matches_torch_sgd_on_a_nonlinear_loss():
    rosen = surfaces.get("rosenbrock")
    ours = D.gradient_descent(D.surface_gradient(rosen), rosen.start, 1e-4, 50)
    theirs = torch_sgd_path(rosen, rosen.start, 50, lr=1e-4)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


def test_gradient_descent_is_torchdiffeq_euler():
    """torchdiffeq's fixed-grid Euler solver on theta' = -grad L over the grid t_n = n lr."""
    from torchdiffeq import odeint

    him = surfaces.get("himmelblau")
    grad = D.surface_gradient(him)
    lr, steps = 0.01, 40
    t = lr * torch.arange(steps + 1, dtype=F64)
    theirs = odeint(lambda t, y: -grad(y), torch.tensor(him.start, dtype=F64), t, method="euler")
    torch.testing.assert_close(D.gradient_descent(grad, him.start, lr, steps), theirs,
                               rtol=0, atol=1e-12)


def test_quadratic_flow_is_scipy_expm():
    A = random_spd(4, seed=1)
    theta0 = torch.tensor([1.0, -1.0, 2.0, 0.3], dtype=F64)
    times = [0.0, 0.1, 0.7, 2.5]
    ours = D.quadratic_flow(A, theta0, times)
    for t, row in zip(times, ours):
        np.testing.assert_allclose(row.numpy(), scipy.linalg.expm(-t * A.numpy()) @ theta0.numpy(),
                                   rtol=1e-12, atol=1e-13)


def test_euler_error_is_first_order():
    A, theta0 = random_spd(3, seed=2), torch.tensor([2.0, -1.0, 1.0], dtype=F64)
    lrs = [0.02, 0.01, 0.005, 0.0025, 0.001]
    errors = D.euler_error(A, theta0, 1.0, lrs)
    assert D.loglog_slope(lrs, errors) == pytest.approx(1.0, abs=0.03)
    # error / lr tends to the leading constant; the next term is O(lr), ~ 1% at lr = 0.001 here
    ratio = errors / (np.array(lrs) * D.euler_error_constant(A, theta0, 1.0))
    assert abs(ratio[-1] - 1) < 0.02
    assert abs(ratio[-1] - 1) < abs(ratio[0] - 1) / 5  # and the gap shrinks with lr


def test_euler_error_series_symbolically():
    """log (1 - g a)^(T/g) = -aT - a^2 T g / 2 + O(g^2): the origin of the first-order error."""
    a, T, g = sp.symbols("a T gamma", positive=True)
    series = sp.series(T / g * sp.log(1 - g * a), g, 0, 2).removeO()
    assert sp.simplify(series - (-a * T - a**2 * T * g / 2)) == 0


def test_loglog_slope_recovers_a_power():
    x = np.geomspace(1e-3, 1, 7)
    assert D.loglog_slope(x, 3 * x**2.5) == pytest.approx(2.5, abs=1e-12)


# -- SGD noise and the Langevin equation -------------------------------------------------------------
def test_fokker_planck_flux_vanishes_for_exp_minus_2L_over_sigma2():
    th, sigma = sp.symbols("theta sigma", positive=True)
    L = sp.Function("L")(th)
    flux = lambda p: -p * L.diff(th) - sigma**2 / 2 * p.diff(th)  # noqa: E731
    assert sp.simplify(flux(sp.exp(-2 * L / sigma**2))) == 0
    assert sp.simplify(flux(sp.exp(-L / sigma**2))) != 0  # the factor 2 matters


def test_sde_noise_variance_matches_increment_variance():
    """lr * s * z has the variance of sigma (W(t + lr) - W(t)) exactly when sigma^2 = lr s^2."""
    lr, s = 0.03, 2.5
    assert (lr * s) ** 2 == pytest.approx(D.sde_noise_variance(lr, s) * lr, rel=1e-14)


def test_stationary_density_is_normalised_and_matches_quad():
    from scipy.integrate import quad

    sigma2 = 0.3
    grid = np.linspace(-4, 4, 4001)
    p = D.stationary_density(D.double_well, sigma2, grid)
    Z = quad(lambda x: math.exp(-2 * D.double_well(x) / sigma2), -np.inf, np.inf)[0]
    i = np.searchsorted(grid, 0.5)
    assert p[i] == pytest.approx(math.exp(-2 * D.double_well(grid[i]) / sigma2) / Z, rel=1e-6)
    assert D.stationary_cdf(D.double_well, sigma2, grid)(0.0) == pytest.approx(
        quad(lambda x: math.exp(-2 * D.double_well(x) / sigma2), -np.inf, 0)[0] / Z, rel=1e-6)


def test_noisy_gd_on_a_double_well_samples_exp_minus_2L_over_sigma2():
    """4000 independent chains of noisy GD started in the shallow well; their final states are
    i.i.d., so a Kolmogorov-Smirnov test applies. The critical value at level 1e-3 is
    1.95 / sqrt(4000) = 0.031. The chain's own O(lr) bias (0.004 in KS distance at lr = 0.02, by
    a transfer-operator computation) and the unrelaxed remainder after 80 time units (about 5.5
    relaxation times of ~14) are well inside it."""
    lr, sigma2 = 0.02, 0.25
    snaps = D.noisy_gradient_descent(D.double_well_gradient, [1.0], lr, math.sqrt(sigma2 / lr), 4000,
                                     chains=4000, generator=torch.Generator().manual_seed(0))
    x = snaps[-1, :, 0].numpy()
    grid = np.linspace(-4, 4, 8001)
    critical = stats.kstwo.ppf(1 - 1e-3, len(x))
    assert stats.kstest(x, D.stationary_cdf(D.double_well, sigma2, grid)).statistic < critical
    # the density without the factor 2, exp(-L / sigma^2), is rejected by a wide margin
    assert stats.kstest(x, D.stationary_cdf(D.double_well, 2 * sigma2, grid)).statistic > 3 * critical


def test_noisy_gd_records_snapshots_and_is_reproducible():
    run = lambda: D.noisy_gradient_descent(lambda th: th, [0.0, 1.0], 0.1, 1.0, 10, chains=3,  # noqa: E731
                                           record_every=5, generator=torch.Generator().manual_seed(4))
    a, b = run(), run()
    assert a.shape == (3, 3, 2)
    torch.testing.assert_close(a[0], torch.tensor([[0.0, 1.0]] * 3, dtype=F64))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ar1_stationary_variance_symbolically():
    v, g, a, s = sp.symbols("v gamma a s", positive=True)
    (sol,) = sp.solve(sp.Eq(v, (1 - g * a) ** 2 * v + g**2 * s**2), v)
    assert sp.simplify(sol - g * s**2 / (a * (2 - g * a))) == 0
    assert D.quadratic_stationary_variance(2.0, 0.3, 1.5) == pytest.approx(
        float(sol.subs({a: 2.0, g: 0.3, s: 1.5})), rel=1e-14)
    # to first order in gamma it is the Langevin variance sigma^2 / (2a) with sigma^2 = gamma s^2
    assert sp.simplify(sp.series(sol, g, 0, 2).removeO() - g * s**2 / (2 * a)) == 0


@pytest.mark.parametrize("lr", [0.5, 0.02])
def test_noisy_gd_on_a_quadratic_has_the_ar1_variance(lr):
    """20000 i.i.d. final states: the sample variance has relative standard error sqrt(2/n) = 1%
    (Gaussian chain), the mean standard error sqrt(v/n). Runs are long enough that the start
    (theta = 0, variance 0) is forgotten: (1 - lr)^(2 steps) < 1e-8."""
    n, steps = 20000, (30 if lr == 0.5 else 500)
    x = D.noisy_gradient_descent(lambda th: th, [0.0], lr, 1.0, steps, chains=n,
                                 generator=torch.Generator().manual_seed(1))[-1, :, 0].numpy()
    exact = D.quadratic_stationary_variance(1.0, lr, 1.0)
    se = exact * math.sqrt(2 / n)
    assert abs(x.var() - exact) < 5 * se
    assert abs(x.mean()) < 5 * math.sqrt(exact / n)
    sde = D.sde_noise_variance(lr, 1.0) / 2  # sigma^2 / (2a)
    if lr == 0.5:  # the chain is 1 / (1 - lr a / 2) = 4/3 times the SDE's variance: visible
        assert abs(x.var() - sde) > 20 * se
    else:  # 1.0101 times: within the sampling error
        assert abs(x.var() - sde) < 5 * se


def test_minibatch_sgd_variance_is_lr_times_gradient_variance_over_batch():
    """Real minibatch SGD on the mean-estimation loss: stationary variance lr (Var x / B) / (2 - lr),
    for B = 1 and 8, checked within 5 standard errors estimated from the samples themselves."""
    data = 2 * torch.randn(500, 1, generator=torch.Generator().manual_seed(3), dtype=F64) + 1
    var = float(data.var(unbiased=False))
    for B in (1, 8):
        x = D.minibatch_sgd_mean(data, 0.1, B, 150, chains=3000,
                                 generator=torch.Generator().manual_seed(B))[:, 0].numpy()
        sq = (x - float(data.mean())) ** 2
        exact = D.quadratic_stationary_variance(1.0, 0.1, math.sqrt(var / B))
        assert abs(sq.mean() - exact) < 5 * sq.std() / math.sqrt(len(sq))


def test_ar2_stationary_variance_symbolically():
    """Yule-Walker for theta_{n+1} = phi1 theta_n + phi2 theta_{n-1} - lr s z_n."""
    g0, g1, g2, a, lr, s, b = sp.symbols("g0 g1 g2 a alpha s beta", positive=True)
    phi1, phi2 = 1 + b - lr * a, -b
    sol = sp.solve([sp.Eq(g0, phi1 * g1 + phi2 * g2 + lr**2 * s**2), sp.Eq(g1, phi1 * g0 + phi2 * g1),
                    sp.Eq(g2, phi1 * g1 + phi2 * g0)], [g0, g1, g2], dict=True)[0]
    formula = lr * s**2 * (1 + b) / (a * (1 - b) * (2 * (1 + b) - lr * a))
    assert sp.simplify(sol[g0] - formula) == 0
    assert D.quadratic_stationary_variance(2.0, 0.1, 1.5, beta=0.7) == pytest.approx(
        float(formula.subs({a: 2.0, lr: 0.1, s: 1.5, b: 0.7})), rel=1e-14)
    # small steps: lr s^2 / (2 a (1 - beta)), the momentum "temperature" of exercise 2
    eps = sp.Symbol("epsilon", positive=True)
    leading = sp.limit(formula.subs(lr, eps) / eps, eps, 0)
    assert sp.simplify(leading - s**2 / (2 * a * (1 - b))) == 0


def test_noisy_torch_sgd_momentum_has_the_ar2_variance():
    """torch.optim.SGD(momentum) on 10000 independent 1-D quadratics with Gaussian noise added to
    each gradient: an implementation independent of ours. The sample variance has relative standard
    error sqrt(2/n) = 1.4%; 150 steps forget the start by e^-30."""
    lr, beta, s, n = 0.2, 0.8, 1.0, 10000
    g = torch.Generator().manual_seed(7)
    p = torch.nn.Parameter(torch.zeros(n, dtype=F64))
    opt = torch.optim.SGD([p], lr=lr, momentum=beta)
    for _ in range(150):
        opt.zero_grad()
        (0.5 * p * p).sum().backward()
        p.grad += s * torch.randn(n, generator=g, dtype=F64)
        opt.step()
    exact = D.quadratic_stationary_variance(1.0, lr, s, beta=beta)
    assert abs(float(p.detach().var()) - exact) < 5 * exact * math.sqrt(2 / n)


# -- momentum is leapfrog for a damped oscillator --------------------------------------------------
def test_leapfrog_gives_the_heavy_ball_coefficients_symbolically():
    g, lam = sp.symbols("gamma lambda", positive=True)
    eta_prev, eta_next, grad = sp.symbols("eta_prev eta_next g")
    scheme = sp.Eq((eta_next - eta_prev) / g, -lam * (eta_next + eta_prev) / 2 - grad)
    (solved,) = sp.solve(scheme, eta_next)
    v_next = sp.expand(g * solved)  # v_{n+1} = gamma eta_{n+1/2}, v_n = gamma eta_{n-1/2}
    beta = sp.simplify(v_next.coeff(eta_prev) / g)
    alpha = sp.simplify(-v_next.coeff(grad))
    assert sp.simplify(beta - (1 - lam * g / 2) / (1 + lam * g / 2)) == 0
    assert sp.simplify(alpha - g**2 / (1 + lam * g / 2)) == 0
    at = {g: 0.3, lam: 1.7}
    assert D.momentum_coefficients(0.3, 1.7) == pytest.approx(
        (float(alpha.subs(at)), float(beta.subs(at))), rel=1e-14)


def test_physical_parameters_invert_momentum_coefficients():
    for gamma, lam in [(0.1, 1.0), (0.5, 0.2), (0.03, 20.0), (0.2, 0.0)]:
        assert D.physical_parameters(*D.momentum_coefficients(gamma, lam)) == pytest.approx(
            (gamma, lam), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("lr,beta", [(0.01, 0.9), (0.05, 0.5), (0.002, 0.99), (0.04, 0.0)])
def test_leapfrog_equals_torch_sgd_momentum_step_by_step(lr, beta):
    rosen = surfaces.get("rosenbrock")
    q = surfaces.get("quadratic")
    for surface, scale in ((q, 1.0), (rosen, 0.01)):
        gamma, lam = D.physical_parameters(lr * scale, beta)
        ours = D.leapfrog_damped(D.surface_gradient(surface), surface.start, gamma, lam, 200)
        theirs = torch_sgd_path(surface, surface.start, 200, lr=lr * scale, momentum=beta)
        assert bool(torch.isfinite(ours).all())
        assert float((ours - theirs).abs().max()) < 1e-10


def test_damped_quadratic_flow_matches_solve_ivp():
    A, lam = random_spd(3, seed=5), 0.8
    theta0, eta0 = np.array([1.0, 0.0, -2.0]), np.array([0.5, 0.2, 0.0])
    times = np.array([0.0, 0.5, 1.7, 4.0])
    sol = solve_ivp(lambda t, y: np.concatenate([y[3:], -lam * y[3:] - A.numpy() @ y[:3]]),
                    (0, 4), np.concatenate([theta0, eta0]), t_eval=times, rtol=1e-12, atol=1e-12)
    ours = D.damped_quadratic_flow(A, theta0, lam, times, velocity0=eta0).numpy()
    np.testing.assert_allclose(ours, sol.y[:3].T, atol=1e-9)


def test_leapfrog_order_depends_on_the_start():
    """From torch's empty buffer (eta_{-1/2} = 0) the error is first order; started at
    eta(-gamma/2) to O(gamma^2), leapfrog is second order, as the post says."""
    A = torch.diag(torch.tensor([1.0, 20.0], dtype=F64))
    theta0, lam, T = torch.tensor([-4.0, 1.5], dtype=F64), 1.0, 4.0
    grad = D.quadratic_gradient(A)
    exact = D.damped_quadratic_flow(A, theta0, lam, [T])[0]
    gammas = [0.1, 0.05, 0.025, 0.0125]
    errors = {"zero": [], "half-step": []}
    for g in gammas:
        starts = {"zero": None, "half-step": D.half_step_velocity(grad, theta0, g, lam)}
        for name, v in starts.items():
            path = D.leapfrog_damped(grad, theta0, g, lam, round(T / g), velocity=v)
            errors[name].append(float(torch.linalg.norm(path[-1] - exact)))
    assert D.loglog_slope(gammas, errors["zero"]) == pytest.approx(1.0, abs=0.25)
    assert D.loglog_slope(gammas, errors["half-step"]) == pytest.approx(2.0, abs=0.1)


def test_momentum_descent_beta_zero_is_gradient_descent():
    q = surfaces.get("quadratic")
    grad = D.surface_gradient(q)
    torch.testing.assert_close(D.momentum_descent(grad, q.start, 0.03, 0.0, 30),
                               D.gradient_descent(grad, q.start, 0.03, 30), rtol=0, atol=1e-13)


def test_gd_at_the_stability_edge_and_momentum_past_it():
    """On diag(1, 20), lr = 0.1 puts GD exactly on its edge lr * 20 = 2 (theta_2 flips sign for
    ever), while heavy ball is stable for lr * 20 < 2 (1 + beta)."""
    q = surfaces.get("quadratic", kappa=20.0)
    grad = D.surface_gradient(q)
    gd = D.gradient_descent(grad, q.start, 0.1, 200)
    assert float(gd[-1, 1].abs()) == pytest.approx(abs(q.start[1]), rel=1e-9)
    hb = D.momentum_descent(grad, q.start, 0.1, 0.5, 200)
    assert float(torch.linalg.norm(hb[-1])) < 1e-6


def test_modified_loss_of_gradient_descent_symbolically():
    """GD with step g follows the flow of L + (g/4)|L'|^2 to O(g^2) per unit time (exercise 3)."""
    g, a = sp.symbols("gamma a", positive=True)
    rate_gd = sp.log(1 - g * a) / g                 # per unit time: (1 - g a)^(t/g) = e^{rate t}
    rate_modified = -a * (1 + g * a / 2)            # L~ = a th^2/2 + (g/4) a^2 th^2
    assert sp.simplify(sp.series(rate_gd - rate_modified, g, 0, 2).removeO()) == 0


# -- rescaling beta with the learning rate -----------------------------------------------------------
def test_rescale_rule_is_the_first_order_exact_rescaling():
    """The rule and the exact fixed-friction beta' differ at second order in (1 - beta)."""
    gaps = []
    one_minus = [0.1, 0.03, 0.01, 0.003]
    for om in one_minus:
        rule = D.rescale_momentum(0.01, 1 - om, 0.25)
        exact = D.rescale_momentum(0.01, 1 - om, 0.25, exact=True)
        assert rule[0] == exact[0] == pytest.approx(0.0025)
        gaps.append(abs(rule[1] - exact[1]))
    assert D.loglog_slope(one_minus, gaps) == pytest.approx(2.0, abs=0.1)
    # and the exact one keeps lambda
    assert D.physical_parameters(*exact)[1] == pytest.approx(D.physical_parameters(0.01, 0.997)[1],
                                                             rel=1e-12)


def test_rescale_rule_symbolically():
    """beta = 1 - lam g + O(g^2), alpha = g^2 + O(g^3): fixing lam, g -> sqrt(r) g gives the rule."""
    g, lam, r = sp.symbols("gamma lambda r", positive=True)
    beta = (1 - lam * g / 2) / (1 + lam * g / 2)
    assert sp.simplify(sp.series(beta, g, 0, 2).removeO() - (1 - lam * g)) == 0
    beta_new = sp.series(beta.subs(g, sp.sqrt(r) * g), g, 0, 2).removeO()
    assert sp.simplify(beta_new - (1 - (1 - (1 - lam * g)) * sp.sqrt(r))) == 0


def test_rescaled_beta_keeps_the_trajectory_in_physical_time():
    q = surfaces.get("quadratic")
    grad = D.surface_gradient(q)
    gaps = {}
    for lr in (0.01, 0.001):
        ref = (lr, 0.9)
        gaps[lr] = (D.physical_time_gap(grad, q.start, ref, D.rescale_momentum(lr, 0.9, 0.25), 10.0),
                    D.physical_time_gap(grad, q.start, ref, (0.25 * lr, 0.9), 10.0))
    for lr, (rule, same_beta) in gaps.items():
        assert rule < same_beta / 5
        assert same_beta > 0.2 * np.hypot(*q.start)  # unchanged beta changes the dynamics: O(1)
    # the rule's gap is discretisation error, O(gamma) = O(sqrt(lr)): 10x smaller lr, ~3x smaller gap
    assert gaps[0.001][0] < gaps[0.01][0] / 2.5

# -- bad input ---------------------------------------------------------------------------------------
def test_bad_input_is_refused():
    grad = D.quadratic_gradient(torch.eye(2, dtype=F64))
    with pytest.raises(ValueError, match="lr must be positive"):
        D.gradient_descent(grad, [1.0, 2.0], -0.1, 3)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        D.gradient_descent(grad, [1.0, 2.0], 0.1, 0)
    with pytest.raises(TypeError, match="grad must be a callable"):
        D.gradient_descent("not a function", [1.0], 0.1, 3)
    with pytest.raises(ValueError, match="theta0 must be 1-D"):
        D.gradient_descent(grad, torch.zeros(2, 2, dtype=F64), 0.1, 3)
    with pytest.raises(ValueError, match="theta0 must be finite"):
        D.gradient_descent(grad, [float("nan"), 1.0], 0.1, 3)
    with pytest.raises(ValueError, match="A must be symmetric"):
        D.quadratic_flow(torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=F64), [1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="positive definite"):
        D.quadratic_gradient(torch.diag(torch.tensor([1.0, -1.0], dtype=F64)))
    with pytest.raises(ValueError, match="A is 2 x 2 but theta0 has 3"):
        D.quadratic_flow(torch.eye(2, dtype=F64), [1.0, 1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="times must be >= 0"):
        D.quadratic_flow(torch.eye(2, dtype=F64), [1.0, 1.0], [-1.0])
    with pytest.raises(ValueError, match="not a whole number of steps"):
        D.euler_error(torch.eye(2, dtype=F64), [1.0, 1.0], 1.0, [0.3])
    with pytest.raises(ValueError, match="finite and positive"):
        D.loglog_slope([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="noise_std must be positive"):
        D.noisy_gradient_descent(grad, [1.0, 2.0], 0.1, 0.0, 3)
    with pytest.raises(ValueError, match="increasing 1-D"):
        D.stationary_density(D.double_well, 0.2, [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="diverges"):
        D.quadratic_stationary_variance(10.0, 0.3, 1.0)
    with pytest.raises(ValueError, match="no friction"):
        D.quadratic_stationary_variance(1.0, 0.1, 1.0, beta=1.0)
    with pytest.raises(ValueError, match="data have 1 columns"):
        D.minibatch_sgd_mean(torch.zeros(5, 1, dtype=F64), 0.1, 2, 3, theta0=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"beta must lie in \(-1, 1\]"):
        D.physical_parameters(0.01, 1.5)
    with pytest.raises(ValueError, match="friction must be >= 0"):
        D.momentum_coefficients(0.1, -1.0)
    with pytest.raises(ValueError, match="friction must be >= 0"):
        D.leapfrog_damped(grad, [1.0, 2.0], 0.1, -0.5, 3)
    with pytest.raises(TypeError, match="expected a kexue.optim.surfaces.Surface"):
        D.surface_gradient("rosenbrock")
    with pytest.raises(ValueError, match="velocity has shape"):
        D.leapfrog_damped(grad, [1.0, 2.0], 0.1, 1.0, 3, velocity=[0.0])
    with pytest.raises(ValueError, match="r is too large"):
        D.rescale_momentum(0.01, 0.5, 16.0)
    with pytest.raises(ValueError, match="r must be positive"):
        D.rescale_momentum(0.01, 0.5, 0.0)
    with pytest.raises(TypeError, match="only numbers"):
        D.gradient_descent(grad, ["a", 1.0], 0.1, 3)


def test_the_chapter_double_well_relaxes_to_within_two_binomial_errors_by_t_80():
    """gradient-descent-euler: 5000 chains (seed 0) from the shallow well, lr 0.02, sigma^2 0.25,
    4000 steps: the share left of the barrier at t = 80 is within two binomial standard errors of
    the stationary mass there (what the chapter's prose says of its table)."""
    lr, sigma2, chains = 0.02, 0.25, 5000
    snaps = D.noisy_gradient_descent(D.double_well_gradient, [1.0], lr, math.sqrt(sigma2 / lr), 4000,
                                     chains=chains, record_every=50,
                                     generator=torch.Generator().manual_seed(0))
    left = float(D.stationary_cdf(D.double_well, sigma2, np.linspace(-4, 4, 8001))(0.1))
    share = float((snaps[-1, :, 0] < 0.1).double().mean())
    se = math.sqrt(left * (1 - left) / chains)
    assert abs(share - left) < 2 * se and abs(share - left) < 0.01
