"""Figures of the network page: the executed graph with live thumbnails, and one unit's computation.

Streamlit-free. The graph and its layout come from :mod:`cnnviz.methods.network`, the unit from
:mod:`cnnviz.methods.unit`; these functions only draw them.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods import network as nw
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> view = nw.graph_view(m)
    >>> vals = nw.node_values(m, m.preprocess(cnnviz.load_image("assets/samples/digit-7.png")), view)
    >>> fig = graph_figure(view, node_thumbnails(vals, k=2))
    >>> len(fig.layout.images) == len(vals)
    True
"""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from plotly.subplots import make_subplots

from cnnviz.figures.arithmetic import PAD_COLOR, sliding_window_figure
from cnnviz.figures.common import FONT
from cnnviz.figures.render import GridLayout, colormap_enlarged, normalize_maps, tile_grid, to_uint8
from cnnviz.methods.arithmetic import LayerSpec
from cnnviz.methods.network import GraphNode, GraphView, strongest_channels
from cnnviz.methods.unit import UnitComputation, WindowRegion

# one colour per family of operation, so the eye finds the convolutions and the merges
COLORS = {"conv": "#4C78A8", "linear": "#8E6BB8", "norm": "#9D9D9D", "act": "#54A24B", "pool": "#F58518",
          "merge": "#E45756", "group": "#2A9D8F", "input": "#333333", "other": "#B8B8B8"}
SELECTED = "#E4572E"
THUMB_PX = 40
ROW = 1.6  # vertical distance between branches, in column widths of the plot's y units


def family(n: GraphNode) -> str:
    """The colour family of a node: conv, linear, norm, act, pool, merge, group, input or other."""
    op = n.op.split("+")[0]
    if n.kind == "group":
        return "group"
    if n.kind == "input":
        return "input"
    if n.merge or op in ("add", "cat", "mul"):
        return "merge"
    if "Conv" in op:
        return "conv"
    if op == "Linear":
        return "linear"
    if "Norm" in op:
        return "norm"
    if "Pool" in op or "pool" in op:
        return "pool"
    if op.lower() in ("relu", "relu6", "hardswish", "hardsigmoid", "silu", "sigmoid", "tanh", "gelu"):
        return "act"
    return "other"


# ============================================================== thumbnails
def node_thumbnails(values: dict[str, torch.Tensor], k: int = 2, px: int = THUMB_PX) -> dict[str, np.ndarray]:
    """The ``k`` strongest channels of every node's ``[C, H, W]`` output, side by side, as uint8 RGB strips.

    Each map is stretched to its own range (viridis) and enlarged with nearest pixels to about ``px``;
    the input node shows the image itself. Nodes with a vector output get no strip.
    """
    out = {}
    for nid, v in values.items():
        if v.ndim != 3 or v.shape[1] * v.shape[2] < 2:
            continue
        if nid == "x" and v.shape[0] in (1, 3):
            pic = normalize_maps(v[None].float(), "per")[0]
            f = max(1, round(2 * px / max(v.shape[1:])))
            pic = pic.repeat_interleave(f, 1).repeat_interleave(f, 2) if f > 1 else \
                torch.nn.functional.interpolate(pic[None], size=(2 * px, 2 * px), mode="area")[0]
            out[nid] = to_uint8(pic.expand(3, -1, -1))
            continue
        idx = strongest_channels(v, k)
        maps = v[idx].float()
        h, w = maps.shape[1:]
        if max(h, w) > px:  # big maps: average down, so the strip stays small to send
            maps = torch.nn.functional.adaptive_avg_pool2d(maps[None], (min(h, px), min(w, px)))[0]
            h, w = maps.shape[1:]
        f = max(1, round(px / max(h, w)))
        rgb = colormap_enlarged(normalize_maps(maps, "per"), "viridis", f).permute(0, 3, 1, 2)
        img, _ = tile_grid(rgb, cols=len(idx), pad=1, pad_value=1.0)
        out[nid] = to_uint8(img)
    return out


