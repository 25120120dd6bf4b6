"""Tests of kexue.vae.mutual_information: the three critic bounds on correlated Gaussians."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.feature_selection import mutual_info_regression

from kexue.vae import mutual_information as mi

RHOS = (0.3, 0.6, 0.9)


def _samples(rho, n, seed):
    return mi.correlated_gaussians(n, rho, 1, generator=torch.Generator().manual_seed(seed))


def test_gaussian_mi_matches_the_entropy_formula():
    # I = H(x) + H(z) - H(x, z) for a bivariate Gaussian, from log-determinants of covariances
    for rho in RHOS:
        cov = np.array([[1.0, rho], [rho, 1.0]])
        expected = 0.5 * (0.0 + 0.0 - np.log(np.linalg.det(cov)))
        assert mi.gaussian_mi(rho) == pytest.approx(expected, rel=1e-12)
        assert mi.gaussian_mi(rho, dim=3) == pytest.approx(3 * expected, rel=1e-12)


def test_optimal_critic_is_the_log_density_ratio():
    rho = 0.7
    x, z = torch.randn(50, 1, dtype=torch.float64), torch.randn(50, 1, dtype=torch.float64)
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    joint = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), cov)
    std = torch.distributions.Normal(0.0, 1.0)
    expected = (joint.log_prob(torch.cat([x, z], 1)) - std.log_prob(x[:, 0])
                - std.log_prob(z[:, 0]))
    assert torch.allclose(mi.gaussian_log_ratio(x, z, rho), expected, atol=1e-12)


def test_dv_bound_is_tight_at_the_optimal_critic():
    # E_P[T*] = I exactly and E_Q[exp T*] = 1; 200k samples give a standard error near 0.005
    x, z = _samples(0.8, 200_000, 1)
    joint, marginal = mi.gaussian_log_ratio(x, z, 0.8), mi.gaussian_log_ratio(x, z.roll(1, 0), 0.8)
    se = float(joint.std()) / math.sqrt(len(joint))
    assert float(mi.dv_bound(joint, marginal)) == pytest.approx(mi.gaussian_mi(0.8), abs=5 * se + 0.02)


def test_infonce_never_exceeds_log_n():
    scores = 50 * torch.eye(16)  # a critic that is certain of every positive
    assert float(mi.infonce_bound(scores)) == pytest.approx(math.log(16), abs=1e-6)
    assert float(mi.infonce_bound(torch.randn(16, 16))) < math.log(16)


def test_js_bound_lies_in_its_range():
    joint, marginal = torch.randn(100), torch.randn(100)
    value = float(mi.js_bound(joint, marginal))
    assert -math.log(4) - 1 < value < 0  # at most 2 JS - log 4 <= 0
    assert float(mi.js_bound(torch.zeros(5), torch.zeros(5))) == pytest.approx(-math.log(4))


@pytest.fixture(scope="module")
def trained():
    """Each bound trained on 4000 pairs per rho and evaluated on 4000 held-out pairs."""
    out = {}
    for rho in RHOS:
        x, z = _samples(rho, 4000, 2)
        xe, ze = _samples(rho, 4000, 3)
        for bound in mi.BOUNDS:
            result = mi.estimate_mi(x, z, bound, x_eval=xe, z_eval=ze, steps=200,
                                    batch_size=48 if bound == "infonce" else 128, seed=0)
            out[rho, bound] = result, (xe, ze)
    return out


@pytest.mark.parametrize("bound", ["dv", "infonce"])
def test_trained_mi_bounds_stay_below_the_truth(trained, bound):
    for rho in RHOS:
        result, (xe, ze) = trained[rho, bound]
        # Monte-Carlo margin: 3 standard errors of the joint mean of the trained critic on 4000
        # held-out pairs (the marginal term over 3 x 4000 shuffled pairs adds less)
        with torch.no_grad():
            se = float(result["critic"](xe, ze).std()) / math.sqrt(len(xe))
        assert result["bound"] <= mi.gaussian_mi(rho) + 3 * se, (rho, result["bound"])
        assert result["dv"] <= mi.gaussian_mi(rho) + 3 * se
        assert result["bound"] > 0.5 * mi.gaussian_mi(rho) - 0.02  # and it learned something


def test_trained_js_bound_stays_below_the_optimal_critics(trained):
    # the optimal critic T* = log p / q attains 2 JS - log 4; evaluate it on the same pairs
    for rho in RHOS:
        result, (xe, ze) = trained[rho, "js"]
        shifts = [mi.gaussian_log_ratio(xe, ze.roll(s, 0), rho) for s in (1, 7, 31)]
        best = float(mi.js_bound(mi.gaussian_log_ratio(xe, ze, rho), torch.cat(shifts)))
        # margin: 3 standard errors of mean log sigmoid T* over 4000 pairs (about 0.003 here)
        se = float(torch.nn.functional.softplus(-mi.gaussian_log_ratio(xe, ze, rho)).std()) / 63
        assert result["bound"] <= best + 3 * se, (rho, result["bound"], best)
        assert result["dv"] <= mi.gaussian_mi(rho) + 0.03


def test_bounds_rise_with_rho_as_sklearn_does(trained):
    rhos = RHOS + (0.0,)
    sk = []
    for rho in rhos:
        x, z = _samples(rho, 2000, 4)
        sk.append(mutual_info_regression(x.numpy(), z[:, 0].numpy(), random_state=0)[0])
    for bound in mi.BOUNDS:
        ours = [trained[rho, bound][0]["bound"] for rho in RHOS]
        assert spearmanr(ours, sk[:3]).statistic == pytest.approx(1.0)
    assert spearmanr([0.0] + [mi.gaussian_mi(r) for r in RHOS], [sk[3]] + sk[:3]).statistic > 0.99


def test_bad_input():
    with pytest.raises(ValueError, match="rho must lie strictly between"):
        mi.gaussian_mi(1.0)
    with pytest.raises(ValueError, match="dim must be a positive int"):
        mi.gaussian_mi(0.5, 0)
    with pytest.raises(ValueError, match="square matrix"):
        mi.infonce_bound(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="joint must be 1-D"):
        mi.dv_bound(torch.zeros(3, 1), torch.zeros(3))
    with pytest.raises(TypeError, match="real floating dtype"):
        mi.js_bound(torch.zeros(3, dtype=torch.int64), torch.zeros(3))
    x, z = _samples(0.5, 10, 0)
    with pytest.raises(ValueError, match="bound must be one of"):
        mi.estimate_mi(x, z, "nwj")
    with pytest.raises(ValueError, match="same number of pairs"):
        mi.estimate_mi(x, z[:5])
    with pytest.raises(ValueError, match="x must be finite"):
        mi.estimate_mi(torch.full((10, 1), float("nan")), z)
