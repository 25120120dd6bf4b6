"""Tests for kexue.optim.adaptive: the error-control argument on log cosh, RMSprop and Adam written
from scratch against torch.optim step for step (a small network and the 2-D surfaces), what the
update rules promise (sign steps, bounded steps, bias correction, scale invariance, rotation), the
learning-rate sweep, the experiment and the figures, and the refusal of bad input."""
import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from kexue import classifier, runtime, train
from kexue.classifier import classification_loss
from kexue.optim import adaptive as ad
from kexue.optim import surfaces

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are tiny (see kexue.runtime.cpu_threads)."""
    with runtime.cpu_threads(1):
        yield


def mlp(sizes, dtype):
    """A tanh network with weights from seed 0."""
    return classifier.mlp(sizes, activation=torch.nn.Tanh, seed=0, dtype=dtype)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def classification_data(dtype, n=128, d=10, classes=3, seed=0):
    g = gen(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


# -- step for step against torch.optim -----------------------------------------------------------
# float32: the two implementations do the same arithmetic, so they differ at most by round-off
# (on this machine they agree bit for bit); 1e-6 absolute on parameters of size ~1 leaves room for
# a few ulps (6e-8 each) to grow over 100 steps. float64: the same argument at 1e-12.
TOL = {torch.float32: 1e-6, F64: 1e-12}
CONFIGS = {
    ad.RMSprop: [dict(), dict(lr=3e-3, alpha=0.9, eps=1e-6, weight_decay=0.0),
                 dict(lr=1e-3, alpha=0.95, eps=1e-7, weight_decay=1e-2)],
    ad.Adam: [dict(), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0),
              dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-7, weight_decay=1e-2)],
}
TORCH = {ad.RMSprop: torch.optim.RMSprop, ad.Adam: torch.optim.Adam}
CASES = [(cls, cfg) for cls, cfgs in CONFIGS.items() for cfg in cfgs]
CASE_IDS = [f"{cls.__name__}-" + ("defaults" if not cfg else
                                  ",".join(f"{k}={v}" for k, v in cfg.items()).replace(" ", ""))
            for cls, cfg in CASES]


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("cls,config", CASES, ids=CASE_IDS)
def test_matches_torch_step_for_step_on_an_mlp(cls, config, dtype):
    x, y = classification_data(dtype)
    model = mlp((10, 16, 3), dtype)
    traces = ad.lockstep(model, {"ours": lambda p: cls(p, **config),
                                 "torch": lambda p: TORCH[cls](p, **config)},
                         classification_loss, (x, y), steps=100, batch_size=32)
    assert traces["ours"].shape == (101, sum(p.numel() for p in model.parameters()))
    assert traces["ours"].dtype == dtype
    moved = float((traces["torch"][-1] - traces["torch"][0]).abs().max())
    assert moved > 1e-2  # the runs went somewhere, so agreement is not trivial
    assert float(ad.max_deviation(traces["ours"], traces["torch"]).max()) <= TOL[dtype]


@pytest.mark.parametrize("name,lr", [("quadratic", 0.1), ("rosenbrock", 0.01)])
@pytest.mark.parametrize("cls,config", [(ad.RMSprop, dict(alpha=0.9)), (ad.RMSprop, dict()),
                                        (ad.Adam, dict(betas=(0.8, 0.99), eps=1e-6)),
                                        (ad.Adam, dict())],
                         ids=["rmsprop-0.9", "rmsprop", "adam-0.8-0.99", "adam"])
def test_matches_torch_step_for_step_on_the_surfaces(name, lr, cls, config):
    s = surfaces.get(name)
    ours = ad.run_optimizer(s, lambda p: cls(p, lr=lr, **config), 400)
    theirs = ad.run_optimizer(s, lambda p: TORCH[cls](p, lr=lr, **config), 400)
    assert ours.shape == (401, 2) and ours.dtype == F64
    assert float((ours[-1] - ours[0]).norm()) > 0.5
    assert float(ad.max_deviation(ours, theirs).max()) <= 1e-12


@pytest.mark.parametrize("name", list(ad.OPTIMISERS))
def test_sweep_rows_are_single_runs(name):
    """The vectorised sweep (functional rules, one learning rate per row) equals one optimiser at a
    time: torch's SGD for SGD and momentum, our classes for RMSprop and Adam."""
    s = surfaces.get("rosenbrock")
    lrs = [1e-4, 5e-4, 1e-3]  # below gradient descent's limit near the start
    result = ad.sweep(s, name, lrs, 150)
    assert result["paths"].shape == (151, 3, 2) and result["losses"].shape == (151, 3)
    hyper = dict(ad.OPTIMISERS[name])
    for k, lr in enumerate(lrs):
        if name in ("SGD", "momentum"):
            make = lambda p: torch.optim.SGD(p, lr=lr, **hyper)  # noqa: E731
        elif name == "Adam":
            make = lambda p: ad.Adam(p, lr=lr, **hyper)  # noqa: E731
        elif name == "RMSprop":
            make = lambda p: ad.RMSprop(p, lr=lr, **hyper)  # noqa: E731
        else:  # the scalar variant has no class: one point, one norm, run by hand
            x, G = torch.tensor(s.start, dtype=F64), torch.zeros(1, dtype=F64)
            for _ in range(150):
                g = torch.stack(s.gradient(x[0], x[1]))
                G = 0.99 * G + 0.01 * (g @ g)
                x = x - lr * g / (G.sqrt() + 1e-8)
            torch.testing.assert_close(result["paths"][-1, k], x, rtol=0, atol=1e-12)
            continue
        path = ad.run_optimizer(s, make, 150)
        torch.testing.assert_close(result["paths"][:, k], path, rtol=0, atol=1e-12)


