"""Figures of the Filter kernels page: kernels and responses as heat maps, learned filters as grids.

Streamlit-free: every function returns a Plotly figure, a uint8 image array or a table of them.

Examples::

    >>> from cnnviz.methods.kernels import apply_kernel, classic_kernel
    >>> fig = kernel_figure(classic_kernel("sobel_x").numpy(), "Sobel x")
    >>> fig.data[0].text[1]
    ['-2', '0', '2']
"""
from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT, enlarge, heatmap
from cnnviz.figures.export import array_to_png
from cnnviz.figures.render import GridLayout, colormap, normalize_maps, tile_grid, to_uint8
from cnnviz.methods.kernels import KernelError, KernelMatch, family_summary, matched_template

# ------------------------------------------------------------------ classic kernels and their responses


def kernel_figure(kernel: np.ndarray, title: str) -> go.Figure:
    """The kernel as a diverging heat map (red +, blue −, white 0) with its numbers written in the cells.

    Examples::

        >>> kernel_figure(np.eye(2), "identity").data[0].zmid
        0
    """
    k = np.asarray(kernel, dtype=float)
    n = max(k.shape)
    fmt = (lambda v: f"{v:.3g}") if n <= 7 else (lambda v: f"{v:.2g}")
    return heatmap(k, title=title, colorscale="RdBu_r", zmid=0, height=360,
                   hover="row %{y}, col %{x}: %{z:.4f}<extra></extra>",
                   trace=dict(text=[[fmt(v) for v in row] for row in k], texttemplate="%{text}",
                              textfont=dict(size=max(9, 18 - n))),
                   xaxis=dict(dtick=1), yaxis=dict(dtick=1))


def response_figure(response: torch.Tensor, title: str, signed: bool = True) -> go.Figure:
    """A one-channel response [H, W]: signed on a red/blue scale symmetric about 0, else viridis.

    Examples::

        >>> fig = response_figure(torch.tensor([[-1.0, 2.0]]), "r")
        >>> fig.data[0].zmin, fig.data[0].zmax
        (-2.0, 2.0)
    """
    z = response.detach().float().cpu().numpy()
    m_abs = float(np.abs(z).max()) or 1.0
    return heatmap(z, title=title, colorscale="RdBu_r" if signed else "Viridis", zmid=0 if signed else None,
                   height=380, hover="y %{y}, x %{x}: %{z:.3f}<extra></extra>",
                   trace=dict(zmin=-m_abs, zmax=m_abs) if signed else None,
                   xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))


def rgb_response(response: torch.Tensor, signed: bool) -> np.ndarray:
    """A [3, H, W] per-channel response as an RGB picture: signed, 0 is mid-grey; after ReLU, 0 is black.

    Examples::

        >>> rgb_response(torch.tensor([[[-2.0, 0.0, 1.0, 2.0]]]).expand(3, 1, 4), signed=True)[0, :, 0].tolist()
        [0, 128, 191, 255]
    """
    mx = response.abs().amax().clamp_min(1e-12)
    return to_uint8((response / mx + 1) / 2 if signed else response.clamp_min(0) / mx)


# ------------------------------------------------------------------ learned filters as pictures

