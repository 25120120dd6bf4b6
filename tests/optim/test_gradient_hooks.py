"""Tests for kexue.optim.gradient_hooks: per-parameter clipping agrees with
torch.nn.utils.clip_grad_norm_ applied to each parameter alone; projected gradients are orthogonal
to the removed directions and SGD then stays in the affine subspace (Adam does not); the two hook
kinds differ exactly when there are several backward passes; hooks come off."""
import math

import pytest
import torch
from torch import nn

from kexue.optim import gradient_hooks as gh
from kexue.optim import surfaces

F64 = torch.float64


def model_and_loss(seed=0):
    """A small network and a loss whose parameters get gradients of very different sizes (the
    output layer's loss term is scaled up), so a bound can sit between them."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    X, Y = torch.randn(40, 5, generator=g, dtype=F64), torch.randn(40, 3, generator=g, dtype=F64)

    def loss(rows=slice(None)):
        return ((model(X[rows]) - Y[rows]) ** 2).mean() * 30 + (model[0].weight ** 2).sum() * 0.01

    return model, loss


def raw_gradients(model, loss):
    model.zero_grad()
    loss().backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("when", gh.WHEN)
@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
def test_per_parameter_clipping_matches_torch_on_each_parameter(norm_type, when):
    model, loss = model_and_loss()
    raw = raw_gradients(model, loss)
    norms = sorted(float(torch.linalg.vector_norm(g, norm_type)) for g in raw)
    # the bound sits in the widest gap between norms: some are clipped, some not, none is close
    i = max(range(len(norms) - 1), key=lambda i: norms[i + 1] / norms[i])
    bound = math.sqrt(norms[i] * norms[i + 1])
    assert norms[i] < 0.9 * bound and norms[i + 1] > 1.1 * bound
    with gh.clip_gradient_norm(model.parameters(), bound, norm_type=norm_type, when=when):
        model.zero_grad()
        loss().backward()
        ours = [p.grad.clone() for p in model.parameters()]
    clipped = 0
    for g, mine in zip(raw, ours):
        p = nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_([p], bound, norm_type=norm_type)
        n = float(torch.linalg.vector_norm(g, norm_type))
        if n > bound:
            clipped += 1
            # clipped to the bound exactly (to rounding) ...
            assert float(torch.linalg.vector_norm(mine, norm_type)) == pytest.approx(bound, rel=1e-13)
            # ... and along the same direction as torch, which divides by n + 1e-6 instead of n
            # (so its norm is smaller by the factor n / (n + 1e-6)): relative gap <= 1e-6 / n
            torch.testing.assert_close(mine, p.grad, rtol=1.01e-6 / n, atol=0)
        else:
            assert torch.equal(mine, g)  # untouched, bit for bit
            assert torch.equal(p.grad, g)
    assert clipped == len(norms) - 1 - i


def test_hook_kinds_differ_with_two_backward_passes():
    """``backward`` clips each pass's gradient before it is added to ``.grad``; ``accumulated``
    clips ``.grad`` after each pass is added: ``clip(clip(g1) + g2)``. Neither is ``clip(g1 + g2)``
    (that needs clipping once, before ``optimizer.step()``)."""
    model, loss = model_and_loss()
    params = list(model.parameters())
    pieces = []
    for rows in (slice(0, 20), slice(20, 40)):
        model.zero_grad()
        loss(rows).backward()
        pieces.append([p.grad.clone() for p in params])
    bound = 0.5 * min(float(g.norm()) for g in pieces[0] + pieces[1])  # every piece is clipped
    expect = {"backward": [gh.clip_norm(a, bound) + gh.clip_norm(b, bound) for a, b in zip(*pieces)],
              "accumulated": [gh.clip_norm(gh.clip_norm(a, bound) + b, bound)
                              for a, b in zip(*pieces)]}
    for when, expected in expect.items():
        with gh.clip_gradient_norm(params, bound, when=when):
            model.zero_grad()
            loss(slice(0, 20)).backward()
            loss(slice(20, 40)).backward()
        for p, e in zip(params, expected):
            torch.testing.assert_close(p.grad, e, rtol=1e-13, atol=1e-15)
    # and the three are different numbers
    once = [gh.clip_norm(a + b, bound) for a, b in zip(*pieces)]
    for x, y in [("backward", "accumulated"), ("backward", once), ("accumulated", once)]:
        y = expect[y] if isinstance(y, str) else y
        assert any(not torch.allclose(a, b) for a, b in zip(expect[x], y))


def test_hooks_come_off():
    model, loss = model_and_loss()
    raw = raw_gradients(model, loss)
    handles = gh.clip_gradient_norm(model.parameters(), 1e-3)
    assert len(handles) == 4
    hooked = raw_gradients(model, loss)
    assert all(float(g.norm()) <= 1e-3 * (1 + 1e-12) for g in hooked)
    handles.remove()
    assert len(handles) == 0
    assert all(torch.equal(a, b) for a, b in zip(raw_gradients(model, loss), raw))
    with gh.project_gradient(model[0].weight, torch.ones(7, 5), when="accumulated"):
        pass  # the context manager removes it on exit
    assert all(torch.equal(a, b) for a, b in zip(raw_gradients(model, loss), raw))


def test_clip_norm_leaves_a_zero_gradient_alone():
    g = torch.zeros(3, dtype=F64)
    assert torch.equal(gh.clip_norm(g, 1.0), g)


# -- projection ----------------------------------------------------------------------------------
@pytest.mark.parametrize("when", gh.WHEN)
def test_projected_gradient_is_orthogonal_to_the_directions(when):
    model, loss = model_and_loss()
    W = model[0].weight
    g = torch.Generator().manual_seed(3)
    U = torch.randn(3, *W.shape, generator=g, dtype=F64)
    raw = raw_gradients(model, loss)[0]
    with gh.project_gradient(W, U, when=when):
        complement = raw_gradients(model, loss)[0]
    with gh.project_gradient(W, U, keep="span", when=when):
        span = raw_gradients(model, loss)[0]
    for u in U:  # <g', u> = 0 to rounding, relative to |g| |u|
        assert abs(float((complement * u).sum())) < 1e-13 * float(raw.norm() * u.norm())
    torch.testing.assert_close(complement + span, raw, rtol=1e-13, atol=1e-14)
    # span part lies in span(U): the least-squares residual against U is ~0
    A = U.reshape(3, -1).T
    coef = torch.linalg.lstsq(A, span.reshape(-1, 1)).solution
    assert float((A @ coef - span.reshape(-1, 1)).norm()) < 1e-12 * float(raw.norm())
    # projecting the projected gradient again changes nothing (idempotent)
    Q, c = gh.orthonormal_directions(U, W.shape), complement.reshape(-1)
    assert float((Q.T @ c).abs().max()) < 1e-13 * float(raw.norm())
    torch.testing.assert_close(Q.T @ Q, torch.eye(3, dtype=F64), rtol=0, atol=1e-14)


def train_projected(optimizer, keep, steps=60):
    model, loss = model_and_loss()
    W = model[0].weight
    U = torch.randn(2, *W.shape, generator=torch.Generator().manual_seed(4), dtype=F64)
    W0 = W.detach().clone()
    opt = optimizer(model.parameters())
    with gh.project_gradient(W, U, keep=keep):
        for _ in range(steps):
            opt.zero_grad()
            loss().backward()
            opt.step()
    Q = gh.orthonormal_directions(U, W.shape)
    d = (W.detach() - W0).reshape(-1)
    along = Q @ (Q.T @ d)
    # distance from the affine subspace W0 + span (keep="span") or W0 + span^perp ("complement")
    off = d - along if keep == "span" else along
    return float(off.norm()), float(d.norm())


@pytest.mark.parametrize("keep", ["span", "complement"])
def test_sgd_with_projected_gradients_stays_in_the_affine_subspace(keep):
    off, moved = train_projected(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), keep)
    assert moved > 0.05  # it trains
    assert off < 1e-12 * moved  # rounding only: every step is a sum of projected gradients


@pytest.mark.parametrize("keep", ["span", "complement"])
def test_adam_with_projected_gradients_leaves_the_subspace(keep):
    """Adam divides coordinate by coordinate: the update is no longer in the span of the
    (projected) gradients. The chapter says so; this checks it."""
    off, moved = train_projected(lambda p: torch.optim.Adam(p, lr=0.01), keep)
    assert off > 1e-3 * moved  # against < 1e-12 for SGD; observed 1.5% and more


def test_projected_paths_on_a_surface():
    surface = surfaces.get("quadratic")
    u = torch.tensor([2.0, 1.0], dtype=F64) / math.sqrt(5)
    paths = gh.projected_paths(surface, (2.0, 1.0), steps=30)
    start = torch.tensor(surface.start, dtype=F64)
    off = {k: float(((p - start) @ u).abs().max()) for k, p in paths.items()}
    assert off["SGD"] < 1e-12
    assert off["Adam"] > 0.1 and off["SGD, no hook"] > 0.1


# -- bad input -----------------------------------------------------------------------------------
def test_bad_input_is_refused():
    model, _ = model_and_loss()
    W = model[0].weight
    with pytest.raises(ValueError, match="leaf tensor that requires grad"):
        gh.clip_gradient_norm(W * 2, 1.0)
    with pytest.raises(ValueError, match="leaf tensor that requires grad"):
        gh.clip_gradient_norm(torch.zeros(3), 1.0)
    with pytest.raises(TypeError, match="parameter 1 must be a torch.Tensor"):
        gh.clip_gradient_norm([W, "b"], 1.0)
    with pytest.raises(ValueError, match="no parameters"):
        gh.clip_gradient_norm([], 1.0)
    with pytest.raises(ValueError, match="max_norm must be positive"):
        gh.clip_gradient_norm(W, 0.0)
    with pytest.raises(ValueError, match="max_norm must be finite"):
        gh.clip_gradient_norm(W, math.inf)
    with pytest.raises(ValueError, match="norm_type must be a number >= 1"):
        gh.clip_gradient_norm(W, 1.0, norm_type=0.5)
    with pytest.raises(ValueError, match="when must be one of"):
        gh.clip_gradient_norm(W, 1.0, when="later")
    with pytest.raises(TypeError, match="transform must be a callable"):
        gh.register_gradient_transform(W, 3)
    with pytest.raises(ValueError, match="keep must be 'complement' or 'span'"):
        gh.project_gradient(W, torch.ones_like(W), keep="both")
    with pytest.raises(ValueError, match="directions must have the parameter's shape \\(7, 5\\)"):
        gh.project_gradient(W, torch.ones(5, 7))
    with pytest.raises(ValueError, match="linearly dependent"):
        gh.project_gradient(W, torch.stack([torch.ones_like(W), 2 * torch.ones_like(W)]))
    with pytest.raises(ValueError, match="linearly dependent"):
        gh.project_gradient(W, torch.zeros_like(W))
    with pytest.raises(ValueError, match="3 directions cannot be independent in a space of "
                                         "dimension 2"):
        gh.project_gradient(nn.Parameter(torch.zeros(2)), torch.randn(3, 2))
    with pytest.raises(TypeError, match="real floating dtype"):
        gh.project_gradient(W, torch.ones(7, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="must be finite"):
        gh.project_gradient(W, torch.full((7, 5), math.nan))


def test_clipping_comparison_against_torch():
    model, loss = model_and_loss()
    raw = [float(g.norm()) for g in raw_gradients(model, loss)]
    bound = sorted(raw)[1] * 1.5
    result = gh.clipping_comparison(model, lambda m: loss(), (), bound)
    assert result["names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert result["raw"] == pytest.approx(raw, rel=1e-14)
    total = math.sqrt(sum(n * n for n in raw))
    # global: one factor c / (total + 1e-6) for all (torch's formula), so the total norm is ~c
    assert result["global"] == pytest.approx([n * bound / (total + 1e-6) for n in raw], rel=1e-12)
    assert result["per_parameter"] == pytest.approx([min(n, bound) for n in raw], rel=1e-12)
    assert all(p.grad is None for p in model.parameters())  # hooks off, gradients cleared
