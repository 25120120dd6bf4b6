"""Tests for kexue.linalg.linear_autoencoder: principal angles, the SVD optimum (Eckart-Young), the
linear autoencoder's gradients and critical points, its training by gradient descent, and what a
ReLU on the output changes. Synthetic data throughout; the comparison with the SVD, its figures and
the MNIST experiment are tested in test_experiments.py."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.decomposition import PCA

from kexue.linalg import linear_autoencoder as la

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=gen(seed), dtype=F64)


def low_rank_plus_noise(n, scales, noise, dim, generator):
    """``n`` centred samples in ``R^dim``: a random ``len(scales)``-dim subspace with those standard
    deviations along its axes, plus isotropic Gaussian noise of standard deviation ``noise``."""
    basis, _ = torch.linalg.qr(torch.randn(dim, len(scales), generator=generator, dtype=F64))
    latent = torch.randn(n, len(scales), generator=generator, dtype=F64) * torch.tensor(scales)
    X = latent @ basis.T + noise * torch.randn(n, dim, generator=generator, dtype=F64)
    return X - X.mean(dim=0)


# -- principal angles ----------------------------------------------------------------------------
@pytest.mark.parametrize("d,p,q", [(5, 2, 2), (12, 3, 5), (30, 7, 4), (784, 6, 6)])
def test_principal_angles_match_scipy(d, p, q):
    A, B = randn(d, p, seed=1), randn(d, q, seed=2)
    ours = la.principal_angles(A, B).numpy()
    theirs = np.sort(scipy.linalg.subspace_angles(A.numpy(), B.numpy()))  # scipy: descending
    assert ours.shape == (min(p, q),)
    assert np.all(np.diff(ours) >= 0)
    # random subspaces have angles far from 0, where arccos is well conditioned: float64 round-off
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_principal_angles_of_a_constructed_pair_are_the_construction_angles():
    a, b = 0.1, 1.2
    E = torch.eye(6, dtype=F64)
    A = E[:, :2]
    B = torch.stack([math.cos(a) * E[:, 0] + math.sin(a) * E[:, 2],
                     math.cos(b) * E[:, 1] + math.sin(b) * E[:, 3]], dim=1)
    torch.testing.assert_close(la.principal_angles(A, B), torch.tensor([a, b], dtype=F64),
                               rtol=0, atol=1e-12)
    assert la.max_angle_deg(A, B) == pytest.approx(math.degrees(b), abs=1e-10)


def test_principal_angles_see_subspaces_not_bases():
    """Invertible column maps change the basis, not the subspace: the angles do not move."""
    A, B = randn(20, 4, seed=3), randn(20, 4, seed=4)
    C, D = randn(4, 4, seed=5), randn(4, 4, seed=6)
    torch.testing.assert_close(la.principal_angles(A @ C, B @ D), la.principal_angles(A, B),
                               rtol=0, atol=1e-10)
    # the same subspace: every angle is zero up to arccos's resolution sqrt(eps) ~ 1.5e-8
    assert la.principal_angles(A, A @ C).max() < 1e-7


def test_orthonormal_basis_spans_the_columns():
    A = randn(15, 4, seed=7)
    Q = la.orthonormal_basis(A)
    torch.testing.assert_close(Q.T @ Q, torch.eye(4, dtype=F64), rtol=0, atol=1e-13)
    torch.testing.assert_close(Q @ Q.T @ A, A, rtol=0, atol=1e-12)


def test_subspace_functions_reject_bad_input():
    A = randn(10, 3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        la.principal_angles(A.numpy(), A)
    with pytest.raises(TypeError, match="floating dtype"):
        la.principal_angles(A.long(), A)
    with pytest.raises(ValueError, match="2-D"):
        la.principal_angles(A[:, 0], A)
    with pytest.raises(ValueError, match="non-finite"):
        la.principal_angles(A.clone().fill_(float("nan")), A)
    with pytest.raises(ValueError, match="same space"):
        la.principal_angles(A, randn(11, 3))
    with pytest.raises(ValueError, match="full column rank"):
        la.orthonormal_basis(torch.cat([A, A[:, :1] * 2], dim=1))
    with pytest.raises(ValueError, match="more columns than rows"):
        la.orthonormal_basis(randn(3, 4))
    with pytest.raises(ValueError, match="non-empty"):
        la.orthonormal_basis(torch.zeros(0, 2, dtype=F64))


# -- the SVD side --------------------------------------------------------------------------------
def test_the_synthetic_data_are_centred_with_the_asked_spectrum():
    X = low_rank_plus_noise(4000, [3.0, 2.0], 0.1, 10, gen(1))
    torch.testing.assert_close(X.mean(0), torch.zeros(10, dtype=F64), rtol=0, atol=1e-12)
    variances = torch.linalg.svdvals(X) ** 2 / 4000
    # sample variances of 4000 Gaussians: relative error ~ sqrt(2/4000) ~ 2%; allow 10%
    torch.testing.assert_close(variances[:2], torch.tensor([9.0, 4.0], dtype=F64), rtol=0.1, atol=0)
    assert variances[2:].max() < 0.02  # noise variance 0.01 per direction


def test_centre_removes_the_mean():
    X = randn(50, 4) + torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=F64)
    Xc, mean = la.centre(X)
    torch.testing.assert_close(Xc + mean, X)
    torch.testing.assert_close(Xc.mean(0), torch.zeros(4, dtype=F64), rtol=0, atol=1e-14)


def test_svd_optimum_is_the_error_of_the_truncated_svd_and_matches_numpy():
    X = low_rank_plus_noise(300, [4.0, 3.0, 2.0], 0.5, 12, gen(2))
    base = la.svd_baseline(X, 2)
    s = np.linalg.svd(X.numpy(), compute_uv=False)
    assert base.optimum == pytest.approx((s[2:] ** 2).sum() / 300, rel=1e-12)
    assert la.reconstruction_error(X, base.reconstruct(X)) == pytest.approx(base.optimum, rel=1e-10)
    torch.testing.assert_close(base.basis.T @ base.basis, torch.eye(2, dtype=F64), rtol=0, atol=1e-12)


def test_svd_subspace_is_the_pca_subspace_of_scikit_learn():
    X = low_rank_plus_noise(500, [4.0, 3.0, 2.0], 0.5, 12, gen(3))
    pca = PCA(n_components=3).fit(X.numpy())
    angles = la.principal_angles(la.svd_baseline(X, 3).basis, torch.from_numpy(pca.components_.T))
    assert angles.max() < 1e-6


def test_eckart_young_no_k_dim_projection_beats_the_svd():
    X = low_rank_plus_noise(200, [3.0, 2.0, 1.5], 0.8, 8, gen(4))
    base = la.svd_baseline(X, 2)
    for seed in range(20):
        Q = la.orthonormal_basis(randn(8, 2, seed=100 + seed))
        assert la.reconstruction_error(X, X @ Q @ Q.T) > base.optimum
    # nor does any rank-2 matrix at all, e.g. the least-squares fit on two random codes
    Z = torch.tanh(X @ randn(8, 2, seed=5))
    W2 = torch.linalg.lstsq(Z, X).solution
    assert la.reconstruction_error(X, Z @ W2) >= base.optimum


def test_post_toy_example_rank_one_svd_invents_the_missing_pair():
    """The post's 2 x 5 co-occurrence table: row 1 lacks the last column; rank 1 fills it in."""
    M = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=F64)
    R = la.svd_baseline(M, 1).reconstruct(M)
    assert R[0, 4] == pytest.approx(0.496, abs=1e-3)  # printed in the chapter
    assert la.reconstruction_error(M, R) == pytest.approx(
        float(torch.linalg.svdvals(M)[1] ** 2 / 2), rel=1e-12)


