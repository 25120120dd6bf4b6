"""Tests for kexue.optim.accumulation: k accumulated micro-batches equal one batch k times larger
(parameters and optimiser state, through a hand loop and through kexue.train), size weights for
unequal micro-batches, the post's first soft batch (an update on every call) does not, batch
normalisation breaks the equivalence, checkpoints taken mid-cycle resume exactly."""
import copy

import pytest
import torch

from kexue import classifier, train
from kexue.classifier import classification_loss
from kexue.optim import accumulation as acc

N = 96


def mlp(hidden, **kwargs):
    """The post's MLP ``784 -> hidden -> hidden -> 10``, as the module builds it."""
    return classifier.mlp((784, hidden, hidden, 10), **kwargs)


def data(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 784, generator=g).to(dtype), torch.randint(0, 10, (N,), generator=g)


def run(make_optimizer, sizes, outer_steps, *, wrapper=None, k=1, dtype=torch.float32,
        batch_norm=False, weights=False):
    """``outer_steps`` passes over the same ``N`` samples, cut into micro-batches of ``sizes``
    (a plain optimiser steps once per pass when ``sizes == [N]``)."""
    x, y = data(dtype)
    model = mlp(16, seed=1, batch_norm=batch_norm).to(dtype)
    inner = make_optimizer(model.parameters())
    acc.train_on_micro_batches(model, wrapper(inner, k) if wrapper else inner, x, y, sizes,
                               outer_steps, weighted=weights)
    return model, inner


def normwise(a, b):
    return float((a - b).norm() / b.norm())


OPTIMISERS = {
    # float32: the 1e-6. Adam divides each coordinate by its RMS gradient, so a coordinate
    # whose gradient nearly cancels over the batch amplifies the float32 rounding of the sum (about
    # 1e-7 of its parts) up to lr * error / eps; a small lr and the L2 term keep that below 1e-6.
    "sgd-momentum-f32": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
                         torch.float32, 1e-6),
    "adam-f32": (lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=1e-2), torch.float32, 1e-6),
    # float64: the same identity, now with a 10x larger Adam step and no weight decay
    "adam-f64": (lambda ps: torch.optim.Adam(ps, lr=1e-2), torch.float64, 1e-12),
}


