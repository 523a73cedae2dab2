"""One unit computed with the real weights: how a number of a conv (or linear) layer was made.

For unit ``(c, y, x)`` of a ``Conv2d`` the network computed

    out[c, y, x] = bias[c] + Σ_i Σ_(a,b) w[c, i, a, b] · in[g·C_g + i, y·s − p + a·d, x·s − p + b·d]

over the ``C_g = C_in / groups`` input channels of the filter's group ``g``, reading zeros in the
padding. :func:`unit_computation` rebuilds that sum from the layer's own input (recorded by the
capture engine in the same pass as the layer's output) and its weights, channel by channel, in
float64: each input channel's patch, the kernel slice, their products and the channel's
contribution; then the bias, the pre-activation, the batch norm and activation that follow
where they do, and the value the network actually produced, for comparison.

A ``Linear`` unit is the same sum as a dot product of the flattened input; when that input is
a flattened ``[C, H, W]`` map, each channel's ``H×W`` block is one term (a kernel as large as the map).

Examples::

    >>> import cnnviz
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> u = unit_computation(m, m.preprocess(cnnviz.load_image("assets/samples/digit-7.png")),
    ...                      "features.3", (2, 4, 4))
    >>> abs(u.pre_activation - u.produced) < 1e-5, len(u.terms)
    (True, 6)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnnviz.core.capture import capture
from cnnviz.errors import CnnvizError
from cnnviz.methods.network import NetworkGraph, network_graph

SORTS = ("index", "contribution", "magnitude")
SORT_TITLES = {"index": "channel index", "contribution": "contribution (largest first)",
               "magnitude": "|contribution| (largest first)"}
_ACTIVATIONS = {"relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
                "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu}


class UnitError(CnnvizError):
    """A unit the one-unit view cannot compute (not a Conv2d/Linear layer, or outside its map)."""


@dataclass
class ChannelTerm:
    """One input channel's share of the unit.

    Attributes:
        channel: the input channel (index into the layer's input).
        patch: the values the kernel taps read ``[kh, kw]`` (zeros in the padding).
        padding: True where a tap falls in the padding ``[kh, kw]``.
        rows, cols: the input row/column of each tap row/column (outside ``0..H-1``: padding);
            strided and dilated taps included.
        kernel: the kernel slice ``w[c, i]`` ``[kh, kw]``.
        products: ``patch * kernel``.
        contribution: the sum of ``products``.
    """

    channel: int
    patch: np.ndarray
    padding: np.ndarray
    rows: list[int]
    cols: list[int]
    kernel: np.ndarray
    products: np.ndarray
    contribution: float


@dataclass
class FollowingStep:
    """A batch norm or activation applied to the unit after the layer: what it computes and what was recorded."""

    key: str
    op: str
    value: float  # computed here from the previous value and the op's own parameters
    produced: float | None  # what the network's pass recorded for it, where the capture can read it


@dataclass
class UnitComputation:
    """How one unit was computed (see :func:`unit_computation`)."""

    layer: str
    kind: str  # "conv" or "linear"
    unit: tuple[int, ...]  # (c, y, x) for conv, (j,) for linear
    terms: list[ChannelTerm]
    bias: float
    produced: float  # the layer's output at the unit, as recorded
    input_shape: tuple[int, ...]
    kernel_size: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, right, top, bottom
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    group: int = 0
    group_note: str = ""  # why only some input channels appear (grouped / depthwise convolutions)
    following: list[FollowingStep] = field(default_factory=list)

    @property
    def total(self) -> float:
        """The sum of every channel's contribution (before the bias)."""
        return float(sum(t.contribution for t in self.terms))

    @property
    def pre_activation(self) -> float:
        """The reconstructed value: contributions plus bias (what the layer outputs)."""
        return self.total + self.bias

    @property
    def final(self) -> float:
        """The value after the batch norm / activation that follow (the pre-activation if none do)."""
        return self.following[-1].value if self.following else self.pre_activation

    def order(self, by: str = "index") -> list[int]:
        """Indices into :attr:`terms` in the display order ``by`` (one of :data:`SORTS`)."""
        if by not in SORTS:
            raise UnitError(f"sort {by!r}: expected one of {SORTS}")
        idx = list(range(len(self.terms)))
        if by == "contribution":
            idx.sort(key=lambda i: -self.terms[i].contribution)
        elif by == "magnitude":
            idx.sort(key=lambda i: -abs(self.terms[i].contribution))
        return idx

    def running_sum(self, by: str = "index") -> np.ndarray:
        """The cumulative sum of contributions in the order ``by`` (its last entry is :attr:`total`)."""
        return np.cumsum([self.terms[i].contribution for i in self.order(by)])


def _following(g: NetworkGraph, mods: dict[str, nn.Module], key: str) -> list[tuple[str, str, object]]:
    """The chain of batch norms / activations fed only by the layer call ``key``: ``[(id, op, callable)]``."""
    chain = []
    cur = key
    while True:
        nxt = g.consumers(cur)
        if len(nxt) != 1:
            break
        n = g.nodes[nxt[0]]
        if n.kind == "module" and isinstance(mods[n.module], nn.modules.batchnorm._BatchNorm):
            chain.append((n.id, "BatchNorm", mods[n.module]))
        elif n.kind == "module" and type(mods[n.module]).__name__.lower() in _ACTIVATIONS:
            chain.append((n.id, type(mods[n.module]).__name__, mods[n.module]))
        elif n.kind in ("function", "method") and n.op.rstrip("_") in _ACTIVATIONS:
            chain.append((n.id, n.op.rstrip("_"), _ACTIVATIONS[n.op.rstrip("_")]))
        else:
            break
        cur = n.id
    return chain


def unit_computation(m, x: torch.Tensor, layer: str, unit: tuple[int, ...]) -> UnitComputation:
    """Rebuild one unit of a ``Conv2d`` or ``Linear`` layer call from its input and its weights.

    Args:
        m: the model handle.
        x: the preprocessed batch (its first image is used) on the model's device.
        layer: the layer call key (``"features.3"``, ``"layer2.0.conv1"``; ``"name#2"`` for a second call).
        unit: ``(c, y, x)`` for a conv layer, ``(j,)`` for a linear layer.

    Returns:
        A :class:`UnitComputation`; ``pre_activation`` equals ``produced`` up to float32 rounding.

    Raises:
        UnitError: the layer is not a Conv2d/Linear call, or the unit lies outside its output.

    Examples::

        >>> u = unit_computation(m, x, "classifier.4", (7,))
        >>> u.kind, round(u.pre_activation - u.produced, 5)
        ('linear', 0.0)
    """
    g = network_graph(m)
    if layer not in g.nodes or g.nodes[layer].kind != "module":
        raise UnitError(f"{layer!r} is not a layer call of {m.name}. Hint: pick a Conv2d or Linear node; "
                        f"e.g. {[i for i in g.nodes if g.nodes[i].op in ('Conv2d', 'Linear')][:4]}")
    node = g.nodes[layer]
    mods = dict(m.module.named_modules())
    mod = mods[node.module]
    if not isinstance(mod, (nn.Conv2d, nn.Linear)):
        raise UnitError(f"{layer} is a {type(mod).__name__}: the one-unit view computes Conv2d and Linear units "
                        "(weights times inputs, plus a bias). Pick the convolution before it.")
    chain = _following(g, mods, layer)
    reads = [k for k, _, _ in chain if g.nodes[k].kind == "module"]
    rec = capture(m.module, x[:1], [layer, *reads], inputs=[layer])
    inp, out = rec.inputs[layer][0].double(), rec.outputs[layer][0]
    if len(unit) != out.ndim or any(not 0 <= u < s for u, s in zip(unit, out.shape, strict=True)):
        raise UnitError(f"unit {tuple(unit)} is outside {layer}'s output {tuple(out.shape)}: give "
                        + ("(channel, row, column)" if out.ndim == 3 else "(feature,)") + " inside it")
    w = mod.weight.detach().double()
    bias = float(mod.bias[unit[0]]) if mod.bias is not None else 0.0
    if isinstance(mod, nn.Conv2d):
        u = _conv_unit(mod, inp, w, tuple(unit), layer)
    else:
        u = _linear_unit(g, node, inp, w, tuple(unit), layer)
    u.bias, u.produced = bias, float(out[tuple(unit)])
    v, c = u.pre_activation, unit[0]
    for key, op, fn in chain:
        if op == "BatchNorm":
            mean = float(fn.running_mean[c]) if fn.running_mean is not None else 0.0
            var = float(fn.running_var[c]) if fn.running_var is not None else 1.0
            gain = float(fn.weight[c]) if fn.weight is not None else 1.0
            shift = float(fn.bias[c]) if fn.bias is not None else 0.0
            v = (v - mean) / np.sqrt(var + fn.eps) * gain + shift
        else:
            v = float(fn(torch.tensor([v], dtype=torch.float64))[0])
        got = rec.outputs.get(key)
        u.following.append(FollowingStep(key, op, float(v), None if got is None else float(got[0][tuple(unit)])))
    return u


def _conv_unit(mod: nn.Conv2d, inp: torch.Tensor, w: torch.Tensor, unit: tuple[int, int, int],
               layer: str) -> UnitComputation:
    c, y, x = unit
    cin, h, wd = inp.shape
    kh, kw = mod.kernel_size
    sh, sw = mod.stride
    dh, dw = mod.dilation
    left, right, top, bottom = mod._reversed_padding_repeated_twice  # what Conv2d pads with, 'same' included
    per_group = mod.out_channels // mod.groups
    group = c // per_group
    cg = mod.in_channels // mod.groups
    rows = [y * sh - top + a * dh for a in range(kh)]
    cols = [x * sw - left + b * dw for b in range(kw)]
    if mod.padding_mode == "zeros":
        padded, off_r, off_c = inp, 0, 0
    else:  # reflect / replicate / circular: the padded map is what the kernel reads
        padded = F.pad(inp[None], mod._reversed_padding_repeated_twice, mode=mod.padding_mode)[0]
        off_r, off_c = top, left
    r_idx = torch.tensor([r + off_r for r in rows], device=inp.device)
    c_idx = torch.tensor([q + off_c for q in cols], device=inp.device)
    ph, pw = padded.shape[1:]
    inside = ((r_idx >= 0) & (r_idx < ph))[:, None] & ((c_idx >= 0) & (c_idx < pw))[None, :]
    rt, ct = torch.tensor(rows), torch.tensor(cols)
    pad_mask = (~(((rt >= 0) & (rt < h))[:, None] & ((ct >= 0) & (ct < wd))[None, :])).numpy()
    rc, cc = r_idx.clamp(0, ph - 1), c_idx.clamp(0, pw - 1)
    chans = list(range(group * cg, group * cg + cg))
    patches = padded[chans][:, rc][:, :, cc] * inside  # [C_g, kh, kw], zeros in the padding
    prods = patches * w[c]
    contrib = prods.sum((1, 2)).cpu().numpy()
    patches, kern, prods = patches.cpu().numpy(), w[c].cpu().numpy(), prods.cpu().numpy()
    terms = [ChannelTerm(ch, patches[i], pad_mask, rows, cols, kern[i], prods[i], float(contrib[i]))
             for i, ch in enumerate(chans)]
    note = ""
    if mod.groups > 1:
        lo, hi = group * cg, group * cg + cg - 1
        if mod.groups == mod.in_channels:
            note = (f"Depthwise convolution (groups = {mod.groups} = input channels): each filter reads one input "
                    f"channel, its own: output channel {c} reads input channel {lo} only.")
        else:
            note = (f"Grouped convolution (groups = {mod.groups}): the {mod.in_channels} input channels are split "
                    f"into {mod.groups} groups of {cg}, and each filter sees only its group's. Output channel {c} "
                    f"is in group {group}, so it reads input channels {lo}–{hi}; the others cannot reach it.")
    return UnitComputation(layer, "conv", unit, terms, 0.0, 0.0, tuple(inp.shape), (kh, kw), (sh, sw),
                           (left, right, top, bottom), (dh, dw), mod.groups, group, note)


def _linear_unit(g: NetworkGraph, node, inp: torch.Tensor, w: torch.Tensor, unit: tuple[int], layer: str
                 ) -> UnitComputation:
    (j,) = unit
    flat = inp.reshape(-1)
    # a flattened [C, H, W] map (dropouts between do not count): one term per channel, its H×W block
    src = g.nodes[node.inputs[0]] if node.inputs else None
    while src is not None and src.op in ("Dropout", "dropout", "Identity") and src.inputs:
        src = g.nodes[src.inputs[0]]
    block = g.nodes[src.inputs[0]].shape if src is not None and src.op in ("flatten", "Flatten") and src.inputs \
        else None
    if block and len(block) == 3 and int(np.prod(block)) == flat.numel():
        c, h, wd = block
    else:
        c, h, wd = flat.numel(), 1, 1
    xs = flat.view(c, h, wd).cpu().numpy()
    ws = w[j].view(c, h, wd).cpu().numpy()
    prods = xs * ws
    contrib = prods.sum((1, 2))
    rows, cols = list(range(h)), list(range(wd))
    no_pad = np.zeros((h, wd), dtype=bool)
    terms = [ChannelTerm(i, xs[i], no_pad, rows, cols, ws[i], prods[i], float(contrib[i])) for i in range(c)]
    return UnitComputation(layer, "linear", unit, terms, 0.0, 0.0, tuple(inp.shape), (h, wd))


@dataclass
class WindowRegion:
    """A piece of one input channel to animate the kernel over, around the unit (see :func:`window_region`)."""

    values: torch.Tensor  # [h, w] input values, padding included as zeros when ``padded`` is True
    kernel: int
    stride: int
    dilation: int
    padding: int  # the padding the animation adds around ``values`` (0 when it is already inside)
    start: int  # the animation step (row-major over the region's outputs) that computes the unit
    out_origin: tuple[int, int]  # the layer output (row, col) of the region's first output
    padded: bool  # True when ``values`` is a crop of the zero-padded map


def window_region(u: UnitComputation, channel_map: torch.Tensor, max_side: int = 40, max_outputs: int = 7
                  ) -> WindowRegion:
    """The part of an input channel ``[H, W]`` the sliding-window animation shows, with the unit's step.

    Small maps are shown whole with their padding; larger ones as a crop of the zero-padded map
    holding ``max_outputs`` × ``max_outputs`` kernel positions around the unit.

    Raises:
        UnitError: a linear layer, or a kernel, stride, dilation or padding that differ between rows and
            columns (the animation draws square settings).
    """
    if u.kind != "conv":
        raise UnitError("the sliding window belongs to convolutions; a linear layer's unit reads its whole input")
    (kh, kw), (sh, sw), (dh, dw) = u.kernel_size, u.stride, u.dilation
    left, right, top, bottom = u.padding
    if kh != kw or sh != sw or dh != dw or len({left, right, top, bottom}) != 1:
        raise UnitError(f"the animation draws square settings; {u.layer} has kernel {u.kernel_size}, stride "
                        f"{u.stride}, dilation {u.dilation}, padding {u.padding}")
    k, s, d, p = kh, sh, dh, left
    h, w = channel_map.shape
    c, y, x = u.unit
    out_h, out_w = (h + 2 * p - d * (k - 1) - 1) // s + 1, (w + 2 * p - d * (k - 1) - 1) // s + 1
    if max(h, w) + 2 * p <= max_side:
        return WindowRegion(channel_map.double().cpu(), k, s, d, p, y * out_w + x, (0, 0), False)
    n = min(max_outputs, max(1, (max_side - d * (k - 1) - 1) // s + 1))
    oy0 = min(max(0, y - n // 2), max(0, out_h - n))
    ox0 = min(max(0, x - n // 2), max(0, out_w - n))
    ny, nx = min(n, out_h - oy0), min(n, out_w - ox0)
    full = F.pad(channel_map.double().cpu()[None], (p, p, p, p))[0]
    r0, c0 = oy0 * s, ox0 * s
    crop = full[r0:r0 + (ny - 1) * s + d * (k - 1) + 1, c0:c0 + (nx - 1) * s + d * (k - 1) + 1]
    return WindowRegion(crop, k, s, d, 0, (y - oy0) * nx + (x - ox0), (oy0, ox0), True)


def input_channel(m, x: torch.Tensor, layer: str, channel: int) -> torch.Tensor:
    """One channel ``[H, W]`` of the input of layer call ``layer`` (the map the kernel slides over)."""
    return capture(m.module, x[:1], [], inputs=[layer]).inputs[layer][0, channel]


def unit_layer(g: NetworkGraph, node_ids: tuple[str, ...]) -> str | None:
    """The Conv2d/Linear call whose units a view node shows: its own layer, or the one that feeds it through
    batch norms and activations only (LeNet's ``features.1`` ReLU shows ``features.0``'s units). None if there
    is none (pooling, an addition, a collapsed block)."""
    cur = node_ids[0] if node_ids else None
    while cur is not None and cur in g.nodes:
        n = g.nodes[cur]
        if n.kind == "module" and n.op in ("Conv2d", "Linear"):
            return cur
        src = n.inputs[0] if len(n.inputs) == 1 else None
        elementwise = n.op.rstrip("_").lower() in _ACTIVATIONS or "BatchNorm" in n.op or n.op in ("Dropout", "dropout")
        if not elementwise or src is None or g.nodes[src].shape != n.shape:
            return None
        cur = src
    return None


__all__ = ["UnitComputation", "ChannelTerm", "FollowingStep", "UnitError", "unit_computation", "WindowRegion",
           "window_region", "input_channel", "unit_layer", "SORTS",
           "SORT_TITLES"]
