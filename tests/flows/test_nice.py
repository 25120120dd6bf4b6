"""NICE (kexue.flows.nice): exact inverses, log-determinants against autograd, FrEIA's coupling
block, the post's architecture and loss, and the errors bad input gets."""
import math

import pytest
import torch
from torch import nn

from kexue import data
from kexue.flows import nice as N
from kexue.generative.flow import LOG_2PI, gaussian_nll


def _images(n=64):
    return data.as_float(data.mnist("test")[0][:n], device="cpu")


def test_round_trip_on_real_images_to_float32_precision():
    flow = N.nice(784, hidden=64, depth=2, seed=0)
    with torch.no_grad():   # make the shifts large, as a trained m's are
        for p in flow.parameters():
            p.mul_(3)
    x = _images()
    with torch.no_grad():
        z, _ = flow(x)
        back = flow.inverse(z)
        again = flow(back)[0]
    assert float((back - x).abs().max()) < 1e-5 * max(1.0, float(z.abs().max()))
    assert float((again - z).abs().max()) < 1e-5 * max(1.0, float(z.abs().max()))


@pytest.mark.parametrize("partition", ["interleaved", "halves"])
@pytest.mark.parametrize("moved", ["first", "second"])
def test_log_det_against_the_jacobian(partition, moved):
    torch.manual_seed(0)
    dim = 6
    flow = N.FlowSequence([
        N.Reverse(dim),
        N.AdditiveCoupling(dim, nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)),
                           partition=partition, moved=moved, sign=-1),
        N.AdditiveCoupling(dim, nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)),
                           partition=partition, moved="first" if moved == "second" else "second"),
        N.DiagonalScale(dim, seed=1)]).double().requires_grad_(False)
    for x in torch.randn(4, dim, dtype=torch.float64):
        jac = torch.func.jacrev(lambda v: flow(v[None])[0][0])(x)
        sign, logabs = torch.linalg.slogdet(jac)
        with torch.no_grad():
            _, log_det = flow(x[None])
        assert float(log_det) == pytest.approx(float(logabs), abs=1e-12)
        # the couplings' Jacobians are triangular with unit diagonal: det is the scale's alone
        scale_log_det = float(flow.flows[-1].log_scale.detach().sum())
        assert float(logabs) == pytest.approx(scale_log_det, abs=1e-12)


def test_coupling_pair_matches_freia_bit_for_bit():
    Fm = pytest.importorskip("FrEIA.modules")
    torch.manual_seed(3)
    dim = 8
    nets = []

    def constructor(c_in, c_out):
        nets.append(nn.Sequential(nn.Linear(c_in, 16), nn.ReLU(), nn.Linear(16, c_out)))
        return nets[-1]

    block = Fm.NICECouplingBlock([(dim,)], subnet_constructor=constructor)
    ours = N.FlowSequence([
        N.AdditiveCoupling(dim, block.F, partition="halves", moved="first"),
        N.AdditiveCoupling(dim, block.G, partition="halves", moved="second")])
    x = torch.randn(32, dim)
    (theirs,), their_log_det = block([x])
    z, log_det = ours(x)
    assert torch.equal(z, theirs)
    assert torch.equal(log_det, torch.zeros(32)) and float(their_log_det) == 0.0
    (their_back,), _ = block([theirs], rev=True)
    assert torch.equal(ours.inverse(z), their_back)


def test_post_architecture_and_loss():
    flow = N.nice(seed=0).requires_grad_(False)
    # 4 couplings x (392 -> 1000 -> ... (5 layers) -> 392) + a 784-vector: about 2e7 weights
    per_coupling = 392 * 1000 + 1000 + 4 * (1000 * 1000 + 1000) + 1000 * 392 + 392
    assert sum(p.numel() for p in flow.parameters()) == 4 * per_coupling + 784
    kinds = [type(f).__name__ for f in flow.flows]
    assert kinds == ["Reverse", "AdditiveCoupling"] * 4 + ["DiagonalScale"]
    assert all(f.sign == -1 and f.partition == "interleaved" for f in flow.flows[1:8:2])
    x = _images(8)
    # the post's loss is -log q(x) without D/2 log(2 pi)
    assert float(N.post_loss(flow, x)) == pytest.approx(
        float(gaussian_nll(flow, x).mean()) - 392 * LOG_2PI, rel=1e-6)
    z, _ = flow(x)
    scale = flow.flows[-1].log_scale
    assert float(N.post_loss(flow, x)) == pytest.approx(
        float(0.5 * z.square().sum(1).mean() - scale.sum()), rel=1e-6)
    # the Glorot-normal start of the post's Keras kernel: std sqrt(2 / 785)
    assert float(scale.std()) == pytest.approx(math.sqrt(2 / 785), rel=0.1)


