"""Tests for kexue.optim.layerwise: training phi with theta = lam * phi is training theta with the
learning rate times lam^2 (SGD) or lam (adaptive optimisers, eps divided by lam), step for step;
the two ways of setting per-layer rates (reparametrisation, parameter groups) agree; bad input is
refused."""
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from kexue.classifier import classification_loss
from kexue.optim import layerwise as lw
from kexue.optim import surfaces
from kexue.optim.figures import layerwise as lw_figures

F64 = torch.float64

# (optimiser, settings) pairs covering every rule, with the settings each rule transforms
CASES = [
    (torch.optim.SGD, dict(lr=0.1)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.5, dampening=0.2)),
    (torch.optim.Adam, dict(lr=0.01, eps=1e-3, weight_decay=0.01)),
    (torch.optim.Adam, dict(lr=0.01, eps=1e-3, amsgrad=True, betas=(0.8, 0.99))),
    (torch.optim.AdamW, dict(lr=0.01, eps=1e-3, weight_decay=0.1)),
    (torch.optim.RMSprop, dict(lr=0.01, eps=1e-3, centered=True, momentum=0.5, weight_decay=0.01)),
    (torch.optim.Adagrad, dict(lr=0.1, eps=1e-3, lr_decay=0.01, weight_decay=0.01)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CASES)]


def problem(seed=0):
    """A small nonlinear regression: ``loss(W1, b1, W2) = mean |tanh(X W1^T + b1) W2^T - Y|^2``,
    and a random start."""
    g = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(64, 6, generator=g, dtype=F64), torch.randn(64, 3, generator=g, dtype=F64)
    start = (torch.randn(5, 6, generator=g, dtype=F64) / 2, torch.randn(5, generator=g, dtype=F64),
             torch.randn(3, 5, generator=g, dtype=F64) / 2)

    def loss(W1, b1, W2):
        return ((torch.tanh(X @ W1.T + b1) @ W2.T - Y) ** 2).mean()

    return loss, start


def trajectories(cls, settings_phi, settings_theta, lam, steps=30):
    """Train (a) ``phi`` with the model using ``W1 = lam * phi`` (plain autograd, not the module's
    parametrisation), optimiser ``cls(**settings_phi)``; (b) ``W1`` itself in a group of
    ``settings_theta`` and the other tensors in ``settings_phi``. Returns both sequences of
    ``(W1, b1, W2)``."""
    loss, (W1, b1, W2) = problem()
    a = [(W1 / lam).clone().requires_grad_(), b1.clone().requires_grad_(), W2.clone().requires_grad_()]
    b = [W1.clone().requires_grad_(), b1.clone().requires_grad_(), W2.clone().requires_grad_()]
    opt_a = cls(a, **settings_phi)
    opt_b = cls([{"params": b[:1], **settings_theta}, {"params": b[1:]}], **settings_phi)
    out_a, out_b = [], []
    for _ in range(steps):
        for opt, params, scale, out in ((opt_a, a, lam, out_a), (opt_b, b, 1.0, out_b)):
            opt.zero_grad()
            loss(scale * params[0], *params[1:]).backward()
            opt.step()
            out.append(tuple(p.detach().clone() * s for p, s in zip(params, (scale, 1, 1))))
    return out_a, out_b


def max_relative_gap(out_a, out_b):
    return max(float((x - y).abs().max() / y.abs().max())
               for sa, sb in zip(out_a, out_b) for x, y in zip(sa, sb))


@pytest.mark.parametrize("cls,settings", CASES, ids=IDS)
def test_reparametrisation_is_a_scaled_rate_exactly_for_a_power_of_two(cls, settings):
    """With lam = 4 every multiplication by lam is exact in floating point, so the claim holds
    bit for bit: the reparametrised run and the run with equivalent settings are identical."""
    lam = 4.0
    out_a, out_b = trajectories(cls, settings, lw.equivalent_settings(cls, settings, lam), lam)
    assert all(torch.equal(x, y) for sa, sb in zip(out_a, out_b) for x, y in zip(sa, sb))
    # the runs do move: the claim is not about a standing point
    assert float((out_b[-1][0] - out_b[0][0]).abs().max()) > 1e-3


