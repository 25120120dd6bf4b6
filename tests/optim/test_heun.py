"""Tests for kexue.optim.heun: the Heun optimiser against a hand-written float64 Heun step, its
order of accuracy against the exact gradient flow of a quadratic (scipy.linalg.expm), its
amplification factors, the comparison with two gradient-descent steps, the closure trainer, and
refusals of bad input. (The MNIST comparison is tested in test_experiments.py, the figures in
test_figures.py.)"""
import numpy as np
import pytest
import scipy.linalg
import torch

from kexue import train
from kexue.classifier import classification_loss, mlp
from kexue.optim import heun, surfaces
from kexue.optim.dynamics import loglog_slope

F64 = torch.float64


def spd(n=4, seed=0, eigenvalues=(0.5, 1.0, 2.0, 3.0)):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q @ np.diag(eigenvalues[:n]) @ Q.T, rng.standard_normal(n)


def closure_for(opt, loss_fn):
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau"])
def test_heun_matches_a_hand_written_float64_step(name):
    """Autograd through the optimiser vs the formula written out with the closed-form gradient."""
    surface = surfaces.get(name)
    lr = 1e-3 if name == "rosenbrock" else 1e-2
    p = torch.tensor(surface.start, dtype=F64, requires_grad=True)
    opt = heun.Heun([p], lr=lr)
    closure = closure_for(opt, lambda: surface(p))
    q = np.array(surface.start)
    grad = lambda v: np.array(surface.gradient(*v))  # noqa: E731
    for _ in range(25):
        opt.step(closure)
        q_trial = q - lr * grad(q)
        q = q - lr / 2 * (grad(q) + grad(q_trial))
        np.testing.assert_allclose(p.detach().numpy(), q, rtol=1e-13, atol=1e-13)
    assert np.linalg.norm(q - np.array(surface.start)) > 0.05  # it went somewhere


@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau"])
def test_numpy_paths_are_the_optimisers_paths(name):
    surface = surfaces.get(name)
    lr = 1e-3 if name == "rosenbrock" else 1e-2
    for path_fn, make in ((heun.heun_path, lambda ps: heun.Heun(ps, lr=lr)),
                          (heun.euler_path, lambda ps: torch.optim.SGD(ps, lr=lr))):
        path = path_fn(surface.gradient, surface.start, lr, 15)
        p = torch.tensor(surface.start, dtype=F64, requires_grad=True)
        opt = make([p])
        closure = closure_for(opt, lambda: surface(p))
        points = [p.detach().clone()]
        for _ in range(15):
            opt.step(closure)
            points.append(p.detach().clone())
        np.testing.assert_allclose(torch.stack(points).numpy(), path, rtol=1e-12, atol=1e-12)


def test_step_evaluates_twice_and_returns_the_starting_loss():
    p = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    opt = heun.Heun([p], lr=0.1)
    seen = []

    def closure():
        loss = (p ** 2).sum()
        seen.append(float(loss.detach()))
        loss.backward()   # no zero_grad here: the optimiser clears gradients before each call
        return loss

    assert float(opt.step(closure).detach()) == 5.0
    assert seen == [5.0, pytest.approx(5.0 * 0.8 ** 2)]
    # L = |p|^2: g = 2p, trial 0.8 p, step p - 0.05 (2p + 1.6p) = 0.82 p
    torch.testing.assert_close(p.detach(), torch.tensor([0.82, -1.64], dtype=F64))
    with pytest.raises(ValueError, match="step\\(closure\\)"):
        opt.step()


def test_heun_is_gradient_descent_with_a_curvature_damped_step():
    """On a quadratic g(p~) - g(p) = -lr A g exactly, so a Heun step is p - lr (I - lr A / 2) A p."""
    A, x0 = spd()
    lr = 0.3
    x1 = heun.integrate_quadratic(A, x0, lr, 1, "heun")
    I = np.eye(len(x0))
    np.testing.assert_allclose(x1, x0 - lr * (I - lr * A / 2) @ A @ x0, rtol=0, atol=1e-14)


def test_one_step_error_is_third_order_and_global_error_second_order():
    """Against expm: local slopes 3 (Heun) and 2 (Euler), global slopes 2 and 1. The step sizes
    are small enough for the leading term to dominate (the fits are within 0.1 of the orders)."""
    A, x0 = spd()
    lrs = np.logspace(-3, -1, 7)
    counts = [10, 20, 40, 80, 160]
    for method, order in (("heun", 2), ("euler", 1)):
        local = heun.local_errors(A, x0, lrs, method)
        assert loglog_slope(lrs, local) == pytest.approx(order + 1, abs=0.1)
        glrs, glob = heun.global_errors(A, x0, 1.0, counts, method)
        assert loglog_slope(glrs, glob) == pytest.approx(order, abs=0.1)


