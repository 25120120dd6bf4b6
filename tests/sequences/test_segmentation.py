"""Perturbed-masking segmentation: the impact matrix of a constructed encoder whose answer is
known, the neighbour scores against the whole matrix, cutting, boundary scores against a count by
hand, the PMI baseline, the tree split, jieba, and bad input."""
import math

import pytest
import torch

from kexue.sequences import segmentation as S

MASK = 9


def right_neighbour_encoder(table):
    """H(x)_p = table[x_{p+1}] (zeros past the end): each position sees only its right
    neighbour, so f(x_i, x_j) = ‖table[x_{i+1}] − table[MASK]‖ for j = i + 1 and 0 otherwise."""
    def encoder(ids):
        shifted = torch.cat([ids[:, 1:], torch.full_like(ids[:, :1], -1)], 1)
        out = table[shifted.clamp(min=0)]
        return out * (shifted >= 0)[..., None]
    return encoder


def test_the_impact_matrix_of_a_constructed_encoder():
    table = torch.randn(10, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    encoder = right_neighbour_encoder(table)
    ids = torch.tensor([0, 3, 5, 7, 2, 1])  # a frame token, four characters, an end token
    F = S.impact_matrix(encoder, ids, mask_id=MASK, batch_size=5)
    expected = torch.zeros(4, 4, dtype=torch.float64)
    for i in range(3):
        expected[i, i + 1] = (table[ids[1 + i + 1]] - table[MASK]).norm()
    torch.testing.assert_close(F, expected, rtol=0, atol=1e-12)
    adjacent = S.adjacent_impact(encoder, ids, mask_id=MASK)
    torch.testing.assert_close(adjacent, (F.diagonal(1) + F.diagonal(-1)) / 2, rtol=0, atol=1e-12)


def test_neighbour_scores_equal_the_matrix_for_a_real_bert():
    from kexue.sequences.bert import CharBert

    torch.manual_seed(0)
    model = CharBert(30, dim=16, heads=2, layers=2, max_length=12, dropout=0.0).eval()
    ids = torch.tensor([2, 5, 6, 7, 8, 9, 3])
    F = S.impact_matrix(model, ids, mask_id=29, batch_size=7)
    adjacent = S.adjacent_impact(model, ids, mask_id=29, batch_size=3)
    torch.testing.assert_close(adjacent, (F.diagonal(1) + F.diagonal(-1)) / 2, rtol=1e-5, atol=1e-6)
    assert (F.diagonal() == 0).all() and (F > 0).sum() == 5 * 4


def test_cut_and_boundaries():
    assert S.cut("我爱北京天安门", [0.1, 0.1, 0.9, 0.2, 0.9, 0.9], 0.5) == ["我", "爱", "北京", "天安门"]
    assert S.boundaries(["我", "爱", "北京", "天安门"]) == {1, 2, 4}


def test_boundary_scores_by_hand():
    gold = [["我", "爱", "北京", "天安门"], ["你好", "吗"]]
    predicted = [["我爱", "北京", "天安", "门"], ["你", "好", "吗"]]
    # boundaries: gold {1,2,4} and {2}; predicted {2,4,6} and {1,2}; hits 2 + 1
    scores = S.boundary_scores(predicted, gold)
    assert scores["precision"] == pytest.approx(3 / 5) and scores["recall"] == pytest.approx(3 / 4)
    assert scores["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    threshold, f1 = S.best_threshold(["ab", "cd"], [[0.2], [0.8]], [["a", "b"], ["cd"]], [0.1, 0.5, 0.9])
    assert threshold == 0.5 and f1 == 1.0


def test_pmi_is_high_inside_words():
    stats = S.BigramStatistics(["北京天安门", "北京很大", "天安门很大", "我在北京"] * 10)
    pmi = stats.pmi("北京很大")
    v = len(stats.chars) + 1
    p = lambda c: (stats.chars[c] + 1) / (stats.n_chars + v)
    expected = math.log((stats.pairs["北京"] + 1) / (stats.n_pairs + v * v)) - math.log(p("北") * p("京"))
    assert pmi[0] == pytest.approx(expected)
    assert stats.pmi("京天")[0] < stats.pmi("天安")[0]


def test_split_tree_recovers_two_blocks():
    F = torch.zeros(5, 5)
    F[:2, :2] = 1.0
    F[2:, 2:] = 1.0
    F.fill_diagonal_(0)
    assert S.split_tree(F) == ((0, 1), (2, (3, 4)))  # the blocks first; a tie splits leftmost


def test_jieba_segments_a_sentence():
    pytest.importorskip("jieba")
    words = S.jieba_words("我爱北京天安门")
    assert "".join(words) == "我爱北京天安门" and "北京" in words


def test_bad_input_is_named():
    table = torch.randn(10, 4)
    encoder = right_neighbour_encoder(table)
    with pytest.raises(ValueError, match="longer than the model's limit of 4"):
        S.impact_matrix(encoder, torch.arange(6), mask_id=MASK, limit=4)
    with pytest.raises(ValueError, match="at least two ids"):
        S.adjacent_impact(encoder, torch.tensor([1]), mask_id=MASK)
    with pytest.raises(ValueError, match="needs 2 scores"):
        S.cut("abc", [0.1], 0.5)
    with pytest.raises(ValueError, match="different texts"):
        S.boundary_scores([["ab"]], [["ac"]])
    with pytest.raises(ValueError, match="empty word"):
        S.boundaries(["a", ""])