def test_checkpoint_resume_is_exact(tmp_path):
    """The optimisers' state (moving averages, the step count) travels with kexue.train's
    checkpoints: a run stopped and resumed ends where an uninterrupted one does."""
    x, y = classification_data(F64)
    model = mlp((10, 8, 3), F64)

    def fit(steps, checkpoint=None, start=None):
        m = start or mlp((10, 8, 3), F64)
        if start is None:
            m.load_state_dict(model.state_dict())
        opt = ad.Adam(m.parameters(), lr=1e-2)
        train.Trainer(m, opt, classification_loss, (x, y), batch_size=32, seed=3,
                      checkpoint=checkpoint, progress=False).fit(steps=steps)
        return m

    whole = fit(40)
    path = tmp_path / "adam.pt"
    fit(20, checkpoint=path)
    resumed = fit(40, checkpoint=path)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- what the update rules promise ---------------------------------------------------------------
def test_rmsprop_without_memory_or_eps_is_sign_descent():
    g = torch.randn(50, generator=gen(1), dtype=F64)
    p = torch.randn(50, generator=gen(2), dtype=F64)
    new, G = ad.rmsprop_update(p, g, torch.zeros_like(p), lr=0.3, alpha=0.0, eps=0.0)
    torch.testing.assert_close(new, p - 0.3 * torch.sign(g), rtol=0, atol=1e-15)
    torch.testing.assert_close(G, g * g, rtol=0, atol=0)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.0, 0.5), (0.5, 0.0)])
def test_adam_moves_exactly_lr_per_coordinate_under_a_constant_gradient(betas):
    """Bias correction makes mhat = g and vhat = g^2 for a constant gradient, from the first step:
    every step is lr sign(g) (eps = 0), whatever the betas."""
    g = torch.tensor([3.0, -1e-3, 250.0], dtype=F64)
    p, m, v = torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64)
    for n in range(1, 30):
        new, m, v = ad.adam_update(p, g, m, v, n, lr=0.01, betas=betas, eps=0.0)
        torch.testing.assert_close(new - p, -0.01 * torch.sign(g), rtol=1e-12, atol=0)
        torch.testing.assert_close(m, g * (1 - betas[0] ** n), rtol=1e-12, atol=0)
        torch.testing.assert_close(v, g * g * (1 - betas[1] ** n), rtol=1e-12, atol=0)
        p = new