def test_local_error_constant_is_a_cubed_over_six():
    """x1 - expm(-A lr) x0 = (lr A)^3 x0 / 6 + O(lr^4) for Heun (the Taylor series of expm)."""
    A, x0 = spd()
    lr = 1e-3
    err = heun.integrate_quadratic(A, x0, lr, 1, "heun") - scipy.linalg.expm(-A * lr) @ x0
    leading = np.linalg.matrix_power(lr * A, 3) @ x0 / 6
    assert np.linalg.norm(err - leading) < 1e-2 * np.linalg.norm(leading)


@pytest.mark.parametrize("curvature", [0.1, 1.0, 3.0, 7.5])
def test_amplification_factors_are_what_the_optimisers_do(curvature):
    lr = 0.2
    for method in ("euler", "heun"):
        x1 = heun.integrate_quadratic(np.array([[curvature]]), [1.0], lr, 1, method)
        assert x1[0] == pytest.approx(float(heun.amplification(method, -lr * curvature)), rel=1e-13)
    x2 = heun.integrate_quadratic(np.array([[curvature]]), [1.0], lr, 2, "euler")
    assert x2[0] == pytest.approx(float(heun.amplification("euler-twice", -lr * curvature)), rel=1e-13)


def test_two_descent_steps_contract_every_mode_at_least_as_much_as_one_heun_step():
    """The proposition: for 0 <= lr lam <= 2, (1 - x)^2 <= 1 - x + x^2/2, and Heun's factor is at
    least 1/2. Checked on the formula and on the optimisers along each eigenvector of a quadratic."""
    x = np.linspace(0, 2, 2001)
    gd2, hn = heun.amplification("euler-twice", -x), heun.amplification("heun", -x)
    assert np.all(gd2 <= hn + 1e-15)
    assert hn.min() == pytest.approx(0.5) and np.all(hn >= 0.5)
    A, x0 = spd(eigenvalues=(0.05, 0.7, 2.5, 3.9))
    lam, V = np.linalg.eigh(A)
    for lr in (0.05, 0.25, 0.5):   # lr * max curvature <= 2: both stable
        two_gd = V.T @ heun.integrate_quadratic(A, x0, lr, 2, "euler")
        one_heun = V.T @ heun.integrate_quadratic(A, x0, lr, 1, "heun")
        assert np.all(np.abs(two_gd) <= np.abs(one_heun) + 1e-14)


def test_the_trainer_runs_heun_like_a_hand_loop():
    """Full batch: kexue.train's loop with closures equals three Heun steps by hand; its log is the
    loss at each step's starting point."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 784, generator=g, dtype=F64), torch.randint(0, 10, (40,), generator=g)
    a, b = (mlp((784, 8, 8, 10), seed=2).double() for _ in range(2))
    history = train.Trainer(a, heun.Heun(a.parameters(), lr=0.5), classification_loss, (x, y),
                            batch_size=40, log_every=1).fit(steps=3)
    opt = heun.Heun(b.parameters(), lr=0.5)
    losses = [float(opt.step(closure_for(opt, lambda: classification_loss(b, x, y)[0])).detach())
              for _ in range(3)]
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-14)
    # the trainer sums logs in float32
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-6)
    assert losses[-1] < losses[0]


def test_bad_input_is_refused():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="lr must be positive"):
        heun.Heun(p, lr=0.0)
    with pytest.raises(ValueError, match="symmetric square"):
        heun.quadratic_flow(np.array([[1.0, 2.0], [0.0, 1.0]]), [1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="x0 must have 2 entries"):
        heun.integrate_quadratic(np.eye(2), [1.0, 2.0, 3.0], 0.1, 1, "heun")
    with pytest.raises(ValueError, match="method must be"):
        heun.integrate_quadratic(np.eye(2), [1.0, 2.0], 0.1, 1, "rk4")
    with pytest.raises(ValueError, match="method must be one of"):
        heun.amplification("rk4", 0.5)
    with pytest.raises(ValueError, match="start must be a finite point"):
        heun.heun_path(surfaces.get("quadratic").gradient, (1.0, np.nan), 0.1, 3)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        heun.euler_path(surfaces.get("quadratic").gradient, (1.0, 1.0), 0.1, 0)