def test_svd_baseline_and_errors_reject_bad_input():
    X = randn(20, 5)
    with pytest.raises(ValueError, match="between 1 and 5"):
        la.svd_baseline(X, 6)
    with pytest.raises(TypeError, match="int"):
        la.svd_baseline(X, True)
    with pytest.raises(ValueError, match="same shape"):
        la.reconstruction_error(X, X[:, :4])
    with pytest.raises(ValueError, match="5 columns"):
        la.svd_baseline(X, 2).reconstruct(X[:, :4])


# -- the autoencoder side ------------------------------------------------------------------------
def test_gradients_match_autograd():
    X = low_rank_plus_noise(40, [2.0, 1.0], 0.3, 6, gen(5))
    W1 = randn(2, 6, seed=8).requires_grad_()
    W2 = randn(6, 2, seed=9).requires_grad_()
    loss = ((X - X @ W1.T @ W2.T) ** 2).sum() / 40
    g1, g2 = torch.autograd.grad(loss, (W1, W2))
    ours1, ours2 = la.gradients(X, W1.detach(), W2.detach())
    torch.testing.assert_close(ours1, g1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours2, g2, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="W1 must be"):
        la.gradients(X, W1.detach().T, W2.detach())


def test_svd_weights_are_critical_for_every_invertible_map_and_other_eigenvectors_are_saddles():
    X = low_rank_plus_noise(300, [3.0, 2.0, 1.0], 0.3, 7, gen(6))
    V = torch.linalg.svd(X, full_matrices=False).Vh.T
    Vk, C = V[:, :2], randn(2, 2, seed=10)
    for W1, W2 in [(Vk.T, Vk), (torch.linalg.inv(C) @ Vk.T, Vk @ C)]:
        for g in la.gradients(X, W1, W2):
            assert g.abs().max() < 1e-10
    # the span of v2, v3 is also critical, but moving the decoder and encoder towards v1 lowers E
    W = V[:, 1:3]
    assert max(g.abs().max() for g in la.gradients(X, W.T, W)) < 1e-10

    def E(W1, W2):
        return la.reconstruction_error(X, X @ W1.T @ W2.T)

    t = 1e-3
    turned = W.clone()
    turned[:, 1] = math.cos(t) * W[:, 1] + math.sin(t) * V[:, 0]
    assert E(turned.T, turned) < E(W.T, W)


