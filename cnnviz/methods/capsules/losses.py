"""CapsNet's training loss: the margin loss on capsule lengths plus a small reconstruction term."""
from __future__ import annotations

import torch
from torch.nn import functional as F

M_PLUS, M_MINUS, LAMBDA = 0.9, 0.1, 0.5
RECONSTRUCTION_WEIGHT = 0.0005


def margin_loss(lengths: torch.Tensor, labels: torch.Tensor, m_plus: float = M_PLUS, m_minus: float = M_MINUS,
                lam: float = LAMBDA) -> torch.Tensor:
    """``L_k = T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2``, summed over the classes and
    averaged over the batch (Sabour et al. 2017, eq. 4).

    Args:
        lengths: capsule lengths (batch, classes).
        labels: the class of every image (batch,).

    Examples::

        >>> round(float(margin_loss(torch.tensor([[0.8, 0.3]]), torch.tensor([0]))), 4)  # 0.1^2 + 0.5 * 0.2^2
        0.03
    """
    t = F.one_hot(labels, lengths.shape[1]).to(lengths.dtype)
    present = t * F.relu(m_plus - lengths) ** 2
    absent = lam * (1 - t) * F.relu(lengths - m_minus) ** 2
    return (present + absent).sum(dim=1).mean()


def reconstruction_loss(reconstruction: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Sum of squared pixel differences per image, averaged over the batch (pixels in [0, 1])."""
    return ((reconstruction.flatten(1) - pixels.flatten(1)) ** 2).sum(dim=1).mean()


def capsnet_loss(lengths: torch.Tensor, labels: torch.Tensor, reconstruction: torch.Tensor, pixels: torch.Tensor,
                 weight: float = RECONSTRUCTION_WEIGHT) -> torch.Tensor:
    """The margin loss plus ``weight`` times the reconstruction loss (the paper's 0.0005)."""
    return margin_loss(lengths, labels) + weight * reconstruction_loss(reconstruction, pixels)
