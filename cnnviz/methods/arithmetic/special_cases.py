"""The numbers behind the page's special cases: 1×1 bottlenecks, dilation, grouped and depthwise convolutions,
the classic pooling example. The words around them are in :mod:`cnnviz.text.arithmetic_cases`.

Examples::

    >>> bottleneck_params()
    (590080, 70016)
    >>> [c.weights for c in grouped_costs(12, 12, 32)]
    [9216, 4608, 2304, 288, 1312]
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnviz.methods.arithmetic.counts import conv_params
from cnnviz.methods.arithmetic.layer_spec import LayerSpec
from cnnviz.methods.arithmetic.sliding_window import sliding_windows

SPECIAL_CASES = ("1x1", "dilated", "grouped", "pool", "im2col")  # the page's tabs, in order


def default_case(spec: LayerSpec) -> str:
    """The special case a layer is an example of (one of :data:`SPECIAL_CASES`), else ``"1x1"``.

    Examples::

        >>> default_case(LayerSpec("conv", 32, 32, 64, 64, kernel=3, padding=1, groups=64))
        'grouped'
    """
    if spec.is_pool:
        return "pool"
    if spec.groups > 1:
        return "grouped"
    if spec.dilation > 1:
        return "dilated"
    return "1x1"


# ---------------------------------------------------------------------------------------------- 1x1
def one_by_one_layer(spec: LayerSpec) -> LayerSpec:
    """A 1×1 convolution with ``spec``'s input and filters.

    Examples::

        >>> one_by_one_layer(LayerSpec("conv", 9, 9, 3, 20, kernel=5)).output_shape()
        (20, 9, 9)
    """
    return LayerSpec("conv", spec.height, spec.width, spec.in_channels, spec.out_channels, kernel=1)


def bottleneck_params(channels: int = 256, width: int = 64) -> tuple[int, int]:
    """Parameters of a 3×3 convolution from ``channels`` to ``channels``, and of a ResNet bottleneck doing the same
    (1×1 down to ``width``, 3×3 at ``width``, 1×1 back up), biases included.

    Examples::

        >>> bottleneck_params()   # 9·256·256 + 256; (256·64 + 64) + (9·64·64 + 64) + (64·256 + 256)
        (590080, 70016)
    """
    plain = conv_params(channels, channels, 3).total
    cheap = conv_params(channels, width, 1).total + conv_params(width, width, 3).total
    return plain, cheap + conv_params(width, channels, 1).total


# ---------------------------------------------------------------------------------------------- dilation
@dataclass(frozen=True)
class DilatedLayer:
    """One row of the dilation comparison: a ``kernel``×``kernel`` kernel at one dilation on an ``n``×``n`` input."""

    dilation: int
    kernel: int
    span: int  # D(K-1)+1
    output: int | None  # output side, None when the span does not fit
    params: int


def dilation_sweep(n: int, kernel: int = 3, dilations: tuple[int, ...] = (1, 2, 3, 4)) -> list[DilatedLayer]:
    """The same one-channel kernel at growing dilations on an ``n``×``n`` input.

    Examples::

        >>> [(r.span, r.output) for r in dilation_sweep(9)]
        [(3, 7), (5, 5), (7, 3), (9, 1)]
    """
    rows = []
    for d in dilations:
        s = LayerSpec("conv", n, n, 1, 1, kernel=kernel, dilation=d)
        rows.append(DilatedLayer(d, kernel, s.effective_kernel, None if s.problems() else s.output_size(n),
                                 s.params().total))
    return rows


# ---------------------------------------------------------------------------------------------- groups
def grouped_channels(c_in: int) -> int:
    """The channel count the grouped example uses: ``c_in`` when it splits into 2 and 4 groups (at least 8), else 32.

    Examples::

        >>> grouped_channels(64), grouped_channels(3)
        (64, 32)
    """
    return c_in if c_in >= 8 and c_in % 4 == 0 else 32  # enough channels for the groups to mean something


@dataclass(frozen=True)
class GroupedCost:
    """One layer of the grouped-convolution comparison (3×3, ``channels`` to ``channels``): its groups, weights
    and MACs on one image. ``separable`` is a depthwise 3×3 followed by a 1×1 convolution (its
    ``pointwise_weights`` are the 1×1's share)."""

    channels: int
    groups: int
    weights: int
    macs: int
    separable: bool = False
    pointwise_weights: int = 0

    @property
    def depthwise(self) -> bool:
        return self.groups == self.channels and not self.separable


def grouped_layer(spec: LayerSpec) -> LayerSpec:
    """``spec`` when it is a grouped convolution, else the depthwise 3×3 layer of the grouped example.

    Examples::

        >>> grouped_layer(LayerSpec("conv", 12, 12, 3, 20, kernel=5)).groups
        32
    """
    if spec.mode == "conv" and spec.groups > 1:
        return spec
    c = grouped_channels(spec.in_channels)
    return LayerSpec("conv", spec.height, spec.width, c, c, kernel=3, padding=1, groups=c)


def grouped_costs(h: int, w: int, c_in: int) -> list[GroupedCost]:
    """A 3×3 layer from C to C channels on ``h``×``w`` (C = :func:`grouped_channels`): standard, 2 and 4 groups,
    depthwise, and depthwise separable (depthwise + 1×1).

    Examples::

        >>> [(g.groups, g.weights) for g in grouped_costs(12, 12, 32)][::4]
        [(1, 9216), (32, 1312)]
    """
    c = grouped_channels(c_in)
    out = []
    for g in (1, 2, 4, c):
        s = LayerSpec("conv", h, w, c, c, kernel=3, padding=1, groups=g)
        out.append(GroupedCost(c, g, s.params().weights, s.macs()))
    pw = LayerSpec("conv", h, w, c, c, kernel=1)
    dw = out[-1]
    out.append(GroupedCost(c, c, dw.weights + pw.params().weights, dw.macs + pw.macs(), separable=True,
                           pointwise_weights=pw.params().weights))
    return out


# ---------------------------------------------------------------------------------------------- pooling
@dataclass(frozen=True)
class PoolExample:
    """2x2 max pooling with stride 2 on a 4x4 map, worked by :func:`sliding_windows`."""

    x: torch.Tensor  # [4, 4]
    y: torch.Tensor  # [2, 2]
    windows: tuple[tuple[int, int], ...]  # top-left input cell of each window, row-major over the output


def pool_example() -> PoolExample:
    """The classic pooling example (the tests check ``y`` against ``F.max_pool2d``).

    Examples::

        >>> pool_example().y.tolist()
        [[6.0, 8.0], [3.0, 4.0]]
    """
    x = torch.tensor([[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    steps = sliding_windows(x, None, 0.0, LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2))
    y = torch.tensor([s.value for s in steps]).view(2, 2)
    return PoolExample(x, y, tuple((min(s.rows), min(s.cols)) for s in steps))
