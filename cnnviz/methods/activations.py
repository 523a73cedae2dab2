"""Activation maps: what every layer does with one image (no Streamlit here).

Layer outputs come from the capture engine (:mod:`cnnviz.core.capture`, behind
``ModelHandle.activations``); this module builds the views on them: channel grids sorted by
mean or max, channel statistics, pre- vs post-activation pairs, the depth strip, overlays and
first-layer filters.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.activations import layer_maps, render_channel_grid
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> maps = layer_maps(m, cnnviz.load_image("assets/samples/digit-7.png"), "features.0")
    >>> grid = render_channel_grid(maps, order="mean")
    >>> grid.layout.n
    6
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import nn

from cnnviz.figures.render import GridLayout, colormap, normalize_maps, overlay, tile_grid, to_uint8

if TYPE_CHECKING:  # model.py imports this module lazily; avoid a cycle at import time
    from cnnviz.core.model import ModelHandle

ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.PReLU)
NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
SORT_ORDERS = ("index", "mean", "max")
SCALES = ("per", "shared")


# ============================================================== layers and pairs
def spatial_layers(m: "ModelHandle") -> list[str]:
    """Leaf layers whose output is a stack of 2-D maps ``[C, H, W]`` with H, W > 1, in execution order."""
    return [li.name for li in m.layers() if len(li.output_shape) == 3 and li.output_shape[1] * li.output_shape[2] > 1]


def activation_after(m: "ModelHandle", layer: str) -> str | None:
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
        raise KeyError(f"layer {layer!r} is not a leaf layer of {m.name}. Hint: m.layer_names() lists them")
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


def layer_maps(m: "ModelHandle", img, layer: str, stage: str = "post") -> torch.Tensor:
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
        raise ValueError(f"layer {key} outputs shape {tuple(t.shape)}, not feature maps [N, C, H, W]. "
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
        raise ValueError(f"sort by {by!r}: expected one of {SORT_ORDERS}")
    if by == "index":
        return torch.arange(len(maps), device=maps.device)
    flat = maps.reshape(len(maps), -1).float()
    score = flat.mean(1) if by == "mean" else flat.amax(1)
    return torch.argsort(score, descending=True, stable=True)


# ============================================================== channel grid
@dataclass
class ChannelGrid:
    """A composed grid image of channel maps and how to map a pixel back to a channel."""

    image: np.ndarray  # uint8 RGB [H', W', 3]
    layout: GridLayout
    order: list[int]  # tile i shows channel order[i]
    scale: int  # each map pixel is drawn as scale x scale pixels
    lo: float  # value shown as the bottom colour (shared scale), for the colour bar
    hi: float

    def channel_at(self, y: float, x: float) -> int | None:
        """The channel under pixel (y, x) of :attr:`image`, or None on the padding.

        Examples::

            >>> grid.channel_at(3, 3)   # inside the first tile
            5
        """
        i = self.layout.tile_at(y, x)
        return None if i is None else self.order[i]


    def highlight(self, channel: int, color: tuple[int, int, int] = (228, 26, 28)) -> np.ndarray:
        """A copy of :attr:`image` with a frame drawn in the padding around ``channel``'s tile.

        Examples::

            >>> g.highlight(g.order[0])[0, 0].tolist()   # top-left corner of the first tile's frame
            [228, 26, 28]
        """
        img = self.image.copy()
        if channel not in self.order:
            return img
        y, x = self.layout.origin(self.order.index(channel))
        p = self.layout.pad
        y0, x0 = max(0, y - p), max(0, x - p)
        y1, x1 = y + self.layout.tile_h + p, x + self.layout.tile_w + p
        img[y0:y, x0:x1] = color
        img[y + self.layout.tile_h:y1, x0:x1] = color
        img[y0:y1, x0:x] = color
        img[y0:y1, x + self.layout.tile_w:x1] = color
        return img


def _scale_for(h: int, w: int, target: int) -> int:
    return max(1, int(round(target / max(h, w))))


def grid_geometry(channels: int, width_px: int = 1100, max_tile: int = 160) -> tuple[int, int]:
    """Columns and tile size for a channel grid about ``width_px`` wide, wider than tall (projectors are).

    Examples::

        >>> grid_geometry(6), grid_geometry(512)
        ((4, 160), (29, 34))
    """
    cols = max(1, int(np.ceil(np.sqrt(channels * 1.6))))
    return cols, int(np.clip(width_px / cols - 3, 20, max_tile))


def render_channel_grid(maps: torch.Tensor, order: str | Sequence[int] = "index", scale: str = "per",
                        cmap: str = "viridis", tile_px: int = 48, cols: int | None = None,
                        value_range: tuple[float, float] | None = None) -> ChannelGrid:
    """Every channel of ``[C, H, W]`` as one image: tiles in ``order``, coloured by ``cmap``.

    Args:
        maps: feature maps ``[C, H, W]`` (any device).
        order: ``"index"``, ``"mean"``, ``"max"`` (strongest first) or explicit channel indices.
        scale: ``"per"`` stretches each map to its own range (shape visible, strength hidden);
            ``"shared"`` uses one range for all (strength comparable across channels).
        cmap: a :data:`cnnviz.figures.render.COLORMAPS` name.
        tile_px: about how many pixels a tile is wide (maps are enlarged by an integer factor).
        value_range: fix the shared range, e.g. to compare two images on one scale.

    Examples::

        >>> g = render_channel_grid(torch.rand(6, 28, 28), cols=3, tile_px=28)
        >>> g.image.shape, g.layout.cols
        ((59, 88, 3), 3)
    """
    if maps.ndim != 3:
        raise ValueError(f"expected maps [C, H, W], got shape {tuple(maps.shape)}")
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r}: expected one of {SCALES}")
    idx = channel_order(maps, order) if isinstance(order, str) else torch.as_tensor(list(order), device=maps.device)
    sel = maps.float()[idx]
    if value_range is not None:
        lo, hi = value_range
        norm = ((sel - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    else:
        norm = normalize_maps(sel, "per" if scale == "per" else "shared")
        lo, hi = float(sel.min()), float(sel.max())
    _, h, w = sel.shape
    f = _scale_for(h, w, tile_px)
    if f > 1:
        norm = norm.repeat_interleave(f, 1).repeat_interleave(f, 2)
    rgb = colormap(norm, cmap).permute(0, 3, 1, 2)  # N, 3, H, W
    img, layout = tile_grid(rgb, cols=cols, pad=max(2, f // 2), pad_value=1.0)
    return ChannelGrid(to_uint8(img), layout, idx.tolist(), f, lo, hi)


def render_map(map2d: torch.Tensor, cmap: str = "viridis", size: int = 224,
               value_range: tuple[float, float] | None = None) -> np.ndarray:
    """One map ``[H, W]`` as a crisp uint8 RGB image about ``size`` pixels wide (nearest enlargement)."""
    lo, hi = value_range if value_range is not None else (float(map2d.min()), float(map2d.max()))
    norm = ((map2d.float() - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    f = _scale_for(*map2d.shape, size)
    norm = norm.repeat_interleave(f, 0).repeat_interleave(f, 1)
    return to_uint8(colormap(norm, cmap))


def overlay_map(m: "ModelHandle", img, map2d: torch.Tensor, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """A map (any resolution) upsampled onto the image as the network sees it, blended with ``alpha``."""
    seen = m.deprocess(m.preprocess(img))
    return overlay(seen, normalize_maps(map2d[None])[0], alpha=alpha, cmap=cmap)


# ============================================================== depth strip
@dataclass
class DepthStrip:
    """The strongest maps of every stage, one column per layer (left = shallow)."""

    image: np.ndarray  # uint8 RGB
    layers: list[str]  # column j shows this layer
    channels: list[list[int]]  # channels[j][r]: channel in row r of column j
    tile: int  # tile side in pixels
    pad: int


def conv_stages(m: "ModelHandle") -> list[str]:
    """For every conv layer, the layer to show: the activation after it when there is one.

    1x1 projection convs of ResNet shortcuts (``downsample``) and convs on a 1x1 map (the
    squeeze-excitation gates of MobileNetV3) are left out.
    """
    out = []
    spatial = set(spatial_layers(m))
    for conv in m.conv_layer_names():
        if ".downsample." in conv or conv.endswith(".downsample") or conv not in spatial:
            continue
        out.append(activation_after(m, conv) or conv)
    return out


def depth_strip(m: "ModelHandle", img, k: int = 4, by: str = "mean", tile: int = 56,
                cmap: str = "viridis", max_layers: int = 24) -> DepthStrip:
    """The ``k`` strongest maps of every conv stage, from one forward pass, as one image.

    Each map is stretched to its own range and resized to ``tile`` pixels (nearest), so
    small deep maps stay blocky rather than blurred: a 7x7 map is a coarse grid of parts.

    Args:
        m: the model.
        img: the input image.
        k: maps per layer (rows).
        by: ``"mean"`` or ``"max"``: what "strongest" means.
        max_layers: at most this many columns, evenly spaced through the depth.
    """
    stages = conv_stages(m)
    if len(stages) > max_layers:
        pick = np.linspace(0, len(stages) - 1, max_layers).round().astype(int)
        stages = [stages[i] for i in sorted(set(pick.tolist()))]
    acts = m.activations(img, sorted({s.split("#")[0] for s in stages}))
    tiles, chans = [], []
    for s in stages:
        maps = acts[s][0]
        order = channel_order(maps, by)[:k]
        chans.append(order.tolist())
        sel = normalize_maps(maps[order].float())
        sel = torch.nn.functional.interpolate(sel[:, None], size=(tile, tile), mode="nearest")[:, 0]
        if len(sel) < k:  # a layer with fewer channels than rows: blank tiles
            sel = torch.cat([sel, torch.zeros(k - len(sel), tile, tile, device=sel.device)])
        tiles.append(sel)
    block = torch.stack(tiles, 1).reshape(-1, tile, tile)  # row-major: row r holds every layer's r-th map
    rgb = colormap(block, cmap).permute(0, 3, 1, 2)
    pad = 3
    img_t, _ = tile_grid(rgb, cols=len(stages), pad=pad)
    return DepthStrip(to_uint8(img_t), stages, chans, tile, pad)


# ============================================================== filters and comparison
def first_layer_filter(m: "ModelHandle", layer: str, channel: int, size: int = 160) -> np.ndarray | None:
    """The kernel of ``channel`` of ``layer`` as an image, if it looks at the input pixels directly.

    RGB input: the 3 input channels as one colour picture (zero is mid-grey); grayscale: a
    signed blue-white-red map. None for deeper layers, whose kernels mix many feature maps.
    """
    convs = m.conv_layer_names()
    if not convs or layer.split("#")[0] != convs[0]:
        return None
    w = dict(m.module.named_modules())[convs[0]].weight.detach()[channel]  # Cin, kh, kw
    if w.shape[0] == 3:
        a = w.abs().max().clamp_min(1e-12)
        img = (w / a + 1) / 2
        f = _scale_for(w.shape[1], w.shape[2], size)
        img = img.repeat_interleave(f, 1).repeat_interleave(f, 2)
        return to_uint8(img)
    a = w[0].abs().max().item()
    return render_map(w[0], "rdbu", size, value_range=(-a, a))


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
    raise ValueError(f"transform {kind!r}: expected one of {TRANSFORMS}")


def compare_maps(m: "ModelHandle", img_a, img_b, layer: str, stage: str = "post",
                 order: str = "mean", cmap: str = "viridis", tile_px: int = 40) -> tuple[ChannelGrid, ChannelGrid, torch.Tensor]:
    """Grids of the same layer for two images, on one shared colour range and in one channel order.

    The order is image A's (strongest first), so tile i is the same channel in both grids.
    Also returns the per-channel mean absolute difference ``[C]``.
    """
    x = torch.cat([m.preprocess(img_a), m.preprocess(img_b)])
    a, b = layer_maps(m, x[:1], layer, stage), layer_maps(m, x[1:], layer, stage)
    idx = channel_order(a, order).tolist()
    lo, hi = float(torch.minimum(a.min(), b.min())), float(torch.maximum(a.max(), b.max()))
    ga = render_channel_grid(a, idx, cmap=cmap, tile_px=tile_px, value_range=(lo, hi))
    gb = render_channel_grid(b, idx, cmap=cmap, tile_px=tile_px, value_range=(lo, hi))
    return ga, gb, (a - b).abs().reshape(len(a), -1).mean(1)
