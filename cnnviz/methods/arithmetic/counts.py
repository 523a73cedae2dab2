"""Learnable parameters and multiply-accumulates (MACs) of convolutions and fully connected layers.

Examples::

    >>> conv_params(3, 20, 5).total, conv_macs(28, 28, 3, 20, 5)
    (1520, 1176000)
"""
from __future__ import annotations

from dataclasses import dataclass


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
    """Parameters of a transposed convolution: weights ``C_in·(C_out/groups)·k·k``, biases ``C_out``.

    Examples::

        >>> transposed_params(16, 8, 4, groups=2)
        ParamCount(weights=1024, biases=8)
    """
    return ParamCount(in_channels * (out_channels // groups) * kernel * kernel, out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> ParamCount:
    """Parameters of a fully connected layer: ``in·out`` weights, ``out`` biases.

    Examples::

        >>> linear_params(400, 120).total
        48120
    """
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

    Examples::

        >>> transposed_macs(4, 4, 1, 1, 3)
        144
    """
    return in_h * in_w * in_channels * (out_channels // groups) * kernel * kernel


def human(n: int | float) -> str:
    """``1176000`` -> ``"1.18 M"`` (k, M, G) for captions and figures.

    Examples::

        >>> human(1520), human(1176000), human(4.09e9)
        ('1,520', '1.18 M', '4.09 G')
    """
    n = float(n)
    for unit, f in (("G", 1e9), ("M", 1e6)):
        if abs(n) >= f:
            return f"{n / f:.3g} {unit}" if n / f < 100 else f"{n / f:.0f} {unit}"
    return f"{int(n):,}" if n == int(n) else f"{n:.3g}"