def test_rmsprop_steps_are_bounded_and_start_at_the_bound():
    """G_n >= (1 - alpha) g_n^2, so |step| <= lr / sqrt(1 - alpha) (eps = 0); the first step, from
    G_0 = 0, is exactly at the bound, and under a constant gradient the step is
    lr / sqrt(1 - alpha^n)."""
    alpha, lr = 0.99, 0.01
    bound = lr * ad.rmsprop_step_bound(alpha)
    assert bound == pytest.approx(0.1, rel=1e-12)
    g_seq = torch.randn(300, 20, generator=gen(3), dtype=F64) * torch.logspace(-3, 3, 20, dtype=F64)
    p, G, worst = torch.zeros(20, dtype=F64), torch.zeros(20, dtype=F64), 0.0
    for n, g in enumerate(g_seq, start=1):
        new, G = ad.rmsprop_update(p, g, G, lr=lr, alpha=alpha, eps=0.0)
        step = (new - p).abs()
        if n == 1:
            torch.testing.assert_close(step, torch.full_like(step, bound), rtol=1e-12, atol=0)
        worst = max(worst, float(step.max()))
        p = new
    assert worst <= bound * (1 + 1e-12)
    p, G = torch.zeros(1, dtype=F64), torch.zeros(1, dtype=F64)
    for n in range(1, 200):
        new, G = ad.rmsprop_update(p, torch.tensor([5.0], dtype=F64), G, lr=lr, alpha=alpha,
                                   eps=0.0)
        assert float((p - new)[0]) == pytest.approx(lr / math.sqrt(1 - alpha ** n), rel=1e-12)
        p = new


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])
def test_adam_steps_stay_within_the_cauchy_schwarz_bound_which_is_attained(betas):
    b1, b2 = betas
    assert ad.adam_step_bound(betas, 1) == pytest.approx(1.0, rel=1e-14)
    g_seq = torch.randn(400, 50, generator=gen(5), dtype=F64) * torch.logspace(-4, 4, 50,
                                                                                dtype=F64)
    g_seq[:, :10] = g_seq[:, :10].abs()  # some coordinates with a steady sign, where m is largest
    p, m, v = (torch.zeros(50, dtype=F64) for _ in range(3))
    for n, g in enumerate(g_seq, start=1):
        new, m, v = ad.adam_update(p, g, m, v, n, lr=1.0, betas=betas, eps=0.0)
        assert float((new - p).abs().max()) <= ad.adam_step_bound(betas, n) * (1 + 1e-12)
        p = new
    if b1 == 0:  # the extremal sequence below would be 0, ..., 0, 1: a 0/0 step with eps = 0
        return
    # equality in Cauchy-Schwarz: |g_k| proportional to (b1 / b2)^(n - k)
    n = 60
    p, m, v = (torch.zeros(1, dtype=F64) for _ in range(3))
    for k in range(1, n + 1):
        g = torch.tensor([(b1 / b2) ** (n - k)], dtype=F64)
        new, m, v = ad.adam_update(p, g, m, v, k, lr=1.0, betas=betas, eps=0.0)
        step, p = float((p - new)[0]), new
    assert step == pytest.approx(ad.adam_step_bound(betas, n), rel=1e-12)
    if b1 ** 2 < b2:
        limit = (1 - b1) / math.sqrt((1 - b2) * (1 - b1 ** 2 / b2))
        assert ad.adam_step_bound(betas, 10 ** 6) == pytest.approx(limit, rel=1e-9)


@pytest.mark.parametrize("name", ["RMSprop", "RMSprop (norm)", "Adam"])
def test_adaptive_paths_do_not_see_the_scale_of_the_loss(name):
    """g / sqrt(avg g^2) is unchanged when L -> c L (eps = 0): the same path for c = 1 and 1000.
    Gradient descent's path is not."""
    base = surfaces.get("quadratic")
    big = ad.scale(base, 1e3)
    for x, y in [(0.3, -1.2), base.start]:
        assert big.value(x, y) == pytest.approx(1e3 * base.value(x, y), rel=1e-15)
        assert eval(big.javascript["gradient"], {}, {"x": x, "y": y}) == pytest.approx(
            [1e3 * g for g in base.gradient(x, y)], rel=1e-15)
    paths = [ad.sweep(s, name, [0.05], 200, eps=0.0)["paths"] for s in (base, big)]
    assert float((paths[0][-1] - paths[0][0]).abs().max()) > 1.0
    # the same arithmetic up to round-off (1e3 is not a power of 2), on a path of length ~5
    torch.testing.assert_close(paths[0], paths[1], rtol=0, atol=1e-12)
    sgd = [ad.sweep(s, "SGD", [1e-4], 100)["paths"][-1] for s in (base, big)]
    assert float((sgd[0] - sgd[1]).abs().max()) > 1.0


