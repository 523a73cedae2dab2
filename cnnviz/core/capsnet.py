"""Capsule networks (Sabour, Frosst & Hinton 2017): the squashing function, routing by agreement, and CapsNet.

The math lives in core (beside the other networks) so that the bundled ``capsnet-mnist`` builds without
``cnnviz.methods``; :mod:`cnnviz.methods.capsules` re-exports it with the analyses the /capsules page draws.

Shapes: a capsule is a vector whose length is the probability that its entity is present and whose direction
is the entity's pose. ``u_hat`` holds every input capsule's prediction for every output capsule,
``(batch, input capsules, output capsules, dimension)``.

Examples::

    >>> v = squash(torch.tensor([[3.0, 4.0]]))      # |s| = 5 -> |v| = 25 / 26
    >>> round(float(v.norm()), 4)
    0.9615
    >>> u_hat = torch.randn(2, 6, 3, 4)
    >>> v, c = dynamic_routing(u_hat, iterations=3)
    >>> v.shape, c.shape                             # (batch, out, dim), (batch, in, out); c sums to 1 over out
    (torch.Size([2, 3, 4]), torch.Size([2, 6, 3]))
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-8


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``v = |s|^2 / (1 + |s|^2) * s / |s|``: keeps the direction, maps the length into [0, 1) (0 stays 0).

    Args:
        s: capsule inputs; ``dim`` is the capsule's dimension.
    """
    sq = (s * s).sum(dim=dim, keepdim=True)
    # s / |s| with |s| = sqrt(sq + eps): finite (and 0) at s = 0, gradient finite there too
    return sq / (1.0 + sq) * s / torch.sqrt(sq + EPS)


class RoutingStep(NamedTuple):
    """One iteration of routing by agreement (all for one batch).

    Attributes:
        logits: ``b`` (batch, in, out) at the start of the iteration (zeros in the first).
        coupling: ``c = softmax(b)`` over the output capsules (batch, in, out).
        outputs: ``v = squash(sum_i c_ij u_hat_ij)`` (batch, out, dim).
        agreement: ``u_hat_ij . v_j`` (batch, in, out): what is added to ``b`` for the next iteration.
    """

    logits: torch.Tensor
    coupling: torch.Tensor
    outputs: torch.Tensor
    agreement: torch.Tensor


def _route(u_hat: torch.Tensor, iterations: int, keep: bool) -> tuple[torch.Tensor, torch.Tensor, list[RoutingStep]]:
    """Routing on ``u_hat`` (batch, in, out, dim); the work is done with the output capsules first (batch, out, in,
    dim), where both sums are batched matrix products over contiguous memory (several times faster on a CPU)."""
    if iterations < 1:
        raise ValueError(f"routing needs at least one iteration, got {iterations}")
    u_t = u_hat.transpose(1, 2).contiguous()  # (batch, out, in, dim): no copy when u_hat is a view of this layout
    b = torch.zeros_like(u_t[..., 0])  # (batch, out, in)
    steps = []
    for r in range(iterations):
        c = torch.softmax(b, dim=1)  # over the output capsules
        v = squash(torch.matmul(c.unsqueeze(2), u_t).squeeze(2))  # s_j = sum_i c_ij u_hat_ij -> (batch, out, dim)
        if keep or r < iterations - 1:
            agreement = torch.matmul(u_t, v.unsqueeze(-1)).squeeze(-1)  # u_hat_ij . v_j -> (batch, out, in)
            if keep:
                steps.append(RoutingStep(b.transpose(1, 2), c.transpose(1, 2), v, agreement.transpose(1, 2)))
            if r < iterations - 1:
                b = b + agreement
    return v, c.transpose(1, 2), steps


def routing_steps(u_hat: torch.Tensor, iterations: int = 3) -> list[RoutingStep]:
    """Routing by agreement (Sabour et al. 2017, Procedure 1), every iteration kept.

    ``b = 0``; each iteration ``c = softmax(b)`` over the output capsules, ``s_j = sum_i c_ij u_hat_ij``,
    ``v_j = squash(s_j)``, and (except after the last) ``b_ij += u_hat_ij . v_j``.

    Args:
        u_hat: predictions (batch, input capsules, output capsules, dimension).
        iterations: a fixed Python int >= 1 (so torch.fx unrolls the loop).
    """
    return _route(u_hat, iterations, keep=True)[2]


