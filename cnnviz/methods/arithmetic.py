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
from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

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
        raise ValueError(f"the kernel ({span} pixels{' with dilation' if dilation > 1 else ''}) is larger than the padded "
                         f"input ({n + pb + pa}): it fits nowhere; use a smaller kernel or dilation, or more padding")
    return out


def transposed_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                           output_padding: int = 0) -> int:
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
        raise ValueError(f"the output would have {out} pixels: the padding {padding} crops away everything; use less padding")
    return out


def pool_output_size(n: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
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


def transposed_params(in_channels: int, out_channels: int, kernel: int, groups: int = 1, bias: bool = True) -> ParamCount:
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
    """Multiply-accumulates of a transposed convolution: each input value is scattered through ``k·k·C_out/groups`` weights."""
    return in_h * in_w * in_channels * (out_channels // groups) * kernel * kernel


def uncovered(n: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1,
              ceil_mode: bool = False) -> list[int]:
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
            return transposed_output_size(n, self.kernel, self.stride, int(self.padding), self.dilation, self.output_padding)
        return conv_output_size(n, self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode and self.is_pool)

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
            return transposed_macs(self.height, self.width, self.in_channels, self.out_channels, self.kernel, self.groups)
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
        return (uncovered(self.height, self.kernel, self.stride, self.padding, self.dilation, cm),
                uncovered(self.width, self.kernel, self.stride, self.padding, self.dilation, cm))

    def torch_code(self) -> str:
        """The PyTorch module these settings describe, as source code."""
        pad = repr(self.padding) if isinstance(self.padding, str) else str(self.padding)
        if self.mode == "conv":
            extra = "" if self.bias else ", bias=False"
            return (f"nn.Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel}, stride={self.stride}, "
                    f"padding={pad}, dilation={self.dilation}, groups={self.groups}{extra})")
        if self.mode == "transposed":
            return (f"nn.ConvTranspose2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel}, stride={self.stride}, "
                    f"padding={pad}, output_padding={self.output_padding}, groups={self.groups}, dilation={self.dilation})")
        if self.mode == "maxpool":
            return (f"nn.MaxPool2d(kernel_size={self.kernel}, stride={self.stride}, padding={pad}, dilation={self.dilation}, "
                    f"ceil_mode={self.ceil_mode})")
        return f"nn.AvgPool2d(kernel_size={self.kernel}, stride={self.stride}, padding={pad}, ceil_mode={self.ceil_mode})"

    def torch_module(self) -> nn.Module:
        """The matching PyTorch module (construct only valid specs; check :meth:`problems` first)."""
        if self.mode == "conv":
            return nn.Conv2d(self.in_channels, self.out_channels, self.kernel, self.stride, self.padding, self.dilation,
                             self.groups, self.bias)
        if self.mode == "transposed":
            return nn.ConvTranspose2d(self.in_channels, self.out_channels, self.kernel, self.stride, int(self.padding),
                                      self.output_padding, self.groups, self.bias, self.dilation)
        if self.mode == "maxpool":
            return nn.MaxPool2d(self.kernel, self.stride, int(self.padding) if not isinstance(self.padding, str) else self.pad[0],
                                self.dilation, ceil_mode=self.ceil_mode)
        return nn.AvgPool2d(self.kernel, self.stride, int(self.padding) if not isinstance(self.padding, str) else self.pad[0],
                            ceil_mode=self.ceil_mode)


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
        out.append(Problem("stride", f"stride {s.stride}: the window must move at least one pixel per step, "
                                     "otherwise it never reaches the next position (PyTorch: 'non-positive stride is not supported')."))
    if s.dilation < 1:
        out.append(Problem("dilation", f"dilation {s.dilation}: taps must be at least 1 pixel apart (1 = an ordinary kernel)."))
    if isinstance(s.padding, str):
        if s.padding not in ("same", "valid"):
            out.append(Problem("padding", f"padding {s.padding!r} is not understood: use a number, 'same' or 'valid'."))
        elif s.padding == "same" and s.mode == "transposed":
            out.append(Problem("padding", "a transposed convolution takes a number as padding, not 'same'/'valid'."))
        elif s.padding == "same" and s.stride > 1 and s.mode == "conv":
            out.append(Problem("padding", f"padding='same' keeps the output as large as the input, which a stride of {s.stride} "
                                          "cannot do: PyTorch refuses 'same' for strided convolutions. Use an integer padding "
                                          f"such as {(s.effective_kernel - 1) // 2} (output ≈ input/{s.stride})."))
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
                out.append(Problem("groups", f"groups={s.groups} must divide the input channels ({s.in_channels}): each group "
                                             f"gets C_in/groups = {s.in_channels}/{s.groups} channels, which is not whole."))
            if s.out_channels % s.groups:
                out.append(Problem("groups", f"groups={s.groups} must divide the number of filters ({s.out_channels}): each group "
                                             f"owns C_out/groups = {s.out_channels}/{s.groups} filters, which is not whole."))
    if s.is_pool:
        half = s.kernel / 2  # PyTorch compares with the undilated kernel
        if s.mode == "avgpool" and s.dilation != 1:
            out.append(Problem("dilation", "average pooling has no dilation in PyTorch (nn.AvgPool2d); use 1."))
        if int(s.padding) > half:
            out.append(Problem("padding", f"padding {s.padding} is more than half the kernel ({s.kernel}): a window could then "
                                          "lie entirely in the padding, so PyTorch refuses it. Use at most "
                                          f"{int(half)}."))
    if s.mode == "transposed":
        if s.output_padding < 0:
            out.append(Problem("output_padding", "output_padding cannot be negative."))
        elif s.output_padding >= max(s.stride, s.dilation):
            out.append(Problem("output_padding", f"output_padding {s.output_padding} must be smaller than the stride "
                                                 f"({s.stride}) or the dilation ({s.dilation}): it only chooses among the "
                                                 "input sizes a strided convolution would have mapped to the same output."))
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
        what = f"the {s.kernel}x{s.kernel} kernel" + (f" dilated by {s.dilation} (spans {s.effective_kernel} pixels)" if s.dilation > 1 else "")
        sizes = " and ".join(f"{axis} {n} + {pb + pa} padding = {n + pb + pa}" for axis, n in bad)
        out.append(Problem("kernel", f"{what} is larger than the padded input ({sizes}): there is not a single "
                                     "position where it fits. Use a smaller kernel or dilation, or more padding."))
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
    kind: torch.Tensor    # [GH, GW] int
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
        cells = [(CELL_PAD, -1)] * max(before, 0) + inserted[max(-before, 0):] + [(CELL_PAD, -1)] * max(after, 0)
        if after < 0:
            cells = cells[:len(cells) + after]
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
    vals[inside] = x.double()[o_r.clamp(min=0)[:, None].expand_as(vals)[inside], o_c.clamp(min=0)[None, :].expand_as(vals)[inside]]
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


def format_dot_product(step: WindowStep, bias: float, mode: str = "conv", max_terms: int = 12, fmt: str = "{:g}",
                       per_line: int | None = None, newline: str = "\n") -> str:
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
        lines = [sep.join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
        return (sep.rstrip() + newline).join(lines)

    if mode in ("maxpool", "avgpool"):
        terms = [num(v) for v in step.xs]
        shown = terms if len(terms) <= max_terms else terms[:max_terms - 1] + ["…"]
        return f"{'max' if mode == 'maxpool' else 'mean'}({join(shown, ', ')}) = {num(step.value)}"
    terms = [f"{par(w)}·{par(x)}" for w, x in zip(step.ws, step.xs)]
    shown = terms if len(terms) <= max_terms else terms[:max_terms - 1] + [f"… ({len(terms)} products)"]
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
            cols.append(xp[:, :, r:r + (oh - 1) * stride + 1:stride, q:q + (ow - 1) * stride + 1:stride])
    # [k*k, N, C, oh, ow] -> [N, C, k*k, oh*ow] -> [N, C*k*k, L]
    patches = torch.stack(cols, 0).permute(1, 2, 0, 3, 4)
    return patches.reshape(n, c * kernel * kernel, oh * ow)


def conv2d_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                  padding: Padding = 0, dilation: int = 1, groups: int = 1) -> torch.Tensor:
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
_TOKEN = re.compile(r"^([a-z]+)(-?\d+)$")
_STACK_KINDS = {"conv": "conv", "maxpool": "maxpool", "pool": "maxpool", "avgpool": "avgpool",
                "tconv": "transposed", "transposed": "transposed"}


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
        ValueError: naming the layer and the token that cannot be read, with the syntax.

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
            raise ValueError(f"layer {i + 1} ({part!r}): unknown kind {toks[0]!r}; start with conv, maxpool, avgpool or tconv")
        vals: dict[str, Padding] = {}
        for t in toks[1:]:
            if t in ("psame", "pvalid"):
                vals["p"] = t[1:]
                continue
            m = _TOKEN.match(t)
            if not m or m.group(1) not in ("k", "f", "s", "p", "d", "g"):
                raise ValueError(f"layer {i + 1} ({part!r}): cannot read {t!r}; write e.g. 'conv k5 f20 s1 p0' "
                                 "(k kernel, f filters, s stride, p padding or psame, d dilation, g groups)")
            vals[m.group(1)] = int(m.group(2))
        k = int(vals.get("k", 3 if kind in ("conv", "transposed") else 2))
        pool = kind in ("maxpool", "avgpool")
        if not pool and "f" not in vals:
            raise ValueError(f"layer {i + 1} ({part!r}): say how many filters, e.g. 'f20'")
        layers.append(StackLayer(part, kind, None if pool else int(vals["f"]), k,
                                 int(vals.get("s", k if pool else 1)), vals.get("p", 0),
                                 int(vals.get("d", 1)), int(vals.get("g", 1))))
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
        spec = LayerSpec(layer.mode, h, w, c, layer.filters or c, layer.kernel, layer.stride, layer.padding,
                         layer.dilation, layer.groups)
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
