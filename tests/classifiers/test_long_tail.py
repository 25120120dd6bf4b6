"""Long-tailed training sets (kexue.classifiers.long_tail): the CIFAR-10-LT count profile, the
seeded draw that follows it on MNIST's labels, the balanced draw from what is left, and their
errors."""
import math

import pytest
import torch

from kexue import data
from kexue.classifiers.long_tail import balanced_indices, long_tail_counts, long_tail_indices


def test_counts_fall_geometrically_from_the_head_to_the_tail():
    counts = long_tail_counts(5000, 10, 100)
    assert counts == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # LDAM's CIFAR-10-LT at 5,000
    assert counts[0] == 5000 and counts[-1] == 5000 // 100
    step = 100 ** (1 / 9)
    for a, b in zip(counts, counts[1:]):  # int() truncates: within one image of the exact profile
        assert a / b == pytest.approx(step, rel=0.03)
    for i, n in enumerate(counts):
        assert n == math.floor(5000 * 100 ** (-i / 9))
    assert long_tail_counts(300, 4, 1) == [300] * 4  # ratio 1: balanced
    assert long_tail_counts(64, 2, 8) == [64, 8]
    assert long_tail_counts(1000, 3, 10.0) == [1000, 316, 100]


@pytest.mark.parametrize("args, match", [
    ((100, 10, 0.5), "ratio .* must be >= 1"),
    ((100, 10, float("inf")), "ratio must be finite"),
    ((100, 10, float("nan")), "ratio must be finite"),
    ((100, 1, 10), "classes must be an int >= 2"),
    ((0, 10, 10), "n_max must be a positive int"),
    ((50, 10, 100), "tail class would keep no image"),
])
def test_bad_profiles_are_errors(args, match):
    with pytest.raises(ValueError, match=match):
        long_tail_counts(*args)


def test_indices_on_mnist_keep_the_profile_and_are_seeded():
    _, labels = data.mnist("train")
    picked = long_tail_indices(labels, 100, n_max=5000, seed=3)
    assert torch.bincount(labels[picked], minlength=10).tolist() == long_tail_counts(5000, 10, 100)
    assert bool((picked[1:] > picked[:-1]).all())  # sorted, no index twice
    assert torch.equal(picked, long_tail_indices(labels, 100, n_max=5000, seed=3))
    assert not torch.equal(picked, long_tail_indices(labels, 100, n_max=5000, seed=4))
    # n_max defaults to the smallest class (MNIST's 5s: 5,421 images), which is then kept whole
    default = long_tail_indices(labels, 10, seed=0)
    smallest = int(torch.bincount(labels).min())
    assert torch.bincount(labels[default]).tolist() == long_tail_counts(smallest, 10, 10)


def test_asking_for_more_images_than_a_class_has_names_the_class():
    labels = torch.tensor([0] * 5 + [1] * 9 + [2] * 2)
    with pytest.raises(ValueError, match="class 0 has 5 examples; 8 were asked for"):
        long_tail_indices(labels, 4, n_max=8, seed=0)
    with pytest.raises(ValueError, match="class 1 has no example"):
        long_tail_indices(torch.tensor([0, 0, 2]), 2, seed=0)
    with pytest.raises(TypeError, match="int64"):
        long_tail_indices(labels.float(), 2, seed=0)


def test_a_balanced_draw_avoids_the_excluded_indices():
    _, labels = data.mnist("train")
    train = long_tail_indices(labels, 100, n_max=5000, seed=0)
    valid = balanced_indices(labels, 200, seed=0, exclude=train)
    assert torch.bincount(labels[valid]).tolist() == [200] * 10
    assert not set(valid.tolist()) & set(train.tolist())
    assert torch.equal(valid, balanced_indices(labels, 200, seed=0, exclude=train))
    small = torch.tensor([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="class 1 has 1 examples left; 2 were asked for"):
        balanced_indices(small, 2, seed=0, exclude=torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="beyond the 6 labels"):
        balanced_indices(small, 1, seed=0, exclude=torch.tensor([6]))
