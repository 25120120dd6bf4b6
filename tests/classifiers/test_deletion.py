"""Deletion curves: the order, the exact number of features removed, the area, and bad input."""
import pytest
import torch

from kexue.classifiers import deletion as D


def test_ranks_put_the_highest_scores_first_ties_by_position_and_fixed_features_last():
    scores = torch.tensor([[0.5, 2.0, 0.5, -1.0, 9.0]])
    assert D.deletion_ranks(scores).tolist() == [[2, 1, 3, 4, 0]]
    deletable = torch.tensor([[True, True, True, True, False]])
    assert D.deletion_ranks(scores, deletable).tolist() == [[1, 0, 2, 3, 4]]


def counting_model(x):
    """Two logits whose argmax is class 1 while fewer than three features are zero."""
    zeros = (x == 0).sum(1).double()
    return torch.stack([zeros - 2.5, torch.zeros_like(zeros)], 1)


def test_the_curve_removes_exactly_round_f_times_m_features():
    x = torch.ones(3, 10, dtype=torch.float64)
    y = torch.ones(3, dtype=torch.long)
    scores = torch.rand(3, 10, generator=torch.Generator().manual_seed(0))
    curve = D.deletion_curve(counting_model, x, y, scores, [0.0, 0.2, 0.24, 0.26, 1.0])
    # round(f·10) = 0, 2, 2, 3, 10 zeros: class 1 survives fewer than three
    assert curve["accuracy"] == [1.0, 1.0, 1.0, 0.0, 0.0]
    deletable = torch.zeros(3, 10, dtype=torch.bool)
    deletable[:, :4] = True  # m = 4: round(0.5·4) = 2 zeros, round(0.75·4) = 3
    curve = D.deletion_curve(counting_model, x, y, scores, [0.5, 0.75, 1.0], deletable=deletable)
    assert curve["accuracy"] == [1.0, 0.0, 0.0]


def test_the_right_attribution_beats_a_random_order_and_fill_may_be_a_baseline():
    """A linear two-class model: removing the features of largest w_i x_i first (the exact
    attribution) lowers the probability of the true class faster than a random order."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(20, generator=g, dtype=torch.float64)
    model = lambda x: torch.stack([torch.zeros(len(x), dtype=x.dtype), x @ w], 1)
    x = torch.randn(200, 20, generator=g, dtype=torch.float64)
    y = (x @ w > 0).long()
    sign = 2 * y[:, None] - 1
    fractions = [0, 0.1, 0.2, 0.3, 0.5]
    exact = D.deletion_curve(model, x, y, sign * w * x, fractions)
    random = D.deletion_curve(model, x, y, D.random_scores(x.shape, g), fractions)
    assert exact["accuracy"][0] == random["accuracy"][0] == 1.0
    assert D.curve_area(fractions, exact["probability"]) < D.curve_area(fractions, random["probability"]) - 0.1
    baseline = torch.full_like(x, 0.5)
    everything = D.deletion_curve(model, x, y, sign * w * x, [1.0], fill=baseline)
    expected = ((baseline @ w > 0).long() == y).double().mean()
    assert everything["accuracy"][0] == pytest.approx(float(expected))


def test_area_is_the_mean_height():
    assert D.curve_area([0, 0.5, 1], [0.3, 0.3, 0.3]) == pytest.approx(0.3)
    assert D.curve_area([0, 0.1, 0.2], [1.0, 0.5, 0.0]) == pytest.approx(0.5)


def test_bad_input_is_named():
    x, y = torch.ones(2, 4), torch.ones(2, dtype=torch.long)
    with pytest.raises(ValueError, match="scores must have the input's shape"):
        D.deletion_curve(counting_model, x, y, torch.ones(2, 3), [0.1])
    with pytest.raises(ValueError, match="one label per example"):
        D.deletion_curve(counting_model, x, y[:1], torch.ones(2, 4), [0.1])
    with pytest.raises(ValueError, match="deletion fraction"):
        D.deletion_curve(counting_model, x, y, torch.ones(2, 4), [1.5])
    with pytest.raises(ValueError, match="bool mask"):
        D.deletion_ranks(torch.ones(2, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="increasing"):
        D.curve_area([0, 0], [1, 1])