def test_sampling_runs_the_inverse_at_a_temperature():
    flow = N.nice(784, hidden=32, depth=1, seed=0)
    g = torch.Generator().manual_seed(5)
    x = N.sample(flow, 7, temperature=0.75, generator=g)
    eps = torch.randn(7, 784, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(x, flow.inverse(0.75 * eps))
    assert torch.equal(N.sample(flow, 3, temperature=0.0), flow.inverse(torch.zeros(3, 784)))
    assert flow.training   # the mode it had


def test_bad_input_is_refused_with_a_clear_error():
    flow = N.nice(784, hidden=8, depth=1, seed=0)
    with pytest.raises(ValueError, match=r"x must be 2-D"):
        flow(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"x must have 784 columns"):
        flow(torch.zeros(2, 783))
    with pytest.raises(ValueError, match="non-finite"):
        N.post_loss(flow, torch.full((2, 784), float("nan")))
    with pytest.raises(ValueError, match="dim must be even"):
        N.AdditiveCoupling(5, nn.Identity())
    with pytest.raises(ValueError, match="partition must be"):
        N.AdditiveCoupling(4, nn.Identity(), partition="random")
    with pytest.raises(ValueError, match="sign must be"):
        N.AdditiveCoupling(4, nn.Identity(), sign=2)
    with pytest.raises(ValueError, match="net must map"):
        N.AdditiveCoupling(4, nn.Linear(2, 3))(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="same width"):
        N.FlowSequence([N.Reverse(4), N.Reverse(6)])
    with pytest.raises(ValueError, match="temperature must be"):
        N.sample(flow, 2, temperature=-1.0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        N.sample(flow, 0)


def test_benchmark_times_both_loops_and_sampling(monkeypatch):
    from kexue.flows import experiments

    # the post's model is 19 million weights: time a small one through the same code
    monkeypatch.setattr(experiments, "nice", lambda dim, seed: N.nice(dim, hidden=32, depth=1,
                                                                     seed=seed))
    result = experiments.benchmark(steps=2, repeats=1, samples=50)
    for key in ("ours_steps_per_s", "reference_steps_per_s", "sampled_images_per_s"):
        assert result[key] > 0
    assert result["ratio"] == pytest.approx(result["ours_steps_per_s"]
                                            / result["reference_steps_per_s"])
    with pytest.raises(ValueError, match="steps must be a positive int"):
        experiments.benchmark(steps=0)


def test_glorot_init_is_the_post_keras_start():
    flow = N.nice(784, hidden=100, depth=2, init="glorot", seed=3).requires_grad_(False)
    for coupling in flow.flows[1:8:2]:
        for layer in coupling.net:
            if isinstance(layer, nn.Linear):
                bound = math.sqrt(6 / (layer.in_features + layer.out_features))
                assert float(layer.weight.abs().max()) <= bound
                assert float(layer.weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.05)
                assert float(layer.bias.abs().max()) == 0.0
    again = N.nice(784, hidden=100, depth=2, init="glorot", seed=3)
    assert all(torch.equal(a, b) for a, b in zip(flow.state_dict().values(),
                                                 again.state_dict().values()))
    with pytest.raises(ValueError, match="init must be one of"):
        N.nice(784, hidden=8, depth=1, init="he")


def test_the_run_without_noise_refuses_noise_and_reports_the_constant_pixels():
    import kexue as kx

    tiny = dict(n_train=600, epochs=1, fd_samples=100, fd_temperatures=[0.75],
                model=dict(couplings=2, hidden=8, depth=1))
    record = kx.experiments.run("nice-mnist-noise-free", "quick", **tiny)
    m = record.metrics
    x = data.as_float(data.mnist("train")[0][:600], device="cpu")
    assert m["constant_training_pixels"] == int((x.amax(0) == x.amin(0)).sum()) > 0
    assert m["final_train_post_loss"] == m["model"]["train_post_loss"][-1]
    assert math.isfinite(m["largest_log_scale"]) and math.isfinite(m["model"]["test_post_loss"])
    with pytest.raises(ValueError, match="noise must be 0"):
        kx.experiments.run("nice-mnist-noise-free", "quick", **tiny, noise=0.01)


def test_noise_rows_name_the_records_they_need():
    from kexue.flows import figures

    with pytest.raises(ValueError, match="nice-mnist record"):
        figures.noise_rows({}, {"model": {}})
    with pytest.raises(ValueError, match="nice-mnist-noise-free record"):
        figures.noise_rows({"model": {}}, [])
