"""Tests for kexue.regularize.lipschitz: power iteration against torch.linalg and torch's own
spectral-norm parametrisation, our spectrally normalised layer step by step against torch's, the
gradient penalties against closed forms and gradcheck, the Lipschitz bounds (product of spectral
norms above, Jacobian norms and difference quotients below), the Kantorovich-Rubinstein dual in 1-D
against scipy, and a tiny run of the MNIST experiment."""
import copy
import math

import pytest
import scipy.stats
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn.utils import parametrizations

from kexue import experiments
from kexue.regularize import lipschitz as L

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
    result = L.power_iteration(W, 500, randn(shape[1], seed=1))
    exact = torch.linalg.matrix_norm(W, 2)
    assert abs(float(result.sigma - exact)) < 1e-12 * float(exact)
    assert abs(abs(float(result.u @ u1)) - 1) < 1e-12 and abs(abs(float(result.v @ v1)) - 1) < 1e-12
    assert float(result.u.norm()) == pytest.approx(1, abs=1e-14)


def test_power_iteration_from_the_posts_all_ones_start():
    W = randn(40, 25, seed=3)
    torch.testing.assert_close(L.power_iteration(W, 500).sigma, torch.linalg.matrix_norm(W, 2),
                               rtol=1e-12, atol=0)


def test_power_iteration_converges_at_the_predicted_rate():
    """Estimate error ~ (sigma_2/sigma_1)^(4k): successive errors shrink by rho^4."""
    rho = 0.8
    s = torch.tensor([1.0, rho, 0.6 * rho, 0.3 * rho, 0.1])
    W = L.matrix_with_singular_values(s, 30, 20, gen(4))
    torch.testing.assert_close(torch.linalg.svdvals(W)[:5], s.double(), rtol=0, atol=1e-13)
    errors = L.power_iteration_errors(W, 16, randn(20, seed=5))
    assert bool((errors <= 1e-15).all())  # u^T W v = ||W^T u|| never exceeds ||W||_2
    assert float(errors[-1]) < -1e-10  # still far above round-off
    ratios = errors[11:16] / errors[10:15]
    # corrections to the rate are relatively O(rho^(4k)) (higher orders of the second value) and
    # O(0.6^(4k)) (the third): below 2e-4 from k = 10 on
    torch.testing.assert_close(ratios, torch.full_like(ratios, rho ** 4), rtol=1e-3, atol=0)


def test_power_iteration_rejects_bad_input():
    W = randn(4, 3)
    with pytest.raises(ValueError, match="2-D"):
        L.power_iteration(W[0], 3)
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        L.power_iteration(W, 0)
    with pytest.raises(ValueError, match="3 entries"):
        L.power_iteration(W, 3, torch.ones(4, dtype=F64))
    with pytest.raises(ValueError, match="zero vector"):
        L.power_iteration(W, 3, torch.zeros(3, dtype=F64))
    with pytest.raises(TypeError, match="floating dtype"):
        L.power_iteration(torch.ones(3, 3, dtype=torch.int64), 3)
    with pytest.raises(ValueError, match="finite"):
        L.power_iteration(torch.full((2, 2), math.nan), 3)


def test_spectral_norm_is_the_root_of_the_top_eigenvalue_and_below_frobenius():
    for seed in range(3):
        W = randn(12, 9, seed=seed)
        sigma = L.power_iteration(W, 400).sigma
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
    L.spectral_normalize(ours, generator=gen(1))
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
    L.spectral_normalize(ours)
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
    L.spectral_normalize(layer, warmup=300)
    layer.eval()
    C = randn(7, 9, seed=3)
    (ours,) = torch.autograd.grad((layer.weight * C).sum(), layer.parametrizations.weight.original)
    W = layer.parametrizations.weight.original.detach().clone().requires_grad_(True)
    (exact,) = torch.autograd.grad((W / torch.linalg.matrix_norm(W, 2) * C).sum(), W)
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-10)


