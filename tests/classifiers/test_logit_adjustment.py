"""Logit adjustment (kexue.classifiers.logit_adjustment), post 7615: the adjusted loss against
PyTorch's cross-entropy and the post's closed form, the reweighted loss against independent
weightings (sklearn's "balanced" sample weights, PyTorch's class weights), the post-hoc rule as the
balanced-error Bayes decision on a problem solved by brute force, balanced accuracy against
sklearn, and the errors."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.utils.class_weight import compute_sample_weight
from torch.nn import functional as F

from kexue.classifiers import logit_adjustment as la


def problem(n=64, classes=10, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(n, classes, generator=g)).to(dtype)
    y = torch.randint(0, classes, (n,), generator=g)
    prior = torch.rand(classes, generator=g, dtype=torch.float64) ** 3 + 1e-3
    return logits, y, prior / prior.sum()


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_adjusted_loss_is_cross_entropy_on_logits_plus_tau_log_prior(tau, dtype):
    logits, y, prior = problem(dtype=dtype)
    loss = la.logit_adjusted_loss(logits, y, prior, tau)
    assert torch.equal(loss, F.cross_entropy(la.adjusted_logits(logits, prior, tau), y))
    shifted = logits + tau * prior.log().to(dtype)  # the literal shift: the same up to rounding
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss, F.cross_entropy(shifted, y), **tol)
    torch.testing.assert_close(F.softmax(la.adjusted_logits(logits, prior, tau), 1),
                               F.softmax(shifted, 1), **tol)
    # the post's form: log[1 + sum_{i != y} (p_i / p_y)^tau exp(f_i - f_y)], in float64
    f, p = logits.double(), prior
    ratio = (p[None, :] / p[y][:, None]) ** tau * torch.exp(f - f.gather(1, y[:, None]))
    others = ratio.sum(1) - 1  # the i = y term is exactly 1
    torch.testing.assert_close(loss.double(), torch.log1p(others).mean(), **tol)
    # the shift leaves the most frequent class alone and moves every other one down
    moved = la.adjusted_logits(logits, prior, tau) - logits
    head = int(prior.argmax())
    assert bool((moved[:, head] == 0).all())
    torch.testing.assert_close(moved[0].double(), tau * (p.log() - p.log().max()),
                               **(dict(rtol=0, atol=1e-5) if dtype == torch.float32 else {}))


@pytest.mark.parametrize("classes", [2, 7, 10, 49])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_uniform_prior_changes_nothing_exactly(classes, dtype):
    logits, y, _ = problem(n=500, classes=classes, dtype=dtype)
    balanced = torch.arange(10 * classes) % classes
    for uniform in (torch.full((classes,), 1 / classes, dtype=torch.float64),
                    la.class_prior(balanced, classes)):
        plain = F.cross_entropy(logits, y)
        assert torch.equal(la.adjusted_logits(logits, uniform, 1.7), logits)
        assert torch.equal(la.posthoc_logits(logits, uniform, 1.7), logits)
        assert torch.equal(la.logit_adjusted_loss(logits, y, uniform, 1.0), plain)
        assert torch.equal(la.reweighted_loss(logits, y, uniform), plain)
        assert torch.equal(la.posthoc_logits(logits, uniform).argmax(1), logits.argmax(1))


def test_the_reweighted_loss_against_independent_weightings():
    logits, y, prior = problem(n=300, dtype=torch.float64)
    n, k = logits.shape
    ce = F.cross_entropy(logits, y, reduction="none")
    by_hand = sum(float(ce[i]) / prior[y[i]].item() for i in range(n)) / (k * n)
    assert la.reweighted_loss(logits, y, prior).item() == pytest.approx(by_hand, rel=1e-12)
    # PyTorch's class weights 1/p with reduction="sum", divided by K n, is the same number
    summed = F.cross_entropy(logits, y, weight=1 / prior, reduction="sum") / (k * n)
    torch.testing.assert_close(la.reweighted_loss(logits, y, prior), summed, rtol=1e-12, atol=0)
    # with the batch's own label frequencies as the prior, the weights 1/(K p(y_i)) are sklearn's
    # "balanced" sample weights n / (K n_y) ...
    own = la.class_prior(y, k)
    weights = torch.from_numpy(compute_sample_weight("balanced", y.numpy()))
    torch.testing.assert_close(la.reweighted_loss(logits, y, own), (weights * ce).mean(),
                               rtol=1e-12, atol=0)
    # ... which sum to n, so that PyTorch's weighted mean (divided by sum_i w_{y_i}) agrees too
    assert weights.sum().item() == pytest.approx(n, rel=1e-12)
    torch.testing.assert_close(la.reweighted_loss(logits, y, own),
                               F.cross_entropy(logits, y, weight=1 / own), rtol=1e-12, atol=0)


def test_posthoc_is_the_mutual_information_decision():
    """argmax of log p(y|x) - tau log p(y): with the exact posterior's logits and tau = 1, the class
    of largest log p(y|x) / p(y), i.e. of largest likelihood p(x|y)."""
    g = torch.Generator().manual_seed(1)
    likelihood = torch.rand(200, 5, generator=g, dtype=torch.float64) + 1e-3
    prior = torch.tensor([0.6, 0.25, 0.1, 0.04, 0.01], dtype=torch.float64)
    log_posterior = torch.log_softmax(likelihood.log() + prior.log(), 1)
    corrected = la.posthoc_logits(log_posterior, prior, 1.0)
    assert torch.equal(corrected.argmax(1), likelihood.argmax(1))
    assert torch.equal(corrected.argmax(1), (log_posterior - prior.log()).argmax(1))
    assert torch.equal(la.posthoc_logits(log_posterior, prior, 0.0), log_posterior)


def _normal_cdf(x, mean, std):
    return 0.5 * (1 + torch.special.erf((x - mean) / (std * math.sqrt(2))))


def test_posthoc_tau_one_is_the_balanced_bayes_rule_of_two_gaussians():
    """Class 0 ~ N(0, 1) with prior 0.95, class 1 ~ N(1.5, 0.6^2) with prior 0.05. The exact
    posterior's logits, corrected post hoc with tau = 1, predict class 1 on an interval [a, b];
    no interval rule on a grid has a higher balanced accuracy (computed exactly from the normal
    CDFs), the best one found by brute force has the same end points, and plain argmax (tau = 0)
    or any other tau does worse on the balanced measure."""
    mean, std = torch.tensor([0.0, 1.5], dtype=torch.float64), torch.tensor([1.0, 0.6], dtype=torch.float64)
    prior = torch.tensor([0.95, 0.05], dtype=torch.float64)
    x = torch.arange(-8, 8, 1e-4, dtype=torch.float64)
    log_lik = torch.distributions.Normal(mean, std).log_prob(x[:, None])
    posterior_logits = torch.log_softmax(log_lik + prior.log(), 1)

    def interval_score(a, b):  # balanced accuracy of "class 1 iff a < x < b"
        inside0 = _normal_cdf(b, mean[0], std[0]) - _normal_cdf(a, mean[0], std[0])
        inside1 = _normal_cdf(b, mean[1], std[1]) - _normal_cdf(a, mean[1], std[1])
        return 0.5 * ((1 - inside0) + inside1)

    def rule(tau):
        ones = x[la.posthoc_logits(posterior_logits, prior, tau).argmax(1) == 1]
        if not len(ones):  # class 1 never predicted (plain argmax here): the empty interval
            return torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
        assert torch.allclose(ones[1:] - ones[:-1], torch.tensor(1e-4, dtype=torch.float64))
        return ones[0], ones[-1]  # an interval: sigma_1 < sigma_0

    a, b = rule(1.0)
    grid = torch.arange(-4, 5, 0.01, dtype=torch.float64)
    scores = interval_score(grid[:, None], grid[None, :])
    scores = torch.where(grid[:, None] < grid[None, :], scores, 0.5)  # a >= b: always class 0
    best = int(scores.argmax())
    ga, gb = grid[best // len(grid)], grid[best % len(grid)]
    assert interval_score(a, b) >= scores.max() - 1e-12
    assert abs(float(ga - a)) < 0.011 and abs(float(gb - b)) < 0.011
    posthoc = float(interval_score(a, b))
    for tau in (0.0, 0.5, 0.75, 1.25, 1.5, 2.0):
        assert float(interval_score(*rule(tau))) < posthoc - 1e-4, tau
    assert float(interval_score(*rule(0.0))) < posthoc - 0.05  # plain argmax, far off balance
    # the same in samples: balanced_accuracy of the post-hoc predictions on a large draw
    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(200_000, generator=g) < 0.5).long()
    samples = mean[labels] + std[labels] * torch.randn(len(labels), generator=g, dtype=torch.float64)
    logits = torch.log_softmax(torch.distributions.Normal(mean, std).log_prob(samples[:, None])
                               + prior.log(), 1)
    empirical = la.balanced_accuracy(la.posthoc_logits(logits, prior), labels, 2)
    assert empirical == pytest.approx(posthoc, abs=0.005)


def test_training_on_the_adjusted_loss_moves_the_biases_by_tau_log_prior():
    """The logit-adjusted loss of ``f`` is the cross-entropy of ``f + tau log p``: a linear model
    (which has a free bias per class) trained to its optimum on the adjusted loss is the
    cross-entropy optimum less ``tau log p`` in its biases, and the same weights."""
    g = torch.Generator().manual_seed(0)
    y = torch.cat([torch.zeros(900), torch.ones(90), torch.full((10,), 2.0)]).long()
    x = torch.randn(len(y), 2, generator=g, dtype=torch.float64) + 1.5 * F.one_hot(y, 3)[:, :2].double()
    prior = la.class_prior(y, 3)
    fitted = {}
    for method, tau in (("cross-entropy", 1.0), ("logit-adjusted", 1.0), ("logit-adjusted", 2.0)):
        model = torch.nn.Linear(2, 3).double()
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
        loss_fn = la.loss_function(method, prior, tau)
        opt = torch.optim.LBFGS(model.parameters(), max_iter=500, tolerance_grad=1e-12,
                                tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn(model, x, y)[0] + 1e-3 * model.weight.pow(2).sum()  # a unique optimum
            loss.backward()
            return loss

        opt.step(closure)
        fitted[method, tau] = model
    ce = fitted["cross-entropy", 1.0]
    for tau in (1.0, 2.0):
        adjusted = fitted["logit-adjusted", tau]
        torch.testing.assert_close(adjusted.weight, ce.weight, atol=1e-6, rtol=0)
        shift = (adjusted.bias - ce.bias) + tau * prior.log()
        torch.testing.assert_close(shift - shift.mean(), torch.zeros(3, dtype=torch.float64),
                                   atol=1e-6, rtol=0)
        # so its raw argmax is the cross-entropy model's post-hoc correction
        assert torch.equal(adjusted(x).argmax(1), la.posthoc_logits(ce(x), prior, tau).argmax(1))


def test_balanced_accuracy_matches_sklearn():
    g = torch.Generator().manual_seed(2)
    y = torch.multinomial(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]), 2000, replacement=True,
                          generator=g)
    logits = torch.randn(2000, 5, generator=g) + 1.5 * F.one_hot(y, 5)
    predictions = logits.argmax(1)
    expected = balanced_accuracy_score(y.numpy(), predictions.numpy())
    assert la.balanced_accuracy(logits, y, 5) == pytest.approx(expected, abs=1e-12)
    assert la.balanced_accuracy(predictions, y, 5) == pytest.approx(expected, abs=1e-12)
    per_class = la.per_class_accuracy(predictions, y, 5)
    assert per_class.dtype == torch.float64
    np.testing.assert_allclose(per_class.numpy(), recall_score(y.numpy(), predictions.numpy(),
                                                               average=None), atol=1e-12)
    # on a test set with equal class counts it is the plain accuracy
    even = torch.arange(1000) % 5
    guesses = torch.randint(0, 5, (1000,), generator=g)
    assert la.balanced_accuracy(guesses, even, 5) == pytest.approx(float((guesses == even).double().mean()))
    # a class absent from y is left out of the mean, as sklearn leaves it out (with a warning)
    absent = y.clone()
    absent[absent == 3] = 0
    assert math.isnan(la.per_class_accuracy(predictions, absent, 5)[3])
    with pytest.warns(UserWarning):
        expected = balanced_accuracy_score(absent.numpy(), predictions.numpy())
    assert la.balanced_accuracy(predictions, absent, 5) == pytest.approx(expected, abs=1e-12)


def test_class_prior_counts_the_labels():
    y = torch.tensor([0, 0, 0, 1, 2, 2])
    prior = la.class_prior(y, 3)
    assert prior.dtype == torch.float64 and prior.tolist() == [0.5, 1 / 6, 1 / 3]
    with pytest.raises(ValueError, match=r"classes \[3\] have no example.*-inf"):
        la.class_prior(y, 4)
    with pytest.raises(ValueError, match="must lie in 0..1"):
        la.class_prior(y, 2)
    with pytest.raises(TypeError, match="int64"):
        la.class_prior(y.float(), 3)


def test_loss_function_trains_every_method_through_one_path():
    logits, y, prior = problem(n=40)
    model = torch.nn.Linear(10, 10)
    x = torch.randn(40, 10)
    out = model(x)
    for method, expected in (("cross-entropy", F.cross_entropy(out, y)),
                             ("logit-adjusted", la.logit_adjusted_loss(out, y, prior, 0.5)),
                             ("reweighted", la.reweighted_loss(out, y, prior))):
        loss, metrics = la.loss_function(method, prior, 0.5)(model, x, y)
        assert torch.equal(loss, expected), method
        assert metrics["acc"].item() == pytest.approx(float((out.argmax(1) == y).float().mean()))
    assert la.METHODS == ("cross-entropy", "logit-adjusted", "reweighted")
    la.loss_function("cross-entropy")  # needs no prior


def test_bad_priors_are_clear_errors():
    logits, y, prior = problem()
    f64 = dict(dtype=torch.float64)
    for bad, match in ((prior * 0.9, "do not sum to one"),
                       (torch.tensor([0.5, 0.5] + [0.0] * 8, **f64), "contain zeros or negatives"),
                       (torch.tensor([0.6, 0.6, -0.2] + [0.0] * 7, **f64), "contain zeros or negatives"),
                       (torch.full((9,), 1 / 9, **f64), "prior has 9 classes but the logits have 10"),
                       (prior[None], "prior must be 1-D"),
                       (torch.tensor([float("nan")] * 10), "prior must be finite")):
        for call in (lambda: la.adjusted_logits(logits, bad), lambda: la.posthoc_logits(logits, bad),
                     lambda: la.logit_adjusted_loss(logits, y, bad),
                     lambda: la.reweighted_loss(logits, y, bad)):
            with pytest.raises(ValueError, match=match):
                call()
    with pytest.raises(ValueError, match="do not sum to one"):
        la.loss_function("reweighted", prior * 2)
    with pytest.raises(ValueError, match="needs the training labels' prior"):
        la.loss_function("logit-adjusted")
    np_prior = la.check_prior(prior.numpy())  # a numpy vector is accepted
    assert torch.equal(np_prior, prior)
    assert la.check_prior(prior.float()).dtype == torch.float64


def test_bad_tau_methods_and_shapes_are_clear_errors():
    logits, y, prior = problem()
    for tau, match in ((-0.5, "tau must be >= 0"), (float("nan"), "tau must be finite"),
                       (float("inf"), "tau must be finite")):
        for call in (lambda: la.adjusted_logits(logits, prior, tau),
                     lambda: la.posthoc_logits(logits, prior, tau),
                     lambda: la.logit_adjusted_loss(logits, y, prior, tau),
                     lambda: la.loss_function("logit-adjusted", prior, tau)):
            with pytest.raises(ValueError, match=match):
                call()
    with pytest.raises(ValueError, match="unknown method 'focal'; the known ones are "
                                         "cross-entropy, logit-adjusted, reweighted"):
        la.loss_function("focal", prior)
    with pytest.raises(ValueError, match=r"y must have shape \(64,\)"):
        la.logit_adjusted_loss(logits, y[:10], prior)
    with pytest.raises(ValueError, match=r"y must have shape \(64,\)"):
        la.reweighted_loss(logits, y[:10], prior)
    with pytest.raises(ValueError, match="logits must be 2-D"):
        la.logit_adjusted_loss(logits[0], y[:1], prior)
    with pytest.raises(TypeError, match="real floating dtype"):
        la.adjusted_logits(y, prior)
    with pytest.raises(ValueError, match=r"logits must have shape \(n, classes\) = \(64, 10\)"):
        la.per_class_accuracy(logits[:, :5], y, 10)
    with pytest.raises(ValueError, match=r"predictions must have shape \(64,\)"):
        la.balanced_accuracy(y[:3], y, 10)
    with pytest.raises(ValueError, match="predictions must lie in 0..9"):
        la.balanced_accuracy(y + 1, y, 10)
    loss_fn = la.loss_function("cross-entropy")
    with pytest.raises(ValueError, match=r"logits of shape \(n, classes\)"):
        loss_fn(torch.nn.Linear(10, 10), torch.randn(4, 10), torch.zeros(3, dtype=torch.int64))
