"""Integrated gradients: the quadrature rules, completeness within the error the chapter derives,
exactness on a linear model, saturation, captum as an independent peer, and bad input."""
import math

import pytest
import torch
from torch import nn

from kexue.classifiers import attribution as A

torch.set_default_dtype(torch.float32)


def relu_net(seed=0, d=6, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, classes)).double().eval()


def smooth_net(seed=0, d=6, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, classes)).double().eval()


def inputs(n=4, d=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(
        n, d, generator=g, dtype=torch.float64) * 0.1


@pytest.mark.parametrize("rule", A.RULES)
def test_weights_sum_to_one_and_nodes_lie_on_the_path(rule):
    for steps in (2, 5, 16):
        alphas, weights = A.quadrature(steps, rule)
        assert len(alphas) == steps and weights.sum().item() == pytest.approx(1.0, abs=1e-14)
        assert (alphas >= 0).all() and (alphas <= 1).all()


def test_each_rule_integrates_what_it_should_exactly():
    """Midpoint and trapezoid are exact for straight lines; n-point Gauss–Legendre for degree
    2n − 1 but not 2n; left and right only for constants."""
    def integral(rule, n, f):
        a, w = A.quadrature(n, rule)
        return float((w * f(a)).sum())

    line = lambda a: 3 * a - 1  # ∫ = 0.5
    for rule in ("midpoint", "trapezoid", "gauss-legendre"):
        assert integral(rule, 4, line) == pytest.approx(0.5, abs=1e-14)
    for rule in ("left", "right"):
        assert abs(integral(rule, 4, line) - 0.5) == pytest.approx(3 / 8, abs=1e-14)
    n = 4
    assert integral("gauss-legendre", n, lambda a: a ** (2 * n - 1)) == pytest.approx(1 / (2 * n),
                                                                                      abs=1e-14)
    assert abs(integral("gauss-legendre", n, lambda a: a ** (2 * n)) - 1 / (2 * n + 1)) > 1e-8


def test_a_linear_model_gets_w_times_x_minus_baseline_exactly():
    torch.manual_seed(0)
    model = nn.Linear(6, 3).double()
    x, baseline = inputs()
    expected = model.weight[2] * (x - baseline)
    for rule in A.RULES:
        for steps in (2, 7):
            ig = A.integrated_gradients(model, x, baseline, 2, steps=steps, rule=rule)
            torch.testing.assert_close(ig, expected.detach(), rtol=0, atol=1e-13)
    torch.testing.assert_close(A.gradient_times_input(model, x, baseline, 2), expected.detach(),
                               rtol=0, atol=1e-13)


def test_saturation_gradients_say_nothing_integrated_gradients_recover_the_change():
    """F(x) = Σ_i min(x_i, 1) at x = 2: every gradient is 0, yet F(x) − F(0) = d."""
    forward = lambda x: (1 - torch.relu(1 - x)).sum(1)
    x = torch.full((1, 5), 2.0, dtype=torch.float64)
    assert A.gradients(forward, x).abs().max() == 0
    assert A.gradient_times_input(forward, x).abs().max() == 0
    ig = A.integrated_gradients(forward, x, steps=64)
    torch.testing.assert_close(ig, torch.ones_like(x))
    assert float(A.completeness_gap(forward, ig, x).abs().max()) < 1e-12


def dense_integrand(model, x, baseline, target, m=20001):
    alphas = torch.linspace(0, 1, m, dtype=torch.float64)
    return alphas, A.path_integrand(model, x, baseline, alphas, target)


def test_one_node_per_piece_misses_by_at_most_the_total_variation_over_n():
    """A ReLU network's logit is piecewise linear along the path, so g(α) is a step function: the
    left, right and midpoint rules miss ∫g by at most V(g)/n, V the total variation of g, and the
    error does not fall faster than 1/n."""
    model, (x, baseline) = relu_net(), inputs(n=8)
    forward = lambda z: model(z)
    alphas, g = dense_integrand(forward, x, baseline, 1)
    variation = g.diff(dim=1).abs().sum(1)
    assert (variation > 0).all()  # the paths do cross kinks
    for rule in ("left", "right", "midpoint"):
        for n in (4, 16, 64, 256):
            ig = A.integrated_gradients(forward, x, baseline, 1, steps=n, rule=rule)
            gap = A.completeness_gap(forward, ig, x, baseline, 1).abs()
            assert (gap <= variation / n * (1 + 1e-6) + 1e-12).all(), (rule, n)


def test_on_a_smooth_model_midpoint_and_trapezoid_err_like_one_over_n_squared():
    """|E_mid| ≤ max|g''| / (24 n²) and |E_trap| ≤ max|g''| / (12 (n−1)²); halving the spacing
    quarters the error; Gauss–Legendre with 8 nodes is already at rounding level."""
    model, (x, baseline) = smooth_net(), inputs(n=8)
    output = lambda z: model(z).softmax(1)
    alphas, g = dense_integrand(output, x, baseline, 0)
    h = float(alphas[1] - alphas[0])
    curvature = ((g[:, 2:] - 2 * g[:, 1:-1] + g[:, :-2]) / h ** 2).abs().amax(1)
    gaps = {}
    for rule, bound in (("midpoint", lambda n: curvature / (24 * n ** 2)),
                        ("trapezoid", lambda n: curvature / (12 * (n - 1) ** 2))):
        for n in (4, 16, 64, 128):
            ig = A.integrated_gradients(output, x, baseline, 0, steps=n, rule=rule)
            gaps[rule, n] = A.completeness_gap(output, ig, x, baseline, 0).abs()
            assert (gaps[rule, n] <= bound(n) * 1.01 + 1e-15).all(), (rule, n)
    ratio = gaps["midpoint", 64].sum() / gaps["midpoint", 128].sum()
    assert 3.8 < float(ratio) < 4.2
    ig = A.integrated_gradients(output, x, baseline, 0, steps=8, rule="gauss-legendre")
    assert float(A.completeness_gap(output, ig, x, baseline, 0).abs().max()) < 1e-7


@pytest.mark.parametrize("rule,method", [("midpoint", "riemann_middle"), ("left", "riemann_left"),
                                         ("right", "riemann_right"),
                                         ("gauss-legendre", "gausslegendre")])
def test_agrees_with_captum(rule, method):
    captum = pytest.importorskip("captum.attr")
    model, (x, baseline) = relu_net(), inputs(n=5)
    target = torch.tensor([0, 1, 2, 1, 0])
    ours = A.integrated_gradients(model, x, baseline, target, steps=20, rule=rule)
    theirs = captum.IntegratedGradients(model).attribute(x, baseline, target=target, n_steps=20,
                                                         method=method)
    # captum builds its nodes with float32 torch.linspace: agreement to float32 rounding
    torch.testing.assert_close(ours, theirs, rtol=1e-7, atol=1e-12)


def test_captums_trapezoid_weights_sum_to_one_minus_one_over_n():
    """captum's riemann_trapezoid puts n nodes from 0 to 1 but weighs them 1/n (ends halved), so
    its weights sum to (n − 1)/n: on a linear model it returns (n − 1)/n of the exact attribution,
    where ours (spacing 1/(n − 1)) is exact."""
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model, (x, baseline), n = nn.Linear(6, 3).double(), inputs(), 10
    exact = model.weight[1] * (x - baseline)
    theirs = captum.IntegratedGradients(model).attribute(x, baseline, target=1, n_steps=n,
                                                         method="riemann_trapezoid")
    torch.testing.assert_close(theirs, exact.detach() * (n - 1) / n)
    ours = A.integrated_gradients(model, x, baseline, 1, steps=n, rule="trapezoid")
    torch.testing.assert_close(ours, exact.detach())


def test_batching_the_path_points_changes_nothing():
    model, (x, baseline) = relu_net(), inputs(n=5)
    whole = A.integrated_gradients(model, x, baseline, 1, steps=13)
    for batch_size in (1, 7, 20, 10 ** 6):
        chunked = A.integrated_gradients(model, x, baseline, 1, steps=13, batch_size=batch_size)
        torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-14)


