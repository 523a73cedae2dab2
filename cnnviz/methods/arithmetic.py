"""Convolution arithmetic: output sizes, parameters, MACs, coverage, validity, im2col.

One source of truth for the formulas of the /arithmetic page and of the tests. The rules
mirror PyTorch's ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` and ``nn.ConvTranspose2d``
(square kernels, the same stride/padding/dilation along both axes, ``N, C, H, W`` tensors):

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1                (convolution, pooling)
    out = (n - 1)s - 2p + d(k - 1) + output_padding + 1         (transposed convolution)

Examples::

    >>> conv_output_size(32, 5)
    28
    >>> LayerSpec("conv", 32, 32, 3, 20, kernel=5).params().total
    1520
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnviz.core.images import load_image
from cnnviz.core.paths import SAMPLES_DIR
from cnnviz.errors import CnnvizError

MODES = ("conv", "maxpool", "avgpool", "transposed")
MODE_TITLES = {"conv": "Convolution", "maxpool": "Max pooling", "avgpool": "Average pooling",
               "transposed": "Transposed convolution"}
Padding = int | str

# grid cell kinds of the padded input drawn by the page
CELL_INPUT, CELL_PAD, CELL_INSERTED, CELL_OVERHANG = 0, 1, 2, 3


# --------------------------------------------------------------------------- sizes
def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that PyTorch's ``padding='same'`` adds (stride 1 only).

    The total ``d(k-1)`` is split with the extra pixel after, as PyTorch does for even kernels.

    Examples::

        >>> same_padding(3)
        (1, 1)
        >>> same_padding(4)
        (1, 2)
    """
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def resolve_padding(padding: Padding, kernel: int, dilation: int = 1) -> tuple[int, int]:
    """A padding (int, ``'same'`` or ``'valid'``) as ``(before, after)`` pixels.

    Examples::

        >>> resolve_padding("valid", 3), resolve_padding(2, 3), resolve_padding("same", 5, 2)
        ((0, 0), (2, 2), (4, 4))
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            return same_padding(kernel, dilation)
        raise ValueError(f"padding {padding!r} is not understood: use an integer, 'same' or 'valid'")
    return int(padding), int(padding)


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``; with ``ceil_mode`` (pooling) the division rounds
    up, but a last window that would start in the right padding is dropped, as in PyTorch.

    Args:
        n: input length (height or width).
        kernel: kernel size ``k``.
        stride: step ``s`` between windows (> 0).
        padding: pixels added on each side, or ``'same'`` (output = input, stride 1 only) or
            ``'valid'`` (no padding).
        dilation: spacing ``d`` between kernel taps (1 = dense kernel).
        ceil_mode: round up instead of down (``MaxPool2d(ceil_mode=True)``).

    Raises:
        ValueError: for combinations PyTorch refuses (see :func:`problems` for explanations).

    Examples::

        >>> conv_output_size(32, 5)                 # 32x32x3 through 5x5 filters
        28
        >>> conv_output_size(7, 3, stride=2, padding=1)
        4
        >>> conv_output_size(224, 3, padding="same")
        224
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}: a window that does not move never finishes")
    if dilation < 1:
        raise ValueError(f"dilation must be at least 1, got {dilation}")
    if kernel < 1:
        raise ValueError(f"kernel size must be at least 1, got {kernel}")
    if padding == "same":
        if stride != 1:
            raise ValueError("padding='same' needs stride 1 (PyTorch refuses it for strided convolutions); "
                             "use an integer padding such as (k-1)//2 instead")
        return n
    pb, pa = resolve_padding(padding, kernel, dilation)
    if pb < 0:
        raise ValueError(f"padding must be >= 0, got {pb}")
    span = dilation * (kernel - 1) + 1
    room = n + pb + pa - span
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pb:
        out -= 1
    if out < 1 or (room < 0 and not ceil_mode):
        raise ValueError(
            f"the kernel ({span} pixels{' with dilation' if dilation > 1 else ''}) is larger than the padded "
            f"input ({n + pb + pa}): it fits nowhere; use a smaller kernel or dilation, or more padding"
        )
    return out


def transposed_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, output_padding: int = 0
) -> int:
    """Output length of a transposed convolution along one axis.

    ``(n - 1)s - 2p + d(k - 1) + output_padding + 1``: the size of the input a convolution with
    the same settings would have mapped onto ``n`` (``output_padding`` picks among several).

    Examples::

        >>> transposed_output_size(4, 3, stride=2, padding=1, output_padding=1)
        8
        >>> conv_output_size(8, 3, stride=2, padding=1)
        4
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    out = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:  # PyTorch returns an empty tensor for 0 and refuses negative sizes
        raise ValueError(
            f"the output would have {out} pixels: the padding {padding} crops away everything; use less padding"
        )
    return out


