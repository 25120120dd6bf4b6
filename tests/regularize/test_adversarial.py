"""FGM and VAT (kexue.regularize.adversarial), against closed forms and
torch.autograd.functional."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kexue.regularize import adversarial as adv
from kexue.regularize.noise import SmoothModel

f64 = torch.float64


def linear_softmax(d=5, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(d, k).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(k, d, generator=g, dtype=f64))
        model.bias.copy_(torch.randn(k, generator=g, dtype=f64))
    return model


def batch(n=6, d=5, k=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=f64), torch.randint(0, k, (n,), generator=g)


# -- helpers -----------------------------------------------------------------------------------
def test_normalize_rows_and_whole():
    v = torch.randn(4, 3, 2, dtype=f64)
    assert torch.allclose(adv.normalize(v).flatten(1).norm(dim=1), torch.ones(4, dtype=f64))
    assert torch.isclose(adv.normalize(v, per_example=False).norm(), torch.tensor(1.0, dtype=f64))
    assert torch.equal(adv.normalize(torch.zeros(2, 3)), torch.zeros(2, 3))  # zero stays zero


def test_kl_and_entropy_match_torch():
    p, q = torch.randn(7, 5, dtype=f64), torch.randn(7, 5, dtype=f64)
    ref = F.kl_div(F.log_softmax(q, 1), F.log_softmax(p, 1), reduction="none",
                   log_target=True).sum(1)
    assert torch.allclose(adv.kl_from_logits(p, q), ref, atol=1e-14)
    ent = torch.distributions.Categorical(logits=p).entropy()
    assert torch.allclose(adv.entropy_from_logits(p), ent, atol=1e-14)


# -- FGM ---------------------------------------------------------------------------------------
def test_fgm_is_eps_times_normalised_gradient():
    """Closed form for a linear softmax classifier: grad_x CE(Wx + b, y) = W^T (softmax - y)."""
    model, (x, y) = linear_softmax(), batch()
    eps = 0.3
    r = adv.fgm_perturbation(lambda z: F.cross_entropy(model(z), y), x, eps)
    g = (torch.softmax(model(x), 1) - F.one_hot(y, 4)).detach() @ model.weight.detach()
    expected = eps * g / g.norm(dim=1, keepdim=True)
    assert torch.allclose(r, expected, atol=1e-13)
    assert torch.allclose(r.norm(dim=1), torch.full((6,), eps, dtype=f64), atol=1e-13)
    whole = adv.fgm_perturbation(lambda z: F.cross_entropy(model(z), y), x, eps, per_example=False)
    assert torch.allclose(whole, eps * g / g.norm(), atol=1e-13)
    assert math.isclose(float(whole.norm()), eps, rel_tol=1e-12)


def test_fgm_raises_the_loss_to_first_order():
    """L(x + r) - L(x) = eps ||g|| + O(eps^2), and more than random directions of the same norm
    (in 5 dimensions 200 random directions do not come close to g)."""
    model = SmoothModel(5, 4, seed=2)
    x, y = batch(n=1)
    loss_of = lambda z: F.cross_entropy(model(z), y)
    g = torch.autograd.grad(loss_of(x.requires_grad_(True)), x)[0]
    x = x.detach()
    errors = []
    for eps in (1e-2, 5e-3, 2.5e-3):
        r = adv.fgm_perturbation(loss_of, x, eps)
        rise = float((loss_of(x + r) - loss_of(x)).detach())
        errors.append(abs(rise / (eps * float(g.norm())) - 1))
        randoms = eps * adv.normalize(torch.randn(200, 5, dtype=f64))
        rises = (torch.stack([loss_of(x + q) for q in randoms]) - loss_of(x)).detach()
        assert rise > float(rises.max())
    # relative error of the linear term is O(eps): halving eps halves it (ratios near 2)
    assert errors[0] < 0.05
    assert 1.7 < errors[0] / errors[1] < 2.3 and 1.7 < errors[1] / errors[2] < 2.3


def test_fgm_training_follows_the_gradient_penalty():
    """grad_theta L(x + r_adv) - grad_theta (L + eps ||grad_x L||) = O(eps^2) (post 7234)."""
    model = SmoothModel(5, 4, seed=3)
    x, y = batch(n=8, seed=4)
    params = list(model.parameters())

    def grads(loss):
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])

    plain = grads(F.cross_entropy(model(x), y))
    diffs = []
    for eps in (4e-2, 2e-2, 1e-2):
        fgm = grads(adv.fgm_loss(model, x, y, eps))
        gp = grads(adv.gradient_penalty_loss(model, x, y, eps))
        assert (fgm - plain).norm() > 10 * (fgm - gp).norm()  # the penalty explains the change
        diffs.append(float((fgm - gp).norm()))
    assert 3.4 < diffs[0] / diffs[1] < 4.6 and 3.4 < diffs[1] / diffs[2] < 4.6


# -- VAT ---------------------------------------------------------------------------------------
def kl_hessian(model, x):
    """H = grad_r^2 KL(p(y|x) || p(y|x + r)) at r = 0, by torch.autograd.functional.hessian."""
    p = model(x).detach()
    return torch.autograd.functional.hessian(
        lambda r: adv.kl_from_logits(p, model(x + r.view(1, -1))).sum(),
        torch.zeros(x.shape[1], dtype=f64))


def test_kl_hessian_is_the_fisher_form():
    """H = J^T (diag p - p p^T) J, J the logits' Jacobian: positive semi-definite, rank <= k - 1."""
    model = SmoothModel(6, 4, hidden=12, seed=1, scale=2.0)
    x = torch.randn(1, 6, dtype=f64, generator=torch.Generator().manual_seed(3))
    H = kl_hessian(model, x)
    J = torch.autograd.functional.jacobian(lambda v: model(v.view(1, -1))[0], x[0])
    p = torch.softmax(model(x)[0], 0).detach()
    assert torch.allclose(H, J.T @ (torch.diag(p) - torch.outer(p, p)) @ J, atol=1e-14)
    ev = torch.linalg.eigvalsh(H)
    assert ev.min() > -1e-14 and int((ev > 1e-10).sum()) == 3


