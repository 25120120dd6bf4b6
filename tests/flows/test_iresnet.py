"""Invertible residual blocks (kexue.flows.iresnet): Lip(g) <= c, the fixed-point inverse and its
c^n convergence, the log-det power series against the exact Jacobian (unbiased at a fixed
truncation, its bias shrinking with the number of terms), normflows' iResBlock on the same net,
and the errors bad input gets."""
import itertools

import pytest
import torch

from kexue import gradients
from kexue.flows.iresnet import ResidualFlow, exact_log_det, fixed_point_inverse


def block(dim=4, c=0.7, seed=0, **kwargs):
    flow = ResidualFlow(dim, (16, 16), c=c, seed=seed, **kwargs).double()
    gradients.converge_spectral_norms(flow.g, 200)
    return flow.eval().requires_grad_(False)


def all_sign_probes(d):
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=d)), dtype=torch.float64)


@pytest.mark.parametrize("c", [0.5, 0.9])
def test_g_is_a_contraction_with_constant_at_most_c(c):
    flow = block(c=c)
    x = torch.randn(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    norms = torch.stack([torch.linalg.matrix_norm(torch.func.jacrev(lambda v: flow.g(v[None])[0])(r), 2)
                         for r in x])
    assert float(norms.max()) <= c * (1 + 1e-9)
    assert float(norms.max()) > 0.1 * c          # (the product of the layers' norms is loose)


@pytest.mark.parametrize("c", [0.5, 0.9])
def test_fixed_point_inverse_converges_like_c_to_the_n(c):
    flow = block(c=c, seed=2)
    x = torch.randn(32, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = x + flow.g(x)
    x_n, steps = fixed_point_inverse(flow.g, y, 80)
    assert float((x_n - x).abs().max()) < 1e-10
    for n in range(1, 30):        # ||x_(n+1) - x_n|| <= c^n ||x_1 - x_0||
        assert steps[n] <= c ** n * steps[0] * (1 + 1e-9) + 1e-15
    # the error after n steps against Banach's bound c^n / (1 - c) ||x_1 - x_0||
    for n in (5, 10, 20):
        x_k, _ = fixed_point_inverse(flow.g, y, n)
        bound = c ** n / (1 - c) * steps[0]
        assert float((x_k - x).norm(dim=1).max()) <= bound * (1 + 1e-9)
    assert torch.equal(flow.inverse(y), fixed_point_inverse(flow.g, y, flow.iterations)[0])


def test_series_estimate_is_unbiased_at_a_fixed_truncation_and_converges():
    d, c = 4, 0.8
    flow = block(dim=d, c=c, seed=4)
    x0 = torch.randn(d, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    J = torch.func.jacrev(lambda v: flow.g(v[None])[0])(x0)
    exact = float(exact_log_det(flow, x0[None])[0])
    assert exact == pytest.approx(float(torch.linalg.slogdet(torch.eye(d, dtype=torch.float64) + J)[1]))
    probes = all_sign_probes(d)
    from kexue import trace_estimators as te

    x = x0.expand(len(probes), d).clone().requires_grad_()
    apply = te.vjp(flow.g(x), x)
    previous = None
    for terms in (2, 5, 10, 40):
        truncated = sum((-1) ** (k - 1) / k * torch.trace(torch.linalg.matrix_power(J, k))
                        for k in range(1, terms + 1))
        mean = te.logdet_series_estimates(apply, probes, terms).mean()
        assert float(mean) == pytest.approx(float(truncated), abs=1e-12)
        bias = abs(float(truncated) - exact)
        assert bias <= d * c ** (terms + 1) / ((terms + 1) * (1 - c)) + 1e-12   # the tail's bound
        assert previous is None or bias <= previous + 1e-12
        previous = bias


def test_forward_gives_y_and_a_log_det_estimate_per_row():
    flow = block(seed=6, terms=30, probes=64)
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    y, log_det = flow(x)
    assert torch.allclose(y, x + flow.g(x)) and log_det.shape == (5,)
    exact = exact_log_det(flow, x)
    # 64 probes: within a few standard errors of the exact value
    assert float((log_det - exact).abs().max()) < 0.1
    exact_flow = block(seed=6, exact=True)
    assert torch.allclose(exact_flow(x)[1], exact)


def test_training_mode_estimate_is_differentiable():
    flow = ResidualFlow(4, (8,), c=0.5, seed=0).double().train()
    x = torch.randn(3, 4, dtype=torch.float64)
    _, log_det = flow(x)
    log_det.sum().backward()
    weights = [p for n, p in flow.named_parameters() if n.endswith("original")]
    assert weights and all(p.grad is not None for p in weights)


def test_matches_normflows_residual_block_on_the_same_net():
    nf = pytest.importorskip("normflows")
    flow = block(dim=2, c=0.6, seed=8)
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    theirs = nf.flows.Residual(flow.g, reverse=False, brute_force=True).double()
    z, their_log_det = theirs(x)
    assert torch.allclose(z, x + flow.g(x), atol=1e-12)
    assert torch.allclose(their_log_det, exact_log_det(flow, x), atol=1e-10)
    # their inverse is the same fixed point, iterated to their own tolerance
    back, _ = theirs.inverse(z)
    assert torch.allclose(back, x, atol=1e-3)
    assert torch.allclose(flow.inverse(z.detach()), x, atol=1e-10)


def test_bad_input_is_refused():
    for c in (1.0, 1.5, 0.0, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match="c must be a number in"):
            ResidualFlow(4, c=c)
    flow = block()
    with pytest.raises(ValueError, match="x must have 4 columns"):
        flow(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        flow(torch.full((2, 4), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="y must have 4 columns"):
        flow.inverse(torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="g must be callable"):
        fixed_point_inverse(None, torch.zeros(1, 4), 3)


def test_quick_experiment_reports_the_likelihood_the_series_bias_and_the_c_tradeoff():
    import kexue as kx

    record = kx.experiments.run("iresnet-mnist", "quick")
    m = record.metrics
    assert 0 < m["test_bits_per_dim"] < 12 and len(m["train_bits_per_dim"]) == 1
    assert m["frechet"]["features"] == kx.generative.frechet.features_id("mnist")
    sweep = m["c_sweep"]
    # larger c: a slower fixed-point inverse and a noisier log-det estimate
    assert sweep["0.97"]["inverse_error"] > sweep["0.5"]["inverse_error"]
    assert sweep["0.97"]["log_det_variance"] > sweep["0.5"]["log_det_variance"]
    z, _ = record.artifacts["flow"](torch.rand(3, 784))
    assert torch.isfinite(z).all()


def test_published_frames_and_their_slider_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import kexue as kx
    from kexue.flows import experiments, figures

    record = kx.experiments.run("iresnet-mnist", "quick")
    published = experiments._publish_iresnet(record.artifacts)
    temps, paths = published["temperature_frames"], published["path_frames"]
    assert temps.dtype == paths.dtype == published["samples"].dtype == torch.uint8
    assert temps.shape == (len(experiments.FRAME_TEMPERATURES), 12, 784)
    assert paths.shape == (len(experiments.FRAME_PAIRS), experiments.FRAME_STEPS, 784)
    # at T = 0 every draw maps back to the same image, the prior's mode
    assert int((temps[0].int() - temps[0][0].int()).abs().max()) == 0
    # each path starts and ends at its test images, up to 8-bit rounding
    x = kx.data.mnist("test")[0][:8].flatten(1)
    for (a, b), path in zip(experiments.FRAME_PAIRS, paths):
        assert int((path[0].int() - x[a].int()).abs().max()) <= 1
        assert int((path[-1].int() - x[b].int()).abs().max()) <= 1
    fig = plt.figure()
    ax = figures.draw_temperature_frame(fig, temps, experiments.FRAME_TEMPERATURES,
                                        temperature=0.7)
    assert ax.get_title() == "g(T ε), T = 0.75"
    fig = plt.figure()
    ax = figures.draw_path_frame(fig, paths, pair=1, t=0.5)
    assert "t = 0.5" in ax.get_title()
    plt.close("all")
