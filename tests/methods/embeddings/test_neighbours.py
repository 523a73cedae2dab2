"""cnnviz.methods.embeddings.neighbours: nearest neighbours, kNN accuracy, kNN preservation, trustworthiness."""
import numpy as np
import pytest
import torch

from cnnviz.methods.embeddings.neighbours import (
    as_points,
    knn,
    knn_accuracy,
    knn_preservation,
    nearest_neighbours,
    trustworthiness,
)

from .points import clusters


def test_pixels_do_not_separate_random_labels_but_clusters_do():
    # the score itself can fail: random labels on one blob give chance-level accuracy
    x, y = clusters()
    rng = np.random.default_rng(1)
    assert knn_accuracy(x, rng.integers(0, 4, len(x)), k=10) < 0.5
    assert knn_accuracy(x, y, k=10) == 1.0


def test_knn_accuracy_hand_worked():
    pts = np.array([[0.0], [0.1], [5.0], [5.1], [0.25]])
    # 1-NN: 0->1, 1->0, 2->3, 3->2, 4->1
    assert knn_accuracy(pts, np.array([0, 0, 1, 1, 0]), k=1) == 1.0
    # point 4 labelled 1 among the zeros: its neighbour (point 1) says 0; the others are unaffected
    assert knn_accuracy(pts, np.array([0, 0, 1, 1, 1]), k=1) == pytest.approx(4 / 5)
    assert np.isnan(knn_accuracy(pts, np.full(5, -1), k=1))  # unknown labels are skipped


def test_knn_preservation_and_trustworthiness_hand_worked():
    high = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    # a monotone stretch keeps every neighbourhood
    assert knn_preservation(high, high * 2 + 1, k=2) == 1.0
    assert trustworthiness(high, high * 2 + 1, k=1) == pytest.approx(1.0)
    # swapping the two ends breaks neighbourhoods
    low = np.array([[15.0], [1.0], [3.0], [7.0], [0.0]])
    # 1-NN high: 0->1, 1->0, 2->1, 3->2, 4->3;  low: 0->3, 1->4, 2->1, 3->2, 4->1
    # kept: point 2 (1) and point 3 (2): 2 of 5
    assert knn_preservation(high, low, k=1) == pytest.approx(2 / 5)
    assert trustworthiness(high, low, k=1) < 1.0


def test_nearest_neighbours_hand_worked():
    idx, dist = nearest_neighbours(torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]]), torch.tensor([0.0, 0.0]), k=2)
    assert idx.tolist() == [0, 2]
    np.testing.assert_allclose(dist, [0.0, 1.0], atol=1e-6)


def test_knn_chunks_and_excludes_self_hand_worked():
    pts = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # nearest other point: 0->1 (1), 1->0 (1; ties to the lower index), 2->1 (2), 3->2 (4)
    for chunk in (1, 3, 2048):  # the same answer however the queries are split
        idx, dist = knn(pts, pts, 1, exclude_self=True, chunk=chunk)
        assert idx.flatten().tolist() == [1, 0, 1, 2] and dist.flatten().tolist() == [1.0, 1.0, 2.0, 4.0]
    assert as_points(np.zeros((2, 3, 4), np.uint8)).dtype == torch.float32