def test_vat_direction_converges_to_top_eigenvector():
    model = SmoothModel(6, 4, hidden=12, seed=1, scale=2.0)
    x = torch.randn(1, 6, dtype=f64, generator=torch.Generator().manual_seed(3))
    ev, V = torch.linalg.eigh(kl_hessian(model, x))
    top = V[:, -1]
    start = torch.randn(1, 6, dtype=f64, generator=torch.Generator().manual_seed(5))
    cosines = [abs(float(adv.vat_direction(model, x, xi=1e-6, iterations=k, d=start)[0] @ top))
               for k in (1, 3, 30)]
    # power iteration contracts the other components by lambda_2 / lambda_1 per step
    assert float(ev[-2] / ev[-1]) < 0.5
    assert cosines[0] < cosines[1] < cosines[2]
    assert cosines[2] > 0.999


def test_vat_loss_is_half_eps_squared_lambda_max():
    """KL(p || p(x + eps d)) = eps^2 lambda_max / 2 + O(eps^3) along the converged direction."""
    model = SmoothModel(6, 4, hidden=12, seed=1, scale=2.0)
    x = torch.randn(1, 6, dtype=f64, generator=torch.Generator().manual_seed(3))
    lam = float(torch.linalg.eigvalsh(kl_hessian(model, x))[-1])
    torch.manual_seed(0)
    errors = [abs(float(adv.vat_loss(model, x, epsilon=eps, iterations=40).detach())
                  / (eps ** 2 * lam / 2) - 1) for eps in (2e-2, 1e-2)]
    assert errors[0] < 0.05 and 1.6 < errors[0] / errors[1] < 2.4