def test_converge_spectral_norms_brings_a_lagging_bound_to_one():
    model = L.mlp([5, 7, 3], spectral_norm=True, generator=gen(0)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x = randn(20, 5)
    for _ in range(30):  # large steps move the weights faster than one round per step follows
        opt.zero_grad()
        (-model(x).norm(dim=1).mean()).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert L.lipschitz_upper_bound(model) > 1 + 1e-6  # trailing vectors: sigma underestimated
        L.converge_spectral_norms(model, 500)
        torch.testing.assert_close(torch.tensor(L.layer_spectral_norms(model), dtype=F64),
                                   torch.ones(2, dtype=F64), rtol=0, atol=1e-10)
    x1, x2 = randn(200, 5, seed=1), randn(200, 5, seed=2)
    assert float(L.difference_quotients(model, x1, x2).max()) <= 1 + 1e-10
    assert float(L.jacobian_norms(model, x1).max()) <= 1 + 1e-10


def test_spectral_normalize_rejects_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        L.spectral_normalize(torch.ones(3, 3))
    with pytest.raises(ValueError, match="no nn.Linear"):
        L.spectral_normalize(nn.ReLU())
    layer = L.spectral_normalize(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="already parametrised"):
        L.spectral_normalize(layer)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        L.SpectralNorm(torch.ones(3))
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        L.SpectralNorm(torch.ones(3, 3), iterations=0)
    with pytest.raises(ValueError, match="no SpectralNorm"):
        L.converge_spectral_norms(nn.Sequential(nn.Linear(2, 2)))


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
    assert value(L.gradient_penalty(model, x)) == pytest.approx(two, abs=1e-14)
    assert value(L.gradient_penalty(model, x, one_sided=True)) == pytest.approx(one, abs=1e-14)
    assert value(L.gradient_penalty(model, x, target=2.0)) == pytest.approx(
        (math.hypot(*w) - 2) ** 2, abs=1e-14)


def test_gradient_penalty_on_a_quadratic_model():
    """f(x) = x^T A x / 2 has grad A x (A symmetric): a different gradient norm per sample."""
    A = randn(4, 4, seed=1)
    A = (A + A.T) / 2
    f = lambda x: 0.5 * ((x @ A) * x).sum(dim=1)  # noqa: E731
    x = randn(32, 4, seed=2)
    norms = (x @ A).norm(dim=1)
    torch.testing.assert_close(L.input_gradients(f, x), x @ A, rtol=0, atol=1e-13)
    assert value(L.gradient_penalty(f, x)) == pytest.approx(float(((norms - 1) ** 2).mean()),
                                                            rel=1e-13)
    assert value(L.gradient_penalty(f, x, one_sided=True)) == pytest.approx(
        float(((norms - 1).clamp_min(0) ** 2).mean()), rel=1e-13)
    assert 0 < value(L.gradient_penalty(f, x, one_sided=True)) < value(L.gradient_penalty(f, x))


def test_gradient_penalty_parameter_gradient_in_closed_form():
    """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||: the penalty trains (create_graph)."""
    for w in ([3.0, 4.0], [0.3, -0.1]):
        model = linear_model(w)
        (grad,) = torch.autograd.grad(L.gradient_penalty(model, randn(5, 2)), model.weight)
        w = torch.tensor(w, dtype=F64)
        torch.testing.assert_close(grad[0], 2 * (w.norm() - 1) * w / w.norm(), rtol=1e-13, atol=0)
    penalty = L.gradient_penalty(linear_model([3.0, 4.0]), randn(5, 2), create_graph=False)
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
    norms = L.input_gradients(model, x, create_graph=False).norm(dim=1)
    assert float(norms.min()) < 1 < float(norms.max())

    def penalty(*ps):
        f = lambda z: torch.func.functional_call(model, dict(zip(names, ps)), (z,))  # noqa: E731
        return L.gradient_penalty(f, x, one_sided=one_sided)

    assert torch.autograd.gradcheck(penalty, params, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_input_gradients_are_per_sample_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    x = randn(5, 4)
    batch = L.input_gradients(model, x)
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
    before = value(L.gradient_penalty(model, x, one_sided=True))
    for _ in range(50):
        opt.zero_grad()
        L.gradient_penalty(model, x, one_sided=True).backward()
        opt.step()
    assert value(L.gradient_penalty(model, x, one_sided=True)) < 0.1 * before


def test_gradient_penalty_rejects_bad_input():
    model = nn.Linear(3, 10)
    with pytest.raises(ValueError, match="one number per sample"):
        L.gradient_penalty(model, torch.randn(4, 3))
    with pytest.raises(TypeError, match="callable"):
        L.gradient_penalty("model", torch.randn(4, 3))
    with pytest.raises(ValueError, match="batch dimension"):
        L.gradient_penalty(nn.Linear(3, 1), torch.randn(3))
    with pytest.raises(ValueError, match="target must be positive"):
        L.gradient_penalty(nn.Linear(3, 1), torch.randn(4, 3), target=0.0)
    with pytest.raises(TypeError, match="floating dtype"):
        L.gradient_penalty(nn.Linear(3, 1), torch.ones(4, 3, dtype=torch.int64))


def test_interpolate_draws_points_on_the_segments():
    a, b = randn(100, 3, seed=1), randn(100, 3, seed=2)
    x = L.interpolate(a, b, gen(3))
    eps = ((x - b) * (a - b)).sum(1) / ((a - b) ** 2).sum(1)
    torch.testing.assert_close(x, b + eps[:, None] * (a - b), rtol=0, atol=1e-13)
    assert 0 <= float(eps.min()) and float(eps.max()) <= 1 and float(eps.std()) > 0.2
    with pytest.raises(ValueError, match="same shape"):
        L.interpolate(a, b[:5])


def test_random_projection_gradient_is_bounded_by_the_jacobian_norm():
    model = L.mlp([6, 10, 4], generator=gen(0)).double()
    x = randn(50, 6)
    f = L.random_projection(model, gen(1))
    assert f(x).shape == (50,)
    norms = L.input_gradients(f, x).norm(dim=1)
    assert bool((norms <= L.jacobian_norms(model, x) + 1e-12).all())
    assert value(norms.min()) > 0


# -- Lipschitz constants measured from above and below ---------------------------------------------
def test_jacobian_norms_match_torch_autograd_functional():
    model = L.mlp([5, 8, 8, 3], generator=gen(2)).double()
    x = randn(4, 5)
    ours = L.jacobian_norms(model, x)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda z: model(z[None])[0], x[i])
        assert float(ours[i]) == pytest.approx(float(torch.linalg.matrix_norm(J, 2)), rel=1e-12)


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_lower_bounds_never_exceed_the_product_bound(act):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 20), act(), nn.Linear(20, 20), act(),
                          nn.Linear(20, 4)).double()
    x1, x2 = randn(500, 10, seed=1), randn(500, 10, seed=2)
    upper = L.lipschitz_upper_bound(model)
    assert upper == pytest.approx(math.prod(value(torch.linalg.matrix_norm(m.weight, 2))
                                            for m in model if isinstance(m, nn.Linear)))
    assert float(L.jacobian_norms(model, x1).max()) <= upper
    assert float(L.difference_quotients(model, x1, x2).max()) <= upper