@pytest.mark.parametrize("lam", [0.3, 3.7])
@pytest.mark.parametrize("cls,settings", CASES, ids=IDS)
def test_reparametrisation_is_a_scaled_rate_to_rounding(cls, settings, lam):
    """For other lam the runs differ by rounding only: lam * (theta / lam) != theta in the last bit,
    and each step adds a few ulps (observed ~1e-15 over 30 steps; 1e-12 leaves room)."""
    out_a, out_b = trajectories(cls, settings, lw.equivalent_settings(cls, settings, lam), lam)
    assert max_relative_gap(out_a, out_b) < 1e-12


@pytest.mark.parametrize("cls,settings", CASES, ids=IDS)
def test_the_wrong_rule_gives_another_trajectory(cls, settings):
    """The check can fail: the other optimiser family's rate multiplier (lam instead of lam^2, or
    the reverse) gives a different path."""
    lam = 4.0
    wrong = dict(lw.equivalent_settings(cls, settings, lam))
    wrong["lr"] = settings["lr"] * (lam if lw.RULES[cls]["power"] == 2 else lam ** 2)
    out_a, out_b = trajectories(cls, settings, wrong, lam)
    assert max_relative_gap(out_a, out_b) > 1e-3


def test_adam_needs_eps_scaled_by_lam():
    """Adam's step on phi is lr m/(sqrt(v) + eps) with m, sqrt(v) both lam times theta's: a group
    with rate lam * lr matches only with eps / lam; equivalently, the reparametrised run must use
    lam * eps to match a group that keeps eps. With eps unscaled the paths differ (slightly)."""
    lam, lr, eps = 4.0, 0.01, 1e-3
    same_eps = dict(lr=lam * lr, eps=eps)
    out_a, out_b = trajectories(torch.optim.Adam, dict(lr=lr, eps=eps), same_eps, lam)
    gap = max_relative_gap(out_a, out_b)
    assert 1e-6 < gap < 0.1  # the rate is right, only eps differs
    # the reparametrised run with lam * eps, against a group keeping eps: identical again. The
    # other tensors see lam * eps too, so give the group the same settings as the rest.
    out_a, out_b = trajectories(torch.optim.Adam, dict(lr=lr, eps=lam * eps), same_eps, lam)
    assert all(torch.equal(x, y) for x, y in zip(out_a[-1][:1], out_b[-1][:1]))
    # and as eps -> 0 the difference goes away: eps = 1e-12 is far below sqrt(v) here
    out_a, out_b = trajectories(torch.optim.Adam, dict(lr=lr, eps=1e-12),
                                dict(lr=lam * lr, eps=1e-12), lam)
    assert max_relative_gap(out_a, out_b) < 1e-9


def test_equivalent_settings_values():
    sgd = lw.equivalent_settings(torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.5), 3.0)
    assert sgd == pytest.approx(dict(lr=0.9, momentum=0.9, weight_decay=0.5 / 9))
    adam = lw.equivalent_settings(torch.optim.Adam, dict(lr=0.1), 2.0)  # eps, wd: the defaults
    assert adam == pytest.approx(dict(lr=0.2, eps=0.5e-8, weight_decay=0.0))
    adamw = lw.equivalent_settings(torch.optim.AdamW, dict(lr=0.1, weight_decay=0.01), 2.0)
    assert adamw["weight_decay"] == pytest.approx(0.005)  # decoupled: divided by lam, not lam^2
    for cls in lw.RULES:
        for m in (0.1, 1.0, 10.0):
            assert lw.effective_multiplier(cls, lw.scale_for(cls, m)) == pytest.approx(m, rel=1e-14)
    assert lw.scale_for(torch.optim.SGD, 10.0) == pytest.approx(math.sqrt(10))
    assert lw.scale_for(torch.optim.Adam, 10.0) == 10.0