def test_scalar_rate_keeps_the_gradient_direction_and_the_vector_rate_does_not():
    p = torch.zeros(2, dtype=F64)
    g = torch.tensor([1.0, 20.0], dtype=F64)
    scalar, _ = ad.rmsprop_update(p, g, torch.zeros(1, dtype=F64), lr=0.1, per_coordinate=False)
    vector, _ = ad.rmsprop_update(p, g, torch.zeros(2, dtype=F64), lr=0.1)
    cos = lambda a, b: float(a @ b / (a.norm() * b.norm()))  # noqa: E731
    assert cos(-scalar, g) == pytest.approx(1.0, abs=1e-14)
    assert cos(-vector, g) < 0.75  # it points along (1, 1): 45 degrees off towards x


@pytest.mark.parametrize("name,equivariant", [("SGD", True), ("momentum", True),
                                              ("RMSprop (norm)", True), ("RMSprop", False),
                                              ("Adam", False)])
def test_which_optimisers_do_not_care_about_the_axes(name, equivariant):
    """Turning the quadratic by 45 degrees turns the paths of rules built from g and ||g||; the
    per-coordinate rules take other paths."""
    angle = math.pi / 4
    plain = ad.sweep(surfaces.get("quadratic"), name, [0.05], 60)["paths"][:, 0]
    turned = ad.sweep(ad.rotate(surfaces.get("quadratic"), angle), name, [0.05], 60)["paths"][:, 0]
    R = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
                     dtype=F64)
    gap = float((plain @ R.T - turned).abs().max())
    assert gap < 1e-10 if equivariant else gap > 0.1


def test_rmsprop_bursts_near_the_minimum_and_adam_does_not_here():
    """At a constant rate, RMSprop's normaliser G decays like alpha^n once the gradient has
    collapsed, its effective rate grows, and the loss bursts back up; Adam (beta2 = 0.999) forgets
    ten times more slowly and, on this run, does not burst."""
    s = surfaces.get("quadratic")
    rms = ad.sweep(s, "RMSprop", [0.1], 1000)["losses"][:, 0]
    low = int(rms.argmin())
    assert float(rms[low]) < 1e-100 and float(rms[low:].max()) > 1e-4
    adam = ad.sweep(s, "Adam", [0.1], 1000)["losses"][:, 0]
    assert float(adam[300:].max()) < 1e-8
    # eps = 1 caps every effective rate at lr / eps = 0.05 < 2 / kappa: no burst, steady decrease
    capped = ad.sweep(s, "RMSprop", [0.05], 1000, eps=1.0)["losses"][:, 0]
    assert bool((capped[1:] <= capped[:-1] * (1 + 1e-12)).all()) and float(capped[-1]) < 1e-10
    # the mechanism: with no gradient at all, G_n = alpha^n G_0 and the step grows like alpha^(-n/2)
    G, p = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    for n in range(1, 101):
        _, G = ad.rmsprop_update(p, torch.zeros(1, dtype=F64), G, lr=0.1, eps=0.0)
    assert float(G[0]) == pytest.approx(0.99 ** 100, rel=1e-12)


# -- the error-control argument on L = log cosh --------------------------------------------------
def test_log_cosh_flow_matches_an_ode_solver():
    t = np.linspace(0, 4, 9)
    sol = solve_ivp(lambda _, th: -np.tanh(th), (0, 4), [2.5], t_eval=t, rtol=1e-12, atol=1e-14)
    ours = ad.log_cosh_flow(2.5, torch.tensor(t)).numpy()
    np.testing.assert_allclose(ours, sol.y[0], rtol=0, atol=1e-10)
    back = ad.log_cosh_flow_time(2.5, ad.log_cosh_flow(2.5, 1.7))
    assert float(back) == pytest.approx(1.7, abs=1e-12)


def test_euler_local_error_is_second_order_with_the_predicted_constant():
    """theta(gamma) - (theta0 - gamma L') = gamma^2/2 L'' L' + O(gamma^3)."""
    theta0 = 0.8
    predicted = 0.5 * (1 / math.cosh(theta0) ** 2) * math.tanh(theta0)
    ratios = []
    for gamma in (1e-1, 1e-2, 1e-3):
        err = float(ad.log_cosh_flow(theta0, gamma)) - (theta0 - gamma * math.tanh(theta0))
        ratios.append(err / (gamma ** 2 * predicted))
    gaps = [abs(r - 1) for r in ratios]
    assert gaps[2] < 2e-3 and gaps[0] / gaps[1] == pytest.approx(10, rel=0.1)


