"""Inductive bias in numbers: the parameters of a dense layer, a locally connected one and a convolution on one input.

A dense unit sees every input value, so it needs H·W·C weights: 3,072 on 32x32x3, 196,608 on 256x256x3. A
locally connected layer (locality, no sharing) gives each output position its own f x f x C filter; a
convolution (locality and weight sharing) uses one f x f x C filter per output channel at every position, so
its count does not depend on the image size at all.

Examples::

    >>> layer_params(32, 32, 3, units=1).dense_per_unit
    3072
    >>> layer_params(256, 256, 3, units=1).dense_per_unit
    196608
    >>> layer_params(32, 32, 3, units=64, kernel=3).conv
    1792
"""
from __future__ import annotations

from dataclasses import dataclass

from cnnviz.methods.why_conv.data import WhyConvError

SIDES = (8, 16, 28, 32, 64, 128, 224, 256, 512)  # the image sides the sweep draws


@dataclass(frozen=True)
class LayerParams:
    """Parameter counts (weights and biases) of three layers with ``units`` outputs (units, or channels) on an
    H x W x C input.

    Attributes:
        dense_per_unit: weights of one dense unit (H·W·C).
        dense: a dense layer of ``units`` units: units·(H·W·C + 1).
        local: a locally connected layer, ``units`` f x f filters *per position* (stride 1, same padding):
            H·W·units·(f·f·C + 1).
        conv: a convolution of ``units`` f x f filters: units·(f·f·C + 1).
    """

    height: int
    width: int
    channels: int
    units: int
    kernel: int
    dense_per_unit: int
    dense: int
    local: int
    conv: int

    @property
    def ratio(self) -> float:
        """How many times more parameters the dense layer needs than the convolution."""
        return self.dense / self.conv


def layer_params(height: int, width: int, channels: int, units: int = 64, kernel: int = 3,
                 bias: bool = True) -> LayerParams:
    """The counts of :class:`LayerParams` for one input size.

    Raises:
        WhyConvError: a size, unit count or kernel below 1, or a kernel larger than the image.
    """
    if min(height, width, channels, units, kernel) < 1:
        raise WhyConvError(f"sizes, units and kernel must be at least 1 (got {height}x{width}x{channels}, "
                           f"{units} units, kernel {kernel})")
    if kernel > min(height, width):
        raise WhyConvError(f"a {kernel}x{kernel} kernel does not fit a {height}x{width} image")
    b = int(bias)
    n_in = height * width * channels
    per_filter = kernel * kernel * channels + b
    return LayerParams(height, width, channels, units, kernel, dense_per_unit=n_in, dense=units * (n_in + b),
                       local=height * width * units * per_filter, conv=units * per_filter)


def params_by_side(channels: int, units: int = 64, kernel: int = 3,
                   sides: tuple[int, ...] = SIDES) -> list[LayerParams]:
    """:func:`layer_params` for square images of each side in ``sides`` (kernels larger than a side skipped)."""
    return [layer_params(s, s, channels, units, kernel) for s in sides if s >= kernel]