def test_the_integrand_integrates_to_the_change_in_output():
    model, (x, baseline) = smooth_net(), inputs(n=3)
    alphas, g = dense_integrand(model, x, baseline, 2)
    integral = torch.trapezoid(g, alphas, dim=1)
    with torch.no_grad():
        change = model(x)[:, 2] - model(baseline)[:, 2]
    torch.testing.assert_close(integral, change, rtol=0, atol=1e-8)
    assert math.isclose(float(alphas[-1]), 1.0)


def test_bad_input_is_named():
    model, (x, baseline) = relu_net(), inputs()
    with pytest.raises(ValueError, match="baseline must have the input's shape"):
        A.integrated_gradients(model, x, baseline[:2], 0)
    with pytest.raises(ValueError, match="baseline must have the input's shape"):
        A.integrated_gradients(model, x, baseline[:, :3], 0)
    for steps in (0, -3):
        with pytest.raises(ValueError, match="steps"):
            A.integrated_gradients(model, x, baseline, 0, steps=steps)
    with pytest.raises(ValueError, match="rule must be one of"):
        A.quadrature(4, "simpson")
    with pytest.raises(ValueError, match="trapezoid rule needs steps >= 2"):
        A.quadrature(1, "trapezoid")
    with pytest.raises(TypeError, match="differentiable in x"):
        A.integrated_gradients(lambda z: model(z).argmax(1), x, baseline)

    def frozen(z):
        with torch.no_grad():
            return model(z)

    with pytest.raises(ValueError, match="does not depend differentiably on x"):
        A.integrated_gradients(frozen, x, baseline, 0)
    with pytest.raises(ValueError, match="target must be class indices"):
        A.integrated_gradients(model, x, baseline, 3)
    with pytest.raises(ValueError, match="one output per example"):
        A.integrated_gradients(model, x, baseline)
    with pytest.raises(TypeError, match="floating-point tensor"):
        A.integrated_gradients(model, torch.ones(2, 6, dtype=torch.long))
