"""Vanishing and exploding gradients: the sigmoid's slope, and the gradient that reaches each layer of a deep
plain network at initialisation.

Backpropagation multiplies, layer by layer, the derivative of each activation and each weight matrix. The
sigmoid's derivative σ'(x) = σ(x)(1 − σ(x)) is at most 0.25 (at x = 0), so through n sigmoid layers the
activations alone shrink the gradient by at least 0.25ⁿ; weights drawn too small shrink it further, weights
drawn too large blow it up (and, with a sigmoid, saturate it: σ' ≈ 0 far from 0). ReLU's derivative is 0 or 1,
and with weights of standard deviation √2/√fan-in (He et al. 2015) the gradient keeps its size through depth.

Examples::

    >>> import torch
    >>> s, ds = sigmoid_curves(torch.tensor([0.0]))
    >>> float(s[0]), float(ds[0])
    (0.5, 0.25)
    >>> bool(depth_bound([1, 2, 10])[-1] < 1e-6)
    True
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.methods.why_conv.data import Digits, WhyConvError, load_digits, seeded

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
SIGMOID_SLOPE_MAX = 0.25


def sigmoid_curves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """σ(x) and its derivative σ'(x) = σ(x)(1 − σ(x)), computed by autograd."""
    x = x.detach().clone().float().requires_grad_(True)
    s = torch.sigmoid(x)
    (ds,) = torch.autograd.grad(s.sum(), x)
    return s.detach(), ds


def depth_bound(depths: Sequence[int]) -> np.ndarray:
    """0.25ⁿ for each depth n: the most the sigmoids of n layers can pass of a gradient (weights aside)."""
    return SIGMOID_SLOPE_MAX ** np.asarray(depths, dtype=float)


class DeepMLP(nn.Module):
    """A deep plain network on flattened digits: ``depth`` hidden layers of ``width`` units, each a linear map
    and an activation, then a linear classifier; optionally an auxiliary classifier after hidden layer ``aux_at``.

    Weights are drawn from N(0, gain²/fan-in) and biases are 0: ``gain`` 1 is LeCun's initialisation, √2 He's.
    """

    def __init__(self, depth: int = 20, width: int = 64, activation: str = "sigmoid", gain: float = 1.0,
                 aux_at: int | None = None, inputs: int = 784, classes: int = 10):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise WhyConvError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if depth < 1 or width < 1 or gain <= 0:
            raise WhyConvError(f"depth and width must be at least 1 and the gain positive (got {depth}, {width}, "
                               f"{gain})")
        if aux_at is not None and not 1 <= aux_at < depth:
            raise WhyConvError(f"the auxiliary head goes after a hidden layer 1..{depth - 1}, not {aux_at}")
        self.hidden = nn.ModuleList(nn.Linear(inputs if i == 0 else width, width) for i in range(depth))
        self.act = ACTIVATIONS[activation]()
        self.head = nn.Linear(width, classes)
        self.aux_at = aux_at
        self.aux = nn.Linear(width, classes) if aux_at is not None else None
        with torch.no_grad():
            for lin in [*self.hidden, self.head, *([self.aux] if self.aux is not None else [])]:
                lin.weight.normal_(0.0, gain / math.sqrt(lin.in_features))
                lin.bias.zero_()

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(main logits, auxiliary logits or None)."""
        h, aux = x.flatten(1), None
        for i, lin in enumerate(self.hidden, 1):
            h = self.act(lin(h))
            if i == self.aux_at and self.aux is not None:
                aux = self.aux(h)
        return self.head(h), aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_both(x)[0]


def layer_grad_norms(net: DeepMLP) -> np.ndarray:
    """‖∂L/∂W‖ (Frobenius) of each hidden layer's weights, first layer first (after a backward pass)."""
    return np.array([float(lin.weight.grad.norm()) if lin.weight.grad is not None else 0.0 for lin in net.hidden])


@dataclass(frozen=True)
class InitGradients:
    """The gradient reaching each hidden layer of a fresh deep network, from one backward pass on a batch.

    Attributes:
        signal_norms: ‖∂L/∂h_l‖ for l = 1..depth, the error signal backpropagation brings to hidden layer l's
            output (layer 1 nearest the input; averaged over the batch, then the norm over the units).
        grad_norms: ‖∂L/∂W_l‖, the gradient of each hidden layer's weights (what the optimiser steps with).
        activation_std: the standard deviation of each hidden layer's output on the batch (saturation, collapse).
    """

    activation: str
    gain: float
    depth: int
    width: int
    signal_norms: np.ndarray
    grad_norms: np.ndarray
    activation_std: np.ndarray

    @property
    def ratio(self) -> float:
        """The error signal at layer 1 over that at the last hidden layer: < 1 vanishing, > 1 exploding."""
        return float(self.signal_norms[0] / max(self.signal_norms[-1], 1e-300))


def init_gradients(activation: str = "sigmoid", gain: float = 1.0, depth: int = 20, width: int = 64,
                   n: int = 256, seed: int = 0, data: Digits | None = None) -> InitGradients:
    """One backward pass of cross-entropy on ``n`` digits through a fresh :class:`DeepMLP` (seeded), in float64
    (so gradients of 1e-30 are still numbers)."""
    with seeded(seed):
        net = DeepMLP(depth, width, activation, gain).double()
    d = data if data is not None else load_digits("train", n, seed)
    hs, h = [], d.x.double().flatten(1)
    for lin in net.hidden:
        h = net.act(lin(h))
        h.retain_grad()
        hs.append(h)
    nn.functional.cross_entropy(net.head(h), d.y, reduction="sum").backward()
    signal = np.array([float(x.grad.norm(dim=1).mean()) for x in hs])
    return InitGradients(activation, gain, depth, width, signal, layer_grad_norms(net) / len(d),
                         np.array([float(x.detach().std()) for x in hs]))
