"""The numbers the denoising chapter computes on its page and quotes in its text: the trained
denoiser's relative score error on the blurred ring, and the annealed Langevin walk's mode shares
and variances with the closed-form and with a trained noise-conditional score (the page's cells,
run again)."""
import math

import torch
from torch import nn

from kexue import train
from kexue.scores import denoising as dn

from ..conftest import quoted


def test_the_ring_numbers_the_chapter_quotes():
    angles = torch.arange(8, dtype=torch.float64) * 2 * math.pi / 8
    ring = dn.GaussianMixture(torch.full((8,), 1 / 8),
                              2 * torch.stack([angles.cos(), angles.sin()], 1), std=0.1)
    sigma = 0.3
    points = ring.sample(20000, generator=torch.Generator().manual_seed(4)).float()
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(2, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))
    train.fit_adam(m, lambda net, batch: dn.denoising_loss(lambda y: y + m(y), batch, sigma),
                   points, lr=2e-3, batch_size=512, steps=6000, progress=False)
    test = ring.noisy(sigma).sample(5000, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        learned = (m(test.float()) / sigma ** 2).double()
    true = ring.noisy(sigma).score(test)
    assert quoted(float((learned - true).norm() / true.norm()), "0.138")

    sigmas = dn.noise_ladder(2.0, 0.05, 10)
    gen = torch.Generator().manual_seed(6)
    start = 2 * torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    exact = dn.annealed_langevin(lambda y, s: ring.noisy(float(s[0])).score(y), start, sigmas,
                                 steps=100, step_size=1e-4, generator=gen)
    torch.manual_seed(0)
    net = dn.NoiseConditionalMLP(2, 128)
    train.fit_adam(net, lambda n, batch: dn.denoising_score_loss(n, batch, sigmas.float()), points,
                   lr=1e-3, batch_size=256, steps=4000, progress=False)
    with torch.no_grad():
        walked = dn.annealed_langevin(net, start.float(), sigmas.float(), steps=100, step_size=1e-4,
                                      generator=torch.Generator().manual_seed(6)).double()

    def shares(out):
        return torch.bincount(torch.cdist(out, ring.means).argmin(1), minlength=8) / len(out)

    s = shares(exact)
    assert quoted(float(s.min()) * 100, "11.9") and quoted(float(s.max()) * 100, "13.1")
    v = torch.diag(torch.cov(exact.T))
    assert quoted(float(v[0]), "1.99") and quoted(float(v[1]), "2.04")
    s = shares(walked)
    assert quoted(float(s.min()) * 100, "9.2") and quoted(float(s.max()) * 100, "15.0")
