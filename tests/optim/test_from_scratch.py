"""Tests for kexue.optim.from_scratch: the hand-written SGD and Adam take the same steps as
torch.optim.SGD and torch.optim.Adam (parameters and state, per parameter group), call the closure,
save and restore their state exactly, and refuse bad hyperparameters."""
import copy

import pytest
import torch

from kexue.optim import from_scratch

F64 = torch.float64


def model_and_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).to(F64)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    x = torch.randn(32, 5, generator=g, dtype=F64)
    y = torch.randn(32, 3, generator=g, dtype=F64)
    return model, x, y


def groups(model, **second):
    """Two parameter groups: the first layer with the defaults, the last one with ``second``."""
    return [{"params": model[0].parameters()}, {"params": model[2].parameters(), **second}]


def run(make_optimizer, steps, seed=0):
    model, x, y = model_and_data(seed)
    opt = make_optimizer(model)
    for i in range(steps):
        opt.zero_grad()
        # a different batch every step, so that momentum and moments see changing gradients
        loss = ((model(x[i % 4::4]) - y[i % 4::4]) ** 2).mean()
        loss.backward()
        opt.step()
    return model, opt


SGD_SETTINGS = [dict(), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3),
                dict(momentum=0.8, nesterov=True), dict(momentum=0.9, weight_decay=0.05),
                dict(weight_decay=0.1)]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_torch_step_for_step(settings):
    """Same update rule, same float64 arithmetic up to operation order: agreement to round-off."""
    ours = run(lambda m: from_scratch.SGD(groups(m, lr=0.02), lr=0.05, **settings), 7)
    theirs = run(lambda m: torch.optim.SGD(groups(m, lr=0.02), lr=0.05, foreach=False, **settings), 7)
    for (p, q) in zip(ours[0].parameters(), theirs[0].parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-13)
        if settings.get("momentum"):
            torch.testing.assert_close(ours[1].state[p]["momentum_buffer"],
                                       theirs[1].state[q]["momentum_buffer"], rtol=0, atol=1e-13)


@pytest.mark.parametrize("settings", [dict(), dict(weight_decay=0.01),
                                      dict(betas=(0.5, 0.9), eps=1e-6)], ids=str)
def test_adam_matches_torch_step_for_step(settings):
    ours = run(lambda m: from_scratch.Adam(groups(m, lr=3e-3), lr=1e-2, **settings), 9)
    theirs = run(lambda m: torch.optim.Adam(groups(m, lr=3e-3), lr=1e-2, foreach=False, **settings), 9)
    moved = 0.0
    for (p, q), p0 in zip(zip(ours[0].parameters(), theirs[0].parameters()),
                          model_and_data()[0].parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-13)
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(ours[1].state[p][key], theirs[1].state[q][key], rtol=1e-12,
                                       atol=1e-15)
        assert ours[1].state[p]["step"] == int(theirs[1].state[q]["step"]) == 9
        moved = max(moved, float((p - p0).detach().abs().max()))
    assert moved > 1e-2  # the comparison is not between two runs that stood still


def test_groups_use_their_own_learning_rate():
    """A group with lr = 0 does not move; the other group does."""
    model, opt = run(lambda m: from_scratch.SGD(groups(m, lr=0.0), lr=0.1, momentum=0.9), 3)
    start = model_and_data()[0]
    assert all(torch.equal(p, q) for p, q in zip(model[2].parameters(), start[2].parameters()))
    assert all(not torch.equal(p, q) for p, q in zip(model[0].parameters(), start[0].parameters()))
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.0]


@pytest.mark.parametrize("cls", [from_scratch.SGD, from_scratch.Adam])
def test_step_calls_the_closure_once_and_returns_its_loss(cls):
    model, x, y = model_and_data()
    opt = cls(model.parameters(), lr=0.01)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    expected = float(((model(x) - y) ** 2).mean().detach())
    assert float(opt.step(closure).detach()) == expected
    assert len(calls) == 1
    assert opt.step() is None  # without a closure: the gradients already in p.grad


@pytest.mark.parametrize("make", [lambda ps: from_scratch.SGD(ps, lr=0.05, momentum=0.9),
                                  lambda ps: from_scratch.Adam(ps, lr=1e-2)], ids=["sgd", "adam"])
def test_state_dict_round_trip_resumes_exactly(make):
    """Three steps, save, load into a fresh optimiser on a copy of the model, three more steps:
    bit-identical to six steps without the interruption."""
    model, x, y = model_and_data()

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

    straight = copy.deepcopy(model)
    train(straight, make(straight.parameters()), 6)
    opt = make(model.parameters())
    train(model, opt, 3)
    saved = copy.deepcopy(opt.state_dict())
    resumed = copy.deepcopy(model)
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(saved)
    train(resumed, opt2, 3)
    assert all(torch.equal(p, q) for p, q in zip(resumed.parameters(), straight.parameters()))
    assert saved["state"]  # the state was not empty: it carried momentum / moments


def test_bad_hyperparameters_are_refused():
    params = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="lr must be >= 0"):
        from_scratch.SGD(params, lr=-1.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        from_scratch.SGD(params, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov momentum needs"):
        from_scratch.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="lr must be a real number"):
        from_scratch.SGD(params, lr="0.1")
    with pytest.raises(ValueError, match="betas must be a pair"):
        from_scratch.Adam(params, betas=0.9)
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        from_scratch.Adam(params, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="eps must be finite"):
        from_scratch.Adam(params, eps=float("nan"))
