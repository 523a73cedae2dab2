"""im2col: every window position unrolled into one column, so a convolution is one matrix product.

Examples::

    >>> import torch
    >>> im2col(torch.arange(9.).view(1, 1, 3, 3), 2)[0, :, 0].tolist()   # the window at (0, 0)
    [0.0, 1.0, 3.0, 4.0]
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from cnnviz.methods.arithmetic.layer_spec import MODE_TITLES, LayerSpec
from cnnviz.methods.arithmetic.sizes import Padding, SettingsError, conv_output_size, resolve_padding


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

    Examples::

        >>> conv2d_im2col(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)).tolist()
        [[[[4.0, 4.0], [4.0, 4.0]]]]
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


@dataclass(frozen=True)
class Im2colExample:
    """A one-channel convolution as ``W [1, K·K] @ X_cols [K·K, L] + b``, checked against ``F.conv2d``."""

    weight_row: torch.Tensor  # [1, K*K]
    cols: torch.Tensor  # [K*K, L]
    y: torch.Tensor  # [OH, OW]
    max_difference: float  # |y - F.conv2d| at most


def im2col_example(x: torch.Tensor, weight: torch.Tensor, bias: float, spec: LayerSpec) -> Im2colExample:
    """im2col of one input channel [H, W] with one kernel [K, K] (convolution specs only).

    Raises:
        SettingsError: ``spec`` is not a convolution.

    Examples::

        >>> ex = im2col_example(torch.ones(3, 3), torch.ones(2, 2), 1.0, LayerSpec("conv", 3, 3, 1, 1, kernel=2))
        >>> ex.y.tolist(), ex.max_difference
        ([[5.0, 5.0], [5.0, 5.0]], 0.0)
    """
    if spec.mode != "conv":
        raise SettingsError(
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
