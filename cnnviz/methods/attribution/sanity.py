"""The sanity check's measure (Adebayo et al., 2018): how alike two maps rank their pixels.

The page runs a method on the trained network and on the same architecture with random weights; a map that
barely changes (a high :func:`rank_correlation`) shows the image, not what the network learned.

Examples::

    >>> rank_correlation(torch.tensor([1., 2., 3.]), torch.tensor([10., 20., 30.]))
    1.0
"""
from __future__ import annotations

import torch


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 with ties given their average rank (as in scipy.stats.rankdata, minus one)."""
    _, inv, counts = torch.unique(v, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return ((ends - counts.double() + ends - 1) / 2)[inv]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps, ties averaged (Adebayo et al. compare maps this way).

    Ties matter: Integrated Gradients is exactly zero wherever the input equals the baseline
    (the black background of a digit), for any weights.

    Examples::

        >>> rank_correlation(torch.tensor([1., 2., 3.]), torch.tensor([10., 20., 30.]))
        1.0
        >>> round(rank_correlation(torch.tensor([0., 0., 0., 1.]), torch.tensor([0., 0., 1., 0.])), 4)
        -0.3333
    """
    ra, rb = _ranks(a.flatten().float()), _ranks(b.flatten().float())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))