def test_equivalent_settings_reject_bad_input():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        lw.equivalent_settings(torch.optim.Adamax, dict(lr=0.1), 2.0)
    with pytest.raises(ValueError, match="no rule for the SGD settings \\['foo'\\]"):
        lw.equivalent_settings(torch.optim.SGD, dict(lr=0.1, foo=1), 2.0)
    with pytest.raises(ValueError, match="lam must be positive"):
        lw.equivalent_settings(torch.optim.SGD, dict(lr=0.1), 0.0)
    with pytest.raises(TypeError, match="settings must be a mapping"):
        lw.equivalent_settings(torch.optim.SGD, [("lr", 0.1)], 2.0)
    with pytest.raises(TypeError, match="lr must be a real number"):
        lw.equivalent_settings(torch.optim.SGD, dict(lr=torch.tensor(0.1)), 2.0)
    with pytest.raises(ValueError, match="initial_accumulator_value must be 0"):
        lw.equivalent_settings(torch.optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.1), 2.0)
    with pytest.raises(ValueError, match="multiplier must be positive"):
        lw.scale_for(torch.optim.SGD, -1.0)


# -- the two utilities ---------------------------------------------------------------------------
def small_mlp(seed=0):
    """A tanh network (no exact zeros in its gradients) with layers hidden1, hidden2, out."""
    model = lw.mlp((6, 8, 8, 3), generator=torch.Generator().manual_seed(seed)).double()
    for name in ("relu1", "relu2"):
        setattr(model, name, nn.Tanh())
    return model


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(32, 6, generator=g, dtype=F64), torch.randint(3, (32,), generator=g)


def train_steps(model, optimizer, steps=25):
    X, y = data()
    out = []
    for _ in range(steps):
        optimizer.zero_grad()
        classification_loss(model, X, y)[0].backward()
        optimizer.step()
        out.append({k: v.clone() for k, v in lw.effective_parameters(model).items()})
    return out


def test_reparametrise_keeps_the_model_and_names_its_lams():
    model, reference = small_mlp(), small_mlp()
    X, _ = data()
    lams = lw.reparametrise(model, {"hidden1": 10.0, "out": 0.3}, torch.optim.SGD)
    assert lams == pytest.approx({"hidden1.weight": math.sqrt(10), "hidden1.bias": math.sqrt(10),
                                  "out.weight": math.sqrt(0.3), "out.bias": math.sqrt(0.3)})
    assert parametrize.is_parametrized(model.hidden1, "weight")
    assert "hidden1.parametrizations.weight.original" in dict(model.named_parameters())
    # theta = lam * (theta / lam): preserved to one rounding (relative 2^-52 per operation)
    for name, theta in lw.effective_parameters(model).items():
        torch.testing.assert_close(theta, dict(reference.named_parameters())[name], rtol=4e-16,
                                   atol=0)
    torch.testing.assert_close(model(X), reference(X), rtol=1e-14, atol=1e-15)
    phi = model.hidden1.parametrizations.weight.original
    torch.testing.assert_close(phi * math.sqrt(10), reference.hidden1.weight, rtol=4e-16, atol=0)
    # adaptive optimisers: lam is the multiplier itself
    assert lw.reparametrise(small_mlp(), {"hidden2": 10.0}, torch.optim.Adam)["hidden2.weight"] == 10


@pytest.mark.parametrize("multiplier", [0.1, 10.0])
def test_reparametrise_and_param_groups_train_alike_under_sgd(multiplier):
    a, b = small_mlp(), small_mlp()
    lw.reparametrise(a, {"hidden1": multiplier}, torch.optim.SGD)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(lw.param_groups(b, {"hidden1": multiplier}, lr=0.1), lr=0.1,
                            momentum=0.9)
    path_a, path_b = train_steps(a, opt_a), train_steps(b, opt_b)
    # rounding only (sqrt(multiplier) is not a power of two): observed ~1e-15
    for sa, sb in zip(path_a, path_b):
        for name in sb:
            torch.testing.assert_close(sa[name], sb[name], rtol=1e-12, atol=1e-13)
    # the layer did get another rate: a plain run differs
    c = small_mlp()
    path_c = train_steps(c, torch.optim.SGD(c.parameters(), lr=0.1, momentum=0.9))
    assert float((path_c[-1]["hidden1.weight"] - path_b[-1]["hidden1.weight"]).abs().max()) > 1e-3