def test_a_single_linear_layer_attains_its_bound():
    model = nn.Sequential(nn.Linear(6, 4, dtype=F64))
    upper = L.lipschitz_upper_bound(model)
    torch.testing.assert_close(L.jacobian_norms(model, randn(3, 6)),
                               torch.full((3,), upper, dtype=F64), rtol=1e-12, atol=0)
    _, _, v1 = top_singular_pair(model[0].weight.detach())
    x = randn(1, 6)  # along the top right-singular vector the quotient is ||W||_2 exactly
    assert float(L.difference_quotients(model, x, x + v1)[0]) == pytest.approx(upper, rel=1e-12)
    scaled = nn.Sequential(model[0], L.Scale(2.5))
    assert L.lipschitz_upper_bound(scaled) == pytest.approx(2.5 * upper)


def test_measuring_functions_reject_what_the_bound_does_not_cover():
    with pytest.raises(ValueError, match="BatchNorm1d"):
        L.lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    with pytest.raises(ValueError, match="not 1-Lipschitz"):
        L.lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(2.0)))
    with pytest.raises(TypeError, match="nn.Sequential"):
        L.lipschitz_upper_bound(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no nn.Linear"):
        L.lipschitz_upper_bound(nn.Sequential(nn.ReLU()))
    model = nn.Sequential(nn.Linear(2, 2))
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="different inputs"):
        L.difference_quotients(model, x, x)
    with pytest.raises(ValueError, match="same shape"):
        L.difference_quotients(model, x, x[:2])
    with pytest.raises(ValueError, match="K must be positive"):
        L.Scale(0.0)


