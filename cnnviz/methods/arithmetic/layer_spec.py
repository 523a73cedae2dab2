"""One 2-d layer with a square kernel (convolution, max/average pooling, transposed convolution), its output
shape, parameters and work, and every reason PyTorch would refuse its settings, in words a student can act on.

Examples::

    >>> s = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
    >>> s.output_shape(), s.params().total, s.macs()
    ((20, 28, 28), 1520, 1176000)
    >>> [p.field for p in LayerSpec("conv", 5, 5, 3, 4, kernel=7).problems()]
    ['kernel']
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from cnnviz.methods.arithmetic.counts import (
    ParamCount,
    conv_macs,
    conv_params,
    transposed_macs,
    transposed_params,
)
from cnnviz.methods.arithmetic.sizes import (
    Padding,
    SettingsError,
    conv_output_size,
    resolve_padding,
    transposed_output_size,
    uncovered,
)

MODES = ("conv", "maxpool", "avgpool", "transposed")
MODE_TITLES = {"conv": "Convolution", "maxpool": "Max pooling", "avgpool": "Average pooling",
               "transposed": "Transposed convolution"}


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
        """``(C, H, W)`` of the output (raises :class:`SettingsError` for invalid settings)."""
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
            return nn.Conv2d(self.in_channels, self.out_channels, self.kernel, self.stride, self.padding,
                             self.dilation, self.groups, self.bias)
        if self.mode == "transposed":
            return nn.ConvTranspose2d(self.in_channels, self.out_channels, self.kernel, self.stride,
                                      int(self.padding), self.output_padding, self.groups, self.bias, self.dilation)
        pool_pad = self.pad[0] if isinstance(self.padding, str) else int(self.padding)
        if self.mode == "maxpool":
            return nn.MaxPool2d(self.kernel, self.stride, pool_pad, self.dilation, ceil_mode=self.ceil_mode)
        return nn.AvgPool2d(self.kernel, self.stride, pool_pad, ceil_mode=self.ceil_mode)


# ---------------------------------------------------------------------------------------------- validity
def problems(spec: LayerSpec) -> list[Problem]:
    """Explanations for every setting PyTorch would refuse (an empty list means valid).

    Settings are checked in the order a student would fix them: each number on its own, then how they work
    together (groups, pooling's padding, the transposed output), then whether the kernel fits at all.

    Examples::

        >>> [p.field for p in problems(LayerSpec("conv", 5, 5, 3, 4, kernel=7))]
        ['kernel']
        >>> problems(LayerSpec("conv", 8, 8, 3, 4, kernel=3, groups=2))[0].message[:40]
        'groups=2 must divide the input channels '
    """
    if spec.mode not in MODES:
        return [Problem("mode", f"unknown mode {spec.mode!r}; choose one of {', '.join(MODES)}")]
    out = _number_problems(spec) + _padding_problems(spec)
    if out:
        return out
    if spec.mode in ("conv", "transposed"):
        out += _group_problems(spec)
    if spec.is_pool:
        out += _pool_problems(spec)
    if spec.mode == "transposed":
        out += _output_padding_problems(spec)
        return out or _transposed_size_problems(spec)
    return out or _fit_problems(spec)


def _number_problems(s: LayerSpec) -> list[Problem]:
    """Sizes, filters, stride and dilation, each on its own."""
    out = [Problem(name, f"{name} is {v}: it must be at least 1.")
           for name, v in (("height", s.height), ("width", s.width), ("in_channels", s.in_channels),
                           ("kernel", s.kernel)) if v < 1]
    if not s.is_pool and s.out_channels < 1:
        out.append(Problem("out_channels", "a convolution needs at least one filter."))
    if s.stride < 1:
        out.append(Problem("stride", f"stride {s.stride}: the window must move at least one pixel per step, "
                                     "otherwise it never reaches the next position (PyTorch: 'non-positive stride "
                                     "is not supported')."))
    if s.dilation < 1:
        out.append(Problem("dilation",
                           f"dilation {s.dilation}: taps must be at least 1 pixel apart (1 = an ordinary kernel)."))
    return out


def _padding_problems(s: LayerSpec) -> list[Problem]:
    """A padding word where the mode takes none, 'same' with a stride, or a negative padding."""
    if not isinstance(s.padding, str):
        return [Problem("padding", f"padding {s.padding}: it cannot be negative.")] if s.padding < 0 else []
    if s.padding not in ("same", "valid"):
        return [Problem("padding", f"padding {s.padding!r} is not understood: use a number, 'same' or 'valid'.")]
    if s.mode == "transposed":
        return [Problem("padding", "a transposed convolution takes a number as padding, not 'same'/'valid'.")]
    if s.padding == "same" and s.stride > 1 and s.mode == "conv":
        return [Problem("padding", f"padding='same' keeps the output as large as the input, which a stride of "
                                   f"{s.stride} cannot do: PyTorch refuses 'same' for strided convolutions. Use an "
                                   f"integer padding such as {(s.effective_kernel - 1) // 2} (output ≈ "
                                   f"input/{s.stride}).")]
    if s.is_pool:
        return [Problem("padding", "pooling layers take a number as padding, not 'same'/'valid'.")]
    return []


def _group_problems(s: LayerSpec) -> list[Problem]:
    """Groups must divide both the input channels and the filters."""
    if s.groups < 1:
        return [Problem("groups", "groups must be at least 1 (1 = every filter sees every input channel).")]
    out = []
    if s.in_channels % s.groups:
        out.append(Problem("groups", f"groups={s.groups} must divide the input channels ({s.in_channels}): each "
                                     f"group gets C_in/groups = {s.in_channels}/{s.groups} channels, which is not "
                                     "whole."))
    if s.out_channels % s.groups:
        out.append(Problem("groups", f"groups={s.groups} must divide the number of filters ({s.out_channels}): "
                                     f"each group owns C_out/groups = {s.out_channels}/{s.groups} filters, which is "
                                     "not whole."))
    return out


def _pool_problems(s: LayerSpec) -> list[Problem]:
    """Average pooling has no dilation; pooling's padding is at most half the kernel."""
    out = []
    half = s.kernel / 2  # PyTorch compares with the undilated kernel
    if s.mode == "avgpool" and s.dilation != 1:
        out.append(Problem("dilation", "average pooling has no dilation in PyTorch (nn.AvgPool2d); use 1."))
    if int(s.padding) > half:
        out.append(Problem("padding", f"padding {s.padding} is more than half the kernel ({s.kernel}): a window "
                                      "could then lie entirely in the padding, so PyTorch refuses it. Use at most "
                                      f"{int(half)}."))
    return out


def _output_padding_problems(s: LayerSpec) -> list[Problem]:
    """A transposed convolution's output padding only chooses among sizes the stride (or dilation) maps together."""
    if s.output_padding < 0:
        return [Problem("output_padding", "output_padding cannot be negative.")]
    if s.output_padding >= max(s.stride, s.dilation):
        return [Problem("output_padding", f"output_padding {s.output_padding} must be smaller than the stride "
                                          f"({s.stride}) or the dilation ({s.dilation}): it only chooses among the "
                                          "input sizes a strided convolution would have mapped to the same output.")]
    return []


def _transposed_size_problems(s: LayerSpec) -> list[Problem]:
    """A transposed convolution whose padding crops the whole output away."""
    out = []
    for axis, n in (("height", s.height), ("width", s.width)):
        try:
            transposed_output_size(n, s.kernel, s.stride, int(s.padding), s.dilation, s.output_padding)
        except SettingsError as e:
            out.append(Problem("padding", f"{axis}: {e}."))
    return out


def _fit_problems(s: LayerSpec) -> list[Problem]:
    """A (dilated) kernel larger than the padded input fits nowhere."""
    pb, pa = s.pad
    bad = []
    for axis, n in (("height", s.height), ("width", s.width)):
        try:
            conv_output_size(n, s.kernel, s.stride, s.padding, s.dilation, s.ceil_mode and s.is_pool)
        except SettingsError:
            bad.append((axis, n))
    if not bad:
        return []
    what = f"the {s.kernel}x{s.kernel} kernel" + (
        f" dilated by {s.dilation} (spans {s.effective_kernel} pixels)" if s.dilation > 1 else ""
    )
    sizes = " and ".join(f"{axis} {n} + {pb + pa} padding = {n + pb + pa}" for axis, n in bad)
    return [Problem("kernel", f"{what} is larger than the padded input ({sizes}): there is not a single position "
                              "where it fits. Use a smaller kernel or dilation, or more padding.")]


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