def filter_grid_rgb(weights: torch.Tensor, normalize: str = "per", order: torch.Tensor | Sequence[int] | None = None,
                    cols: int | None = None, pad: int = 1) -> tuple[torch.Tensor, GridLayout]:
    """First-layer filters of an RGB model as colour images in one grid (the AlexNet figure).

    Each filter [3, kh, kw] becomes an RGB tile by min-max scaling to 0..1, either per filter
    (``"per"``: every filter uses its full range; shows shape) or with one range for the whole
    layer (``"shared"``: weak filters look grey; shows strength).

    Args:
        weights: [N, 3, kh, kw].
        normalize: ``"per"`` or ``"shared"``.
        order: filter indices in display order (e.g. :func:`sort_by_norm`); tile i shows ``order[i]``.
        cols: grid columns (default about √N).
        pad: white pixels between tiles.

    Returns:
        (image [3, H, W] with values 0..1, layout); ``layout.tile_at(y, x)`` gives the tile index.

    Examples::

        >>> img, layout = filter_grid_rgb(torch.randn(64, 3, 11, 11), cols=8)
        >>> tuple(img.shape), layout.tile_at(1, 1)
        ((3, 97, 97), 0)
    """
    if weights.ndim != 4 or weights.shape[1] != 3:
        raise KernelError("filter_grid_rgb needs filters with 3 input channels [N, 3, kh, kw], "
                          f"got {tuple(weights.shape)}. Hint: use weight_map for layers with other channel counts")
    if normalize not in ("per", "shared"):
        raise KernelError(f"normalize must be 'per' or 'shared', got {normalize!r}")
    w = weights if order is None else weights[torch.as_tensor(order, device=weights.device)]
    return tile_grid(normalize_maps(w, normalize), cols=cols, pad=pad, pad_value=1.0)


