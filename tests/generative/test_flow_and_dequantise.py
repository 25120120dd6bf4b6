"""The shared flow interface (kexue.generative.flow) and the discrete-image likelihood
conventions (kexue.generative.dequantise)."""
import math

import pytest
import scipy.stats
import torch

from kexue.generative import dequantise as dq
from kexue.generative.flow import Flow, gaussian_nll, nll_per_dim


class Affine(Flow):
    """z = a x + b elementwise: log |det| = sum log |a|."""

    def __init__(self, a, b):
        super().__init__()
        self.dim, self.a, self.b = len(a), torch.as_tensor(a), torch.as_tensor(b)

    def forward(self, x):
        return self.a * x + self.b, self.a.abs().log().sum().expand(len(x))

    def inverse(self, z):
        return (z - self.b) / self.a


def test_gaussian_nll_is_the_change_of_variables_density():
    # x = (z - b) / a with z ~ N(0, I) is N(-b/a, 1/a^2) in each coordinate
    a, b = torch.tensor([2.0, 0.5, -3.0], dtype=torch.float64), torch.tensor([1.0, -2.0, 0.3],
                                                                               dtype=torch.float64)
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = -scipy.stats.norm(loc=(-b / a).numpy(), scale=(1 / a.abs()).numpy()).logpdf(
        x.numpy()).sum(1)
    got = gaussian_nll(Affine(a, b), x)
    assert torch.allclose(got, torch.as_tensor(ref), rtol=1e-12)
    assert float(nll_per_dim(Affine(a, b), x)) == pytest.approx(ref.mean() / 3, rel=1e-12)


def test_flow_calls_reject_what_is_not_a_flow_or_not_its_data():
    flow = Affine(torch.ones(3), torch.zeros(3))
    with pytest.raises(TypeError, match="Flow"):
        gaussian_nll(torch.nn.Linear(3, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        gaussian_nll(flow, torch.zeros(2, 4))
    with pytest.raises(TypeError, match="floating-point"):
        gaussian_nll(flow, torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(NotImplementedError):
        Flow()(torch.zeros(1, 1))


def test_uniform_density_scores_exactly_eight_bits_in_the_standard_convention():
    # the uniform density on [0, 1)^D: -log p(y) = 0 at every dequantised point
    pixels = torch.randint(0, 256, (10, 784), generator=torch.Generator().manual_seed(1))
    y = dq.dequantise(pixels, generator=torch.Generator().manual_seed(2))
    assert float(y.min()) >= 0 and float(y.max()) < 1
    assert dq.bits_per_dim(dq.discrete_nll(0.0, 784), 784) == pytest.approx(8.0, rel=1e-15)


def test_gaussian_discretised_likelihood_matches_the_bound():
    # a narrow Gaussian density: its exact bin masses against E[-log p(y)] + D log(1/w)
    dims, bins = 3, dq.STANDARD
    mean, std = torch.tensor([0.3, 0.5, 0.71]), 0.2
    pixels = torch.tensor([[70, 128, 181]])
    dist = scipy.stats.norm(mean.numpy(), std)
    lo = (bins.low + pixels[0].numpy() * bins.width)
    exact = -math.fsum(math.log(p) for p in dist.cdf(lo + bins.width) - dist.cdf(lo))
    y = dq.dequantise(pixels.repeat(20000, 1), bins, generator=torch.Generator().manual_seed(3),
                      dtype=torch.float64)
    density_nll = -dist.logpdf(y.numpy()).sum(1).mean()
    bound = dq.discrete_nll(density_nll, dims, bins)
    assert bound >= exact - 1e-4          # the bound holds (Jensen) ...
    assert bound == pytest.approx(exact, abs=2e-3)   # ... and is tight for a smooth density


def test_units_convert_both_ways():
    assert dq.nats_per_image(dq.bits_per_dim(1234.5, 784), 784) == pytest.approx(1234.5)
    assert dq.bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    t = torch.tensor([1.0, 2.0])
    assert torch.allclose(dq.bits_per_dim(dq.nats_per_image(t, 10), 10), t)


def test_bins_and_pixels_are_checked():
    with pytest.raises(ValueError, match="width must be a positive"):
        dq.Bins(0.0, 0.0)
    with pytest.raises(ValueError, match="low must be finite"):
        dq.Bins(float("nan"), 0.1)
    with pytest.raises(TypeError, match="integer levels"):
        dq.dequantise(torch.rand(2, 3))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        dq.dequantise(torch.tensor([[0, 256]]))
    with pytest.raises(TypeError, match="Bins"):
        dq.dequantise(torch.zeros(1, 2, dtype=torch.uint8), (0, 1))
    with pytest.raises(ValueError, match="dims must be a positive int"):
        dq.bits_per_dim(1.0, 0)


def test_non_finite_data_is_refused():
    flow = Affine(torch.ones(2), torch.zeros(2))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="non-finite"):
            gaussian_nll(flow, torch.tensor([[0.0, bad]]))


def test_interpolate_walks_the_straight_line_between_codes():
    from kexue.generative.flow import interpolate

    flow = Affine(torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.0]))
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, -2.0])
    path = interpolate(flow, a, b, steps=5)
    # an affine flow maps the straight line between codes to the straight line between points
    assert torch.allclose(path, torch.stack([a + t * (b - a) for t in torch.linspace(0, 1, 5)]))
    with pytest.raises(ValueError, match="steps must be an int of at least 2"):
        interpolate(flow, a, b, steps=1)
    with pytest.raises(ValueError, match=r"each have shape \(2,\)"):
        interpolate(flow, a, torch.zeros(3))
