"""Figures of the Activation maps page: channel grids, single maps, overlays, the depth strip.

Streamlit-free. The numbers come from :mod:`cnnviz.methods.activations` (maps, statistics,
channel orders, the strongest maps of every stage); these functions only turn them into
uint8 images and Plotly figures. Tensors stay on their device until the final ``.cpu()``.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.activations import layer_maps
    >>> from cnnviz.figures.activations import render_channel_grid
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> maps = layer_maps(m, cnnviz.load_image("assets/samples/digit-7.png"), "features.0")
    >>> render_channel_grid(maps, order="mean").layout.n
    6
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures.common import FONT
from cnnviz.figures.render import GridLayout, colormap, colormap_enlarged, normalize_maps, overlay, tile_grid, to_uint8
from cnnviz.methods.activations import SCALES, ChannelStats, MapComparison, StageMaps, channel_order

BAR = "#4C78A8"
FRAME = (228, 26, 28)  # the red frame around the picked channel


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

    def highlight(self, channel: int, color: tuple[int, int, int] = FRAME) -> np.ndarray:
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


def grid_geometry(channels: int, width_px: int = 1100, max_tile: int = 160, aspect: float = 1.6) -> tuple[int, int]:
    """Columns and tile size for a channel grid about ``width_px`` wide, about ``aspect`` times wider than
    tall (projectors are; a slide's figure area is about 2.1).

    Examples::

        >>> grid_geometry(6), grid_geometry(512)
        ((4, 160), (29, 34))
    """
    cols = max(1, int(np.ceil(np.sqrt(channels * aspect))))
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
        raise CnnvizError(f"expected maps [C, H, W], got shape {tuple(maps.shape)}: pass one image's maps, "
                          "e.g. maps[0]")
    if scale not in SCALES:
        raise CnnvizError(f"scale {scale!r}: expected one of {SCALES}")
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
    rgb = colormap_enlarged(norm, cmap, f).permute(0, 3, 1, 2)  # N, 3, H, W
    img, layout = tile_grid(rgb, cols=cols, pad=max(2, f // 2), pad_value=1.0)
    return ChannelGrid(to_uint8(img), layout, idx.tolist(), f, lo, hi)


def channel_range_chart(stats: ChannelStats, order: Sequence[int]) -> go.Figure:
    """One bar per grid tile, from the channel's min to its max (hover: channel, mean, fraction zero).

    Examples::

        >>> fig = channel_range_chart(channel_stats(maps), grid.order)
        >>> list(fig.data[0].base) == stats.min[grid.order].tolist()
        True
    """
    idx = torch.as_tensor(list(order), device=stats.min.device)
    lo, hi = stats.min[idx].cpu().numpy(), stats.max[idx].cpu().numpy()
    custom = np.stack([np.asarray(list(order)), stats.mean[idx].cpu().numpy(), stats.frac_zero[idx].cpu().numpy()], 1)
    fig = go.Figure(go.Bar(
        x=[str(i) for i in range(len(idx))], y=hi - lo, base=lo, customdata=custom, marker_color=BAR,
        hovertemplate="tile %{x} = channel %{customdata[0]}<br>min %{base:.3g} … max %{y:.3g} (range)<br>"
                      "mean %{customdata[1]:.3g}, zero %{customdata[2]:.0%}<extra></extra>"))
    fig.update_layout(title="Value range of each channel (in grid order; hover for the channel)", height=220, font=FONT,
                      margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="tile", showticklabels=len(idx) <= 64), yaxis=dict(title="value"))
    return fig


# ============================================================== one map
def render_map(map2d: torch.Tensor, cmap: str = "viridis", size: int = 224,
               value_range: tuple[float, float] | None = None) -> np.ndarray:
    """One map ``[H, W]`` as a crisp uint8 RGB image about ``size`` pixels wide (nearest enlargement).

    Examples::

        >>> render_map(torch.rand(7, 7), size=224).shape
        (224, 224, 3)
    """
    lo, hi = value_range if value_range is not None else (float(map2d.min()), float(map2d.max()))
    norm = ((map2d.float() - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    f = _scale_for(*map2d.shape, size)
    return to_uint8(colormap_enlarged(norm, cmap, f))


def overlay_map(seen: np.ndarray, map2d: torch.Tensor, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """A map (any resolution) stretched to 0..1, upsampled onto ``seen`` (the input as the network sees
    it, ``m.deprocess(m.preprocess(img))``) and blended with ``alpha``.

    Examples::

        >>> overlay_map(np.zeros((28, 28, 3), np.uint8), torch.rand(7, 7)).shape
        (28, 28, 3)
    """
    return overlay(seen, normalize_maps(map2d[None])[0], alpha=alpha, cmap=cmap)


def first_layer_filter(kernel: torch.Tensor, size: int = 160) -> np.ndarray:
    """A first-layer kernel ``[C_in, kh, kw]`` (``methods.activations.first_layer_kernel``) as a picture.

    RGB input: the 3 input channels as one colour picture (zero is mid-grey); one input channel:
    a signed blue-white-red map (``rdbu``, symmetric around zero).

    Examples::

        >>> first_layer_filter(torch.zeros(3, 5, 5), size=150)[0, 0].tolist()
        [128, 128, 128]
    """
    if kernel.shape[0] == 3:
        a = kernel.abs().max().clamp_min(1e-12)
        img = (kernel / a + 1) / 2
        f = _scale_for(kernel.shape[1], kernel.shape[2], size)
        return to_uint8(img.repeat_interleave(f, 1).repeat_interleave(f, 2))
    a = kernel[0].abs().max().item()
    return render_map(kernel[0], "rdbu", size, value_range=(-a, a))


# ============================================================== depth strip
@dataclass
class DepthStrip:
    """The strongest maps of every stage, one column per layer (left = shallow)."""

    image: np.ndarray  # uint8 RGB
    layers: list[str]  # column j shows this layer
    channels: list[list[int]]  # channels[j][r]: channel in row r of column j
    tile: int  # tile side in pixels
    pad: int


def depth_strip(stages: StageMaps, tile: int = 56, cmap: str = "viridis", pad: int = 3) -> DepthStrip:
    """The strongest maps of every stage (``methods.activations.strongest_maps``) as one image.

    Each map is stretched to its own range and resized to ``tile`` pixels (nearest), so small
    deep maps stay blocky rather than blurred: a 7x7 map is a coarse grid of parts. Row ``r``
    holds every layer's ``r``-th strongest map; a layer with fewer channels gets blank tiles.

    Examples::

        >>> depth_strip(strongest_maps(m, img, k=3), tile=20).image.shape   # LeNet: 2 stages
        (72, 49, 3)
    """
    k = stages.k
    tiles = []
    for maps in stages.maps:
        sel = normalize_maps(maps.float())
        sel = torch.nn.functional.interpolate(sel[:, None], size=(tile, tile), mode="nearest")[:, 0]
        if len(sel) < k:
            sel = torch.cat([sel, torch.zeros(k - len(sel), tile, tile, device=sel.device)])
        tiles.append(sel)
    block = torch.stack(tiles, 1).reshape(-1, tile, tile)  # row-major: row r holds every layer's r-th map
    img, _ = tile_grid(colormap(block, cmap).permute(0, 3, 1, 2), cols=len(stages.layers), pad=pad)
    return DepthStrip(to_uint8(img), list(stages.layers), [list(c) for c in stages.channels], tile, pad)


def depth_strip_figure(strip: DepthStrip, sizes: dict[str, tuple[int, int]]) -> go.Figure:
    """The depth strip as a Plotly image with each column labelled by its layer and map size.

    Args:
        strip: from :func:`depth_strip`.
        sizes: layer name (without a ``#2`` call suffix) -> its map size ``(H, W)``.

    Examples::

        >>> depth_strip_figure(strip, {"features.1": (28, 28), "features.4": (10, 10)}).layout.xaxis.ticktext[0]
        'features.1<br>28×28'
    """
    step = strip.tile + strip.pad
    rows = (strip.image.shape[0] - strip.pad) // step
    many = len(strip.layers) > 8
    labels = []
    for n in strip.layers:
        h, w = sizes[n.split("#")[0]]
        labels.append(f"{n}<br>{h}×{w}")
    fig = go.Figure(go.Image(z=strip.image, hoverinfo="skip"))
    fig.update_xaxes(tickvals=[strip.pad + j * step + strip.tile / 2 for j in range(len(strip.layers))],
                     ticktext=labels, tickangle=-45 if many else 0, side="top", showgrid=False)
    fig.update_yaxes(tickvals=[strip.pad + r * step + strip.tile / 2 for r in range(rows)],
                     ticktext=[f"#{r + 1}" for r in range(rows)], showgrid=False)
    fig.update_layout(height=strip.image.shape[0] + (190 if many else 110), font=FONT,
                      margin=dict(l=10, r=10, t=100 if many else 60, b=10))
    return fig


# ============================================================== two images
def compare_grids(cmp: MapComparison, cmap: str = "viridis", tile_px: int = 40) -> tuple[ChannelGrid, ChannelGrid]:
    """The two channel grids of a :class:`~cnnviz.methods.activations.MapComparison`: one channel order
    (image A's) and one shared colour range, so tile ``i`` is the same channel, on the same scale, in both.

    Examples::

        >>> ga, gb = compare_grids(compare_maps(m, img, img, "features.0"))
        >>> np.array_equal(ga.image, gb.image)
        True
    """
    rng = (cmp.lo, cmp.hi)
    return (render_channel_grid(cmp.a, cmp.order, cmap=cmap, tile_px=tile_px, value_range=rng),
            render_channel_grid(cmp.b, cmp.order, cmap=cmap, tile_px=tile_px, value_range=rng))