def test_normalised_steps_have_length_lr_and_their_clock_converges():
    """gamma_k = lr / |L'| makes every step lr long; the summed gammas approach the flow's own time
    to the last iterate, with an error O(lr)."""
    errors = []
    for lr in (0.1, 0.05, 0.025):
        n = round(2.0 / lr)  # from 3 down to 1
        thetas, clock = ad.normalised_descent(torch.tanh, 3.0, lr, n)
        torch.testing.assert_close(thetas.diff().abs(), torch.full((n,), lr, dtype=F64),
                                   rtol=0, atol=1e-12)
        errors.append(abs(float(clock[-1] - ad.log_cosh_flow_time(3.0, thetas[-1]))))
    assert errors[0] / errors[1] == pytest.approx(2, rel=0.1)
    assert errors[1] / errors[2] == pytest.approx(2, rel=0.1)


# -- the sweep ----------------------------------------------------------------------------------------
def test_steps_to_counts_from_when_the_loss_stays_below():
    losses = torch.tensor([[5.0, 5.0, 5.0, 0.5, 0.5], [0.5, 5.0, 0.5, 0.5, 0.5],
                           [0.5, 0.5, 5.0, 0.5, 0.5], [0.5, 0.5, 0.5, 5.0, 0.5]])
    assert ad.steps_to(losses, 1.0) == [1, 2, 3, None, 0]
    assert ad.steps_to(torch.tensor([[math.inf], [math.inf]]), 1.0) == [None]


def test_sweep_marks_diverged_runs():
    result = ad.sweep(surfaces.get("quadratic"), "SGD", [0.05, 0.5], 100)
    final = result["losses"][-1]
    assert float(final[0]) < 1e-3 and math.isinf(float(final[1]))
    assert bool(torch.isfinite(result["paths"]).all())  # a diverged run stops where it was


def test_rotate():
    s = ad.rotate(surfaces.get("rosenbrock"), 0.7)
    points = (torch.rand(32, 2, generator=gen(4), dtype=F64) * 4 - 2).requires_grad_()
    s(points).sum().backward()
    gx, gy = s.gradient(points[:, 0].detach(), points[:, 1].detach())
    torch.testing.assert_close(torch.stack([gx, gy], 1), points.grad, rtol=1e-12, atol=1e-9)
    for x, y in s.minima:
        assert abs(s.value(x, y)) < 1e-12 and math.hypot(*s.gradient(x, y)) < 1e-9
    assert s.value(*s.start) == pytest.approx(surfaces.get("rosenbrock").value(-1.5, 2.0))
    for x, y in [(0.3, -1.2), (1.1, 0.4)]:  # the formula strings (JavaScript; valid Python too)
        env = {"x": x, "y": y}
        assert eval(s.javascript["value"], {}, env) == pytest.approx(s.value(x, y), rel=1e-12)
        assert eval(s.javascript["gradient"], {}, env) == pytest.approx(list(s.gradient(x, y)),
                                                                        rel=1e-12)
    with pytest.raises(TypeError, match="Surface"):
        ad.rotate("quadratic", 0.1)
    with pytest.raises(ValueError, match="c must be positive"):
        ad.scale(s, -2.0)
    with pytest.raises(ValueError, match="angle must be finite"):
        ad.rotate(s, math.nan)


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs,err,match", [
    (ad.Adam, dict(lr=-1e-3), ValueError, "lr must be positive"),
    (ad.Adam, dict(lr=0.0), ValueError, "lr must be positive"),
    (ad.Adam, dict(lr=math.nan), ValueError, "lr must be finite"),
    (ad.Adam, dict(lr="0.1"), TypeError, "lr must be a real number"),
    (ad.Adam, dict(betas=(1.0, 0.999)), ValueError, r"beta1 must be in \[0, 1\)"),
    (ad.Adam, dict(betas=(0.9, -0.1)), ValueError, r"beta2 must be in \[0, 1\)"),
    (ad.Adam, dict(betas=0.9), ValueError, "betas must be a pair"),
    (ad.Adam, dict(eps=-1e-8), ValueError, "eps must be >= 0"),
    (ad.Adam, dict(weight_decay=-0.1), ValueError, "weight_decay must be >= 0"),
    (ad.RMSprop, dict(lr=-0.01), ValueError, "lr must be positive"),
    (ad.RMSprop, dict(alpha=1.0), ValueError, r"alpha must be in \[0, 1\)"),
    (ad.RMSprop, dict(alpha=-0.5), ValueError, r"alpha must be in \[0, 1\)"),
    (ad.RMSprop, dict(eps=-1.0), ValueError, "eps must be >= 0"),
    (ad.RMSprop, dict(weight_decay=math.inf), ValueError, "weight_decay must be finite"),
])
def test_optimisers_refuse_bad_hyperparameters(cls, kwargs, err, match):
    with pytest.raises(err, match=match):
        cls([torch.zeros(3, requires_grad=True)], **kwargs)