def test_autoencoder_map_is_invariant_under_an_invertible_bottleneck_change():
    model = la.Autoencoder(9, 3, generator=gen(11)).double()
    x = randn(5, 9)
    before = model(x)
    C = randn(3, 3, seed=12)
    with torch.no_grad():
        model.encoder.copy_(torch.linalg.inv(C) @ model.encoder)
        model.decoder.copy_(model.decoder @ C)
    torch.testing.assert_close(model(x), before, rtol=1e-10, atol=1e-12)


def test_autoencoder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="bottleneck"):
        la.Autoencoder(5, 2, bottleneck="relu")
    with pytest.raises(ValueError, match="between 1 and 5"):
        la.Autoencoder(5, 6)
    with pytest.raises(ValueError, match="floor must be a tensor of shape"):
        la.Autoencoder(5, 2, floor=torch.zeros(4))
    with pytest.raises(ValueError, match="non-finite"):
        la.Autoencoder(5, 2, floor=torch.full((5,), float("nan")))
    model = la.Autoencoder(5, 2)
    with pytest.raises(ValueError, match=r"x must have 5 entries along its last axis .* \(3, 4\)"):
        model(torch.zeros(3, 4))
    with pytest.raises(TypeError, match="x must be float32, got torch.float64"):
        model(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        model([[0.0] * 5])


SYNTH = dict(n=400, scales=[3.0, 2.5, 2.0], noise=0.2, dim=20)


def synth(seed=7):
    return low_rank_plus_noise(SYNTH["n"], SYNTH["scales"], SYNTH["noise"], SYNTH["dim"], gen(seed))


def test_gradient_descent_learns_the_top_singular_subspace():
    X = synth()
    base = la.svd_baseline(X, 3)
    model, probe = la.fit_autoencoder(X, 3, steps=300, lr=0.02, momentum=0.9, probe_every=50,
                                      snapshot_steps=[0, 300])
    first, last = probe.rows[0], probe.rows[-1]
    assert [r["step"] for r in probe.rows] == list(range(0, 301, 50))
    assert max(first["angles_deg"]) > 45  # a random start is far from span(V_k)
    assert max(last["angles_deg"]) < 1.0  # and training gets it within a degree (the claim)
    with torch.no_grad():
        error = la.reconstruction_error(X, model(X))
    assert error == pytest.approx(last["error"], rel=1e-12)
    assert 0 <= (error - base.optimum) / base.optimum < 1e-3  # never below E*, and close to it
    # the product is the projector onto span(V_k) (Baldi and Hornik 1989), the factors are not
    P = (model.decoder @ model.encoder).detach()
    torch.testing.assert_close(P, base.basis @ base.basis.T, rtol=0, atol=2e-2)
    assert la.principal_angles(model.decoder.detach(), base.basis).max() < math.radians(1)
    assert sorted(probe.snapshots) == [0, 300]
    torch.testing.assert_close(probe.snapshots[300][1], model.decoder.detach())


def test_encoder_weights_on_a_constant_coordinate_never_move():
    """No variance along a direction, no gradient for the encoder there: its row space keeps
    whatever it started with (why the chapter measures the decoder's column space)."""
    X = synth()
    X[:, 0] = 0.0
    start = la.Autoencoder(20, 3, generator=gen(0)).double().encoder.detach()[:, 0].clone()
    model, _ = la.fit_autoencoder(X, 3, steps=40, lr=0.02, momentum=0.9, seed=0)
    assert torch.equal(model.encoder.detach()[:, 0], start)
    assert start.abs().max() > 0


def test_the_slow_tail_comes_from_the_encoders_start_in_low_variance_directions():
    """With a spread of small variances (as in MNIST), GD's excess error decays slowly from a
    generic start; removing the start's encoder components outside the top 6 directions makes it
    fall orders of magnitude faster (the chapter's explanation of the power-law tail)."""
    scales = [2.0, 1.7, 1.4] + [0.5 * 0.7 ** j for j in range(17)]  # variances 4 ... 1e-6
    X = low_rank_plus_noise(400, scales, 0.0, 20, gen(7))
    base = la.svd_baseline(X, 3)
    V = torch.linalg.svd(X, full_matrices=False).Vh.T

    def excess_after_400_steps(keep):
        model = la.Autoencoder(20, 3, generator=gen(0)).double()
        with torch.no_grad():
            model.encoder.copy_(model.encoder @ V[:, :keep] @ V[:, :keep].T)
        opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        for _ in range(400):
            opt.zero_grad()
            la.squared_error_loss(model, X).backward()
            opt.step()
        with torch.no_grad():
            return (la.reconstruction_error(X, model(X)) - base.optimum) / base.optimum

    generic, pruned = excess_after_400_steps(20), excess_after_400_steps(6)
    assert generic > 1e-4  # measured 1.2e-3
    assert pruned < generic / 100  # measured 6e-7


def test_a_linear_decoder_never_beats_the_svd_even_after_a_tanh_bottleneck():
    X = synth()
    base = la.svd_baseline(X, 3)
    model, probe = la.fit_autoencoder(X, 3, steps=100, lr=0.02, momentum=0.9, bottleneck="tanh",
                                      probe_every=5)
    assert min(r["error"] for r in probe.rows) >= base.optimum


def test_relu_on_the_output_never_hurts_nonnegative_data():
    X = torch.relu(randn(50, 6, seed=13))
    R = randn(50, 6, seed=14)
    clipped = la.clip_below(R, torch.zeros(6, dtype=F64))
    assert ((X - clipped).abs() <= (X - R).abs()).all()
    torch.testing.assert_close(clipped, torch.clamp(R, min=0.0))


def test_probe_and_training_arguments_are_checked():
    X = synth()
    with pytest.raises(ValueError, match="multiples of every"):
        la.SubspaceProbe(X, la.svd_baseline(X, 3).basis, 10, snapshot_steps=[5])
    with pytest.raises(ValueError, match="20 rows"):
        la.SubspaceProbe(X, randn(19, 3), 10)
    with pytest.raises(ValueError, match="lr must be"):
        la.fit_autoencoder(X, 3, steps=10, lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        la.fit_autoencoder(X, 3, steps=10, lr=0.01, momentum=1.0)
    with pytest.raises(FloatingPointError, match="diverged"):
        la.fit_autoencoder(X, 3, steps=60, lr=5.0, momentum=0.9, probe_every=20)


def test_align_decoder_recovers_the_singular_vectors_from_any_basis_of_their_span():
    V = la.orthonormal_basis(randn(10, 3, seed=15))
    torch.testing.assert_close(la.align_decoder(V @ randn(3, 3, seed=16), V), V, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        la.align_decoder(V, V[:, :2])


def test_a_time_budget_ends_training_early_and_says_where():
    X = torch.randn(40, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    X = X - X.mean(0)
    _, probe = la.fit_autoencoder(X, 2, steps=50, lr=0.01)
    assert probe.steps_trained == 50
    _, probe = la.fit_autoencoder(X, 2, steps=10**6, lr=0.01, seconds=0.2)
    assert 0 < probe.steps_trained < 10**6
