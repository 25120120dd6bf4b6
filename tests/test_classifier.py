"""Tests for kexue.classifier: the MLP's layers, seeding and dtype; the loss against
torch.nn.functional.cross_entropy; evaluation in eval mode, batched, restoring the training mode;
the MNIST subsets; and the refusal of bad input."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from kexue import classifier, data


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def blobs(n=50, d=6, classes=4, seed=0, dtype=torch.float32):
    g = gen(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


# -- mlp -----------------------------------------------------------------------------------------
def test_mlp_layers_activation_and_batch_norm():
    model = classifier.mlp((6, 5, 4, 3))
    assert [type(m) for m in model] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [(m.in_features, m.out_features) for m in model[::2]] == [(6, 5), (5, 4), (4, 3)]
    model = classifier.mlp([6, 5, 3], activation=nn.Tanh, batch_norm=True)
    assert [type(m) for m in model] == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Linear]
    assert model[1].num_features == 5
    assert len(classifier.mlp((6, 3))) == 1  # no hidden layer: one linear map


def test_mlp_seed_repeats_the_weights_and_leaves_the_global_state_alone():
    torch.manual_seed(7)
    state = torch.get_rng_state()
    a, b = classifier.mlp((6, 5, 3), seed=3), classifier.mlp((6, 5, 3), seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = classifier.mlp((6, 5, 3), seed=4)
    assert not torch.equal(a[0].weight, c[0].weight)
    # PyTorch's default initialisation, drawn after seeding: the same as nn.Linear's own
    torch.manual_seed(3)
    assert torch.equal(a[0].weight, nn.Linear(6, 5).weight)
    torch.manual_seed(7)
    d = classifier.mlp((6, 5, 3))  # no seed: from the global stream, which moves on
    assert torch.equal(d[0].weight, classifier.mlp((6, 5, 3), seed=7)[0].weight)
    assert not torch.equal(torch.get_rng_state(), state)


def test_mlp_dtype_casts_the_float32_weights():
    a = classifier.mlp((6, 5, 3), seed=1)
    b = classifier.mlp((6, 5, 3), seed=1, dtype=torch.float64)
    assert all(q.dtype == torch.float64 and torch.equal(p.double(), q)
               for p, q in zip(a.parameters(), b.parameters()))


def test_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least an input and an output width"):
        classifier.mlp((4,))
    with pytest.raises(ValueError, match="every layer width must be a positive int, got 0"):
        classifier.mlp((4, 0, 3))
    with pytest.raises(ValueError, match="every layer width must be a positive int, got 2.5"):
        classifier.mlp((4, 2.5, 3))
    with pytest.raises(TypeError, match="activation must be a callable"):
        classifier.mlp((4, 3), activation="relu")
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype, got torch.int64"):
        classifier.mlp((4, 3), dtype=torch.int64)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        classifier.mlp((4, 3), seed=-1)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got True"):
        classifier.mlp((4, 3), seed=True)


# -- classification_loss -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_classification_loss_is_cross_entropy_and_accuracy(dtype):
    x, y = blobs(dtype=dtype)
    model = classifier.mlp((6, 8, 4), seed=0, dtype=dtype)
    loss, metrics = classifier.classification_loss(model, x, y)
    logits = model(x)
    assert torch.equal(loss, F.cross_entropy(logits, y))
    assert metrics["acc"].dtype == dtype
    assert float(metrics["acc"]) == pytest.approx(int((logits.argmax(1) == y).sum()) / len(y))
    loss.backward()  # a training loss: it carries gradients
    assert model[0].weight.grad is not None


def test_classification_loss_rejects_mismatched_labels():
    x, y = blobs()
    model = classifier.mlp((6, 4), seed=0)
    with pytest.raises(ValueError, match=r"logits of shape \(n, classes\).*\(50, 4\).*\(49,\)"):
        classifier.classification_loss(model, x, y[:49])
    with pytest.raises(ValueError, match="logits of shape"):
        classifier.classification_loss(nn.Flatten(0), x, y)  # 1-D "logits"


# -- evaluate ------------------------------------------------------------------------------------
class ModeProbe(nn.Module):
    """A linear layer that notes its mode and whether gradients were on at each call."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 4)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled(), len(x)))
        return self.linear(x)