def test_certified_radius_by_hand_and_under_the_worst_perturbation():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5]], dtype=F64)
    radius = L.certified_radius(logits, torch.tensor([0, 1]), 2.0)
    torch.testing.assert_close(radius, torch.tensor([2 / (2 * math.sqrt(2)), 0.0], dtype=F64))
    # a linear classifier f = W x has L = ||W||_2; the steepest attack on class j moves x along
    # -W^T (e_y - e_j), and even that cannot flip a prediction inside the radius
    W = randn(5, 8, seed=1)
    x = randn(40, 8, seed=2)
    y = (x @ W.T).argmax(1)
    radius = L.certified_radius(x @ W.T, y, float(torch.linalg.matrix_norm(W, 2)))
    assert float(radius.min()) > 0
    for j in range(5):
        d = W[y] - W[j]  # rows: W^T (e_y - e_j)
        step = -d / d.norm(dim=1, keepdim=True).clamp_min(1e-300)
        assert bool((((x + 0.999 * radius[:, None] * step) @ W.T).argmax(1) == y).all())
    with pytest.raises(TypeError, match="labels must be an int64 tensor"):
        L.certified_radius(logits, torch.tensor([0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match="lipschitz must be positive"):
        L.certified_radius(logits, torch.tensor([0, 1]), -1.0)


def test_noise_accuracy():
    model = nn.Sequential(nn.Linear(4, 3, dtype=F64))
    x = randn(300, 4)
    y = model(x).argmax(1).detach()
    acc = L.noise_accuracy(model, x, y, [0.0, 0.5, 100.0], gen(1))
    assert acc[0] == 1.0 and acc[1] < 1.0 and acc[2] < 0.6
    z = torch.randn(x.shape, generator=gen(1), dtype=F64)  # the same draw at every level
    assert acc[1] == int((model(x + 0.5 * z).argmax(1) == y).sum()) / len(x)
    with pytest.raises(ValueError, match="non-negative"):
        L.noise_accuracy(model, x, y, [-0.1])


# -- the Kantorovich-Rubinstein dual in one dimension --------------------------------------------
def two_samples(n=512):
    g = gen(0)
    real = torch.cat([torch.randn(n // 2, generator=g) * 0.5 - 2,
                      torch.randn(n // 2, generator=g) * 0.5 + 2])
    return real, torch.randn(n, generator=g) + 0.5


def test_optimal_critic_attains_the_wasserstein_distance():
    real, fake = two_samples()
    w1 = scipy.stats.wasserstein_distance(real.numpy(), fake.numpy())
    f = L.optimal_critic_1d(real, fake)
    assert float(f(real).mean() - f(fake).mean()) == pytest.approx(w1, rel=1e-12)
    t = torch.linspace(-5, 5, 2001, dtype=F64)
    slopes = f(t).diff() / t.diff()
    assert float(slopes.abs().max()) <= 1 + 1e-12  # 1-Lipschitz
    for g in (lambda x: x, lambda x: -x, lambda x: (x - 0.5).abs(), torch.sin):  # other 1-Lip f
        assert float(g(real.double()).mean() - g(fake.double()).mean()) < w1


def test_critics_estimate_the_wasserstein_distance_only_under_a_constraint():
    real, fake = two_samples()
    w1 = scipy.stats.wasserstein_distance(real.numpy(), fake.numpy())
    gaps = {}
    threads = torch.get_num_threads()
    for constraint in ("none", "one-sided", "spectral-norm"):
        critic = L.fit_critic(real, fake, constraint, steps=200, hidden=32)
        assert torch.get_num_threads() == threads  # trained on one thread, then restored
        gaps[constraint] = L.critic_gap(critic, real, fake)
        # for an L-Lipschitz critic the gap is at most L W_1 (Kantorovich-Rubinstein)
        assert gaps[constraint] <= L.lipschitz_upper_bound(critic) * w1 * (1 + 1e-9)
    # unconstrained: the gap only grows with training (it is no distance)
    shorter = L.critic_gap(L.fit_critic(real, fake, "none", steps=100, hidden=32), real, fake)
    assert gaps["none"] > max(1.5 * shorter, 5 * w1)
    assert abs(gaps["one-sided"] / w1 - 1) < 0.15
    assert 0.3 * w1 < gaps["spectral-norm"] < w1 * 1.02  # learns, but stays below W_1
    with pytest.raises(ValueError, match="constraint must be one of"):
        L.fit_critic(real, fake, "clip", steps=1)
    with pytest.raises(ValueError, match="same size"):
        L.fit_critic(real, fake[:10], "none", steps=1)


def test_plot_critics_draws():
    real, fake = two_samples(64)
    fig = Figure()
    L.plot_critics(fig, real, fake, {"a": L.mlp([1, 4, 1], generator=gen(0))})
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2


def test_plot_power_iteration_draws():
    fig = Figure()
    L.plot_power_iteration(fig, ratios=(0.5,), iterations=5)
    assert fig.axes[0].get_xlabel() == "rounds $k$" and len(fig.axes[0].lines) == 3


# -- the MNIST experiment, tiny ------------------------------------------------------------------
def test_mnist_experiment_tiny_run():
    record = experiments.run("lipschitz-mnist", "quick", n_train=512, n_test=200, epochs=1,
                             hidden=16, n_jacobian=100, sigmas=[0.0, 0.5, 1.0])
    m = record.metrics
    assert list(m["models"]) == ["plain", "weight decay", "spectral norm, K=1",
                                 "spectral norm, K=4", "gradient penalty"]
    for name, r in m["models"].items():
        assert r["pair_max"] <= r["upper_bound"] and r["jacobian_max"] <= r["upper_bound"]
        assert r["noise_acc"][0] == pytest.approx(r["test_acc"])
        assert 0.1 < r["test_acc"] <= 1
    assert m["sn_upper_bound"] == m["models"]["spectral norm, K=1"]["upper_bound"]
    assert 1 - 1e-6 < m["sn_upper_bound"] < 1.3
    for name, K in (("spectral norm, K=1", 1), ("spectral norm, K=4", 4)):
        converged = m["models"][name]["converged"]  # 200 more rounds: the bound is K
        assert converged["upper_bound"] == pytest.approx(K, rel=1e-6)
        assert converged["jacobian_max"] <= converged["upper_bound"]
    assert "converged" not in m["models"]["plain"]
    # a penalty step differentiates through a gradient: dearer than a plain one
    assert m["models"]["gradient penalty"]["ms_per_step"] > m["models"]["plain"]["ms_per_step"]
    header, rows = L.results_table(m, sigma=0.5)
    assert len(rows) == 5 and all(len(r) == len(header) for r in rows)
    with pytest.raises(ValueError, match="measured levels"):
        L.results_table(m, sigma=0.3)
    fig = Figure()
    L.plot_noise_accuracy(m, fig)
    assert len(fig.axes) == 2
    widget = L.explore_noise(m, record.artifacts)
    assert widget.png(sigma=1.0)[:4] == b"\x89PNG"
