"""Tests for kexue.gradients: power iteration against torch.linalg and torch's own spectral-norm
parametrisation, our spectrally normalised layer step by step against torch's, the gradient
penalties against closed forms and gradcheck, and the Lipschitz bounds (product of spectral norms
above, Jacobian norms and difference quotients below)."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from kexue import gradients as G
from kexue.regularize.lipschitz import mlp  # weights drawn from a generator, as the chapter does

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=gen(seed), dtype=F64)


def value(t):
    return float(t.detach())


def top_singular_pair(W):
    U, S, Vh = torch.linalg.svd(W)
    return S, U[:, 0], Vh[0]


# -- power iteration -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(50, 30), (30, 50), (8, 8), (200, 3), (1, 7)])
def test_power_iteration_matches_matrix_norm(shape):
    W = randn(*shape, seed=sum(shape))
    S, u1, v1 = top_singular_pair(W)
    # the slowest of these random matrices has sigma_2 / sigma_1 ~ 0.95: after 500 rounds the
    # error (sigma_2/sigma_1)^(4k) is far below round-off
    assert float(S[1] / S[0]) < 0.97 if len(S) > 1 else True
    result = G.power_iteration(W, 500, randn(shape[1], seed=1))
    exact = torch.linalg.matrix_norm(W, 2)
    assert abs(float(result.sigma - exact)) < 1e-12 * float(exact)
    assert abs(abs(float(result.u @ u1)) - 1) < 1e-12 and abs(abs(float(result.v @ v1)) - 1) < 1e-12
    assert float(result.u.norm()) == pytest.approx(1, abs=1e-14)


def test_power_iteration_from_the_posts_all_ones_start():
    W = randn(40, 25, seed=3)
    torch.testing.assert_close(G.power_iteration(W, 500).sigma, torch.linalg.matrix_norm(W, 2),
                               rtol=1e-12, atol=0)


def test_power_iteration_rejects_bad_input():
    W = randn(4, 3)
    with pytest.raises(ValueError, match="2-D"):
        G.power_iteration(W[0], 3)
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        G.power_iteration(W, 0)
    with pytest.raises(ValueError, match="3 entries"):
        G.power_iteration(W, 3, torch.ones(4, dtype=F64))
    with pytest.raises(ValueError, match="zero vector"):
        G.power_iteration(W, 3, torch.zeros(3, dtype=F64))
    with pytest.raises(TypeError, match="floating dtype"):
        G.power_iteration(torch.ones(3, 3, dtype=torch.int64), 3)
    with pytest.raises(ValueError, match="finite"):
        G.power_iteration(torch.full((2, 2), math.nan), 3)


def test_spectral_norm_is_the_root_of_the_top_eigenvalue_and_below_frobenius():
    for seed in range(3):
        W = randn(12, 9, seed=seed)
        sigma = G.power_iteration(W, 400).sigma
        assert float(sigma) == pytest.approx(float(torch.linalg.eigvalsh(W.T @ W)[-1]) ** 0.5,
                                             rel=1e-12)
        assert float(sigma) <= float(torch.linalg.matrix_norm(W, "fro"))


# -- spectral normalisation against torch's parametrisation -----------------------------------------
def test_normalised_weight_matches_torch_after_many_rounds():
    """Both parametrisations, run to convergence on a fixed weight, give W / ||W||_2."""
    torch.manual_seed(0)
    ours = nn.Linear(30, 20, dtype=F64)
    theirs = copy.deepcopy(ours)
    W = ours.weight.detach().clone()
    s = torch.linalg.svdvals(W)
    assert float(s[1] / s[0]) < 0.95  # so 300 rounds leave (0.95)^1200 ~ 1e-27: round-off only
    G.spectral_normalize(ours, generator=gen(1))
    parametrizations.spectral_norm(theirs, n_power_iterations=1)
    for _ in range(300):  # one round per access in training mode, for both
        ours.weight, theirs.weight
    expected = W / torch.linalg.matrix_norm(W, 2)
    torch.testing.assert_close(ours.weight, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(theirs.weight, expected, rtol=0, atol=1e-12)
    assert float(torch.linalg.matrix_norm(ours.weight.detach(), 2)) == pytest.approx(1, abs=1e-12)


def test_spectral_norm_layer_follows_torch_step_by_step_in_training():
    """Same weights and the same starting vectors: our layer and torch's give the same outputs,
    vectors and gradients at every step of training (one power-iteration round per forward)."""
    torch.manual_seed(0)
    theirs = nn.Sequential(nn.Linear(6, 8, dtype=F64), nn.ReLU(), nn.Linear(8, 3, dtype=F64))
    ours = copy.deepcopy(theirs)
    for layer in theirs[0], theirs[2]:
        parametrizations.spectral_norm(layer)
    G.spectral_normalize(ours)
    for a, b in zip((ours[0], ours[2]), (theirs[0], theirs[2])):
        p, q = a.parametrizations.weight[0], b.parametrizations.weight[0]
        p.u, p.v = q._u.clone(), q._v.clone()
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1)
    x = randn(16, 6, seed=2)
    for step in range(20):
        losses = []
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            loss = (model(x) ** 2).mean() - model(x[:4]).mean()  # two forwards, as in a GAN
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-13)
    for a, b in zip((ours[0], ours[2]), (theirs[0], theirs[2])):
        torch.testing.assert_close(a.parametrizations.weight.original,
                                   b.parametrizations.weight.original, rtol=0, atol=1e-12)
        torch.testing.assert_close(a.parametrizations.weight[0].v, b.parametrizations.weight[0]._v,
                                   rtol=0, atol=1e-12)
    ours.eval(), theirs.eval()
    v_before = ours[0].parametrizations.weight[0].v
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-12)
    assert ours[0].parametrizations.weight[0].v is v_before  # eval: no power iteration


def test_gradient_through_sigma_is_the_gradient_of_the_spectral_norm():
    """With converged vectors, d sigma / dW = u v^T, the gradient of ||W||_2 itself."""
    layer = nn.Linear(9, 7, dtype=F64)
    G.spectral_normalize(layer, warmup=300)
    layer.eval()
    C = randn(7, 9, seed=3)
    (ours,) = torch.autograd.grad((layer.weight * C).sum(), layer.parametrizations.weight.original)
    W = layer.parametrizations.weight.original.detach().clone().requires_grad_(True)
    (exact,) = torch.autograd.grad((W / torch.linalg.matrix_norm(W, 2) * C).sum(), W)
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-10)


def test_converge_spectral_norms_brings_a_lagging_bound_to_one():
    model = mlp([5, 7, 3], spectral_norm=True, generator=gen(0)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x = randn(20, 5)
    for _ in range(30):  # large steps move the weights faster than one round per step follows
        opt.zero_grad()
        (-model(x).norm(dim=1).mean()).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert G.lipschitz_upper_bound(model) > 1 + 1e-6  # trailing vectors: sigma underestimated
        G.converge_spectral_norms(model, 500)
        torch.testing.assert_close(torch.tensor(G.layer_spectral_norms(model), dtype=F64),
                                   torch.ones(2, dtype=F64), rtol=0, atol=1e-10)
    x1, x2 = randn(200, 5, seed=1), randn(200, 5, seed=2)
    assert float(G.difference_quotients(model, x1, x2).max()) <= 1 + 1e-10
    assert float(G.jacobian_norms(model, x1).max()) <= 1 + 1e-10


def test_spectral_normalize_rejects_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        G.spectral_normalize(torch.ones(3, 3))
    with pytest.raises(ValueError, match="no nn.Linear"):
        G.spectral_normalize(nn.ReLU())
    layer = G.spectral_normalize(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="already parametrised"):
        G.spectral_normalize(layer)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        G.SpectralNorm(torch.ones(3))
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        G.SpectralNorm(torch.ones(3, 3), iterations=0)
    with pytest.raises(ValueError, match="no SpectralNorm"):
        G.converge_spectral_norms(nn.Sequential(nn.Linear(2, 2)))


# -- the gradient penalty ------------------------------------------------------------------------
def linear_model(w, b=0.5):
    model = nn.Linear(len(w), 1, dtype=F64)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(w, dtype=F64)[None])
        model.bias.fill_(b)
    return model


@pytest.mark.parametrize("w,two,one", [([3.0, 0.0], 4.0, 4.0),        # ||w|| = 3
                                       ([0.3, 0.4], 0.25, 0.0),       # ||w|| = 0.5
                                       ([0.6, 0.8], 0.0, 0.0)])       # ||w|| = 1
def test_gradient_penalty_on_a_linear_model(w, two, one):
    """grad_x (w^T x + b) = w everywhere: the penalty is (||w|| - 1)^2 or max(||w|| - 1, 0)^2."""
    model, x = linear_model(w), randn(10, 2)
    assert value(G.gradient_penalty(model, x)) == pytest.approx(two, abs=1e-14)
    assert value(G.gradient_penalty(model, x, one_sided=True)) == pytest.approx(one, abs=1e-14)
    assert value(G.gradient_penalty(model, x, target=2.0)) == pytest.approx(
        (math.hypot(*w) - 2) ** 2, abs=1e-14)


def test_gradient_penalty_on_a_quadratic_model():
    """f(x) = x^T A x / 2 has grad A x (A symmetric): a different gradient norm per sample."""
    A = randn(4, 4, seed=1)
    A = (A + A.T) / 2
    f = lambda x: 0.5 * ((x @ A) * x).sum(dim=1)  # noqa: E731
    x = randn(32, 4, seed=2)
    norms = (x @ A).norm(dim=1)
    torch.testing.assert_close(G.input_gradients(f, x), x @ A, rtol=0, atol=1e-13)
    assert value(G.gradient_penalty(f, x)) == pytest.approx(float(((norms - 1) ** 2).mean()),
                                                            rel=1e-13)
    assert value(G.gradient_penalty(f, x, one_sided=True)) == pytest.approx(
        float(((norms - 1).clamp_min(0) ** 2).mean()), rel=1e-13)
    assert 0 < value(G.gradient_penalty(f, x, one_sided=True)) < value(G.gradient_penalty(f, x))


def test_gradient_penalty_parameter_gradient_in_closed_form():
    """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||: the penalty trains (create_graph)."""
    for w in ([3.0, 4.0], [0.3, -0.1]):
        model = linear_model(w)
        (grad,) = torch.autograd.grad(G.gradient_penalty(model, randn(5, 2)), model.weight)
        w = torch.tensor(w, dtype=F64)
        torch.testing.assert_close(grad[0], 2 * (w.norm() - 1) * w / w.norm(), rtol=1e-13, atol=0)
    penalty = G.gradient_penalty(linear_model([3.0, 4.0]), randn(5, 2), create_graph=False)
    assert not penalty.requires_grad  # without create_graph there is nothing to train on


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_parameter_gradient_by_gradcheck(one_sided):
    """Second-order autograd through a tanh MLP, checked against finite differences."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    with torch.no_grad():
        model[2].weight.mul_(5)  # gradient norms straddle 1, so the one-sided hinge is active
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    x = randn(6, 3, seed=3)
    norms = G.input_gradients(model, x, create_graph=False).norm(dim=1)
    assert float(norms.min()) < 1 < float(norms.max())

    def penalty(*ps):
        f = lambda z: torch.func.functional_call(model, dict(zip(names, ps)), (z,))  # noqa: E731
        return G.gradient_penalty(f, x, one_sided=one_sided)

    assert torch.autograd.gradcheck(penalty, params, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_input_gradients_are_per_sample_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    x = randn(5, 4)
    batch = G.input_gradients(model, x)
    for i in range(5):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (single,) = torch.autograd.grad(model(xi).sum(), xi)
        torch.testing.assert_close(batch[i], single[0], rtol=0, atol=1e-14)


def test_gradient_penalty_training_lowers_the_penalty():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        model[2].weight.mul_(10)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = randn(64, 3)
    before = value(G.gradient_penalty(model, x, one_sided=True))
    for _ in range(50):
        opt.zero_grad()
        G.gradient_penalty(model, x, one_sided=True).backward()
        opt.step()
    assert value(G.gradient_penalty(model, x, one_sided=True)) < 0.1 * before


def test_gradient_penalty_rejects_bad_input():
    model = nn.Linear(3, 10)
    with pytest.raises(ValueError, match="one number per sample"):
        G.gradient_penalty(model, torch.randn(4, 3))
    with pytest.raises(TypeError, match="callable"):
        G.gradient_penalty("model", torch.randn(4, 3))
    with pytest.raises(ValueError, match="batch dimension"):
        G.gradient_penalty(nn.Linear(3, 1), torch.randn(3))
    with pytest.raises(ValueError, match="target must be positive"):
        G.gradient_penalty(nn.Linear(3, 1), torch.randn(4, 3), target=0.0)
    with pytest.raises(TypeError, match="floating dtype"):
        G.gradient_penalty(nn.Linear(3, 1), torch.ones(4, 3, dtype=torch.int64))


def test_interpolate_draws_points_on_the_segments():
    a, b = randn(100, 3, seed=1), randn(100, 3, seed=2)
    x = G.interpolate(a, b, gen(3))
    eps = ((x - b) * (a - b)).sum(1) / ((a - b) ** 2).sum(1)
    torch.testing.assert_close(x, b + eps[:, None] * (a - b), rtol=0, atol=1e-13)
    assert 0 <= float(eps.min()) and float(eps.max()) <= 1 and float(eps.std()) > 0.2
    with pytest.raises(ValueError, match="same shape"):
        G.interpolate(a, b[:5])


def test_random_projection_gradient_is_bounded_by_the_jacobian_norm():
    model = mlp([6, 10, 4], generator=gen(0)).double()
    x = randn(50, 6)
    f = G.random_projection(model, gen(1))
    assert f(x).shape == (50,)
    norms = G.input_gradients(f, x).norm(dim=1)
    assert bool((norms <= G.jacobian_norms(model, x) + 1e-12).all())
    assert value(norms.min()) > 0


# -- Lipschitz constants measured from above and below ---------------------------------------------
def test_jacobian_norms_match_torch_autograd_functional():
    model = mlp([5, 8, 8, 3], generator=gen(2)).double()
    x = randn(4, 5)
    ours = G.jacobian_norms(model, x)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda z: model(z[None])[0], x[i])
        assert float(ours[i]) == pytest.approx(float(torch.linalg.matrix_norm(J, 2)), rel=1e-12)


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_lower_bounds_never_exceed_the_product_bound(act):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 20), act(), nn.Linear(20, 20), act(),
                          nn.Linear(20, 4)).double()
    x1, x2 = randn(500, 10, seed=1), randn(500, 10, seed=2)
    upper = G.lipschitz_upper_bound(model)
    assert upper == pytest.approx(math.prod(value(torch.linalg.matrix_norm(m.weight, 2))
                                            for m in model if isinstance(m, nn.Linear)))
    assert float(G.jacobian_norms(model, x1).max()) <= upper
    assert float(G.difference_quotients(model, x1, x2).max()) <= upper