def dynamic_routing(u_hat: torch.Tensor, iterations: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Routing by agreement: the output capsules ``v`` (batch, out, dim) and the coupling coefficients ``c``
    (batch, in, out) used in the last iteration, softmaxed over the output capsules.

    Examples::

        >>> v, c = dynamic_routing(torch.randn(1, 4, 2, 3))
        >>> torch.allclose(c.sum(dim=2), torch.ones(1, 4))
        True
    """
    v, c, _ = _route(u_hat, iterations, keep=False)
    return v, c


class PrimaryCaps(nn.Module):
    """A convolution whose channels are read as ``types`` capsule maps of ``dim``-D vectors, squashed.

    Output (batch, types * H * W, dim), capsules ordered by type, then row, then column.
    """

    def __init__(self, in_channels: int, types: int, dim: int, kernel_size: int = 9, stride: int = 2):
        super().__init__()
        self.types, self.dim = types, dim
        self.conv = nn.Conv2d(in_channels, types * dim, kernel_size, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        n, _, h, w = y.shape
        y = y.view(n, self.types, self.dim, h, w).permute(0, 1, 3, 4, 2).reshape(n, -1, self.dim)
        return squash(y)


class DigitCaps(nn.Module):
    """One ``out_dim``-D capsule per class, from every primary capsule by a learned matrix and routing.

    ``u_hat_ij = W_ij u_i`` with ``W`` of shape (in capsules, out capsules, out_dim, in_dim); then
    :func:`dynamic_routing` with a fixed number of iterations. Output (batch, out capsules, out_dim).
    """

    def __init__(self, in_capsules: int, in_dim: int, out_capsules: int, out_dim: int, iterations: int = 3):
        super().__init__()
        self.iterations = iterations
        self.weight = nn.Parameter(0.05 * torch.randn(in_capsules, out_capsules, out_dim, in_dim))

    def predictions(self, u: torch.Tensor) -> torch.Tensor:
        """``u_hat`` (batch, in, out, out_dim) for primary capsules ``u`` (batch, in, in_dim): a view of a tensor
        stored output capsules first, the layout routing works in."""
        n_in, n_out, d, k = self.weight.shape
        w = self.weight.reshape(n_in, n_out * d, k).transpose(1, 2)  # (in, in_dim, out * out_dim)
        per_input = torch.bmm(u.transpose(0, 1), w)  # (in, batch, out * out_dim)
        u_t = per_input.view(n_in, -1, n_out, d).permute(1, 2, 0, 3).contiguous()  # (batch, out, in, out_dim)
        return u_t.transpose(1, 2)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return dynamic_routing(self.predictions(u), self.iterations)[0]


class CapsNet(nn.Module):
    """CapsNet for 28x28 grayscale digits: Conv(9x9, ReLU) -> PrimaryCaps -> DigitCaps -> capsule lengths.

    Sized for training on a CPU (the paper's is 256 conv channels and 32 capsule types): conv 9x9 with
    ``conv_channels`` -> 20x20, PrimaryCaps conv 9x9 stride 2 -> ``primary_types`` x 6 x 6 capsules of 8-D,
    DigitCaps 10 x 16-D with ``iterations`` routing iterations. A decoder (FC 512 -> 1024 -> 784, sigmoid)
    reconstructs the image from the digit capsules with all but one masked out.

    ``forward(x)`` returns the logit of every digit capsule's length, ``log(|v| / (1 - |v|))``, so a softmax
    turns it into probabilities and the network predicts like any classifier; :meth:`capsules`,
    :meth:`lengths`, :meth:`decode` and :meth:`reconstruct` give the rest.

    Examples::

        >>> net = CapsNet()
        >>> x = torch.zeros(2, 1, 28, 28)
        >>> net(x).shape, net.capsules(x).shape, net.reconstruct(x).shape
        (torch.Size([2, 10]), torch.Size([2, 10, 16]), torch.Size([2, 1, 28, 28]))
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, conv_channels: int = 64,
                 primary_types: int = 8, primary_dim: int = 8, digit_dim: int = 16, iterations: int = 3):
        super().__init__()
        self.num_classes, self.digit_dim, self.iterations = num_classes, digit_dim, iterations
        self.conv1 = nn.Conv2d(in_channels, conv_channels, 9)
        self.relu = nn.ReLU()
        self.primary = PrimaryCaps(conv_channels, primary_types, primary_dim)
        self.digits = DigitCaps(primary_types * 6 * 6, primary_dim, num_classes, digit_dim, iterations)
        self.decoder = nn.Sequential(
            nn.Linear(digit_dim * num_classes, 512), nn.ReLU(),
            nn.Linear(512, 1024), nn.ReLU(),
            nn.Linear(1024, 28 * 28), nn.Sigmoid(),
        )

    def primary_capsules(self, x: torch.Tensor) -> torch.Tensor:
        """The primary capsules (batch, types * 36, 8) of a normalised batch."""
        return self.primary(self.relu(self.conv1(x)))

    def capsules(self, x: torch.Tensor) -> torch.Tensor:
        """The digit capsules ``v`` (batch, classes, 16) of a normalised batch (1, 28, 28 images)."""
        return self.digits(self.primary_capsules(x))

    def lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Each digit capsule's length (batch, classes): the probability that the digit is there."""
        return capsule_lengths(self.capsules(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = capsule_lengths(self.capsules(x)).clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)

    def decode(self, v: torch.Tensor, label: torch.Tensor | int) -> torch.Tensor:
        """The decoder's image (batch, 1, 28, 28) in [0, 1] from capsules ``v`` (batch, classes, 16), every
        capsule but ``label``'s (an int or one per image) set to zero."""
        if isinstance(label, int):
            label = torch.full((v.shape[0],), label, dtype=torch.long, device=v.device)
        mask = F.one_hot(label, self.num_classes).to(v.dtype).unsqueeze(-1)
        return self.decoder((v * mask).flatten(1)).view(-1, 1, 28, 28)

    def reconstruct(self, x: torch.Tensor, label: torch.Tensor | int | None = None) -> torch.Tensor:
        """The reconstruction of a normalised batch from its ``label`` capsule (default: the longest)."""
        v = self.capsules(x)
        return self.decode(v, capsule_lengths(v).argmax(dim=1) if label is None else label)


def capsule_lengths(v: torch.Tensor) -> torch.Tensor:
    """The length of every capsule (the last dimension)."""
    return torch.sqrt((v * v).sum(dim=-1) + EPS)