def test_evaluate_matches_the_loss_in_batches_and_in_eval_mode():
    x, y = blobs(n=50)
    model = ModeProbe()
    scored = classifier.evaluate(model, x, y, batch_size=16)
    assert model.calls == [(False, False, 16)] * 3 + [(False, False, 2)]
    with torch.no_grad():
        loss, metrics = classifier.classification_loss(model, x, y)
    assert scored["loss"] == pytest.approx(float(loss), rel=1e-6)
    assert scored["acc"] == pytest.approx(float(metrics["acc"]))
    assert type(scored["loss"]) is float and type(scored["acc"]) is float
    assert classifier.evaluate(model, x, y) == pytest.approx(scored, rel=1e-6)  # one batch


def test_evaluate_uses_eval_mode_and_restores_the_training_mode():
    x, y = blobs()
    model = nn.Sequential(nn.Linear(6, 32), nn.Dropout(0.5), nn.Linear(32, 4))
    first = classifier.evaluate(model, x, y)
    assert model.training  # restored
    assert classifier.evaluate(model, x, y) == first  # no dropout: deterministic
    model.eval()
    assert classifier.evaluate(model, x, y) == first
    assert not model.training  # eval mode stays eval mode

    class Fails(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    failing = Fails()
    with pytest.raises(RuntimeError, match="boom"):
        classifier.evaluate(failing, x, y)
    assert failing.training  # restored on the way out of an error too


def test_evaluate_rejects_bad_arguments():
    x, y = blobs()
    model = classifier.mlp((6, 4), seed=0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        classifier.evaluate(lambda t: t, x, y)
    with pytest.raises(TypeError, match="x must have a real floating dtype"):
        classifier.evaluate(model, y, y)
    with pytest.raises(ValueError, match="x must be non-empty"):
        classifier.evaluate(model, x[:0], y[:0])
    with pytest.raises(TypeError, match="int64 tensor of class labels, got torch.float32"):
        classifier.evaluate(model, x, y.float())
    with pytest.raises(ValueError, match=r"y must have shape \(50,\), one label per sample"):
        classifier.evaluate(model, x, y[:49])
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        classifier.evaluate(model, x, y, batch_size=0)


# -- mnist_subset --------------------------------------------------------------------------------
def test_mnist_subset_is_seeded_and_takes_the_first_test_images():
    x, y, xt, yt = classifier.mnist_subset(100, 30, seed=1, device="cpu")
    assert x.shape == (100, 784) and xt.shape == (30, 784)
    assert x.dtype == xt.dtype == torch.float32 and y.dtype == yt.dtype == torch.int64
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    test_images, test_labels = data.mnist("test")
    assert torch.equal(xt, data.as_float(test_images[:30])) and torch.equal(yt, test_labels[:30])
    again = classifier.mnist_subset(100, 30, seed=1, device="cpu")
    assert torch.equal(again[0], x) and torch.equal(again[1], y)
    other = classifier.mnist_subset(100, 30, seed=2, device="cpu")
    assert not torch.equal(other[1], y)
    # a larger subset with the same seed starts with the smaller one
    assert torch.equal(classifier.mnist_subset(150, 1, seed=1, device="cpu")[1][:100], y)


def test_mnist_subset_rejects_bad_sizes_and_seeds():
    with pytest.raises(ValueError, match="n_train must be a positive int, got 0"):
        classifier.mnist_subset(0, 10, seed=0, device="cpu")
    with pytest.raises(ValueError, match="MNIST has 60000 training images; 60001 were asked for"):
        classifier.mnist_subset(60_001, 10, seed=0, device="cpu")
    with pytest.raises(ValueError, match="MNIST has 10000 test images; 10001 were asked for"):
        classifier.mnist_subset(10, 10_001, seed=0, device="cpu")
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        classifier.mnist_subset(10, 10, seed=-1, device="cpu")


def test_train_mlp_learns_a_separable_problem_and_checks_its_arguments():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + 2 * (x[:, 2] > 0).long()     # four classes, linear cuts
    model = classifier.train_mlp(x, y, epochs=30, batch_size=50, lr=1e-2)
    assert not model.training and model[-1].out_features == 4       # classes = largest label + 1
    assert classifier.evaluate(model, x, y)["acc"] > 0.9
    assert classifier.train_mlp(x, y, hidden=(8,), classes=6, epochs=1)[-1].out_features == 6
    with pytest.raises(TypeError, match="int64"):
        classifier.train_mlp(x, y.float(), epochs=1)
    with pytest.raises(ValueError, match="classes"):
        classifier.train_mlp(x, y, classes=0, epochs=1)