def _data_uri(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _edge_path(x0: float, y0: float, x1: float, y1: float, bow: float) -> tuple[list[float], list[float]]:
    """A curve from (x0, y0) to (x1, y1); ``bow`` lifts a skip edge above the nodes it jumps over."""
    t = np.linspace(0, 1, 16)
    if y0 == y1 and bow:
        xs = x0 + (x1 - x0) * t
        ys = y0 + bow * 4 * t * (1 - t)
    else:  # horizontal at both ends (smoothstep between the rows)
        xs = x0 + (x1 - x0) * t
        ys = y0 + (y1 - y0) * (3 * t ** 2 - 2 * t ** 3)
    return list(xs) + [None], list(ys) + [None]


# ============================================================== the graph
def graph_figure(view: GraphView, thumbs: dict[str, np.ndarray] | None = None, selected: str | None = None,
                 row_px: int = 150) -> go.Figure:
    """The executed graph left to right: one square per node, its label (operation, output shape) below,
    the strongest channels' thumbnails on it, skip connections as arcs, open blocks as outlines.

    Args:
        view: from :func:`cnnviz.methods.network.graph_view`.
        thumbs: node id -> uint8 strip from :func:`node_thumbnails`.
        selected: the node drawn with a red frame.
        row_px: pixels per row of the layout.

    Returns:
        A figure whose node trace carries the node id in ``customdata`` (for click selection).
    """
    thumbs = thumbs or {}
    col, row = view.column, view.row
    pos = {n.id: (float(col[n.id]), -ROW * row[n.id]) for n in view.nodes}
    # one figure from plain dicts: each add_* call on a go.Figure validates again, and add_layout_image copies
    # every image added before it (tens of milliseconds a rerun on a small net, more on a large one)
    shapes, notes = [], []
    for name, cls, c0, c1, r0, r1 in view.frames:
        shapes.append(dict(type="rect", x0=c0 - 0.47, x1=c1 + 0.47, y0=-ROW * r1 - 0.8, y1=-ROW * r0 + 1.12,
                           line=dict(color=COLORS["group"], width=1.5, dash="dot"),
                           fillcolor="rgba(42,157,143,0.05)", layer="below"))
        notes.append(dict(x=c0 - 0.44, y=-ROW * r0 + 1.12, text=f"{name} ({cls})", showarrow=False, xanchor="left",
                          yanchor="bottom", font=dict(size=12, color=COLORS["group"])))
    ex, ey, sx, sy = [], [], [], []
    for s, d in view.edges:
        (x0, y0), (x1, y1) = pos[s], pos[d]
        skip = y0 == y1 and x1 - x0 > 1
        xs, ys = _edge_path(x0 + 0.3, y0, x1 - 0.3, y1, 1.0 if skip else 0)
        (sx if skip else ex).extend(xs)
        (sy if skip else ey).extend(ys)
    nodes = view.nodes
    size = 46 if view.width <= 16 else 38 if view.width <= 30 else 28
    small = view.width > 10  # narrow columns: short names (and, past 16 columns, labels on two levels)
    stagger = view.width > 16
    data = [
        dict(type="scatter", x=ex, y=ey, mode="lines", line=dict(color="#9a9a9a", width=2), hoverinfo="skip",
             showlegend=False),
        dict(type="scatter", x=sx, y=sy, mode="lines", line=dict(color=COLORS["merge"], width=2.5),
             hoverinfo="skip", name="skip connection", showlegend=bool(sx)),
        dict(type="scatter", x=[pos[n.id][0] for n in nodes], y=[pos[n.id][1] for n in nodes], mode="markers",
             marker=dict(symbol="square", size=size, color=[COLORS[family(n)] for n in nodes], opacity=0.9,
                         line=dict(color=[SELECTED if n.id == selected else "white" for n in nodes],
                                   width=[5 if n.id == selected else 1 for n in nodes])),
             customdata=[n.id for n in nodes],
             hovertext=[f"<b>{n.id}</b><br>{n.op} {n.detail}<br>output {'×'.join(map(str, n.shape or ()))}"
                        + (f"<br>{n.merge} merge" if n.merge else "") for n in nodes],
             hovertemplate="%{hovertext}<extra>click to open</extra>", showlegend=False),
        dict(type="scatter", x=[pos[n.id][0] for n in nodes],
             y=[pos[n.id][1] - 0.3 - (0.3 if stagger and col[n.id] % 2 else 0) for n in nodes], mode="text",
             text=[_label(n, small) for n in nodes], textposition="bottom center",
             textfont=dict(size=12 if small else 13, color="#222222"), hoverinfo="skip", showlegend=False),
    ]
    images = [dict(source=_data_uri(thumbs[n.id]), x=pos[n.id][0], y=pos[n.id][1] + 0.32, xref="x", yref="y",
                   sizex=0.86, sizey=0.5, xanchor="center", yanchor="bottom", sizing="contain", layer="above")
              for n in nodes if n.id in thumbs]
    layout = dict(shapes=shapes, annotations=notes, images=images,
                  xaxis=dict(visible=False, range=[-0.6, view.width - 0.4]),
                  yaxis=dict(visible=False, range=[-ROW * (view.height - 1) - (1.0 if stagger else 0.8), 1.3]),
                  height=int(row_px * ROW * (view.height - 1) + 270), font=FONT, plot_bgcolor="white",
                  margin=dict(l=5, r=5, t=10, b=5), dragmode="pan", clickmode="event+select",
                  legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    fig = go.Figure(dict(data=data, layout=layout))
    return fig


_SHORT = {"Conv2d": "conv", "Linear": "fc", "BatchNorm2d": "BN", "BatchNorm1d": "BN", "MaxPool2d": "maxpool",
          "AvgPool2d": "avgpool", "AdaptiveAvgPool2d": "avgpool", "AdaptiveMaxPool2d": "maxpool", "Flatten": "flatten",
          "Dropout": "dropout", "Hardswish": "hswish", "Hardsigmoid": "hsigmoid", "input": "input"}


def _label(n: GraphNode, small: bool) -> str:
    shape = "×".join(str(s) for s in n.shape) if n.shape else ""
    if n.kind == "group":
        return f"<b>{n.id}</b><br>{n.op}<br>{shape}"
    if small:
        parts = n.op.split("+")
        head = _SHORT.get(parts[0], parts[0]) + (f" {n.detail}" if n.detail else "")
        acts = [p for p in parts[1:] if p not in ("BN", "BatchNorm2d", "Dropout", "Identity")]
        return f"{head}{('+' + _SHORT.get(acts[-1], acts[-1])) if acts else ''}<br>{shape}"
    op = n.op if len(n.op) <= 18 else n.op[:17] + "…"
    return f"{op}{(' ' + n.detail) if n.detail else ''}<br>{shape}"


# ============================================================== a node's maps
def channel_grid(value: torch.Tensor, tile_px: int = 64, cols: int | None = None,
                 selected: int | None = None) -> tuple[np.ndarray, GridLayout]:
    """Every channel of ``[C, H, W]`` as one clickable image (each map on its own range, viridis)."""
    c, h, w = value.shape
    f = max(1, round(tile_px / max(h, w)))
    rgb = colormap_enlarged(normalize_maps(value.float(), "per"), "viridis", f).permute(0, 3, 1, 2)
    cols = cols or max(1, int(np.ceil(np.sqrt(c * 1.8))))
    img, layout = tile_grid(rgb, cols=cols, pad=max(2, f // 3), pad_value=1.0)
    arr = to_uint8(img)
    if selected is not None and 0 <= selected < c:
        y, x = layout.origin(selected)
        p = layout.pad
        arr[max(0, y - p):y, max(0, x - p):x + layout.tile_w + p] = (228, 26, 28)
        arr[y + layout.tile_h:y + layout.tile_h + p, max(0, x - p):x + layout.tile_w + p] = (228, 26, 28)
        arr[max(0, y - p):y + layout.tile_h + p, max(0, x - p):x] = (228, 26, 28)
        arr[max(0, y - p):y + layout.tile_h + p, x + layout.tile_w:x + layout.tile_w + p] = (228, 26, 28)
    return arr, layout


def unit_map(map2d: torch.Tensor, unit: tuple[int, int] | None, size: int = 360) -> tuple[np.ndarray, int]:
    """One channel enlarged (nearest pixels, viridis) with the picked unit framed in red; and the scale."""
    h, w = map2d.shape
    f = max(1, size // max(h, w))
    norm = normalize_maps(map2d[None].float(), "per")[0]
    arr = to_uint8(colormap_enlarged(norm, "viridis", f))
    if unit is not None:
        y, x = unit
        t = max(2, f // 4)
        y0, x0, y1, x1 = y * f, x * f, (y + 1) * f, (x + 1) * f
        for sl in ((slice(y0, y0 + t), slice(x0, x1)), (slice(y1 - t, y1), slice(x0, x1)),
                   (slice(y0, y1), slice(x0, x0 + t)), (slice(y0, y1), slice(x1 - t, x1))):
            arr[sl] = (228, 26, 28)
    return arr, f


# ============================================================== one unit
def _grid(fig, z: np.ndarray, row: int, col: int, colorscale, text: bool, mask: np.ndarray | None = None,
          zmid: float | None = 0.0, fmt: str = "{:.2f}") -> None:
    txt = np.vectorize(lambda v: fmt.format(v).replace("-", "−"))(z) if text else None
    lim = float(np.abs(z).max()) or 1.0
    fig.add_trace(go.Heatmap(z=z, text=txt, texttemplate="%{text}" if text else None, colorscale=colorscale,
                             zmid=zmid, zmin=-lim if zmid is not None else None, zmax=lim if zmid is not None else None,
                             showscale=False, xgap=1, ygap=1, textfont=dict(size=14),
                             hovertemplate="tap (%{y}, %{x}): %{z:.4g}<extra></extra>"), row, col)
    if mask is not None and mask.any():
        pad = np.where(mask, 1.0, np.nan)
        ptxt = np.where(mask, "pad 0", "") if text else None
        fig.add_trace(go.Heatmap(z=pad, colorscale=[[0, PAD_COLOR], [1, PAD_COLOR]], showscale=False, xgap=1, ygap=1,
                                 text=ptxt, texttemplate="%{text}" if text else None,
                                 textfont=dict(size=12, color="#7a5c1e"),
                                 hovertemplate="padding: reads 0<extra></extra>"), row, col)


def patch_figure(u: UnitComputation, i: int, height: int = 360) -> go.Figure:
    """Input channel term ``i`` of a unit: the patch the taps read × the kernel slice = the products."""
    t = u.terms[i]
    kh, kw = t.kernel.shape
    text = max(kh, kw) <= 7
    where = (f"rows {t.rows[0]}…{t.rows[-1]}, cols {t.cols[0]}…{t.cols[-1]}"
             + (f" (every {u.dilation[0]}th: dilated)" if u.dilation[0] > 1 else "")) if u.kind == "conv" else \
        f"its {kh}×{kw} map"
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        f"input channel {t.channel}: {where}", f"kernel w[{u.unit[0]}, {i}]",
        f"products: sum = {t.contribution:.4g}"))
    _grid(fig, t.patch, 1, 1, "Greys", text, t.padding, zmid=None)
    _grid(fig, t.kernel, 1, 2, "RdBu_r", text)
    _grid(fig, t.products, 1, 3, "RdBu_r", text)
    for c in (1, 2, 3):
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if c == 1 else c}", showgrid=False, zeroline=False,
                         showticklabels=False, row=1, col=c)
        fig.update_xaxes(showgrid=False, zeroline=False, showticklabels=False, row=1, col=c)
    for x, sym in ((0.3, "×"), (0.655, "=")):
        fig.add_annotation(x=x, y=0.5, xref="paper", yref="paper", text=sym, showarrow=False, font=dict(size=34))
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    return fig


def contributions_figure(u: UnitComputation, by: str = "index", current: int | None = None,
                         height: int = 380) -> go.Figure:
    """Each input channel's contribution as a bar (in the order ``by``), the running sum as a line, then the
    bias and the pre-activation; ``current`` (a term index) is drawn in red."""
    order = u.order(by)
    contrib = np.array([u.terms[i].contribution for i in order])
    run = u.running_sum(by)
    xs = list(range(len(order)))
    chans = [u.terms[i].channel for i in order]
    colors = [SELECTED if i == current else ("#4C78A8" if v >= 0 else "#E45756")
              for i, v in zip(order, contrib, strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=xs, y=contrib, marker_color=colors, customdata=chans, name="channel contribution",
                         hovertemplate="input channel %{customdata}: %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=xs, y=run, mode="lines", line=dict(color="#222222", width=2.5), name="running sum",
                             customdata=chans,
                             hovertemplate="sum through channel %{customdata}: %{y:.4g}<extra></extra>"))
    n = len(order)
    fig.add_trace(go.Bar(x=[n + 1], y=[u.bias], marker_color="#F58518", name="bias",
                         hovertemplate="bias: %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[n + 2], y=[u.pre_activation], mode="markers", name="pre-activation",
                             marker=dict(symbol="diamond", size=16, color="#222222"),
                             hovertemplate="sum + bias = %{y:.6g}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#bbbbbb", width=1))
    what = "input channel" if u.kind == "conv" or u.terms[0].patch.size > 1 else "input feature"
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=10, t=40, b=10), bargap=0.1 if n < 80 else 0,
                      plot_bgcolor="white", legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
                      xaxis=dict(title=f"{what}s in order of {by}, then the bias", showticklabels=n <= 32,
                                 tickvals=xs if n <= 32 else None,
                                 ticktext=[str(c) for c in chans] if n <= 32 else None),
                      yaxis=dict(title="value", gridcolor="#eeeeee"))
    return fig


def window_figure(region: WindowRegion, kernel: np.ndarray, width: int = 1050) -> go.Figure:
    """The kernel slice sliding over one input channel around the unit, as on the arithmetic page
    (:func:`cnnviz.figures.arithmetic.sliding_window_figure`); each step shows that channel's contribution."""
    h, w = region.values.shape
    spec = LayerSpec("conv", h, w, 1, 1, kernel=region.kernel, stride=region.stride, padding=region.padding,
                     dilation=region.dilation, bias=False)
    return sliding_window_figure(region.values, torch.as_tensor(kernel, dtype=torch.float64), 0.0, spec,
                                 start=region.start, width=width)


__all__ = ["graph_figure", "node_thumbnails", "channel_grid", "unit_map", "patch_figure", "contributions_figure",
           "window_figure", "family", "COLORS"]
