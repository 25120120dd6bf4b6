"""Cluster scores: majority-label and Hungarian accuracy against brute force, NMI/ARI wiring."""
import itertools

import numpy as np
import pytest
import torch

from kexue.vae.cluster_scores import contingency, hungarian_accuracy, majority_accuracy, scores


def brute_force_hungarian(clusters, classes, k):
    best = 0
    for perm in itertools.permutations(range(k)):
        best = max(best, sum(perm[c] == y for c, y in zip(clusters, classes)))
    return best / len(classes)


def test_hungarian_equals_best_permutation():
    rng = np.random.default_rng(0)
    for _ in range(20):
        classes = rng.integers(0, 5, 60)
        clusters = np.where(rng.random(60) < 0.6, (classes + 2) % 5, rng.integers(0, 5, 60))
        assert hungarian_accuracy(clusters, classes) == pytest.approx(
            brute_force_hungarian(clusters, classes, 5), abs=1e-12)


def test_majority_by_hand_and_never_below_hungarian():
    # clusters 0 and 1 both hold mostly class 0: majority counts both, Hungarian one
    clusters = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    classes = np.array([0, 0, 1, 0, 0, 2, 1, 1])
    assert majority_accuracy(clusters, classes) == pytest.approx(6 / 8)
    assert hungarian_accuracy(clusters, classes) == pytest.approx(5 / 8)
    rng = np.random.default_rng(1)
    for _ in range(20):
        c, y = rng.integers(0, 6, 100), rng.integers(0, 6, 100)
        assert majority_accuracy(c, y) >= hungarian_accuracy(c, y) - 1e-12


def test_relabelled_perfect_clustering_scores_one():
    classes = torch.arange(10).repeat(7)
    clusters = (classes * 3 + 1) % 10          # a permutation of the labels
    result = scores(clusters, classes)
    assert result == pytest.approx({"majority_acc": 1.0, "hungarian_acc": 1.0, "nmi": 1.0,
                                    "ari": 1.0})


def test_contingency_counts():
    table = contingency([0, 1, 1, 2], [1, 1, 0, 1])
    np.testing.assert_array_equal(table, [[0, 1], [1, 1], [0, 1]])


@pytest.mark.parametrize("clusters, classes, error, match", [
    ([0, 1], [0], ValueError, "one entry per sample"),
    ([[0, 1]], [[0, 1]], ValueError, "1-D"),
    ([0.5, 1.0], [0, 1], TypeError, "integers"),
    ([-1, 0], [0, 1], ValueError, "non-negative"),
    ([], [], ValueError, "non-empty"),
])
def test_bad_input(clusters, classes, error, match):
    with pytest.raises(error, match=match):
        hungarian_accuracy(np.asarray(clusters), np.asarray(classes))


def test_sparse_ids_score_as_their_dense_renumbering():
    """Ids such as 10**12 are renumbered first, not used as the size of a table."""
    rng = np.random.default_rng(2)
    classes = rng.integers(0, 4, 50)
    clusters = np.where(rng.random(50) < 0.7, classes, rng.integers(0, 4, 50))
    sparse_clusters, sparse_classes = clusters * 10**12 + 7, 10**12 - classes * 3
    expected = brute_force_hungarian(clusters, classes, 4)
    assert hungarian_accuracy(sparse_clusters, sparse_classes) == pytest.approx(expected, abs=1e-12)
    assert hungarian_accuracy(clusters, classes) == pytest.approx(expected, abs=1e-12)
    assert majority_accuracy(sparse_clusters, sparse_classes) == majority_accuracy(clusters, classes)
    assert scores(sparse_clusters, sparse_classes) == pytest.approx(scores(clusters, classes))
