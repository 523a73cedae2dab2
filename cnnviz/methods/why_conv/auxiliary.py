"""GoogLeNet's auxiliary classifiers: a second loss attached halfway down a deep network.

Szegedy et al. (2014) put small classifiers on intermediate layers of GoogLeNet and added their losses (weighted
0.3) to the main one during training, "to increase the gradient signal that gets propagated back". In a deep
plain sigmoid network the main loss's gradient shrinks at every layer on its way down; the auxiliary loss
injects a gradient halfway, so the early layers receive one that has crossed only half as many layers.

One seeded network at initialisation, one batch of digits, two backward passes: of the main loss alone, and of
main + w · auxiliary loss; the gradient each hidden layer receives is measured in both. (A few hundred steps of
SGD do not change the picture: a deep plain sigmoid network sits on a plateau where its output is the same for
every digit, and the main loss barely moves.)

Examples::

    >>> r = auxiliary_gradients(depth=6, width=16, n=64)
    >>> bool(r.signal_with[0] > r.signal_without[0])
    True
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from cnnviz.methods.why_conv.data import load_digits, seeded
from cnnviz.methods.why_conv.gradients import DeepMLP, layer_grad_norms

AUX_WEIGHT = 0.3  # GoogLeNet's weight of each auxiliary loss


@dataclass(frozen=True)
class AuxiliaryResult:
    """Per-layer gradients of the two losses (index 0 = hidden layer 1, nearest the input).

    Attributes:
        signal_without, signal_with: ‖∂L/∂h_l‖ of each hidden layer's output, averaged over the batch (L the main
            loss, or main + ``aux_weight`` · auxiliary).
        grad_without, grad_with: ‖∂L/∂W_l‖ of each hidden layer's weights.
        loss: the main head's loss on the batch; aux_loss: the auxiliary head's.
    """

    depth: int
    aux_at: int
    aux_weight: float
    activation: str
    signal_without: np.ndarray
    signal_with: np.ndarray
    grad_without: np.ndarray
    grad_with: np.ndarray
    loss: float
    aux_loss: float

    @property
    def boost(self) -> float:
        """How many times larger the error signal at layer 1 is with the auxiliary loss."""
        return float(self.signal_with[0] / max(self.signal_without[0], 1e-300))


def auxiliary_gradients(depth: int = 16, width: int = 64, aux_at: int | None = None, aux_weight: float = AUX_WEIGHT,
                        activation: str = "sigmoid", gain: float = 1.0, n: int = 256,
                        seed: int = 0) -> AuxiliaryResult:
    """The per-layer gradients of a fresh deep :class:`~cnnviz.methods.why_conv.gradients.DeepMLP` (seeded, float64)
    with an auxiliary head after hidden layer ``aux_at`` (default: the middle one), on ``n`` digits, without and
    with the auxiliary loss."""
    aux_at = depth // 2 if aux_at is None else aux_at
    with seeded(seed):
        net = DeepMLP(depth, width, activation, gain, aux_at=aux_at).double()
    d = load_digits("train", n, seed)
    x, y = d.x.double().flatten(1), d.y
    hs, h, aux = [], x, None
    for i, lin in enumerate(net.hidden, 1):
        h = net.act(lin(h))
        h.retain_grad()
        hs.append(h)
        if i == aux_at and net.aux is not None:
            aux = net.aux(h)
    main = nn.functional.cross_entropy(net.head(h), y, reduction="sum")
    side = nn.functional.cross_entropy(aux, y, reduction="sum")
    out = []
    for loss in (main, main + aux_weight * side):
        net.zero_grad(set_to_none=True)
        for t in hs:
            t.grad = None
        loss.backward(retain_graph=True)
        out.append((np.array([float(t.grad.norm(dim=1).mean()) for t in hs]), layer_grad_norms(net) / len(y)))
    (sw, gw), (s_, g_) = out
    return AuxiliaryResult(depth, aux_at, aux_weight, activation, sw, s_, gw, g_, float(main.detach()) / len(y),
                           float(side.detach()) / len(y))