def test_a_single_linear_layer_attains_its_bound():
    model = nn.Sequential(nn.Linear(6, 4, dtype=F64))
    upper = G.lipschitz_upper_bound(model)
    torch.testing.assert_close(G.jacobian_norms(model, randn(3, 6)),
                               torch.full((3,), upper, dtype=F64), rtol=1e-12, atol=0)
    _, _, v1 = top_singular_pair(model[0].weight.detach())
    x = randn(1, 6)  # along the top right-singular vector the quotient is ||W||_2 exactly
    assert float(G.difference_quotients(model, x, x + v1)[0]) == pytest.approx(upper, rel=1e-12)
    scaled = nn.Sequential(model[0], G.Scale(2.5))
    assert G.lipschitz_upper_bound(scaled) == pytest.approx(2.5 * upper)


def test_measuring_functions_reject_what_the_bound_does_not_cover():
    with pytest.raises(ValueError, match="BatchNorm1d"):
        G.lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    with pytest.raises(ValueError, match="not 1-Lipschitz"):
        G.lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(2.0)))
    with pytest.raises(TypeError, match="nn.Sequential"):
        G.lipschitz_upper_bound(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no nn.Linear"):
        G.lipschitz_upper_bound(nn.Sequential(nn.ReLU()))
    model = nn.Sequential(nn.Linear(2, 2))
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="different inputs"):
        G.difference_quotients(model, x, x)
    with pytest.raises(ValueError, match="same shape"):
        G.difference_quotients(model, x, x[:2])
    with pytest.raises(ValueError, match="K must be positive"):
        G.Scale(0.0)
