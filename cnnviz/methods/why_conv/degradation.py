"""Degradation: deeper plain networks train worse, residual ones do not (He et al. 2015).

Adding layers to a plain network should never hurt its *training* error: the extra layers could learn the
identity. Yet He et al. found that a 56-layer plain network trained worse than a 20-layer one (on the training
set, so not overfitting): the optimiser fails to find that solution. A residual block computes x + F(x), so the
identity is F = 0, the easiest thing to learn, and depth stops hurting.

Here small convolutional networks of ``depth`` blocks (width 16, on 7x7 maps after a stem) are trained with
the same budget (the same digits, steps and learning rate, each from a seeded initialisation), plain and
residual, and their error on the training digits is measured: the shallowest and the deepest first, so the
first complete comparison is the one that shows the point.

Examples::

    >>> import torch
    >>> net = DepthNet(blocks=3, residual=True)
    >>> tuple(net(torch.zeros(2, 1, 28, 28)).shape)
    (2, 10)
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.methods.why_conv.data import accuracy, build, fit, load_digits

DEPTHS = (2, 6, 12, 20)
KINDS = ("plain", "residual")


class Block(nn.Module):
    """conv 3x3 - BatchNorm - ReLU - conv 3x3 - BatchNorm, then ReLU of that (plain) or of x + that (residual)."""

    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return torch.relu(x + y if self.residual else y)


class DepthNet(nn.Module):
    """A stem (conv 3x3 stride 2, BatchNorm, ReLU, max-pool: 28x28 -> 7x7), ``blocks`` :class:`Block` s of
    ``width`` channels, global average pooling and a linear classifier. ``2 · blocks + 2`` weight layers."""

    def __init__(self, blocks: int = 10, width: int = 16, residual: bool = False, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(), nn.MaxPool2d(2))
        self.blocks = nn.Sequential(*(Block(width, residual) for _ in range(blocks)))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * 7 * 7, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


@dataclass
class DegradationSweep:
    """Training error (1 − accuracy on the training digits, measured in eval mode) against depth.

    Attributes:
        depths: the block counts measured so far (both kinds at each), in increasing order.
        train_error, test_error: ``{"plain": [...], "residual": [...]}``, one value per depth (NaN in a partial
            sweep for the residual network of a depth whose plain one is trained and residual one not yet).
    """

    n_train: int
    epochs: int
    depths: list[int] = field(default_factory=list)
    train_error: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    test_error: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})


def sweep_order(depths: tuple[int, ...]) -> list[int]:
    """The order the depths are trained in: the shallowest and the deepest first (the first comparison that shows
    the point), then the rest from shallow to deep.

    Examples::

        >>> sweep_order((2, 6, 12, 20))
        [2, 20, 6, 12]
    """
    d = sorted(set(depths))
    return d[:1] + d[-1:] + d[1:-1] if len(d) > 1 else d


def _sweep(n_train: int, epochs: int, measured: dict[int, dict[str, tuple[float, float]]],
           partial: bool = False) -> DegradationSweep:
    """The sweep of the depths ``measured`` with both kinds (``partial``: also those with one, NaN for the other)."""
    depths = sorted(d for d, errs in measured.items() if partial or len(errs) == len(KINDS))
    out = DegradationSweep(n_train, epochs, depths)
    for d in depths:
        for kind in KINDS:
            tr, te = measured[d].get(kind, (math.nan, math.nan))
            out.train_error[kind].append(tr)
            out.test_error[kind].append(te)
    return out


def degradation_sweep(depths: tuple[int, ...] = DEPTHS, n_train: int = 500, epochs: int = 5, lr: float = 3e-3,
                      width: int = 16, n_test: int = 1000, seed: int = 0, progress: Progress | None = None,
                      stop: StopFlag = None,
                      on_partial: Callable[[DegradationSweep], None] | None = None) -> DegradationSweep:
    """Train plain and residual :class:`DepthNet` s of each depth with the same budget; their errors.

    The depths are trained in :func:`sweep_order` (the shallowest and the deepest first), plain before residual at
    each; every network is built and trained from the same seed whatever the order. ``on_partial`` is called after
    every network with the sweep so far (a new object each time; the residual errors of a depth whose plain network
    is trained and residual one not yet are NaN); the last call's value equals the one returned. A stop returns
    the depths finished with both kinds."""
    train, test = load_digits("train", n_train, seed), load_digits("test", n_test, seed + 1)
    measured: dict[int, dict[str, tuple[float, float]]] = {}
    order = sweep_order(depths)
    total = sum(order) * len(KINDS)
    done = 0
    for d in order:
        for kind in KINDS:
            if stopped(stop):
                return _sweep(n_train, epochs, measured)
            report(progress, done / total, f"{kind}, {d} blocks")
            net = build(lambda d=d, kind=kind: DepthNet(d, width, kind == "residual"), seed)
            if fit(net, train, epochs, lr=lr, batch_size=50, seed=seed, stop=stop) < epochs:
                return _sweep(n_train, epochs, measured)
            measured.setdefault(d, {})[kind] = (1 - accuracy(net, train), 1 - accuracy(net, test))
            done += d
            if on_partial is not None:
                on_partial(_sweep(n_train, epochs, measured, partial=True))
    report(progress, 1.0, "done")
    return _sweep(n_train, epochs, measured)