def test_reparametrise_and_param_groups_train_alike_under_adam_as_eps_goes_to_zero():
    """Under Adam the reparametrised layer behaves as one with eps / lam, the group keeps eps: the
    two ways differ by an amount proportional to eps (for small eps), and agree to rounding at
    eps = 0 (safe here: a tanh network has no exactly-zero gradient entries)."""
    gaps = {}
    for eps in (1e-8, 1e-12, 0.0):
        a, b = small_mlp(), small_mlp()
        lw.reparametrise(a, {"hidden1": 10.0}, torch.optim.Adam)
        path_a = train_steps(a, torch.optim.Adam(a.parameters(), lr=0.01, eps=eps))
        path_b = train_steps(b, torch.optim.Adam(lw.param_groups(b, {"hidden1": 10.0}, lr=0.01),
                                                 lr=0.01, eps=eps))
        gaps[eps] = max(float((sa[n] - sb[n]).abs().max()) for sa, sb in zip(path_a, path_b)
                        for n in sb)
    assert gaps[0.0] < 1e-13  # rounding: observed ~2e-15 after 25 steps
    assert gaps[1e-8] > 1e-7  # eps is not negligible for every entry: some gradients are small
    assert 0.5e4 < gaps[1e-8] / gaps[1e-12] < 2e4  # linear in eps: 1e4 times smaller eps


def test_param_groups_structure():
    model = small_mlp()
    groups = lw.param_groups(model, {"hidden*": 0.5, "out": 4.0}, lr=0.2)
    assert [g["pattern"] for g in groups] == ["hidden*", "out"]  # nothing left for a default group
    assert [g["lr"] for g in groups] == pytest.approx([0.1, 0.8])
    assert [g["lr_multiplier"] for g in groups] == [0.5, 4.0]
    assert [n for n, _ in groups[0]["params"]] == ["hidden1.weight", "hidden1.bias",
                                                   "hidden2.weight", "hidden2.bias"]
    groups = lw.param_groups(model, {"hidden2": 3.0}, lr=0.1)
    assert groups[-1]["pattern"] is None and groups[-1]["lr"] == 0.1
    names = [n for g in groups for n, _ in g["params"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each exactly once
    opt = torch.optim.SGD(groups, lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["hidden2.weight", "hidden2.bias"]
    # a scheduler scales every group's rate by the same factor, so the multipliers survive it
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 ** step)
    for _ in range(3):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] / opt.param_groups[1]["lr"] == pytest.approx(3.0)


@pytest.mark.parametrize("fn", [lambda m, mult: lw.param_groups(m, mult, lr=0.1),
                                lambda m, mult: lw.reparametrise(m, mult)],
                         ids=["param_groups", "reparametrise"])
def test_bad_multipliers_are_refused(fn):
    model = small_mlp()
    with pytest.raises(ValueError, match="no module of the model is called 'encoder'"):
        fn(model, {"encoder": 0.1})
    with pytest.raises(ValueError, match="must be positive, got 0.0"):
        fn(model, {"hidden1": 0.0})
    with pytest.raises(ValueError, match="must be positive, got -1.0"):
        fn(model, {"hidden1": -1})
    with pytest.raises(ValueError, match="must be finite"):
        fn(model, {"hidden1": math.nan})
    with pytest.raises(TypeError, match="must be a real number"):
        fn(model, {"hidden1": True})
    with pytest.raises(ValueError, match="without parameters"):
        fn(model, {"relu1": 2.0})
    with pytest.raises(ValueError, match="matched by both 'hidden\\*' and 'hidden1'"):
        fn(model, {"hidden*": 2.0, "hidden1": 3.0})
    with pytest.raises(ValueError, match="non-empty mapping"):
        fn(model, {})
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fn("model", {"hidden1": 2.0})
    assert not parametrize.is_parametrized(model)  # nothing half-done


def test_param_groups_and_reparametrise_other_bad_input():
    model = small_mlp()
    with pytest.raises(ValueError, match="lr must be positive"):
        lw.param_groups(model, {"hidden1": 2.0}, lr=0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        lw.reparametrise(model, {"hidden1": 2.0}, torch.optim.LBFGS)
    lw.reparametrise(model, {"hidden1": 2.0})
    with pytest.raises(ValueError, match="already parametrised"):
        lw.reparametrise(model, {"hidden1": 3.0})


def test_remove_reparametrisation_bakes_theta_and_allows_a_new_rate():
    """The post's wrapper could not change a layer's rate once set; here the parametrisation is
    removed (theta = lam * phi becomes the plain parameter) and another one put on."""
    model = small_mlp()
    lw.reparametrise(model, {"hidden1": 10.0})
    train_steps(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=5)
    before = lw.effective_parameters(model)
    assert lw.remove_reparametrisation(model) == ["hidden1.weight", "hidden1.bias"]
    assert not parametrize.is_parametrized(model)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n].detach(), before[n]) for n in before)
    assert lw.reparametrise(model, {"hidden1": 0.1})["hidden1.weight"] == pytest.approx(
        math.sqrt(0.1))
    assert lw.remove_reparametrisation(small_mlp()) == []


