"""Neighbourhoods in feature space and in an embedding: nearest images, kNN accuracy, kept neighbourhoods.

:func:`nearest_neighbours` finds the images nearest to a query; :func:`knn_accuracy` measures how well points
separate by class, :func:`knn_preservation` and :func:`trustworthiness` how well an embedding keeps the
neighbourhoods of the features it was made from. All distances are Euclidean, computed on the points' device
in chunks (:func:`knn`), so 20,000 x 20,000 fits in memory.

Examples::

    >>> knn_accuracy(np.array([[0.], [0.1], [5], [5.1]]), np.array([0, 0, 1, 1]), k=1)
    1.0
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

PointsLike = torch.Tensor | np.ndarray  # [N, ...] points; anything after the first axis is flattened


def as_points(x: PointsLike, device: torch.device | str | None = None) -> torch.Tensor:
    """Points as a float32 [N, D] tensor (flattened after the first axis), on ``device`` if given.

    Examples::

        >>> as_points(np.zeros((2, 3, 4))).shape
        torch.Size([2, 12])
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.reshape(len(t), -1).float()
    return t.to(device) if device is not None else t


def knn(points: torch.Tensor, queries: torch.Tensor, k: int, exclude_self: bool,
        chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest points (indices, Euclidean distances; nearest first) of each query.

    Args:
        points: [N, D].
        queries: [Q, D]; with ``exclude_self``, query i is point i (so it is not its own neighbour).
        k: neighbours per query (at most N, or N - 1 with ``exclude_self``).
        chunk: queries per distance matrix.

    Examples::

        >>> idx, dist = knn(torch.tensor([[0.], [1], [3]]), torch.tensor([[0.], [1], [3]]), 1, exclude_self=True)
        >>> idx.flatten().tolist(), dist.flatten().tolist()
        ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    idx, dist = [], []
    for s in range(0, len(queries), chunk):
        d = torch.cdist(queries[s:s + chunk], points)
        if exclude_self:
            rows = torch.arange(s, min(s + chunk, len(queries)), device=d.device)
            d[torch.arange(len(rows), device=d.device), rows] = float("inf")
        v, i = d.topk(min(k, points.shape[0] - int(exclude_self)), dim=1, largest=False)
        idx.append(i)
        dist.append(v)
    return torch.cat(idx), torch.cat(dist)


def nearest_neighbours(features: PointsLike, query: torch.Tensor, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the ``k`` points nearest to ``query`` [D] or [1, D] in feature space.

    Examples::

        >>> nearest_neighbours(torch.tensor([[0.], [1], [5]]), torch.tensor([0.9]), k=2)
        (array([1, 0]), array([0.1, 0.9], dtype=float32))
    """
    pts = as_points(features)
    q = as_points(query.reshape(1, -1), pts.device)
    i, d = knn(pts, q, k, exclude_self=False)
    return i[0].cpu().numpy(), d[0].cpu().numpy()


def knn_accuracy(points: PointsLike, labels: np.ndarray | torch.Tensor, k: int = 10) -> float:
    """Leave-one-out k-nearest-neighbour classification accuracy (majority vote, ties to the lowest label).

    1.0 means every point's neighbours mostly share its class: the classes are separated. Points labelled
    -1 (unknown) are left out; NaN when fewer than two are known.

    Examples::

        >>> knn_accuracy(np.array([[0.], [0.1], [5], [5.1]]), np.array([0, 0, 1, 1]), k=1)
        1.0
    """
    pts = as_points(points)
    lab = torch.as_tensor(np.asarray(labels)).long().to(pts.device)
    known = lab >= 0
    if known.sum() < 2:
        return float("nan")
    pts, lab = pts[known], lab[known]
    idx, _ = knn(pts, pts, k, exclude_self=True)
    votes = F.one_hot(lab[idx], int(lab.max()) + 1).sum(1)
    return float((votes.argmax(1) == lab).float().mean())


def knn_preservation(high: PointsLike, low: PointsLike, k: int = 10) -> float:
    """Mean fraction of each point's ``k`` nearest neighbours in ``high`` that are also among its
    ``k`` nearest in ``low`` (1.0: neighbourhoods kept exactly).

    Examples::

        >>> knn_preservation(np.array([[0.], [1], [3], [7]]), np.array([[0.], [2], [6], [14]]), k=1)
        1.0
    """
    hi = as_points(high)
    lo = as_points(low, hi.device)
    near_hi, _ = knn(hi, hi, k, exclude_self=True)
    near_lo, _ = knn(lo, lo, k, exclude_self=True)
    kept = (near_hi.unsqueeze(2) == near_lo.unsqueeze(1)).any(2).float().sum(1) / near_hi.shape[1]
    return float(kept.mean())


def trustworthiness(high: PointsLike, low: PointsLike, k: int = 10, max_points: int = 2000, seed: int = 0) -> float:
    """scikit-learn's trustworthiness (1.0: no false neighbours in the embedding), on a seeded
    subsample of ``max_points`` points because it needs all pairwise distances.

    Examples::

        >>> trustworthiness(np.array([[0.], [1], [3], [7], [15]]), np.array([[1.], [3], [7], [15], [31]]), k=1)
        1.0
    """
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    hi = as_points(high).cpu().numpy()
    lo = as_points(low).cpu().numpy()
    if len(hi) > max_points:
        pick = np.random.default_rng(seed).permutation(len(hi))[:max_points]
        hi, lo = hi[pick], lo[pick]
    k = min(k, len(hi) // 2 - 1)
    return float(sk_trustworthiness(hi, lo, n_neighbors=max(1, k)))


__all__ = ["as_points", "knn", "nearest_neighbours", "knn_accuracy", "knn_preservation", "trustworthiness"]