@pytest.mark.parametrize("k", [2, 4, 8])
@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_accumulated_micro_batches_equal_one_large_batch(name, k):
    make, dtype, tol = OPTIMISERS[name]
    steps = 5
    big, big_opt = run(make, [N], steps, dtype=dtype)
    small, small_opt = run(make, [N // k] * k, steps, wrapper=acc.Accumulate, k=k, dtype=dtype)
    start = mlp(16, seed=1).to(dtype)
    assert acc.max_difference(big, start) > 1e-3   # both runs really moved
    assert acc.max_difference(small, big) < tol
    for p, q in zip(small.parameters(), big.parameters()):
        s, b = small_opt.state[p], big_opt.state[q]
        if "exp_avg" in b:  # Adam: one bias-corrected step per large batch, both moments
            assert int(s["step"]) == int(b["step"]) == steps
            for key in ("exp_avg", "exp_avg_sq"):
                # absolutely to the same tolerance as the parameters, and relatively: float32
                # moments carry the gradients' ~1e-7 relative rounding (doubled for v)
                assert float((s[key] - b[key]).abs().max()) < tol
                assert normwise(s[key], b[key]) < (1e-5 if dtype == torch.float32 else 1e-12)
        else:
            assert float((s["momentum_buffer"] - b["momentum_buffer"]).abs().max()) < tol
            assert normwise(s["momentum_buffer"], b["momentum_buffer"]) < (
                1e-5 if dtype == torch.float32 else 1e-12)


def test_accumulate_in_the_trainer_equals_a_larger_batch():
    """The training loop is unchanged: kexue.train with batches of m and Accumulate(k) takes the
    same steps as kexue.train with batches of k m (same seed, so the same permutation: the k
    micro-batches of a cycle are exactly the rows of one large batch)."""
    x, y = data(torch.float64)
    k, m, outer = 4, 6, 8   # N = 96 = 4 large batches of 24 per epoch: two epochs

    def fit(batch, wrap):
        model = mlp(16, seed=1).double()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        opt = acc.Accumulate(opt, k) if wrap else opt
        history = train.fit(model, opt, classification_loss, (x, y), batch_size=batch,
                            steps=outer * (k if wrap else 1), seed=3, log_every=N // (k * m) * (
                                k if wrap else 1))
        return model, history

    (small, h_small), (big, h_big) = fit(m, True), fit(k * m, False)
    assert acc.max_difference(small, big) < 1e-12
    # the logged window means average the same samples at the same parameters (the trainer sums
    # its logs in float32, hence the tolerance)
    torch.testing.assert_close(torch.tensor(h_small["loss"]), torch.tensor(h_big["loss"]),
                               rtol=1e-6, atol=0)
    assert len(h_small.rows) == len(h_big.rows) == 2


def test_size_weights_make_unequal_micro_batches_exact():
    """Mean loss over micro-batches of 10, 30, 56 samples: weighting each gradient by its size gives
    the large batch's mean gradient; the plain mean of the three means does not."""
    make = lambda ps: torch.optim.SGD(ps, lr=0.5)  # noqa: E731
    sizes = [10, 30, 56]
    big, _ = run(make, [N], 3, dtype=torch.float64)
    weighted, _ = run(make, sizes, 3, wrapper=acc.Accumulate, k=3, dtype=torch.float64, weights=True)
    unweighted, _ = run(make, sizes, 3, wrapper=acc.Accumulate, k=3, dtype=torch.float64)
    assert acc.max_difference(weighted, big) < 1e-12
    assert acc.max_difference(unweighted, big) > 1e-4


@pytest.mark.parametrize("make", [lambda ps: torch.optim.SGD(ps, lr=0.1),
                                  lambda ps: torch.optim.Adam(ps, lr=1e-3)], ids=["sgd", "adam"])
def test_stepping_on_every_call_is_not_a_large_batch(make):
    """The post's first soft batch: the update runs on every micro-batch. Far from the large batch,
    and the wrapped optimiser counts k times as many steps."""
    k, steps = 8, 5
    big, big_opt = run(make, [N], steps)
    naive, naive_opt = run(make, [N // k] * k, steps, wrapper=acc.StepEveryCall, k=k)
    right, _ = run(make, [N // k] * k, steps, wrapper=acc.Accumulate, k=k)
    assert acc.max_difference(right, big) < 1e-6
    assert acc.max_difference(naive, big) > 1e-2
    p = next(naive.parameters())
    if naive_opt.state[p].get("step") is not None:
        assert int(naive_opt.state[p]["step"]) == k * steps
        assert int(big_opt.state[next(big.parameters())]["step"]) == steps


@pytest.mark.parametrize("wrapper", [acc.Accumulate, acc.StepEveryCall])
def test_k_equal_one_is_the_plain_optimiser(wrapper):
    make = lambda ps: torch.optim.Adam(ps, lr=1e-2)  # noqa: E731
    plain, _ = run(make, [N // 4] * 4, 3)
    wrapped, _ = run(make, [N // 4] * 4, 3, wrapper=wrapper, k=1)
    assert acc.max_difference(plain, wrapped) == 0.0


def test_batch_norm_breaks_the_equivalence():
    """With BatchNorm each micro-batch is normalised by its own mean and variance: a different
    loss, so accumulation no longer reproduces the large batch (the same setup without batch norm
    agrees to 1e-6 in the tests above)."""
    make = lambda ps: torch.optim.SGD(ps, lr=0.1)  # noqa: E731
    big, _ = run(make, [N], 3, batch_norm=True)
    small, _ = run(make, [N // 8] * 8, 3, wrapper=acc.Accumulate, k=8, batch_norm=True)
    assert acc.max_difference(small, big) > 1e-3


def test_soft_batch_differences_table():
    """The rows the chapter prints: exact for Accumulate, far off for the other two."""
    x, y = data()
    rows = {r["variant"]: r for r in acc.soft_batch_differences(x, y, k=4, passes=3, hidden=8,
                                                                 lr=1e-3, seed=0)}
    right, naive = rows["Accumulate"], rows["StepEveryCall (first soft batch)"]
    assert right["param_diff"] < 1e-6 and right["moment_diff"] < 1e-7
    assert right["adam_steps"] == right["large_batch_steps"] == 3
    assert naive["param_diff"] > 1e-2 and naive["adam_steps"] == 12
    assert rows["Accumulate, with batch norm"]["param_diff"] > 1e-3


def test_state_dict_mid_cycle_resumes_exactly():
    """Stop after 10 micro-batches of cycles of 4 (two partial sums pending), restore into fresh
    objects, continue: bit-identical to the uninterrupted run."""
    x, y = data()
    k = 4

    def micro_steps(model, opt, indices):
        for i in indices:
            opt.zero_grad()
            classification_loss(model, x[8 * i:8 * i + 8], y[8 * i:8 * i + 8])[0].backward()
            opt.step()

    make = lambda model: acc.Accumulate(torch.optim.Adam(model.parameters(), lr=1e-2), k)  # noqa: E731
    model = mlp(16, seed=1)
    straight = copy.deepcopy(model)
    micro_steps(straight, make(straight), range(12))
    opt = make(model)
    micro_steps(model, opt, range(10))
    saved = copy.deepcopy(opt.state_dict())
    assert saved["count"] == 2
    resumed = copy.deepcopy(model)
    opt2 = make(resumed)
    opt2.load_state_dict(saved)
    micro_steps(resumed, opt2, range(10, 12))
    assert acc.max_difference(resumed, straight) == 0.0


def test_bad_input_is_refused():
    model = mlp(4, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="must be a torch.optim.Optimizer"):
        acc.Accumulate(model, 2)
    with pytest.raises(ValueError, match="k must be a positive int"):
        acc.Accumulate(opt, 0)
    with pytest.raises(ValueError, match="weight must be positive"):
        acc.Accumulate(opt, 2).step(weight=-1.0)
    with pytest.raises(ValueError, match="saved with k=2"):
        acc.Accumulate(opt, 3).load_state_dict(acc.Accumulate(opt, 2).state_dict())
    with pytest.raises(ValueError, match="same shapes"):
        acc.max_difference(model, mlp(5, seed=0))
    x, y = data()
    with pytest.raises(ValueError, match="need 100 samples"):
        acc.train_on_micro_batches(model, opt, x, y, [50, 50], 1)
    with pytest.raises(ValueError, match="micro-batch size must be a positive int"):
        acc.train_on_micro_batches(model, opt, x, y, [0, 50], 1)