def test_mlp_and_weight_movement():
    model = lw.mlp((10, 7, 4), generator=torch.Generator().manual_seed(1))
    assert [n for n, _ in model.named_children()] == ["hidden1", "relu1", "out"]
    again = lw.mlp((10, 7, 4), generator=torch.Generator().manual_seed(1))
    assert torch.equal(model.hidden1.weight, again.hidden1.weight)  # seeded
    with pytest.raises(ValueError, match="at least an input and an output"):
        lw.mlp((10,))
    with pytest.raises(ValueError, match="layer width must be a positive int"):
        lw.mlp((10, 0, 3))


# -- the surface picture -------------------------------------------------------------------------
@pytest.mark.parametrize("cls,settings", list(lw_figures.EXPLORE_OPTIMIZERS.values()), ids=["SGD", "Adam"])
def test_surface_paths_coincide_and_differ_from_plain(cls, settings):
    surface = surfaces.get("quadratic")
    paths = lw.surface_paths(surface, 2.5, cls, settings, steps=20)
    # float64 on a 2-D quadratic; 2.5 is not a power of two: rounding only
    assert abs(paths["reparametrised"] - paths["equivalent"]).max() < 1e-12
    assert abs(paths["reparametrised"] - paths["plain"]).max() > 0.1
    with pytest.raises(ValueError, match="layer must be 'x' or 'y'"):
        lw.surface_paths(surface, 2.5, cls, settings, layer="z")


def test_trajectory_gap_on_a_network():
    g = torch.Generator().manual_seed(5)
    X, y = torch.rand(64, 12, generator=g, dtype=F64), torch.randint(4, (64,), generator=g)
    X[:, :3] = 0  # inputs that are always zero, like MNIST's border pixels
    kw = dict(steps=8, hidden=6)
    assert lw.trajectory_gap(X, y, torch.optim.SGD, dict(lr=0.5, momentum=0.9), 4.0, **kw) == 0.0
    assert lw.trajectory_gap(X, y, torch.optim.Adam, dict(lr=0.01), 4.0, **kw) == 0.0
    assert lw.trajectory_gap(X, y, torch.optim.Adam, dict(lr=0.01), 0.3, **kw) < 1e-12
    # with eps left as it is, small gradients feel it
    assert lw.trajectory_gap(X, y, torch.optim.Adam, dict(lr=0.01, eps=1e-3), 4.0,
                             scale_eps=False, **kw) > 1e-4
    with pytest.raises(ValueError, match="steps must be a positive int"):
        lw.trajectory_gap(X, y, torch.optim.SGD, dict(lr=0.5), 4.0, steps=0)