@dataclass
class FilterMap:
    """Many filters' weights as one 2-D map, with the way back from a pixel to (filter, channel).

    Attributes:
        z: [H, W] weights (scaled as asked), NaN on the padding between tiles.
        layout: where each tile sits (:class:`~cnnviz.figures.render.GridLayout`).
        filters: the filter index shown by each tile.
        channels: the input channel shown by each tile.
    """

    z: torch.Tensor
    layout: GridLayout
    filters: list[int]
    channels: list[int]
    scale: str = "raw"
    shape: tuple[int, ...] = field(default=())

    def at(self, y: float, x: float) -> tuple[int, int] | None:
        """(filter, input channel) under pixel (y, x), or None on padding."""
        i = self.layout.tile_at(y, x)
        return None if i is None else (self.filters[i], self.channels[i])

    def index_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel filter and channel index arrays [H, W] (-1 on padding), e.g. for a Plotly ``customdata``."""
        L = self.layout
        h, w = self.z.shape
        ys, xs = np.arange(h) - L.pad, np.arange(w) - L.pad
        r, ry = np.divmod(ys, L.tile_h + L.pad)
        c, rx = np.divmod(xs, L.tile_w + L.pad)
        tile = r[:, None] * L.cols + c[None, :]
        valid = ((ys[:, None] >= 0) & (xs[None, :] >= 0) & (ry[:, None] < L.tile_h) & (rx[None, :] < L.tile_w)
                 & (c[None, :] < L.cols) & (tile < L.n))
        tile = np.where(valid, tile, 0)
        f = np.where(valid, np.asarray(self.filters)[tile], -1)
        ch = np.where(valid, np.asarray(self.channels)[tile], -1)
        return f, ch

    def to_image(self, cmap: str = "gray") -> np.ndarray:
        """uint8 RGB picture of the map: zero is mid-grey (or the colour map's middle), padding white."""
        z = self.z
        nan = torch.isnan(z)
        z0 = z.masked_fill(nan, 0.0)  # colormap cannot index NaN
        v = (z0 / z0.abs().amax().clamp_min(1e-12) + 1) / 2
        if cmap == "gray":  # the grey ramp needs no table lookup: 4M-pixel maps stay fast
            g = (v.masked_fill(nan, 1.0) * 255).round().byte()
            return g[..., None].expand(*g.shape, 3).cpu().numpy()
        rgb = colormap(v, cmap).masked_fill(nan[..., None], 1.0)
        return (rgb.clamp(0, 1) * 255).round().byte().cpu().numpy()


def weight_map(weights: torch.Tensor, order: torch.Tensor | Sequence[int] | None = None, scale: str = "raw",
               max_filters: int | None = None, max_channels: int | None = None, filter_start: int = 0,
               channel_start: int = 0, pad: int = 1, filters_per_row: int = 1) -> FilterMap:
    """All (filter, input channel) kernels of a layer as one grayscale map: one row of tiles per
    filter, one column per input channel (for one-channel layers, the filters in a near-square grid).

    Args:
        weights: [N, C, kh, kw].
        order: filter indices in display order (default 0..N-1).
        scale: ``"raw"`` (the weights as they are; one scale for the layer) or ``"per_filter"``
            (each filter divided by its largest absolute weight, so weak filters are visible too).
        max_filters, max_channels, filter_start, channel_start: show a window of the layer
            (rows ``filter_start ..`` of the ordered filters, channels ``channel_start ..``), for
            layers too large to draw whole.
        pad: NaN pixels between tiles.
        filters_per_row: for layers with few input channels (e.g. 3), put several filters side by
            side (each a run of C tiles) so the map is not a thin strip. For one-channel layers, more
            than 1 sets the grid's columns (1: a near-square grid).

    Examples::

        >>> fm = weight_map(torch.randn(4, 2, 3, 3))
        >>> tuple(fm.z.shape), fm.at(1 + 4, 1 + 4)   # second row, second column
        ((17, 9), (1, 1))
    """
    if weights.ndim != 4:
        raise KernelError(f"weights must be [filters, channels, kh, kw], got {tuple(weights.shape)}")
    if scale not in ("raw", "per_filter"):
        raise KernelError(f"scale must be 'raw' or 'per_filter', got {scale!r}")
    n, c, kh, kw = weights.shape
    idx = torch.arange(n) if order is None else torch.as_tensor(order, dtype=torch.long).cpu()
    idx = idx[filter_start: filter_start + max_filters if max_filters else None]
    w = weights[idx.to(weights.device)].float()
    if scale == "per_filter":
        w = w / w.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    c_end = channel_start + max_channels if max_channels else c
    ch = torch.arange(c)[channel_start:c_end]
    w = w[:, channel_start:c_end]
    nf, nc = w.shape[:2]
    if nc == 1:
        tiles, cols = w[:, 0], (int(filters_per_row) if filters_per_row > 1 else None)
        filters, channels = idx.tolist(), [int(ch[0])] * nf
    else:
        # tiles are filter-major, so cols = g * C puts g filters (C tiles each) on a row
        tiles, cols = w.reshape(nf * nc, kh, kw), nc * max(1, min(int(filters_per_row), nf))
        filters = [f for f in idx.tolist() for _ in range(nc)]
        channels = ch.tolist() * nf
    z, layout = tile_grid(tiles, cols=cols, pad=pad, pad_value=float("nan"))
    return FilterMap(z, layout, filters, channels, scale, (n, c, kh, kw))


@dataclass
class PickGrid:
    """A tile grid as drawn on the page (enlarged), with the way back from a pixel to the item it shows.

    Attributes:
        image: uint8 RGB picture, ``scale`` times the grid's native size.
        layout: the tiles' positions in native pixels.
        scale: the integer enlargement.
        items: what tile ``i`` shows (e.g. a filter index).
    """

    image: np.ndarray
    layout: GridLayout
    scale: int
    items: list[int]

    def tile_at(self, y: float, x: float) -> int | None:
        """The item under pixel (y, x) of :attr:`image`, or None on padding."""
        i = self.layout.tile_at(y / self.scale, x / self.scale)
        return None if i is None else self.items[i]


def grid_columns(n: int) -> int:
    """Columns of a near-square grid of ``n`` tiles, at most 16."""
    return min(16, max(1, math.ceil(math.sqrt(n))))


def filter_pick_grid(weights: torch.Tensor, shared: bool = False, order: Sequence[int] | None = None,
                     width: int = 640) -> PickGrid:
    """First-layer RGB filters as a clickable colour grid about ``width`` px wide (:func:`filter_grid_rgb`).

    Examples::

        >>> g = filter_pick_grid(torch.randn(64, 3, 7, 7), order=list(range(63, -1, -1)))
        >>> g.image.shape, g.tile_at(g.scale * 1.5, g.scale * 1.5)
        ((585, 585, 3), 63)
    """
    order = list(range(len(weights))) if order is None else list(order)
    grid, layout = filter_grid_rgb(weights, "shared" if shared else "per", order=order,
                                   cols=grid_columns(len(weights)))
    arr = to_uint8(grid)
    scale = max(1, width // arr.shape[1])
    return PickGrid(np.repeat(np.repeat(arr, scale, 0), scale, 1), layout, scale, order)


@dataclass(frozen=True)
class MapWindow:
    """How much of a layer the interactive weight map draws at once (a browser draws ~250k cells briskly).

    Attributes:
        filters, channels: rows and input channels shown at a time.
        per_row: filters side by side on one row (layers with 2..8 input channels).
        pad: pixels between tiles (0 for 1x1 kernels: the map is then the weight matrix itself).
        windowed: the layer is larger than the window (the page offers sliders to move it).
        full_fits: the whole layer is small enough for one static picture.
    """

    filters: int
    channels: int
    per_row: int
    pad: int
    windowed: bool
    full_fits: bool


def map_window(shape: Sequence[int], max_cells: int = 250_000) -> MapWindow:
    """The :class:`MapWindow` for a layer of weights ``shape`` = (filters, channels, kh, kw).

    Examples::

        >>> map_window((512, 512, 3, 3))
        MapWindow(filters=64, channels=64, per_row=1, pad=1, windowed=True, full_fits=True)
    """
    n_f, n_c, kh, kw = shape
    point = kh * kw == 1  # 1x1 kernels: one pixel per weight, so a larger window fits
    tile_px = 1 if point else (kh + 1) * (kw + 1)
    max_tiles = max(1, max_cells // tile_px)
    win_c = min(n_c, 256 if point else 64)
    win_f = min(n_f, max(1, max_tiles // max(1, win_c)), 512 if point else 64 if n_c > 8 else 128)
    per_row = max(1, round(math.sqrt(win_f / win_c))) if 1 < n_c <= 8 else 1  # few channels: several filters a row
    windowed = n_f > win_f or n_c > win_c
    return MapWindow(win_f, win_c, per_row, 0 if point else 1, windowed, windowed and n_f * n_c * tile_px <= 4_500_000)


def fit_window(window: MapWindow, shape: Sequence[int], aspect: float = 2.0) -> MapWindow:
    """``window`` with as many filters per row as make the map about ``aspect`` times as wide as high (a slide).

    A layer of many channels is otherwise one filter per row: a tall strip on a wide screen.

    Examples::

        >>> shape = (64, 32, 3, 3)
        >>> fit_window(map_window(shape), shape).per_row
        2
        >>> fit_window(map_window((32, 1, 3, 3)), (32, 1, 3, 3)).per_row
        8
    """
    n_f, n_c, kh, kw = shape
    nf, nc = min(window.filters, n_f), min(window.channels, n_c)
    pad = window.pad

    def misfit(g: int) -> float:
        rows = math.ceil(nf / g) * (kh + pad)
        cols = g * nc * (kw + pad)
        return abs(math.log(cols / rows / aspect))

    candidates = range(2 if nc == 1 and nf > 1 else 1, nf + 1)
    best = min(candidates, key=misfit, default=window.per_row)
    return dataclasses.replace(window, per_row=best)


def weight_map_figure(weights: torch.Tensor, order: Sequence[int] | None = None, labels: Sequence[int] | None = None,
                      shared: bool = False, filter_start: int = 0, channel_start: int = 0,
                      window: MapWindow | None = None) -> go.Figure:
    """The interactive concatenated weight map: grey levels (black −, white +), hover names filter and channel.

    Args:
        weights: [N, C, kh, kw].
        order, labels: display order of the filters and (clustered) their cluster labels, for the hover.
        shared: one scale for the layer; otherwise each filter is divided by its largest |weight|.
        filter_start, channel_start, window: which part of the layer (default :func:`map_window`).

    Examples::

        >>> fig = weight_map_figure(torch.randn(6, 1, 5, 5))
        >>> fig.data[0].z.shape, fig.data[0].customdata[1, 1].tolist()
        ((13, 19), [0, 0])
    """
    n_f, n_c = weights.shape[:2]
    window = window or map_window(weights.shape)
    fm = weight_map(weights, order=order, scale="raw" if shared else "per_filter", max_filters=window.filters,
                    filter_start=filter_start, max_channels=window.channels if n_c > 1 else None,
                    channel_start=channel_start, filters_per_row=window.per_row, pad=window.pad)
    fa, ca = fm.index_arrays()
    z = fm.z.cpu().numpy()
    zm = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    custom = [fa, ca]
    hover = "filter %{customdata[0]}, input channel %{customdata[1]}<br>weight %{z:.4f}"
    if labels is not None:  # clustered: name the cluster too
        custom.append(np.where(fa >= 0, np.asarray(labels)[np.clip(fa, 0, None)], -1))
        hover += "<br>cluster %{customdata[2]}"
    fig = go.Figure(go.Heatmap(z=z, customdata=np.stack(custom, -1), colorscale="Greys_r", zmin=-zm, zmax=zm,
                               hovertemplate=hover + "<extra></extra>",
                               colorbar=dict(title="weight" if shared else "weight / max|w|")))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, showticklabels=False)
    fig.update_xaxes(showgrid=False, constrain="domain", showticklabels=False)
    height = int(min(900, max(320, z.shape[0] * (700 / max(z.shape)))))
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), font=FONT, height=height)
    return fig


def layer_picture(weights: torch.Tensor, shared: bool = False, order: Sequence[int] | None = None,
                  max_side: int | None = 64) -> np.ndarray:
    """A whole layer as one static uint8 picture: the RGB grid for 3-channel filters, else the grey weight map.

    Args:
        max_side: at most this many filters and channels (None: all of them).

    Examples::

        >>> layer_picture(torch.randn(6, 1, 5, 5)).shape
        (13, 19, 3)
    """
    n_f, n_c, kh, kw = weights.shape
    if n_c == 3 and max_side is not None:
        grid, _ = filter_grid_rgb(weights, "shared" if shared else "per", order=order, cols=grid_columns(n_f))
        return to_uint8(grid)
    cap = (lambda n: n) if max_side is None else (lambda n: min(n, max_side))
    return weight_map(weights, order=order, scale="raw" if shared else "per_filter", max_filters=cap(n_f),
                      max_channels=cap(n_c) if n_c > 1 else None, pad=0 if kh * kw == 1 else 1).to_image("gray")


def filter_channels_figure(weights: torch.Tensor, rgb: bool = False, max_channels: int = 16) -> go.Figure:
    """One filter [C, kh, kw] channel by channel: red/blue heat maps on one scale, weights written in small ones.

    Args:
        rgb: name the channels R, G, B (a first layer on colour images).
        max_channels: draw at most this many channels (8 per row).

    Examples::

        >>> fig = filter_channels_figure(torch.tensor([[[1.0, -2.0]], [[0.5, 0.0]]]))
        >>> [a.text for a in fig.layout.annotations], fig.data[0].zmin
        (['channel 0', 'channel 1'], -2.0)
    """
    wf = weights.detach().float().cpu().numpy()
    n_c, kh = wf.shape[0], wf.shape[1]
    show = min(n_c, max_channels)
    ncol = min(show, 8)
    nrow = math.ceil(show / ncol)
    names = ["R", "G", "B"] if rgb and n_c == 3 else [f"channel {i}" for i in range(show)]
    fig = make_subplots(rows=nrow, cols=ncol, subplot_titles=names[:show], horizontal_spacing=0.02,
                        vertical_spacing=0.08)
    vmax = float(np.abs(wf).max()) or 1.0
    for i in range(show):
        text = [[f"{v:.2f}" for v in row] for row in wf[i]] if kh <= 7 else None
        fig.add_trace(go.Heatmap(z=wf[i], zmin=-vmax, zmax=vmax, colorscale="RdBu_r", showscale=(i == 0), text=text,
                                 texttemplate="%{text}" if text else None,
                                 hovertemplate=f"{names[i]}" + ", row %{y}, col %{x}: %{z:.4f}<extra></extra>"),
                      row=i // ncol + 1, col=i % ncol + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor=None)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=60 + nrow * min(340, 1100 // ncol + 20), margin=dict(l=10, r=10, t=40, b=10), font=FONT)
    return fig


# ------------------------------------------------------------------ learned vs classic

def signed_tile(kernel: torch.Tensor) -> np.ndarray:
    """A 2-D kernel as a red/blue uint8 tile, symmetric about 0 (white).

    Examples::

        >>> signed_tile(torch.tensor([[-1.0, 0.0, 1.0]])).shape
        (1, 3, 3)
    """
    k = kernel.float()
    mx = k.abs().amax().clamp_min(1e-12)
    return to_uint8(colormap((k / mx + 1) / 2, "rdbu"))


def _data_url(arr: np.ndarray, side: int = 44) -> str:
    return "data:image/png;base64," + base64.b64encode(array_to_png(enlarge(arr, side))).decode()


def bridge_table(weights: torch.Tensor, matches: Sequence[KernelMatch], bank: dict[str, torch.Tensor]) -> pd.DataFrame:
    """One row per first-layer filter: its picture, the closest classic kernel's, the name, family, |cosine|.

    Pictures are PNG data URLs (for an image column); rows best match first. ``colour share``
    only for 3-channel filters.

    Examples::

        >>> from cnnviz.methods.kernels import best_matches, classic_bank
        >>> w = torch.randn(4, 1, 3, 3)
        >>> list(bridge_table(w, best_matches(w), classic_bank(3)).columns)[:3]
        ['filter', 'learned', 'closest classic']
    """
    rgb = weights.shape[1] == 3
    tiles = normalize_maps(weights, "per") if rgb else None
    rows = []
    for mt in matches:
        f = mt.filter
        tile = to_uint8(tiles[f]) if rgb else signed_tile(weights[f, 0])
        rows.append({"filter": f, "learned": _data_url(tile),
                     "closest classic": _data_url(signed_tile(matched_template(bank, mt))),
                     "kernel": ("−" if mt.cosine < 0 else "") + mt.name, "family": mt.family,
                     "|cosine|": abs(mt.cosine), **({"colour share": mt.colour_share} if rgb else {})})
    return pd.DataFrame(rows).sort_values("|cosine|", ascending=False, kind="stable")


def family_bar(matches: Sequence[KernelMatch]) -> go.Figure:
    """Bars: how many filters each kernel family is closest to, labelled with their mean |cosine|.

    Examples::

        >>> m = [KernelMatch(0, "Sobel x", "edge", -0.8, 0.0), KernelMatch(1, "Gaussian", "blur", 0.5, 0.0)]
        >>> list(family_bar(m).data[0].y)
        [1, 1]
    """
    summary = family_summary(matches)
    fig = go.Figure(go.Bar(x=[r[0] for r in summary], y=[r[1] for r in summary],
                           text=[f"|cos| {r[2]:.2f}" for r in summary], textposition="outside", textangle=0,
                           cliponaxis=False, marker_color="#4C78A8"))
    fig.update_layout(title="Closest family, per filter (mean |cos|)", yaxis_title="filters",
                      margin=dict(l=10, r=10, t=60, b=10), height=320, font=FONT)
    return fig


__all__ = [
    "kernel_figure", "response_figure", "rgb_response", "filter_grid_rgb", "FilterMap", "weight_map", "PickGrid",
    "grid_columns", "filter_pick_grid", "MapWindow", "map_window", "weight_map_figure", "layer_picture",
    "filter_channels_figure", "signed_tile", "bridge_table", "family_bar",
]
