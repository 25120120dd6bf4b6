"""The semi-supervised MNIST experiment's parts (kexue.regularize.semi_supervised); its run is
tested in test_experiments.py, its figures in test_figures.py."""
import math

import pytest
import torch
from torch import nn

from kexue.regularize import semi_supervised as ss


def test_mlp_layout():
    model = ss.mlp((784, 1200, 600, 300, 150, 10))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 1200), (1200, 600), (600, 300), (300, 150), (150, 10)]
    norms = [m for m in model if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 5 and [m.affine for m in norms] == [True] * 4 + [False]
    assert sum(isinstance(m, nn.ReLU) for m in model) == 4
    out = model.train()(torch.rand(32, 784))
    assert out.shape == (32, 10)
    # the logits of a batch are standardised, class by class
    assert torch.allclose(out.mean(0), torch.zeros(10), atol=1e-5)
    assert torch.allclose(out.var(0, unbiased=False), torch.ones(10), atol=1e-3)


def test_cnn_is_its_convolutions_then_the_mlp_head():
    """The network vat-mnist-100-cnn trains, against the same computation in torch.nn.functional:
    3x3 convolution, batch statistics, ReLU, 2x2 max-pooling, twice, then the MLP head."""
    torch.manual_seed(0)
    model = ss.cnn((4, 8), (392, 16, 10)).train()
    x = torch.rand(32, 784)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    norms = [m for m in model if isinstance(m, nn.BatchNorm2d)]
    h = x.view(32, 1, 28, 28)
    for conv, norm in zip(convs, norms):
        h = torch.nn.functional.conv2d(h, conv.weight, padding=1)
        h = torch.nn.functional.batch_norm(h, None, None, norm.weight, norm.bias, training=True)
        h = torch.nn.functional.max_pool2d(h.relu(), 2)
    head = model[-len(ss.mlp((392, 16, 10))):]
    out = model(x)
    assert out.shape == (32, 10) and [c.out_channels for c in convs] == [4, 8]
    assert torch.allclose(out, head(h.flatten(1)), atol=1e-5)
    assert isinstance(head[-1], nn.BatchNorm1d) and not head[-1].affine


@pytest.mark.parametrize("channels, widths, side, match", [
    ((), (784, 10), 28, "channels is empty"),
    ((4, 8), (400, 10), 28, "must start with 392"),
    ((4, 8, 16, 32), (32, 10), 28, "do not divide"),
    ((0,), (10, 10), 28, "channel count"),
])
def test_cnn_refuses_what_cannot_be_built(channels, widths, side, match):
    with pytest.raises(ValueError, match=match):
        ss.cnn(channels, widths, side)


def test_split_labelled_takes_per_class_and_leaves_the_rest():
    order = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(10).repeat(30)[order]
    lab, unl = ss.split_labelled(labels, 4, torch.Generator().manual_seed(1))
    assert torch.equal(torch.bincount(labels[lab], minlength=10), torch.full((10,), 4))
    assert len(set(lab.tolist()) & set(unl.tolist())) == 0
    assert sorted(lab.tolist() + unl.tolist()) == list(range(300))
    again, _ = ss.split_labelled(labels, 4, torch.Generator().manual_seed(1))
    other, _ = ss.split_labelled(labels, 4, torch.Generator().manual_seed(2))
    assert torch.equal(lab, again) and not torch.equal(lab, other)


def test_schedule_is_flat_then_linear_to_zero():
    f = ss._schedule(100, 0.6)
    assert [f(t) for t in (0, 59, 60, 80, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]


def small_problem():
    torch.manual_seed(0)
    model = ss.mlp((6, 16, 3))
    x_l, y_l = torch.randn(12, 6), torch.randint(0, 3, (12,))
    return model, x_l, y_l, torch.randn(20, 6)


def test_baseline_loss_ignores_the_unlabelled_batch():
    model, x_l, y_l, x_u = small_problem()
    loss_fn = ss.SemiSupervisedLoss(x_l, y_l, batch_size=5)
    torch.manual_seed(3)
    a, metrics = loss_fn(model, x_u)
    torch.manual_seed(3)
    b, _ = loss_fn(model, torch.full_like(x_u, float("nan")))
    assert torch.equal(a, b) and set(metrics) == {"ce", "acc"}


def test_vat_loss_fn_keeps_running_statistics_of_clean_data():
    """With VAT the running statistics move exactly as for the labelled and clean unlabelled
    forwards alone: the perturbed forwards leave no trace."""
    model, x_l, y_l, x_u = small_problem()
    reference = ss.mlp((6, 16, 3))
    reference.load_state_dict(model.state_dict())
    loss_fn = ss.SemiSupervisedLoss(x_l, y_l, batch_size=5, alpha=1.0, epsilon=1.0)
    torch.manual_seed(3)
    loss, metrics = loss_fn(model, x_u)
    assert set(metrics) == {"ce", "acc", "vat"} and float(metrics["vat"]) > 0
    torch.manual_seed(3)
    index = torch.randperm(12)[:5]
    with torch.no_grad():
        reference(x_l[index])
        reference(x_u)
    bn, ref_bn = model[1], reference[1]
    assert torch.allclose(bn.running_mean, ref_bn.running_mean, atol=1e-7)
    assert torch.allclose(bn.running_var, ref_bn.running_var, atol=1e-7)
    assert int(bn.num_batches_tracked) == int(ref_bn.num_batches_tracked) == 2
    loss.backward()  # the loss reaches every parameter
    assert all(p.grad is not None for p in model.parameters())


def test_entropy_term_is_reported():
    model, x_l, y_l, x_u = small_problem()
    _, metrics = ss.SemiSupervisedLoss(x_l, y_l, batch_size=5, alpha=1.0, beta=1.0)(model, x_u)
    assert set(metrics) == {"ce", "acc", "vat", "entropy"}
    assert 0 < float(metrics["entropy"]) <= math.log(3)


def test_accuracy_uses_eval_mode_and_restores_train_mode():
    model, x_l, y_l, _ = small_problem()
    model.train()
    with torch.no_grad():
        for _ in range(20):  # move the running statistics away from the batch's own
            model(3 * x_l + 2)
        train_pred = model(x_l).argmax(1)
        model.eval()
        eval_pred = model(x_l).argmax(1)
    model.train()
    assert not torch.equal(train_pred, eval_pred)  # so the two modes are told apart
    expected = int((eval_pred == y_l).sum()) / len(y_l)
    assert ss.accuracy(model, x_l, y_l, batch_size=5) == expected
    assert model.training


def test_bad_input_is_rejected():
    model, x_l, y_l, _ = small_problem()
    with pytest.raises(ValueError, match="alpha and beta must be >= 0"):
        ss.SemiSupervisedLoss(x_l, y_l, batch_size=5, alpha=-1.0)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        ss.SemiSupervisedLoss(x_l, y_l, batch_size=5, epsilon=0.0)
    with pytest.raises(ValueError, match="fewer than 50"):
        ss.split_labelled(torch.arange(10).repeat(3), 50, torch.Generator())
    with pytest.raises(ValueError, match="1-D int64"):
        ss.split_labelled(torch.zeros(5), 1, torch.Generator())
    with pytest.raises(ValueError, match="input and an output width"):
        ss.mlp((784,))


def test_top_confusions_counts_the_commonest_mistakes():
    class Fixed(nn.Module):  # predicts the class stored in the first input coordinate
        def forward(self, x):
            return nn.functional.one_hot(x[:, 0].long(), 10).float()

    y = torch.tensor([4, 4, 4, 9, 9, 1, 1, 2])
    pred = torch.tensor([9, 9, 4, 4, 9, 1, 7, 2])
    x = torch.stack([pred.float(), torch.zeros(8)], 1)
    top = ss.top_confusions(Fixed(), x, y, k=3)
    assert top[0] == [4, 9, 2]  # then the two single mistakes, in either order
    assert sorted(map(tuple, top[1:])) == [(1, 7, 1), (9, 4, 1)]


def test_perturbed_gives_unit_directions_and_clean_predictions_at_zero(tiny_artifacts):
    art = tiny_artifacts
    model, x = art["vat_model"], art["x_eval"]
    d, probs = ss.perturbed(model, x, 0.0)
    assert torch.allclose(d.norm(dim=1), torch.ones(5), atol=1e-5)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(probs, torch.softmax(model(x), 1), atol=1e-6)
    assert model.training is False  # perturbed restores the mode it found
    _, far = ss.perturbed(model.train(), x, 5.0)
    assert model.training and not torch.allclose(far, probs, atol=1e-3)