def test_vat_leaves_batchnorm_statistics_alone():
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).train()
    x = torch.randn(16, 5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        clean = model(x)  # this forward does update the running statistics
    after_clean = {k: v.clone() for k, v in model.state_dict().items()}
    assert not torch.equal(before["1.running_mean"], after_clean["1.running_mean"])
    loss = adv.vat_loss(model, x, epsilon=1.0, iterations=2, clean_logits=clean)
    loss.backward()
    for k, v in model.state_dict().items():
        assert torch.equal(v, after_clean[k]), k
    assert model[1].momentum == 0.1
    assert all(p.grad is not None for p in model.parameters())


def bits(t):
    """The tensor's bytes: equal only when every element is bit for bit the same (a -0.0 is not a
    0.0, and a NaN equals itself)."""
    return t.detach().cpu().contiguous().view(-1).view(torch.uint8)


@pytest.mark.parametrize("pass_clean", [False, True])
def test_vat_loss_called_directly_leaves_batchnorm_statistics_bit_identical(pass_clean):
    """A reader calling vat_loss(model, x) on a model in train mode: neither its own clean forward
    (without clean_logits) nor the perturbed ones move the running statistics or the counter."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3),
                          nn.BatchNorm1d(3, affine=False)).train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from their initial 0 and 1
            model(2 * torch.randn(16, 5) + 1)
    x = torch.randn(16, 5)
    clean = None
    if pass_clean:
        model.eval()
        with torch.no_grad():
            clean = model(x)  # in eval mode: no update from the caller's forward either
        model.train()
    buffers = [name for name, _ in model.named_buffers()]
    assert len(buffers) == 6  # running_mean, running_var, num_batches_tracked of both layers
    before = {name: bits(b).clone() for name, b in model.named_buffers()}
    loss = adv.vat_loss(model, x, epsilon=1.0, xi=1e-2, iterations=2, clean_logits=clean)
    loss.backward()
    for name, b in model.named_buffers():
        assert torch.equal(bits(b), before[name]), name
    assert int(model[1].num_batches_tracked) == 3 and model[1].momentum == 0.1
    assert model.training and float(loss.detach()) > 0
    assert all(p.grad is not None for p in model.parameters())


def test_finite_difference_step_trades_truncation_for_rounding():
    """In float32 a tiny xi leaves rounding noise (relative size ~ 1e-7 / xi) in H d; in float64 the
    same xi is accurate. The reference is a float64 copy of the model."""
    from kexue.regularize.semi_supervised import mlp

    torch.manual_seed(0)
    model = mlp((784, 64, 10)).train()
    x = torch.rand(32, 784)
    tiny, moderate, large = adv.direction_agreement(model, x, [1e-6, 1e-3, 1.0])
    assert moderate > 0.99
    assert tiny < 0.8 and large < moderate  # rounding noise, and truncation error
    (tiny64,) = adv.direction_agreement(model.double(), x.double(), [1e-6])
    assert tiny64 > 0.9999


def test_bad_input_is_rejected():
    model, (x, y) = linear_softmax(), batch()
    with pytest.raises(ValueError, match="epsilon must be positive"):
        adv.fgm_perturbation(lambda z: F.cross_entropy(model(z), y), x, 0.0)
    with pytest.raises(ValueError, match="scalar"):
        adv.fgm_perturbation(lambda z: model(z), x, 1.0)
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        adv.vat_direction(model, x, iterations=0)
    with pytest.raises(ValueError, match="xi must be positive"):
        adv.vat_direction(model, x, xi=-1e-6)
    with pytest.raises(ValueError, match="shape of x"):
        adv.vat_direction(model, x, d=torch.ones(3, dtype=f64))
    with pytest.raises(ValueError, match="batch dimension"):
        adv.vat_direction(model, x[0])
    with pytest.raises(ValueError, match="same shape"):
        adv.kl_from_logits(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="finite"):
        adv.normalize(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(TypeError, match="floating"):
        adv.fgm_perturbation(lambda z: z.sum(), torch.ones(2, 2, dtype=torch.int64), 1.0)


def test_inputs_the_model_cannot_take_and_float_labels_are_named():
    model, (x, y) = linear_softmax(), batch()  # the model takes 5 features, float64
    wide = torch.randn(6, 7, dtype=f64)
    width = r"the model cannot take x of shape \(6, 7\), torch.float64 \(.*\); give x the width"
    with pytest.raises(ValueError, match=width):
        adv.vat_loss(model, wide, epsilon=1.0)
    with pytest.raises(ValueError, match=width):
        adv.vat_loss(model, wide, epsilon=1.0, clean_logits=torch.zeros(6, 4, dtype=f64))
    with pytest.raises(ValueError, match=width):
        adv.gradient_penalty_loss(model, wide, y, 0.1)
    with pytest.raises(ValueError, match=r"x of shape \(6, 5\), torch.float32"):
        adv.vat_loss(model, x.float(), epsilon=1.0)
    with pytest.raises(TypeError, match="y .*cross-entropy.* must be an int64 tensor of class labels, "
                                        "got torch.float64"):
        adv.gradient_penalty_loss(model, x, y.double(), 0.1)
    with pytest.raises(TypeError, match="y .*cross-entropy.* int64"):
        adv.fgm_loss(model, x, y.double(), 0.1)
    with pytest.raises(ValueError, match=r"y .* must have shape \(6,\)"):
        adv.gradient_penalty_loss(model, x, y[:3], 0.1)
    def squared_error(out, target, reduction):  # another loss: float targets are its business
        return ((out - target) ** 2).sum(1)

    assert adv.gradient_penalty_loss(model, x, torch.zeros(6, 4, dtype=f64), 0.1,
                                     loss=squared_error).ndim == 0


def test_vat_direction_called_without_clean_logits_leaves_batchnorm_statistics_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).train()
    with torch.no_grad():
        model(2 * torch.randn(16, 5) + 1)
    before = {name: bits(b).clone() for name, b in model.named_buffers()}
    d = adv.vat_direction(model, torch.randn(16, 5), xi=1e-2, iterations=2)
    assert d.shape == (16, 5)
    for name, b in model.named_buffers():
        assert torch.equal(bits(b), before[name]), name