def test_optimisers_refuse_bad_groups_and_parameters():
    opt = ad.Adam([torch.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="lr must be positive"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": -1.0})
    with pytest.raises(TypeError, match="real floating parameters"):
        ad.RMSprop([torch.zeros(3, dtype=torch.int64)])
    p = torch.zeros(3, requires_grad=True)
    opt = ad.RMSprop([p])
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()


def test_update_rules_refuse_bad_input():
    p = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="grad has shape"):
        ad.adam_update(p, torch.zeros(2, dtype=F64), p, p, 1, lr=0.1)
    with pytest.raises(TypeError, match="exp_avg has dtype"):
        ad.adam_update(p, p, torch.zeros(3), p, 1, lr=0.1)
    with pytest.raises(ValueError, match="step must be a positive int"):
        ad.adam_update(p, p, p, p, 0, lr=0.1)
    with pytest.raises(ValueError, match="unbounded"):
        ad.adam_step_bound((0.5, 0.0), 3)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\)"):
        ad.rmsprop_step_bound(1.0)
    with pytest.raises(ValueError, match="square_avg must be a tensor of shape"):
        ad.rmsprop_update(p, p, torch.zeros(3, dtype=F64), lr=0.1, per_coordinate=False)
    with pytest.raises(TypeError, match="param must be a real floating tensor"):
        ad.sgd_update(torch.zeros(3, dtype=torch.int64), p, p, lr=0.1)
    with pytest.raises(ValueError, match="momentum must be in"):
        ad.sgd_update(p, p, p, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="lr must be positive"):
        ad.sgd_update(p, p, p, lr=torch.tensor([0.1, -0.1, 0.1], dtype=F64))
    with pytest.raises(ValueError, match="does not broadcast"):
        ad.sgd_update(p, p, p, lr=torch.ones(2, dtype=F64))


def test_helpers_refuse_bad_input():
    s = surfaces.get("quadratic")
    with pytest.raises(KeyError, match="unknown optimiser"):
        ad.sweep(s, "Adagrad", [0.1], 10)
    with pytest.raises(KeyError, match="no hyper-parameters"):
        ad.sweep(s, "SGD", [0.1], 10, betas=(0.9, 0.9))
    with pytest.raises(ValueError, match="every learning rate in lrs must be positive"):
        ad.sweep(s, "SGD", [0.1, 0.0], 10)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ad.sweep(s, "SGD", [0.1], 0)
    with pytest.raises(TypeError, match="Surface"):
        ad.run_optimizer("quadratic", lambda p: ad.Adam(p), 5)
    with pytest.raises(TypeError, match="must return a torch.optim.Optimizer"):
        ad.run_optimizer(s, lambda p: None, 5)
    with pytest.raises(TypeError, match="dtype must be"):
        ad.run_optimizer(s, lambda p: ad.Adam(p), 5, dtype=torch.float16)
    with pytest.raises(ValueError, match="losses must be a 2-D tensor"):
        ad.steps_to(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="traces must be tensors of one shape"):
        ad.max_deviation(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="t must be >= 0"):
        ad.log_cosh_flow(1.0, -0.5)
    with pytest.raises(ValueError, match="between 0 and theta0"):
        ad.log_cosh_flow_time(1.0, -0.5)
    with pytest.raises(ValueError, match="undefined"):
        ad.normalised_descent(torch.tanh, 0.0, 0.1, 3)
    with pytest.raises(ValueError, match="give at least one optimiser"):
        ad.lockstep(mlp((2, 2), torch.float32), {}, classification_loss, (torch.zeros(4, 2),
                    torch.zeros(4, dtype=torch.int64)), steps=1, batch_size=2)
