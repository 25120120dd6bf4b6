"""The quantiser against vector_quantize_pytorch, an independent implementation."""
import math

import pytest
import torch
from vector_quantize_pytorch import VectorQuantize

from kexue.vae import vector_quantise as vq


def _setup(n=64, k=10, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, n // 2, d, generator=gen)          # (batch, sequence, d) as the library takes
    ours = vq.VectorQuantiser(k, d, beta=0.25, seed=seed)
    with torch.no_grad():
        ours.codebook.normal_(generator=gen)
    return z, ours


def _library(ours, **kwargs):
    lib = VectorQuantize(dim=ours.dim, codebook_size=ours.num_codes, rotation_trick=False,
                         ema_update=False, **kwargs)
    with torch.no_grad():
        lib._codebook.embed.copy_(ours.codebook.detach()[None])
    lib._codebook.initted.fill_(True)
    return lib


def test_nearest_codes_agree_with_library_and_brute_force():
    z, ours = _setup()
    lib = _library(ours).eval()
    _, lib_indices, _ = lib(z)
    assert torch.equal(vq.nearest_codes(z, ours.codebook.detach()), lib_indices)
    brute = torch.cdist(z.reshape(-1, 5), ours.codebook.detach()).argmin(1).reshape(2, -1)
    assert torch.equal(ours(z)["indices"], brute)


def test_commitment_loss_and_straight_through_agree_with_library():
    # library, codebook fixed: loss = commitment_weight * mse(z, sg(q)), output z + sg(q - z)
    z, ours = _setup(seed=1)
    lib = _library(ours, commitment_weight=0.25).train()
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(5))
    lib_out, _, lib_loss = lib(z1)
    out = ours(z2)
    assert torch.allclose(out["z_q"], lib_out, atol=1e-6)
    assert torch.allclose(0.25 * out["commitment_loss"], lib_loss, rtol=1e-5)
    # same downstream loss, same gradient to the encoder's output (tolerance: float32 rounding)
    ((lib_out * weights).sum() + lib_loss).backward()
    ((out["z_q"] * weights).sum() + 0.25 * out["commitment_loss"]).backward()
    assert torch.allclose(z1.grad, z2.grad, atol=1e-6)


def test_codebook_loss_gradient_agrees_with_library():
    # library, learnable codebook, weight 1: loss = mse(z, q) with gradient to the codebook,
    # which is our codebook loss's gradient; its value equals both of our terms
    z, ours = _setup(seed=2)
    lib = _library(ours, commitment_weight=1.0, learnable_codebook=True).train()
    _, _, lib_loss = lib(z)
    lib_loss.backward()
    out = ours(z.requires_grad_())
    out["codebook_loss"].backward()
    assert torch.allclose(out["codebook_loss"], lib_loss, rtol=1e-5)
    assert torch.allclose(out["commitment_loss"], lib_loss, rtol=1e-5)
    assert torch.allclose(ours.codebook.grad, lib._codebook.embed.grad[0], atol=1e-7)


def test_stop_gradients_split_the_pull():
    z, ours = _setup(seed=3)
    z = z.requires_grad_()
    out = ours(z)
    out["codebook_loss"].backward(retain_graph=True)
    assert z.grad is None or torch.count_nonzero(z.grad) == 0
    assert torch.count_nonzero(ours.codebook.grad) > 0
    ours.codebook.grad = None
    out["commitment_loss"].backward()
    assert ours.codebook.grad is None or torch.count_nonzero(ours.codebook.grad) == 0
    # the commitment gradient is 2 (z_e - e_k) / numel
    expected = 2 * (z - ours.codebook[out["indices"]]).detach() / z.numel()
    assert torch.allclose(z.grad, expected, atol=1e-7)


def test_straight_through_value_and_identity_gradient():
    gen = torch.Generator().manual_seed(4)
    z_e = torch.randn(6, 3, generator=gen, requires_grad=True)
    z_q = torch.randn(6, 3, generator=gen)
    out = vq.straight_through(z_e, z_q)
    assert torch.equal(out, z_e.detach() + (z_q - z_e.detach()))
    assert torch.allclose(out, z_q, atol=1e-6)
    jac = torch.autograd.functional.jacobian(lambda t: vq.straight_through(t, z_q), z_e.detach())
    assert torch.equal(jac.reshape(18, 18), torch.eye(18))


def test_perplexity_hand_computed():
    counts = torch.tensor([2, 1, 1, 0])            # p = 1/2, 1/4, 1/4: H = 1.5 log 2
    assert vq.perplexity(counts) == pytest.approx(2 ** 1.5, rel=1e-12)
    assert vq.perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0, rel=1e-12)
    assert vq.perplexity(torch.tensor([0, 7, 0])) == pytest.approx(1.0)
    assert vq.dead_codes(counts) == 1
    counts = vq.code_counts(torch.tensor([[0, 1], [0, 2]]), 4)
    assert counts.tolist() == [2, 1, 1, 0]


def test_init_from_places_codes_on_data():
    ours = vq.VectorQuantiser(4, 2, seed=0)
    z = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    ours.init_from(z, generator=torch.Generator().manual_seed(1))
    assert torch.cdist(ours.codebook.detach(), z, compute_mode="donot_use_mm_for_euclid_dist").min(1).values.max() == 0


def test_bad_input():
    codebook = torch.randn(4, 3)
    with pytest.raises(ValueError, match="last axis"):
        vq.nearest_codes(torch.randn(5, 2), codebook)
    with pytest.raises(TypeError, match="floating"):
        vq.nearest_codes(torch.ones(5, 3, dtype=torch.int64), codebook)
    with pytest.raises(ValueError, match="finite"):
        vq.nearest_codes(torch.full((2, 3), math.nan), codebook)
    with pytest.raises(ValueError, match="same shape"):
        vq.straight_through(torch.randn(2, 3), torch.randn(3, 2))
    with pytest.raises(ValueError, match="same shape"):
        vq.vq_losses(torch.randn(2, 3), torch.randn(3, 2))
    with pytest.raises(ValueError, match="num_codes"):
        vq.VectorQuantiser(0, 3)
    with pytest.raises(ValueError, match="last axis"):
        vq.VectorQuantiser(4, 3)(torch.randn(2, 5))
    with pytest.raises(TypeError, match="z_e must be float32, got torch.float64"):
        vq.VectorQuantiser(4, 3)(torch.randn(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="z_e must be float32, got torch.int64"):
        vq.VectorQuantiser(4, 3)(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="z_e must be a torch.Tensor, got list"):
        vq.VectorQuantiser(4, 3)([[0.0, 1.0, 2.0]])
    assert vq.VectorQuantiser(4, 3).double()(torch.randn(2, 3, dtype=torch.float64))["z_q"].dtype \
        == torch.float64  # a quantiser moved to float64 takes float64 codes
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        vq.code_counts(torch.tensor([0, 4]), 4)
    with pytest.raises(TypeError, match="int64"):
        vq.code_counts(torch.tensor([0.0]), 4)
    with pytest.raises(ValueError, match="not all zero"):
        vq.perplexity(torch.zeros(3))
    with pytest.raises(ValueError, match="n >= 4"):
        vq.VectorQuantiser(4, 2).init_from(torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        vq.VectorQuantiser(4, 2).lookup(torch.tensor([5]))
