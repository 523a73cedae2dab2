"""Activation maps: what every layer does with one image (no Streamlit here).

Layer outputs come from the capture engine (:mod:`cnnviz.core.capture`, behind
``ModelHandle.activations``); this module computes the views on them: channel statistics and
orders (mean or max), pre- vs post-activation pairs, the strongest maps of every stage,
first-layer kernels and two-image comparisons. :mod:`cnnviz.figures.activations` draws them.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.activations import channel_order, layer_maps
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> maps = layer_maps(m, cnnviz.load_image("assets/samples/digit-7.png"), "features.0")
    >>> maps.shape, len(channel_order(maps, "mean"))
    (torch.Size([6, 28, 28]), 6)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from cnnviz.errors import CnnvizError, LayerError

if TYPE_CHECKING:  # model.py imports this module lazily; avoid a cycle at import time
    from cnnviz.core.model import ModelHandle

ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.PReLU)
NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
SORT_ORDERS = ("index", "mean", "max")
SCALES = ("per", "shared")


# ============================================================== layers and pairs
def activation_after(m: ModelHandle, layer: str) -> str | None:
    """The activation layer that follows ``layer`` (a conv), skipping normalisation and a residual branch.

    ``conv -> BN -> ReLU`` gives the ReLU; in a ResNet block ``conv2 -> bn2 -> (+ shortcut) -> relu``
    gives the block's second ReLU call (``layer1.0.relu#2``), whose output includes the shortcut.
    None if something else (pooling, another conv) comes first.

    Examples::

        >>> activation_after(load_model("lenet5-mnist"), "features.0")
        'features.1'
    """
    mods = dict(m.module.named_modules())
    order = [li.name for li in m.layers()]
    if layer not in order:
        raise LayerError(f"layer {layer!r} is not a leaf layer of {m.name}. Hint: m.layer_names() lists them")
    start = order.index(layer)
    for i in range(start + 1, len(order)):
        name = order[i]
        mod = mods[name]
        if isinstance(mod, ACTIVATION_TYPES):
            calls = order[: i + 1].count(name)
            return name if calls == 1 else f"{name}#{calls}"
        if isinstance(mod, NORM_TYPES) or ".downsample." in name:
            continue
        return None
    return None


def layer_maps(m: ModelHandle, img, layer: str, stage: str = "post") -> torch.Tensor:
    """Feature maps ``[C, H, W]`` of one layer for one image, on the device.

    Args:
        m: the model.
        img: an image (anything ``m.preprocess`` takes) or a normalised ``[1, C, H, W]`` tensor.
        layer: a leaf layer name.
        stage: ``"pre"`` for the layer's own output (a conv's linear response, negative values
            included), ``"post"`` for the output of the activation that follows it
            (:func:`activation_after`; the layer's own output when none follows).
    """
    name = activation_after(m, layer) if stage == "post" else None
    key = name or layer
    base = key.split("#")[0]
    acts = m.activations(img, [base])
    t = acts[key]
    if t.ndim != 4:
        raise CnnvizError(f"layer {key} outputs shape {tuple(t.shape)}, not feature maps [N, C, H, W]. "
                          "Pick a convolution, pooling or activation layer.")
    return t[0]


# ============================================================== statistics and ordering
@dataclass
class ChannelStats:
    """Per-channel statistics of maps ``[C, H, W]`` (tensors ``[C]`` on the device)."""

    min: torch.Tensor
    max: torch.Tensor
    mean: torch.Tensor
    frac_zero: torch.Tensor

    def row(self, c: int) -> dict[str, float]:
        """The statistics of channel ``c`` as plain floats."""
        return {"min": float(self.min[c]), "max": float(self.max[c]), "mean": float(self.mean[c]),
                "fraction zero": float(self.frac_zero[c])}


def channel_stats(maps: torch.Tensor) -> ChannelStats:
    """Min, max, mean and the fraction of exactly-zero values of each channel of ``[C, H, W]``.

    Examples::

        >>> s = channel_stats(torch.tensor([[[0., 2.], [0., 2.]]]))
        >>> s.row(0)
        {'min': 0.0, 'max': 2.0, 'mean': 1.0, 'fraction zero': 0.5}
    """
    flat = maps.reshape(len(maps), -1).float()
    return ChannelStats(flat.amin(1), flat.amax(1), flat.mean(1), (flat == 0).float().mean(1))


def channel_order(maps: torch.Tensor, by: str = "mean") -> torch.Tensor:
    """Channel indices, strongest first by ``"mean"`` or ``"max"`` activation, or ``"index"`` order."""
    if by not in SORT_ORDERS:
        raise CnnvizError(f"sort by {by!r}: expected one of {SORT_ORDERS}")
    if by == "index":
        return torch.arange(len(maps), device=maps.device)
    flat = maps.reshape(len(maps), -1).float()
    score = flat.mean(1) if by == "mean" else flat.amax(1)
    return torch.argsort(score, descending=True, stable=True)


# ============================================================== depth strip
@dataclass
class StageMaps:
    """The ``k`` strongest maps of every conv stage (left = shallow), drawn by ``figures.activations.depth_strip``."""

    layers: list[str]  # stage j is this layer (the activation after a conv, or the conv)
    channels: list[list[int]]  # channels[j][r]: the r-th strongest channel of stage j
    maps: list[torch.Tensor]  # maps[j]: [<=k, H_j, W_j] those channels' maps, on the device
    k: int


def conv_stages(m: ModelHandle) -> list[str]:
    """For every conv layer, the layer to show: the activation after it when there is one.

    1x1 projection convs of ResNet shortcuts (``downsample``) and convs on a 1x1 map (the
    squeeze-excitation gates of MobileNetV3) are left out.
    """
    out = []
    spatial = set(m.spatial_layers())
    for conv in m.conv_layer_names():
        if ".downsample." in conv or conv.endswith(".downsample") or conv not in spatial:
            continue
        out.append(activation_after(m, conv) or conv)
    return out


def strongest_maps(m: ModelHandle, img, k: int = 4, by: str = "mean", max_layers: int = 24) -> StageMaps:
    """The ``k`` strongest maps of every conv stage (:func:`conv_stages`), from one forward pass.

    Args:
        m: the model.
        img: the input image.
        k: maps per stage.
        by: ``"mean"`` or ``"max"``: what "strongest" means.
        max_layers: at most this many stages, evenly spaced through the depth.

    Examples::

        >>> s = strongest_maps(load_model("lenet5-mnist"), img, k=3)
        >>> s.layers, [tuple(t.shape) for t in s.maps]
        (['features.1', 'features.4'], [(3, 28, 28), (3, 10, 10)])
    """
    stages = conv_stages(m)
    if len(stages) > max_layers:
        pick = np.linspace(0, len(stages) - 1, max_layers).round().astype(int)
        stages = [stages[i] for i in sorted(set(pick.tolist()))]
    acts = m.activations(img, sorted({s.split("#")[0] for s in stages}))
    chans, maps = [], []
    for s in stages:
        a = acts[s][0]
        order = channel_order(a, by)[:k]
        chans.append(order.tolist())
        maps.append(a[order])
    return StageMaps(stages, chans, maps, k)


# ============================================================== filters and comparison
def first_layer_kernel(m: ModelHandle, layer: str, channel: int) -> torch.Tensor | None:
    """The kernel ``[C_in, kh, kw]`` of ``channel`` of ``layer``, if the layer looks at the input pixels directly.

    None for deeper layers, whose kernels mix many feature maps and have no picture in pixel
    space (``figures.activations.first_layer_filter`` draws the kernel).

    Examples::

        >>> tuple(first_layer_kernel(load_model("lenet5-mnist"), "features.0", 2).shape)
        (1, 5, 5)
    """
    convs = m.conv_layer_names()
    if not convs or layer.split("#")[0] != convs[0]:
        return None
    return m.module.get_submodule(convs[0]).weight.detach()[channel]


TRANSFORMS = ("hflip", "rotate90", "invert", "shift")


def transformed(img, kind: str):
    """A transformed copy of a PIL image for side-by-side comparison: mirror, quarter turn, negative, shift."""
    from PIL import ImageChops, ImageOps

    if kind == "hflip":
        return ImageOps.mirror(img)
    if kind == "rotate90":
        return img.rotate(90, expand=True)
    if kind == "invert":
        return ImageOps.invert(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
    if kind == "shift":
        return ImageChops.offset(img, img.width // 8, img.height // 8)
    raise CnnvizError(f"transform {kind!r}: expected one of {TRANSFORMS}")


@dataclass
class MapComparison:
    """The maps of one layer for two images, with one channel order and one value range for both."""

    a: torch.Tensor  # [C, H, W] image A's maps, on the device
    b: torch.Tensor  # image B's
    order: list[int]  # image A's channels, strongest first
    lo: float  # the shared value range of a and b
    hi: float
    diff: torch.Tensor  # [C] mean |A - B| per channel


def compare_maps(m: ModelHandle, img_a, img_b, layer: str, stage: str = "post", order: str = "mean") -> MapComparison:
    """The same layer for two images, in image A's channel order (strongest first) and on one value range.

    ``diff`` is the per-channel mean absolute difference ``[C]``; ``figures.activations.compare_grids``
    draws the two grids.

    Examples::

        >>> c = compare_maps(m, img, transformed(img, "hflip"), "features.0")
        >>> len(c.order) == len(c.diff) == 6
        True
    """
    x = torch.cat([m.preprocess(img_a), m.preprocess(img_b)])
    a, b = layer_maps(m, x[:1], layer, stage), layer_maps(m, x[1:], layer, stage)
    lo, hi = float(torch.minimum(a.min(), b.min())), float(torch.maximum(a.max(), b.max()))
    return MapComparison(a, b, channel_order(a, order).tolist(), lo, hi, (a - b).abs().reshape(len(a), -1).mean(1))