def pool_output_size(
    n: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of max/average pooling (stride defaults to the kernel size, as in PyTorch).

    Examples::

        >>> pool_output_size(4, 2)     # the 4x4 max-pooling example: 2x2 windows, stride 2
        2
        >>> pool_output_size(5, 2, ceil_mode=True)
        3
    """
    return conv_output_size(n, kernel, kernel if stride is None else stride, padding, dilation, ceil_mode)


# --------------------------------------------------------------------------- counts
@dataclass(frozen=True)
class ParamCount:
    """Learnable parameters of one layer."""

    weights: int
    biases: int

    @property
    def total(self) -> int:
        return self.weights + self.biases


def conv_params(in_channels: int, out_channels: int, kernel: int, groups: int = 1, bias: bool = True) -> ParamCount:
    """Parameters of a convolution: weights ``(k·k·C_in/groups)·C_out``, biases ``C_out``.

    Examples::

        >>> conv_params(3, 20, 5)          # twenty 5x5x3 filters
        ParamCount(weights=1500, biases=20)
        >>> conv_params(32, 32, 3, groups=32).weights   # depthwise: one 3x3 filter per channel
        288
    """
    return ParamCount(kernel * kernel * (in_channels // groups) * out_channels, out_channels if bias else 0)


def transposed_params(
    in_channels: int, out_channels: int, kernel: int, groups: int = 1, bias: bool = True
) -> ParamCount:
    """Parameters of a transposed convolution: weights ``C_in·(C_out/groups)·k·k``, biases ``C_out``."""
    return ParamCount(in_channels * (out_channels // groups) * kernel * kernel, out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> ParamCount:
    """Parameters of a fully connected layer: ``in·out`` weights, ``out`` biases."""
    return ParamCount(in_features * out_features, out_features if bias else 0)


def conv_macs(out_h: int, out_w: int, in_channels: int, out_channels: int, kernel: int, groups: int = 1) -> int:
    """Multiply-accumulates of a convolution: every output value is a ``k·k·C_in/groups`` dot product.

    Examples::

        >>> conv_macs(28, 28, 3, 20, 5)     # 28·28·20 outputs x 75 products
        1176000
    """
    return out_h * out_w * out_channels * (in_channels // groups) * kernel * kernel


def transposed_macs(in_h: int, in_w: int, in_channels: int, out_channels: int, kernel: int, groups: int = 1) -> int:
    """Multiply-accumulates of a transposed convolution.

    Each input value is scattered through ``k·k·C_out/groups`` weights.
    """
    return in_h * in_w * in_channels * (out_channels // groups) * kernel * kernel


def uncovered(
    n: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1, ceil_mode: bool = False
) -> list[int]:
    """Input indices (0-based) that no kernel tap ever reads along one axis.

    Rows at the end are skipped when the stride does not tile ``n + 2p - d(k-1) - 1``; with
    dilation larger than the stride, rows between the taps are skipped too.

    Examples::

        >>> uncovered(7, 3, stride=3)    # windows at 0-2 and 3-5: row 6 is never read
        [6]
        >>> uncovered(6, 2, stride=2)
        []
    """
    out = conv_output_size(n, kernel, stride, padding, dilation, ceil_mode)
    pb, _ = resolve_padding(padding, kernel, dilation)
    seen = {i * stride + j * dilation - pb for i in range(out) for j in range(kernel)}
    return [i for i in range(n) if i not in seen]


def describe_indices(idx: Sequence[int]) -> str:
    """``[0, 1, 2, 7]`` -> ``"0–2, 7"`` for messages."""
    parts, run = [], []
    for i in idx:
        if run and i == run[-1] + 1:
            run.append(i)
        else:
            if run:
                parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
            run = [i]
    if run:
        parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(parts)


# --------------------------------------------------------------------------- one layer
@dataclass(frozen=True)
class Problem:
    """Why a combination of settings is invalid, in words a student can act on."""

    field: str
    message: str


@dataclass(frozen=True)
class LayerSpec:
    """One 2-d layer with square kernel, as the /arithmetic page and the quiz describe it.

    Args:
        mode: ``"conv"``, ``"maxpool"``, ``"avgpool"`` or ``"transposed"``.
        height, width: input size.
        in_channels: input depth ``C_in``.
        out_channels: number of filters ``C_out`` (pooling keeps ``C_in``).
        kernel, stride, padding, dilation, groups: as in PyTorch; padding may be ``'same'``/``'valid'``.
        output_padding: extra rows/cols at the end of a transposed convolution's output.
        ceil_mode: round the pooling output size up.
        bias: whether a convolution has biases.

    Examples::

        >>> s = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
        >>> s.output_shape(), s.params().total, s.macs()
        ((20, 28, 28), 1520, 1176000)
    """

    mode: str = "conv"
    height: int = 32
    width: int = 32
    in_channels: int = 3
    out_channels: int = 20
    kernel: int = 5
    stride: int = 1
    padding: Padding = 0
    dilation: int = 1
    groups: int = 1
    output_padding: int = 0
    ceil_mode: bool = False
    bias: bool = True

    @property
    def is_pool(self) -> bool:
        return self.mode in ("maxpool", "avgpool")

    @property
    def pad(self) -> tuple[int, int]:
        """Padding ``(before, after)`` in pixels along each axis."""
        return resolve_padding(self.padding, self.kernel, self.dilation)

    @property
    def effective_kernel(self) -> int:
        """Span of the dilated kernel ``d(k-1)+1``."""
        return self.dilation * (self.kernel - 1) + 1

    def problems(self) -> list[Problem]:
        """Every reason PyTorch would refuse these settings (empty when valid)."""
        return problems(self)

    def output_size(self, n: int) -> int:
        """Output length for input length ``n`` under this layer's settings."""
        if self.mode == "transposed":
            return transposed_output_size(
                n, self.kernel, self.stride, int(self.padding), self.dilation, self.output_padding
            )
        return conv_output_size(
            n, self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode and self.is_pool
        )

    def output_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the output (raises ValueError for invalid settings)."""
        c = self.in_channels if self.is_pool else self.out_channels
        return c, self.output_size(self.height), self.output_size(self.width)

    def params(self) -> ParamCount:
        if self.mode == "conv":
            return conv_params(self.in_channels, self.out_channels, self.kernel, self.groups, self.bias)
        if self.mode == "transposed":
            return transposed_params(self.in_channels, self.out_channels, self.kernel, self.groups, self.bias)
        return ParamCount(0, 0)

    def macs(self) -> int:
        """Multiply-accumulates for one image (pooling has none; see :meth:`pool_ops`)."""
        c, oh, ow = self.output_shape()
        if self.mode == "conv":
            return conv_macs(oh, ow, self.in_channels, self.out_channels, self.kernel, self.groups)
        if self.mode == "transposed":
            return transposed_macs(
                self.height, self.width, self.in_channels, self.out_channels, self.kernel, self.groups
            )
        return 0

    def pool_ops(self) -> int:
        """Comparisons (max pooling) or additions (average pooling) for one image."""
        c, oh, ow = self.output_shape()
        per = self.kernel * self.kernel - (1 if self.mode == "maxpool" else 0)
        return c * oh * ow * per if self.is_pool else 0

    def uncovered(self) -> tuple[list[int], list[int]]:
        """Input rows and columns never read (convolution and pooling; empty for transposed)."""
        if self.mode == "transposed":
            return [], []
        cm = self.ceil_mode and self.is_pool
        return (
            uncovered(self.height, self.kernel, self.stride, self.padding, self.dilation, cm),
            uncovered(self.width, self.kernel, self.stride, self.padding, self.dilation, cm),
        )

    def torch_code(self) -> str:
        """The PyTorch module these settings describe, as source code."""
        pad = repr(self.padding) if isinstance(self.padding, str) else str(self.padding)
        if self.mode == "conv":
            extra = "" if self.bias else ", bias=False"
            return (
                f"nn.Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel}, stride={self.stride}, "
                f"padding={pad}, dilation={self.dilation}, groups={self.groups}{extra})"
            )
        if self.mode == "transposed":
            return (
                f"nn.ConvTranspose2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel}, "
                f"stride={self.stride}, padding={pad}, output_padding={self.output_padding}, groups={self.groups}, "
                f"dilation={self.dilation})"
            )
        if self.mode == "maxpool":
            return (
                f"nn.MaxPool2d(kernel_size={self.kernel}, stride={self.stride}, padding={pad}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode})"
            )
        return (
            f"nn.AvgPool2d(kernel_size={self.kernel}, stride={self.stride}, padding={pad}, ceil_mode={self.ceil_mode})"
        )

    def torch_module(self) -> nn.Module:
        """The matching PyTorch module (construct only valid specs; check :meth:`problems` first)."""
        if self.mode == "conv":
            return nn.Conv2d(
                self.in_channels,
                self.out_channels,
                self.kernel,
                self.stride,
                self.padding,
                self.dilation,
                self.groups,
                self.bias,
            )
        if self.mode == "transposed":
            return nn.ConvTranspose2d(
                self.in_channels,
                self.out_channels,
                self.kernel,
                self.stride,
                int(self.padding),
                self.output_padding,
                self.groups,
                self.bias,
                self.dilation,
            )
        if self.mode == "maxpool":
            return nn.MaxPool2d(
                self.kernel,
                self.stride,
                int(self.padding) if not isinstance(self.padding, str) else self.pad[0],
                self.dilation,
                ceil_mode=self.ceil_mode,
            )
        return nn.AvgPool2d(
            self.kernel,
            self.stride,
            int(self.padding) if not isinstance(self.padding, str) else self.pad[0],
            ceil_mode=self.ceil_mode,
        )


def problems(spec: LayerSpec) -> list[Problem]:
    """Explanations for every setting PyTorch would refuse (an empty list means valid).

    Examples::

        >>> [p.field for p in problems(LayerSpec("conv", 5, 5, 3, 4, kernel=7))]
        ['kernel']
        >>> problems(LayerSpec("conv", 8, 8, 3, 4, kernel=3, groups=2))[0].message[:40]
        'groups=2 must divide the input channels '
    """
    out: list[Problem] = []
    s = spec
    if s.mode not in MODES:
        return [Problem("mode", f"unknown mode {s.mode!r}; choose one of {', '.join(MODES)}")]
    for name, v in (("height", s.height), ("width", s.width), ("in_channels", s.in_channels), ("kernel", s.kernel)):
        if v < 1:
            out.append(Problem(name, f"{name} is {v}: it must be at least 1."))
    if not s.is_pool and s.out_channels < 1:
        out.append(Problem("out_channels", "a convolution needs at least one filter."))
    if s.stride < 1:
        out.append(
            Problem(
                "stride",
                f"stride {s.stride}: the window must move at least one pixel per step, "
                "otherwise it never reaches the next position (PyTorch: 'non-positive stride is not supported').",
            )
        )
    if s.dilation < 1:
        out.append(
            Problem("dilation", f"dilation {s.dilation}: taps must be at least 1 pixel apart (1 = an ordinary kernel).")
        )
    if isinstance(s.padding, str):
        if s.padding not in ("same", "valid"):
            out.append(Problem("padding", f"padding {s.padding!r} is not understood: use a number, 'same' or 'valid'."))
        elif s.padding == "same" and s.mode == "transposed":
            out.append(Problem("padding", "a transposed convolution takes a number as padding, not 'same'/'valid'."))
        elif s.padding == "same" and s.stride > 1 and s.mode == "conv":
            out.append(
                Problem(
                    "padding",
                    f"padding='same' keeps the output as large as the input, which a stride of {s.stride} "
                    "cannot do: PyTorch refuses 'same' for strided convolutions. Use an integer padding "
                    f"such as {(s.effective_kernel - 1) // 2} (output ≈ input/{s.stride}).",
                )
            )
        elif s.is_pool:
            out.append(Problem("padding", "pooling layers take a number as padding, not 'same'/'valid'."))
    elif s.padding < 0:
        out.append(Problem("padding", f"padding {s.padding}: it cannot be negative."))
    if out:
        return out
    if s.mode in ("conv", "transposed"):
        if s.groups < 1:
            out.append(Problem("groups", "groups must be at least 1 (1 = every filter sees every input channel)."))
        else:
            if s.in_channels % s.groups:
                out.append(
                    Problem(
                        "groups",
                        f"groups={s.groups} must divide the input channels ({s.in_channels}): each group "
                        f"gets C_in/groups = {s.in_channels}/{s.groups} channels, which is not whole.",
                    )
                )
            if s.out_channels % s.groups:
                out.append(
                    Problem(
                        "groups",
                        f"groups={s.groups} must divide the number of filters ({s.out_channels}): each group "
                        f"owns C_out/groups = {s.out_channels}/{s.groups} filters, which is not whole.",
                    )
                )
    if s.is_pool:
        half = s.kernel / 2  # PyTorch compares with the undilated kernel
        if s.mode == "avgpool" and s.dilation != 1:
            out.append(Problem("dilation", "average pooling has no dilation in PyTorch (nn.AvgPool2d); use 1."))
        if int(s.padding) > half:
            out.append(
                Problem(
                    "padding",
                    f"padding {s.padding} is more than half the kernel ({s.kernel}): a window could then "
                    "lie entirely in the padding, so PyTorch refuses it. Use at most "
                    f"{int(half)}.",
                )
            )
    if s.mode == "transposed":
        if s.output_padding < 0:
            out.append(Problem("output_padding", "output_padding cannot be negative."))
        elif s.output_padding >= max(s.stride, s.dilation):
            out.append(
                Problem(
                    "output_padding",
                    f"output_padding {s.output_padding} must be smaller than the stride "
                    f"({s.stride}) or the dilation ({s.dilation}): it only chooses among the "
                    "input sizes a strided convolution would have mapped to the same output.",
                )
            )
        if not out:
            for axis, n in (("height", s.height), ("width", s.width)):
                try:
                    transposed_output_size(n, s.kernel, s.stride, int(s.padding), s.dilation, s.output_padding)
                except ValueError as e:
                    out.append(Problem("padding", f"{axis}: {e}."))
        return out
    if out:
        return out
    pb, pa = s.pad
    cm = s.ceil_mode and s.is_pool
    bad = []
    for axis, n in (("height", s.height), ("width", s.width)):
        try:
            conv_output_size(n, s.kernel, s.stride, s.padding, s.dilation, cm)
        except ValueError:
            bad.append((axis, n))
    if bad:
        what = f"the {s.kernel}x{s.kernel} kernel" + (
            f" dilated by {s.dilation} (spans {s.effective_kernel} pixels)" if s.dilation > 1 else ""
        )
        sizes = " and ".join(f"{axis} {n} + {pb + pa} padding = {n + pb + pa}" for axis, n in bad)
        out.append(
            Problem(
                "kernel",
                f"{what} is larger than the padded input ({sizes}): there is not a single "
                "position where it fits. Use a smaller kernel or dilation, or more padding.",
            )
        )
    return out


def pytorch_check(spec: LayerSpec, batch: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Run the matching PyTorch module; return ``(pytorch_output_shape, formula_output_shape)`` with batch.

    Raises:
        ValueError: if the spec is invalid (check :func:`problems`).
    """
    probs = problems(spec)
    if probs:
        raise ValueError("; ".join(p.message for p in probs))
    mod = spec.torch_module()
    x = torch.randn(batch, spec.in_channels, spec.height, spec.width)
    with torch.no_grad():
        y = mod(x)
    return tuple(y.shape), (batch, *spec.output_shape())


# --------------------------------------------------------------------------- sliding window
@dataclass(frozen=True)
class PaddedGrid:
    """The grid the kernel slides over: the input with padding (and, for transposed, inserted zeros).

    ``values`` are what each tap reads (padding reads 0, or -inf for max pooling), ``kind``
    says what each cell is (CELL_INPUT, CELL_PAD, CELL_INSERTED, CELL_OVERHANG), and ``origin``
    maps grid cells back to input pixels (-1 when the cell is not an input pixel).
    """

    values: torch.Tensor  # [GH, GW] float
    kind: torch.Tensor  # [GH, GW] int
    origin_row: torch.Tensor  # [GH] input row or -1
    origin_col: torch.Tensor  # [GW]


@dataclass(frozen=True)
class WindowStep:
    """One kernel position: which grid cells the taps read and what they compute."""

    out_row: int
    out_col: int
    rows: tuple[int, ...]  # grid row of each tap (row-major over the kernel)
    cols: tuple[int, ...]
    xs: tuple[float, ...]  # the values read (padding: 0; max-pool padding: -inf)
    ws: tuple[float, ...]  # kernel weights (pooling: empty)
    value: float


def _axis_map(n: int, spec: LayerSpec) -> tuple[list[int], list[int]]:
    """Grid cells along one axis: (kind, origin) lists."""
    k, s, d = spec.kernel, spec.stride, spec.dilation
    if spec.mode == "transposed":
        inserted = []
        for i in range(n):
            inserted.append((CELL_INPUT, i))
            if i < n - 1:
                inserted.extend([(CELL_INSERTED, -1)] * (s - 1))
        pe = d * (k - 1) - int(spec.padding)
        before, after = pe, pe + spec.output_padding
        cells = [(CELL_PAD, -1)] * max(before, 0) + inserted[max(-before, 0) :] + [(CELL_PAD, -1)] * max(after, 0)
        if after < 0:
            cells = cells[: len(cells) + after]
        return [c[0] for c in cells], [c[1] for c in cells]
    pb, pa = spec.pad
    cells = [(CELL_PAD, -1)] * pb + [(CELL_INPUT, i) for i in range(n)] + [(CELL_PAD, -1)] * pa
    out = spec.output_size(n)
    need = (out - 1) * s + d * (k - 1) + 1  # ceil_mode windows can hang over the padded input
    cells += [(CELL_OVERHANG, -1)] * max(0, need - len(cells))
    return [c[0] for c in cells], [c[1] for c in cells]


def padded_grid(x: torch.Tensor, spec: LayerSpec) -> PaddedGrid:
    """The 2-d input ``x`` [H, W] laid out as the kernel sees it (see :class:`PaddedGrid`).

    For a transposed convolution this is the equivalent direct convolution's input: ``s-1``
    zeros between input pixels, ``d(k-1)-p`` padding around, ``output_padding`` more at the end.
    """
    kr, orr = _axis_map(x.shape[0], spec)
    kc, orc = _axis_map(x.shape[1], spec)
    kind_r, kind_c = torch.tensor(kr), torch.tensor(kc)
    o_r, o_c = torch.tensor(orr), torch.tensor(orc)
    kr2, kc2 = kind_r[:, None].expand(len(kr), len(kc)), kind_c[None, :].expand(len(kr), len(kc))
    kind = torch.full((len(kr), len(kc)), CELL_INPUT, dtype=torch.long)
    for k in (CELL_INSERTED, CELL_PAD, CELL_OVERHANG):  # later kinds win: padding beats inserted zeros
        kind[(kr2 == k) | (kc2 == k)] = k
    inside = (o_r[:, None] >= 0) & (o_c[None, :] >= 0)
    vals = torch.zeros(len(kr), len(kc), dtype=torch.float64)
    vals[inside] = x.double()[
        o_r.clamp(min=0)[:, None].expand_as(vals)[inside], o_c.clamp(min=0)[None, :].expand_as(vals)[inside]
    ]
    if spec.mode == "maxpool":
        vals[~inside & (kind != CELL_INSERTED)] = float("-inf")
    return PaddedGrid(vals, kind, o_r, o_c)


def sliding_windows(x: torch.Tensor, weight: torch.Tensor | None, bias: float, spec: LayerSpec) -> list[WindowStep]:
    """Every kernel position on one input channel, with the taps and the value they compute.

    Args:
        x: one input channel [H, W].
        weight: the kernel [k, k] (ignored for pooling). For ``"transposed"`` give the
            ``ConvTranspose2d`` weight: the equivalent direct convolution uses it flipped.
        bias: added to each dot product (convolutions only).
        spec: the layer settings (``spec.height/width`` are taken from ``x``).

    Returns:
        Steps in row-major output order; ``value`` equals PyTorch's output for a one-channel
        layer with this kernel and bias (tests check this).

    Examples::

        >>> x = torch.arange(16.).view(4, 4)
        >>> steps = sliding_windows(x, None, 0.0, LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2))
        >>> [s.value for s in steps]
        [5.0, 7.0, 13.0, 15.0]
    """
    spec = replace(spec, height=x.shape[0], width=x.shape[1])
    grid = padded_grid(x, spec)
    k, d = spec.kernel, spec.dilation
    stride = 1 if spec.mode == "transposed" else spec.stride
    _, oh, ow = spec.output_shape()
    w = None
    if not spec.is_pool:
        w = weight.double()
        if spec.mode == "transposed":
            w = torch.flip(w, (0, 1))
        wl = tuple(float(v) for v in w.flatten())
    gh, gw = grid.values.shape
    valid_h = (grid.kind != CELL_OVERHANG).any(1).sum().item()
    valid_w = (grid.kind != CELL_OVERHANG).any(0).sum().item()
    steps = []
    taps = [(a * d, b * d) for a in range(k) for b in range(k)]
    vals = grid.values.tolist()
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride, j * stride
            rows = tuple(r0 + a for a, _ in taps)
            cols = tuple(c0 + b for _, b in taps)
            xs = tuple(vals[r][c] for r, c in zip(rows, cols))
            if spec.mode == "maxpool":
                value = max(xs)
            elif spec.mode == "avgpool":
                # PyTorch divides by the window's area inside the padded input (count_include_pad=True)
                hh = min(r0 + k, valid_h) - r0
                ww = min(c0 + k, valid_w) - c0
                value = sum(xs) / (hh * ww)
            else:
                value = sum(a * b for a, b in zip(wl, xs)) + bias
            steps.append(WindowStep(i, j, rows, cols, xs, wl if w is not None else (), float(value)))
    return steps


def format_dot_product(
    step: WindowStep,
    bias: float,
    mode: str = "conv",
    max_terms: int = 12,
    fmt: str = "{:g}",
    per_line: int | None = None,
    newline: str = "\n",
) -> str:
    """The computation of one step in words: ``"1·3 + 0·5 + … + b = 17"`` (plain text).

    Args:
        step: one kernel position from :func:`sliding_windows`.
        bias: the bias added (convolutions; shown even when 0).
        mode: the layer mode (pooling shows ``max(...)`` / ``mean(...)``).
        max_terms: longer sums are cut with an ellipsis.
        fmt: number format.
        per_line: break the line after this many terms (e.g. ``k``: one kernel row per line).
        newline: the line break to insert (``"<br>"`` for Plotly).

    Examples::

        >>> s = WindowStep(0, 0, (0, 0), (0, 1), (3.0, 5.0), (1.0, -1.0), -1.0)
        >>> format_dot_product(s, 1.0)
        '1·3 + (−1)·5 + 1 = −1'
        >>> format_dot_product(s, 0.0, per_line=1, newline="|")
        '1·3 +|(−1)·5 + 0 = −1'
    """

    def num(v: float) -> str:
        if v == float("-inf"):
            return "−∞"
        t = fmt.format(round(v, 4))
        return t.replace("-", "−")

    def par(v: float) -> str:
        t = num(v)
        return f"({t})" if t.startswith("−") else t

    def join(terms: list[str], sep: str) -> str:
        if per_line is None:
            return sep.join(terms)
        lines = [sep.join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]
        return (sep.rstrip() + newline).join(lines)

    if mode in ("maxpool", "avgpool"):
        terms = [num(v) for v in step.xs]
        shown = terms if len(terms) <= max_terms else terms[: max_terms - 1] + ["…"]
        return f"{'max' if mode == 'maxpool' else 'mean'}({join(shown, ', ')}) = {num(step.value)}"
    terms = [f"{par(w)}·{par(x)}" for w, x in zip(step.ws, step.xs)]
    shown = terms if len(terms) <= max_terms else terms[: max_terms - 1] + [f"… ({len(terms)} products)"]
    return join(shown, " + ") + f" + {par(bias)} = {num(step.value)}"


# --------------------------------------------------------------------------- im2col
def im2col(x: torch.Tensor, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1) -> torch.Tensor:
    """The input patches as columns: ``[N, C·k·k, L]`` with ``L`` = output positions (row-major).

    Row ``c·k·k + a·k + b`` holds tap ``(a, b)`` of channel ``c``, matching a flattened
    ``[C_out, C, k, k]`` weight, so a convolution is ``W.view(C_out, -1) @ cols``.

    Examples::

        >>> im2col(torch.arange(9.).view(1, 1, 3, 3), 2).shape
        torch.Size([1, 4, 4])
    """
    if x.ndim == 3:
        x = x.unsqueeze(0)
    n, c, h, w = x.shape
    oh = conv_output_size(h, kernel, stride, padding, dilation)
    ow = conv_output_size(w, kernel, stride, padding, dilation)
    pb, pa = resolve_padding(padding, kernel, dilation)
    xp = F.pad(x, (pb, pa, pb, pa))
    cols = []
    for a in range(kernel):
        for b in range(kernel):
            r, q = a * dilation, b * dilation
            cols.append(xp[:, :, r : r + (oh - 1) * stride + 1 : stride, q : q + (ow - 1) * stride + 1 : stride])
    # [k*k, N, C, oh, ow] -> [N, C, k*k, oh*ow] -> [N, C*k*k, L]
    patches = torch.stack(cols, 0).permute(1, 2, 0, 3, 4)
    return patches.reshape(n, c * kernel * kernel, oh * ow)


def conv2d_im2col(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """A convolution as matrix products: ``W [C_out/g, C_in/g·k·k] @ cols`` per group.

    Equals ``F.conv2d`` (tests check this); written out to show that a convolution is one GEMM.
    """
    if x.ndim == 3:
        x = x.unsqueeze(0)
    n, c, h, w = x.shape
    cout, cin_g, k, _ = weight.shape
    cols = im2col(x, k, stride, padding, dilation)  # [N, C*k*k, L]
    oh = conv_output_size(h, k, stride, padding, dilation)
    ow = conv_output_size(w, k, stride, padding, dilation)
    cols = cols.view(n, groups, cin_g * k * k, oh * ow)
    wm = weight.reshape(groups, cout // groups, cin_g * k * k)
    out = torch.einsum("gok,ngkl->ngol", wm, cols).reshape(n, cout, oh, ow)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


# --------------------------------------------------------------------------- layer stacks (quiz)
class StackError(CnnvizError):
    """A quiz stack or input shape that cannot be read; the message gives the syntax."""


_TOKEN = re.compile(r"^([a-z]+)(-?\d+)$")
_STACK_KINDS = {
    "conv": "conv",
    "maxpool": "maxpool",
    "pool": "maxpool",
    "avgpool": "avgpool",
    "tconv": "transposed",
    "transposed": "transposed",
}


@dataclass(frozen=True)
class StackLayer:
    """One layer of a quiz stack (input size filled in when the stack is evaluated)."""

    text: str
    mode: str
    filters: int | None
    kernel: int
    stride: int
    padding: Padding
    dilation: int = 1
    groups: int = 1


def parse_stack(text: str) -> list[StackLayer]:
    """Parse ``"conv k5 f20; maxpool k2; conv k3 f40 p1 s2"`` into layers.

    Each layer is a kind (``conv``, ``maxpool``/``pool``, ``avgpool``, ``tconv``) followed by
    ``kK`` kernel, ``fF`` filters, ``sS`` stride (pooling default: the kernel), ``pP`` padding
    (or ``psame``/``pvalid``), ``dD`` dilation, ``gG`` groups. Layers are separated by ``;``.

    Raises:
        StackError: (a ValueError) naming the layer and the token that cannot be read, with the syntax.

    Examples::

        >>> [l.kernel for l in parse_stack("conv k5 f20; pool k2")]
        [5, 2]
    """
    layers = []
    for i, part in enumerate(p.strip() for p in text.replace("\n", ";").split(";")):
        if not part:
            continue
        toks = part.lower().split()
        kind = _STACK_KINDS.get(toks[0])
        if kind is None:
            raise StackError(
                f"layer {i + 1} ({part!r}): unknown kind {toks[0]!r}; start with conv, maxpool, avgpool or tconv"
            )
        vals: dict[str, Padding] = {}
        for t in toks[1:]:
            if t in ("psame", "pvalid"):
                vals["p"] = t[1:]
                continue
            m = _TOKEN.match(t)
            if not m or m.group(1) not in ("k", "f", "s", "p", "d", "g"):
                raise StackError(
                    f"layer {i + 1} ({part!r}): cannot read {t!r}; write e.g. 'conv k5 f20 s1 p0' "
                    "(k kernel, f filters, s stride, p padding or psame, d dilation, g groups)"
                )
            vals[m.group(1)] = int(m.group(2))
        k = int(vals.get("k", 3 if kind in ("conv", "transposed") else 2))
        pool = kind in ("maxpool", "avgpool")
        if not pool and "f" not in vals:
            raise StackError(f"layer {i + 1} ({part!r}): say how many filters, e.g. 'f20'")
        layers.append(
            StackLayer(
                part,
                kind,
                None if pool else int(vals["f"]),
                k,
                int(vals.get("s", k if pool else 1)),
                vals.get("p", 0),
                int(vals.get("d", 1)),
                int(vals.get("g", 1)),
            )
        )
    return layers


@dataclass(frozen=True)
class StackRow:
    """One evaluated quiz layer: its spec, output shape (or the problem), parameters."""

    layer: StackLayer
    spec: LayerSpec
    output_shape: tuple[int, int, int] | None
    params: int
    problems: tuple[Problem, ...]


def evaluate_stack(input_shape: tuple[int, int, int], layers: Sequence[StackLayer]) -> list[StackRow]:
    """Propagate ``(C, H, W)`` through the layers; stops after the first invalid layer.

    Examples::

        >>> rows = evaluate_stack((3, 32, 32), parse_stack("conv k5 f20; pool k2"))
        >>> [r.output_shape for r in rows]
        [(20, 28, 28), (20, 14, 14)]
    """
    c, h, w = input_shape
    rows = []
    for layer in layers:
        spec = LayerSpec(
            layer.mode,
            h,
            w,
            c,
            layer.filters or c,
            layer.kernel,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
        )
        probs = tuple(problems(spec))
        if probs:
            rows.append(StackRow(layer, spec, None, 0, probs))
            break
        shape = spec.output_shape()
        rows.append(StackRow(layer, spec, shape, spec.params().total, ()))
        c, h, w = shape
    return rows


def human(n: int | float) -> str:
    """``1176000`` -> ``"1.18 M"`` (k, M, G) for captions.

    Examples::

        >>> human(1520), human(1176000), human(4.09e9)
        ('1,520', '1.18 M', '4.09 G')
    """
    n = float(n)
    for unit, f in (("G", 1e9), ("M", 1e6)):
        if abs(n) >= f:
            return f"{n / f:.3g} {unit}" if n / f < 100 else f"{n / f:.0f} {unit}"
    return f"{int(n):,}" if n == int(n) else f"{n:.3g}"


# --------------------------------------------------------------------------- the /arithmetic page's worked examples
class MatrixError(CnnvizError):
    """A typed matrix (input or kernel) that cannot be read, or has the wrong size."""


# Starting points, as LayerSpec fields; pooling presets keep the filters/groups the user had set
PRESETS: dict[str, dict] = {
    "Lecture: 32×32×3, twenty 5×5": dict(
        mode="conv",
        height=32,
        width=32,
        in_channels=3,
        out_channels=20,
        kernel=5,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
    ),
    "Stride 2, padding 1": dict(
        mode="conv",
        height=7,
        width=7,
        in_channels=1,
        out_channels=1,
        kernel=3,
        stride=2,
        padding=1,
        dilation=1,
        groups=1,
    ),
    "Stride that does not tile": dict(
        mode="conv",
        height=8,
        width=8,
        in_channels=1,
        out_channels=1,
        kernel=3,
        stride=3,
        padding=0,
        dilation=1,
        groups=1,
    ),
    "'same' padding": dict(
        mode="conv",
        height=10,
        width=10,
        in_channels=3,
        out_channels=8,
        kernel=5,
        stride=1,
        padding="same",
        dilation=1,
        groups=1,
    ),
    "Dilated 3×3, D=2": dict(
        mode="conv",
        height=9,
        width=9,
        in_channels=1,
        out_channels=1,
        kernel=3,
        stride=1,
        padding=0,
        dilation=2,
        groups=1,
    ),
    "Depthwise 3×3": dict(
        mode="conv",
        height=12,
        width=12,
        in_channels=32,
        out_channels=32,
        kernel=3,
        stride=1,
        padding=1,
        dilation=1,
        groups=32,
    ),
    "Max pool 2×2": dict(mode="maxpool", height=8, width=8, in_channels=1, kernel=2, stride=2, padding=0, dilation=1),
    "Transposed 3×3, stride 2": dict(
        mode="transposed",
        height=4,
        width=4,
        in_channels=1,
        out_channels=1,
        kernel=3,
        stride=2,
        padding=1,
        dilation=1,
        groups=1,
        output_padding=1,
    ),
}


def layer_from_controls(
    mode: str,
    height: int,
    width: int,
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int,
    padding: Padding,
    dilation: int,
    groups: int,
    output_padding: int = 0,
    ceil_mode: bool = False,
) -> LayerSpec:
    """The layer the page's controls describe: settings a mode does not have are dropped.

    Pooling keeps the channels (no filters, no groups) and is the only mode with ``ceil_mode``;
    only a transposed convolution has an output padding.

    Examples::

        >>> layer_from_controls("maxpool", 8, 8, 3, 20, 2, 2, 0, 1, 4, 1, True).out_channels
        3
    """
    pool = mode in ("maxpool", "avgpool")
    return LayerSpec(
        mode,
        height,
        width,
        in_channels,
        in_channels if pool else out_channels,
        kernel,
        stride,
        padding,
        dilation,
        1 if pool else groups,
        output_padding if mode == "transposed" else 0,
        ceil_mode and pool,
    )


def size_latex(spec: LayerSpec, axis: str = "H") -> str:
    """The output-size formula for one axis (``"H"`` or ``"W"``), then the same with this layer's numbers.

    Examples::

        >>> size_latex(LayerSpec("conv", 32, 32, 3, 20, kernel=5)).endswith(r"\\mathbf{28}\\end{aligned}")
        True
    """
    s, n = spec, spec.height if axis == "H" else spec.width
    out = s.output_size(n)
    if s.mode == "transposed":
        return (
            rf"\begin{{aligned}}{axis}_{{out}} &= ({axis}-1)S - 2P + D(K-1) + \text{{out\_pad}} + 1 \\ "
            rf"&= ({n}-1)\cdot{s.stride} - 2\cdot{int(s.padding)} + {s.dilation}\cdot({s.kernel}-1) + "
            rf"{s.output_padding} + 1 = \mathbf{{{out}}}\end{{aligned}}"
        )
    pb, pa = s.pad
    br_l, br_r = (r"\left\lceil", r"\right\rceil") if s.ceil_mode else (r"\left\lfloor", r"\right\rfloor")
    two_p = f"2\\cdot{pb}" if pb == pa else f"({pb}+{pa})"
    return (
        rf"\begin{{aligned}}{axis}_{{out}} &= {br_l}\frac{{{axis} + 2P - D(K-1) - 1}}{{S}}{br_r} + 1 \\ "
        rf"&= {br_l}\frac{{{n} + {two_p} - {s.dilation}\cdot({s.kernel}-1) - 1}}{{{s.stride}}}{br_r} + 1 = "
        rf"\mathbf{{{out}}}\end{{aligned}}"
    )


def size_formulas(spec: LayerSpec) -> list[str]:
    """The output-size formulas to show: one when height and width agree, else one per axis."""
    if spec.height == spec.width:
        return [size_latex(spec, "H") + r"\qquad (W_{out} = H_{out})"]
    return [size_latex(spec, "H"), size_latex(spec, "W")]


def headline(spec: LayerSpec) -> list[tuple[str, str, str | None]]:
    """The page's key numbers as ``(label, value, help)``: output shape, parameters, MACs, output and input values.

    Examples::

        >>> [v for _, v, _ in headline(LayerSpec("conv", 32, 32, 3, 20, kernel=5))]
        ['20 × 28 × 28', '1,520', '1.18 M', '15,680', '3,072']
    """
    c, oh, ow = spec.output_shape()
    return [
        ("Output shape (C × H × W)", f"{c} × {oh} × {ow}", f"PyTorch: torch.Size([N, {c}, {oh}, {ow}])"),
        ("Parameters", f"{spec.params().total:,}", None),
        ("MACs (one image)", "0" if spec.is_pool else human(spec.macs()), None),
        ("Output values", f"{c * oh * ow:,}", None),
        ("Input values", f"{spec.in_channels * spec.height * spec.width:,}", None),
    ]


def _thousands(latex: str) -> str:
    return latex.replace(",", "{,}")  # a bare comma in LaTeX math gets a space after it


def cost_latex(spec: LayerSpec) -> list[str]:
    """Weights, biases and MACs (pooling: the operations) as formulas with this layer's numbers.

    Examples::

        >>> cost_latex(LayerSpec("conv", 32, 32, 3, 20, kernel=5))[0].endswith("= 1,500")
        True
    """
    s = spec
    k, cin, cout, g = s.kernel, s.in_channels, s.out_channels, s.groups
    p = s.params()
    _, oh, ow = s.output_shape()
    biases = _thousands(rf"\text{{biases}} = C_{{out}} = {cout} \qquad \text{{parameters}} = {p.total:,}")
    if s.mode == "conv":
        return [
            rf"\text{{weights}} = K\cdot K\cdot\frac{{C_{{in}}}}{{groups}}\cdot C_{{out}} = "
            rf"{k}\cdot{k}\cdot\frac{{{cin}}}{{{g}}}\cdot{cout} = {p.weights:,}",
            biases,
            _thousands(
                rf"\begin{{aligned}}\text{{MACs}} &= H_{{out}} W_{{out}} C_{{out}}\cdot K K \frac{{C_{{in}}}}{{groups}}"
                rf" \\ &= {oh}\cdot{ow}\cdot{cout}\cdot{k}\cdot{k}\cdot\frac{{{cin}}}{{{g}}} = {s.macs():,}"
                r"\end{aligned}"
            ),
        ]
    if s.mode == "transposed":
        return [
            _thousands(
                rf"\text{{weights}} = C_{{in}}\cdot\frac{{C_{{out}}}}{{groups}}\cdot K\cdot K = "
                rf"{cin}\cdot\frac{{{cout}}}{{{g}}}\cdot{k}\cdot{k} = {p.weights:,}"
            ),
            biases,
            _thousands(
                rf"\begin{{aligned}}\text{{MACs}} &= H W C_{{in}}\cdot\frac{{C_{{out}}}}{{groups}} K K \\ &= "
                rf"{s.height}\cdot{s.width}\cdot{cin}\cdot\frac{{{cout}}}{{{g}}}\cdot{k}\cdot{k} = {s.macs():,}"
                r"\end{aligned}"
            ),
        ]
    what, per = ("comparisons", "(K^2-1)") if s.mode == "maxpool" else ("additions", "K^2")
    return [
        _thousands(
            rf"\text{{parameters}} = 0 \qquad \text{{{what}}} = C\cdot H_{{out}} W_{{out}}\cdot {per} = "
            rf"{s.pool_ops():,}"
        )
    ]


def size_notes(spec: LayerSpec) -> list[str]:
    """What the formulas do not say by themselves ('same' split, ceil_mode's dropped window)."""
    pb, pa = spec.pad
    notes = []
    if spec.padding == "same":
        notes.append(
            f"'same' pads D(K−1) = {pb + pa} in total: {pb} before and {pa} after (PyTorch puts the odd pixel after)."
        )
    if spec.ceil_mode:
        notes.append(
            "ceil_mode rounds up, but a last window that would start in the right-hand padding is dropped "
            "(as in PyTorch)."
        )
    return notes


def coverage_note(spec: LayerSpec) -> str | None:
    """Which input rows and columns the kernel never reads and why (None when every pixel is read).

    Examples::

        >>> coverage_note(LayerSpec("conv", 8, 8, 1, 1, kernel=3, stride=3))[:42]
        '**Never covered:** input rows 6–7 and colu'
    """
    rows, cols = spec.uncovered()
    if not rows and not cols:
        return None
    parts = []
    if rows:
        parts.append(f"input row{'s' if len(rows) > 1 else ''} {describe_indices(rows)}")
    if cols:
        parts.append(f"column{'s' if len(cols) > 1 else ''} {describe_indices(cols)}")
    pb, pa = spec.pad
    span = spec.height + pb + pa - spec.effective_kernel
    return (
        f"**Never covered:** {' and '.join(parts)} (0-based) are never under the kernel, so they have no influence "
        f"on the output. H + 2P − D(K−1) − 1 = {span} leaves a remainder of {span % spec.stride} when divided by "
        f"the stride {spec.stride}"
        + (", and dilation larger than the stride skips rows between taps" if spec.dilation > spec.stride else "")
        + ". Pad a little more, or choose a stride that tiles the input."
    )


def parse_matrix(text: str, what: str = "matrix") -> torch.Tensor:
    """Numbers separated by spaces (or commas), rows by ``;``, as a float64 tensor.

    Raises:
        MatrixError: rows of different lengths or a word that is not a number, with the syntax.

    Examples::

        >>> parse_matrix("1 2; 3 4").tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    try:
        rows = [[float(v) for v in r.replace(",", " ").split()] for r in text.split(";") if r.strip()]
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ValueError("rows of different lengths" if rows else "no numbers")
    except ValueError as e:
        raise MatrixError(
            f"The {what} cannot be read ({e}). Write numbers separated by spaces, rows separated by ';', "
            "e.g. `1 2; 3 4`."
        ) from e
    return torch.tensor(rows, dtype=torch.float64)


INPUT_SOURCES = {"digit": "A bundled digit, scaled to 0–9", "random": "Random 0–9", "custom": "Type your own"}
KERNEL_KINDS = {
    "edge": "Vertical edge (−1 … +1)",
    "ones": "All ones (box sum)",
    "random": "Random integers −1…2",
    "custom": "Type your own",
}
DEMO_MAX_SIDE = 64  # the animation's input is at most this large (its grid is capped further by the figure)


def digit_values(digit: int, height: int, width: int) -> np.ndarray:
    """The bundled handwritten digit resized to ``height x width`` and scaled to whole numbers 0..9."""
    img = (
        load_image((SAMPLES_DIR / f"digit-{digit}.png").read_bytes())
        .convert("L")
        .resize((width, height), Image.BILINEAR)
    )
    return np.round(np.asarray(img, dtype=np.float64) / 255 * 9)


def demo_input(source: str, height: int, width: int, digit: int = 3, text: str = "") -> torch.Tensor:
    """One input channel for the animation: a digit, seeded random integers, or a typed matrix.

    Raises:
        MatrixError: when ``source="custom"`` and ``text`` cannot be read.

    Examples::

        >>> demo_input("random", 4, 5).shape
        torch.Size([4, 5])
    """
    h, w = min(height, DEMO_MAX_SIDE), min(width, DEMO_MAX_SIDE)
    if source == "digit":
        return torch.from_numpy(digit_values(digit, h, w))
    if source == "random":
        return torch.randint(0, 10, (h, w), generator=torch.Generator().manual_seed(height * 1000 + width)).double()
    return parse_matrix(text, "input")


def demo_kernel(kind: str, kernel: int, text: str = "") -> torch.Tensor:
    """The animation's kernel ``[k, k]``: a vertical edge, a box of ones, seeded random integers, or typed.

    Raises:
        MatrixError: a typed kernel that cannot be read or is not ``kernel x kernel``.

    Examples::

        >>> demo_kernel("edge", 3).tolist()
        [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]
    """
    k = kernel
    if kind == "edge":
        w = torch.zeros(k, k, dtype=torch.float64)
        w[:, 0], w[:, -1] = -1.0, 1.0
        return torch.ones(1, 1, dtype=torch.float64) if k == 1 else w
    if kind == "ones":
        return torch.ones(k, k, dtype=torch.float64)
    if kind == "random":
        return torch.randint(-1, 3, (k, k), generator=torch.Generator().manual_seed(k)).double()
    w = parse_matrix(text, "kernel")
    if tuple(w.shape) != (k, k):
        raise MatrixError(
            f"The kernel you typed is {w.shape[0]}×{w.shape[1]}, but K = {k}: type {k} rows of {k} numbers."
        )
    return w


@dataclass(frozen=True)
class DemoLayer:
    """What the animation draws: one input channel, one kernel, the layer at that input's size.

    ``errors`` say why a typed input or kernel cannot be used (then ``ok`` is False); ``note``
    says when the animation's size differs from the formulas' H×W.
    """

    x: torch.Tensor | None
    weight: torch.Tensor | None
    spec: LayerSpec
    errors: tuple[CnnvizError, ...] = ()
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.x is not None and (self.spec.is_pool or self.weight is not None) and not self.errors


def demo_layer(
    spec: LayerSpec,
    source: str = "digit",
    digit: int = 3,
    input_text: str = "",
    kernel_kind: str = "edge",
    kernel_text: str = "",
) -> DemoLayer:
    """The animation's input, kernel and layer; typed matrices that do not fit give errors, not exceptions.

    Examples::

        >>> d = demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "custom", input_text="1 2 3; 4 5 6; 7 8 9")
        >>> d.ok, tuple(d.x.shape), d.spec.height
        (True, (3, 3), 3)
        >>> demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "custom", input_text="1 2; 3").ok
        False
    """
    errors: list[CnnvizError] = []
    x = w = None
    try:
        x = demo_input(source, spec.height, spec.width, digit, input_text)
    except CnnvizError as e:
        errors.append(e)
    try:
        w = None if spec.is_pool else demo_kernel(kernel_kind, spec.kernel, kernel_text)
    except CnnvizError as e:
        errors.append(e)
    if x is None or tuple(x.shape) == (spec.height, spec.width):
        return DemoLayer(x, w, spec, tuple(errors))
    note = (
        f"Your input is {x.shape[0]}×{x.shape[1]}: the animation uses that size (the formulas above use H×W)."
        if source == "custom"
        else None
    )
    small = replace(spec, height=x.shape[0], width=x.shape[1], in_channels=1, out_channels=1, groups=1)
    if small.problems():
        errors.append(
            MatrixError("The typed input does not fit these settings: " + " ".join(p.message for p in small.problems()))
        )
    return DemoLayer(x, w, small, tuple(errors), note)


def identity_kernel_text(kernel: int) -> str:
    """A ``k x k`` identity matrix in the typed syntax (the default of a custom kernel)."""
    return "; ".join(" ".join("1" if i == j else "0" for j in range(kernel)) for i in range(kernel))


def animation_notes(spec: LayerSpec, in_channels: int, out_channels: int, groups: int) -> str:
    """What the animation's colours mean and what it leaves out (one channel, one filter)."""
    s = spec
    notes = [
        "The kernel (red) reads the cells under its taps; the sand-coloured cells are padding"
        + (" (−∞ for max pooling: padding never wins)" if s.mode == "maxpool" else " (zeros)")
        + "."
    ]
    if s.mode == "transposed":
        notes.append(
            f"A transposed convolution is drawn as the equivalent ordinary convolution: {s.stride - 1} zero(s) "
            f"inserted between input pixels (light blue), D(K−1)−P = {s.dilation * (s.kernel - 1) - int(s.padding)} "
            "padding, stride 1 and the kernel flipped by 180°."
        )
    if in_channels > 1 and not s.is_pool:
        per = in_channels // groups
        notes.append(
            f"The animation shows one input channel and one filter. The real layer adds such sums over all "
            f"{per} input channels of its group (K·K·C_in/groups = {s.kernel * s.kernel * per} products per "
            f"output value) and repeats it for each of the {out_channels} filters."
        )
    if s.mode == "avgpool" and (s.pad[0] or s.ceil_mode):
        notes.append(
            "Average pooling divides by the window's area inside the padded input (PyTorch's count_include_pad=True)."
        )
    return " ".join(notes)


@dataclass(frozen=True)
class ShapeCheck:
    """PyTorch's output shape next to the formula's, and where PyTorch ran (``"cpu"`` or ``"meta"``)."""

    pytorch: tuple[int, ...]
    formula: tuple[int, ...]
    device: str

    @property
    def agrees(self) -> bool:
        return self.pytorch == self.formula

    def summary(self) -> str:
        """The verdict in words (markdown)."""
        if not self.agrees:  # must never happen: the unit tests sweep thousands of combinations
            return (
                f"Mismatch: PyTorch gives {list(self.pytorch)}, the formula {list(self.formula)}. "
                "Please report this combination."
            )
        c, h, w = self.formula[1:]
        return (
            f"PyTorch's output shape **{list(self.pytorch)}** equals the formula's **{c} × {h} × {w}**"
            + (
                " (shape rules run on PyTorch's 'meta' device: the layer is too large to compute here)"
                if self.device == "meta"
                else ""
            )
            + "."
        )


def check_shape(spec: LayerSpec, max_work: float = 3e8, max_input: float = 5e6) -> ShapeCheck:
    """Run the layer in PyTorch on random data, or on the meta device (shape rules only) when it is large.

    Examples::

        >>> check_shape(LayerSpec("conv", 32, 32, 3, 20, kernel=5)).pytorch
        (1, 20, 28, 28)
    """
    s = spec
    if s.macs() + s.pool_ops() > max_work or s.in_channels * s.height * s.width > max_input:
        with torch.no_grad():
            y = s.torch_module().to("meta")(torch.empty(1, s.in_channels, s.height, s.width, device="meta"))
        return ShapeCheck(tuple(y.shape), (1, *s.output_shape()), "meta")
    got, formula = pytorch_check(s)
    return ShapeCheck(got, formula, "cpu")


def check_code(spec: LayerSpec, check: ShapeCheck) -> str:
    """The few lines of PyTorch that build this layer and print its output shape and parameter count."""
    layer = spec.torch_code().replace(", stride=", ",\n    stride=")
    return (
        f"import torch\nfrom torch import nn\n\nlayer = {layer}\n"
        f"x = torch.randn(1, {spec.in_channels}, {spec.height}, {spec.width})   # N, C, H, W\n"
        f"print(layer(x).shape)   # {torch.Size(check.pytorch)}\n"
        f"print(sum(p.numel() for p in layer.parameters()))   # {spec.params().total}"
    )


@dataclass(frozen=True)
class SpecialCase:
    """One tab of the page's special cases: its explanation and, where it has one, a table."""

    key: str
    title: str
    text: str
    table: list[dict] | None = None
    caption: str | None = None


def _one_by_one(h: int, w: int, c: int, cout: int) -> SpecialCase:
    one = LayerSpec("conv", h, w, c, cout, kernel=1)
    bott = conv_params(256, 256, 3).total
    cheap = conv_params(256, 64, 1).total + conv_params(64, 64, 3).total + conv_params(64, 256, 1).total
    text = (
        f"A **1×1 convolution** looks at one pixel at a time, across all channels: it mixes the {c} input "
        f"channel{'s' if c > 1 else ''} into {cout} new one{'s' if cout > 1 else ''} and leaves the spatial size "
        f"alone: {c}×{h}×{w} → **{'×'.join(map(str, one.output_shape()))}**, with "
        f"{conv_params(c, cout, 1).weights:,} weights (1·1·{c}·{cout}) + {cout} biases. "
        "GoogLeNet and ResNet use them as cheap bottlenecks that shrink the depth before an expensive 3×3 or 5×5 layer."
        f"\n\nExample: a 3×3 convolution from 256 to 256 channels has **{bott:,}** parameters; a ResNet bottleneck "
        f"(1×1 to 64, 3×3 at 64, 1×1 back to 256) has **{cheap:,}**: {bott / cheap:.1f}× fewer."
    )
    return SpecialCase("1x1", "1×1 convolution", text)


def _dilated(h: int) -> SpecialCase:
    n = max(h, 9)
    rows = []
    for d in (1, 2, 3, 4):
        s = LayerSpec("conv", n, n, 1, 1, kernel=3, dilation=d)
        ok = not s.problems()
        rows.append(
            {
                "dilation D": d,
                "taps": "3×3 = 9",
                "span D(K−1)+1": s.effective_kernel,
                f"output on {n}×{n}": f"{s.output_size(n)}×{s.output_size(n)}" if ok else "does not fit",
                "parameters": s.params().total,
            }
        )
    return SpecialCase(
        "dilated",
        "Dilated (atrous)",
        "A **dilated** kernel spreads its taps *D* pixels apart: the same 9 weights see a wider area, so the "
        "receptive field grows without extra parameters or pooling (used in segmentation networks, "
        "e.g. DeepLab).",
        rows,
        "Try the preset 'Dilated 3×3, D=2' to watch the spread-out taps slide.",
    )


def grouped_channels(c_in: int) -> int:
    """The channel count the grouped example uses: ``c_in`` when it splits into 2 and 4 groups (at least 8), else 32."""
    return c_in if c_in >= 8 and c_in % 4 == 0 else 32  # enough channels for the groups to mean something


@dataclass(frozen=True)
class GroupedCost:
    """One layer of the grouped-convolution comparison: its weights and its MACs on one image."""

    name: str
    weights: int
    macs: int
    short: str = ""  # a label for a chart


def grouped_costs(h: int, w: int, c_in: int) -> list[GroupedCost]:
    """A 3×3 layer from C to C channels on ``h``×``w`` (C = :func:`grouped_channels`): standard, 2 and 4 groups,
    depthwise, and depthwise separable (depthwise + 1×1).

    Examples::

        >>> [(g.name, g.weights) for g in grouped_costs(12, 12, 32)][::4]
        [('standard (groups = 1)', 9216), ('depthwise separable (depthwise 3×3 + 1×1)', 1312)]
    """
    c = grouped_channels(c_in)
    cards = [("standard (groups = 1)", 1), ("2 groups", 2), ("4 groups", 4), (f"depthwise (groups = C = {c})", c)]
    shorts = ["groups = 1", "groups = 2", "groups = 4", f"depthwise ({c})"]
    out = []
    for (name, g), short in zip(cards, shorts):
        s = LayerSpec("conv", h, w, c, c, kernel=3, padding=1, groups=g)
        out.append(GroupedCost(name, s.params().weights, s.macs(), short))
    pw = LayerSpec("conv", h, w, c, c, kernel=1)
    out.append(GroupedCost("depthwise separable (depthwise 3×3 + 1×1)", out[-1].weights + pw.params().weights,
                           out[-1].macs + pw.macs(), "depthwise + 1×1"))
    return out


def _grouped(h: int, w: int, c_in: int) -> SpecialCase:
    c = grouped_channels(c_in)
    cards = [("standard (groups = 1)", 1), ("2 groups", 2), ("4 groups", 4), (f"depthwise (groups = C = {c})", c)]
    specs = [(name, LayerSpec("conv", h, w, c, c, kernel=3, padding=1, groups=g)) for name, g in cards]
    rows = [
        {
            "layer": name,
            "weights K·K·C_in/groups·C_out": f"3·3·{c // s.groups}·{c} = {s.params().weights:,}",
            "MACs": human(s.macs()),
        }
        for name, s in specs
    ]
    dw, pw = specs[-1][1], LayerSpec("conv", h, w, c, c, kernel=1)
    sep_w = dw.params().weights + pw.params().weights
    rows.append(
        {
            "layer": "depthwise separable (depthwise 3×3 + 1×1)",
            "weights K·K·C_in/groups·C_out": f"{dw.params().weights:,} + {pw.params().weights:,} = {sep_w:,}",
            "MACs": human(dw.macs() + pw.macs()),
        }
    )
    text = (
        f"**Grouped** convolution (here a 3×3 layer from {c} to {c} channels on {h}×{w}) splits the {c} channels "
        "into groups that do not see each other: each filter looks at C_in/groups channels only, so weights and MACs "
        "drop by the factor *groups*. With groups = C_in it is **depthwise**: one K×K filter per channel. MobileNet "
        "follows it with a 1×1 convolution to mix the channels again (*depthwise separable*), here "
        f"{specs[0][1].params().weights / sep_w:.1f}× fewer weights than the standard 3×3 layer."
    )
    return SpecialCase("grouped", "Grouped and depthwise", text, rows)


def special_cases(spec: LayerSpec) -> list[SpecialCase]:
    """The page's special-case tabs, worked out for the input size and depth the user set.

    Examples::

        >>> [c.key for c in special_cases(LayerSpec())]
        ['1x1', 'dilated', 'grouped', 'pool', 'im2col']
    """
    s = spec
    return [
        _one_by_one(s.height, s.width, s.in_channels, s.out_channels),
        _dilated(s.height),
        _grouped(s.height, s.width, s.in_channels),
        SpecialCase(
            "pool",
            "Pooling",
            "**Pooling** shrinks each channel on its own with a fixed rule (the maximum, or the mean, of each "
            "window): no parameters to learn, depth unchanged. The classic example: 2×2 max pooling with "
            "stride 2 halves a 4×4 map to 2×2, keeping the strongest response of each quarter.",
        ),
        SpecialCase(
            "im2col",
            "im2col: one matrix product",
            "**im2col** turns every window position into one column: the K·K·C_in values under the kernel. "
            "The filters become the rows of a weight matrix, and the whole convolution is **one matrix "
            "product** (which is how GPUs and BLAS libraries run it fast).",
        ),
    ]


def default_case(spec: LayerSpec) -> str:
    """The special case a layer is an example of (the key of one of :func:`special_cases`), else ``"1x1"``.

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


@dataclass(frozen=True)
class Im2colExample:
    """A one-channel convolution as ``W [1, K·K] @ X_cols [K·K, L] + b``, checked against ``F.conv2d``."""

    weight_row: torch.Tensor  # [1, K*K]
    cols: torch.Tensor  # [K*K, L]
    y: torch.Tensor  # [OH, OW]
    max_difference: float  # |y - F.conv2d| at most

    def latex(self) -> str:
        """``W [1 x KK] X_cols [KK x L] + b = Y [1 x L] -> reshape`` with the sizes filled in."""
        kk, n = self.cols.shape
        oh, ow = self.y.shape
        return (
            rf"\underbrace{{W}}_{{1\times{kk}}}\;\underbrace{{X_{{cols}}}}_{{{kk}\times{n}}} + b = "
            rf"\underbrace{{Y}}_{{1\times{n}}} \;\to\; \text{{reshape to }} {oh}\times{ow}"
        )

    def summary(self, layer: LayerSpec) -> str:
        """The check against ``F.conv2d`` and the matrix sizes of the whole ``layer`` (all channels and filters)."""
        oh, ow = self.y.shape
        rows = layer.kernel * layer.kernel * layer.in_channels // layer.groups
        _, loh, low = layer.output_shape()
        return (
            f"W·X_cols + b reshaped to {oh}×{ow} equals PyTorch's `F.conv2d` (largest difference "
            f"{self.max_difference:g}). With C_in channels and C_out filters: W is {layer.out_channels}×{rows}, "
            f"X_cols is {rows}×{loh * low}."
        )


def im2col_example(x: torch.Tensor, weight: torch.Tensor, bias: float, spec: LayerSpec) -> Im2colExample:
    """im2col of one input channel [H, W] with one kernel [K, K] (convolution specs only).

    Examples::

        >>> ex = im2col_example(torch.ones(3, 3), torch.ones(2, 2), 1.0, LayerSpec("conv", 3, 3, 1, 1, kernel=2))
        >>> ex.y.tolist(), ex.max_difference
        ([[5.0, 5.0], [5.0, 5.0]], 0.0)
    """
    if spec.mode != "conv":
        raise CnnvizError(
            f"im2col unrolls a convolution, not {MODE_TITLES.get(spec.mode, spec.mode).lower()}: "
            "choose the convolution operation."
        )
    xs, w = x.double()[None, None], weight.double()
    cols = im2col(xs, spec.kernel, spec.stride, spec.padding, spec.dilation)[0]
    _, oh, ow = replace(spec, height=x.shape[0], width=x.shape[1]).output_shape()
    y = (w.reshape(1, -1) @ cols + bias).reshape(oh, ow)
    ref = F.conv2d(
        xs, w[None, None], torch.tensor([bias], dtype=torch.float64), spec.stride, spec.padding, spec.dilation
    )[0, 0]
    return Im2colExample(w.reshape(1, -1), cols, y, float((y - ref).abs().max()))


QUIZ_SYNTAX = (
    "Syntax: `conv k5 f20 s1 p0` (kernel, filters, stride, padding — or `psame`, dilation `d2`, groups `g2`), "
    "`maxpool k2` (stride defaults to the kernel), `avgpool k2`, `tconv k2 f8 s2`; layers separated by `;`."
)


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` (or ``3×32×32``) -> ``(3, 32, 32)``.

    Raises:
        StackError: not three positive whole numbers.

    Examples::

        >>> parse_shape("3×32×32")
        (3, 32, 32)
    """
    try:
        c, h, w = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError as e:
        raise StackError(f"cannot read the input {text!r} ({e}). Input is written C×H×W like `3x32x32`.") from e
    if min(c, h, w) < 1:
        raise StackError(
            f"the input {text!r} has a size below 1: sizes must be positive, written C×H×W like `3x32x32`."
        )
    return c, h, w


def quiz_question(row: StackRow) -> str:
    """The layer of a quiz row in words (kernel, stride, padding, filters)."""
    layer = row.layer
    return (
        f"**`{layer.text}`** — {MODE_TITLES[layer.mode].lower()}, kernel {layer.kernel}, stride {layer.stride}, "
        f"padding {layer.padding}" + (f", {layer.filters} filters" if layer.filters else "")
    )


def quiz_answer(row: StackRow) -> str:
    """The answer of a quiz row: the shape and how it follows (or why the layer does not fit).

    Examples::

        >>> quiz_answer(evaluate_stack((3, 32, 32), parse_stack("conv k5 f20"))[0])[:12]
        '### 20×28×28'
    """
    if row.output_shape is None:
        return " ".join(p.message for p in row.problems)
    c, h, w = row.output_shape
    s = row.spec
    if s.mode == "transposed":
        return f"### {c}×{h}×{w}\n({row.params:,} parameters)"
    return (
        f"### {c}×{h}×{w}\n({h} = ⌊({s.height} + 2·{s.pad[0]} − {s.effective_kernel}) / {s.stride}⌋ + 1; "
        f"{row.params:,} parameters)"
    )
