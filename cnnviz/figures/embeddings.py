"""Figures of embeddings: the 2D/3D scatter, the snapped image grid, neighbour strips, the layer comparison.

Streamlit-free: each function returns a Plotly figure or a uint8 image array.

Examples::

    >>> from cnnviz.methods import embeddings as em
    >>> emb = em.embed(feats.values, "pca")
    >>> fig = scatter(emb.points, pts.labels, pts.classes, title="PCA of classifier.4")
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import torch

from cnnviz.figures.common import FONT, hex_rgb, values
from cnnviz.figures.maximal import labelled_grid
from cnnviz.figures.render import tile_grid
from cnnviz.methods.embeddings.grid import grid_shape

PALETTE = pc.qualitative.Plotly + pc.qualitative.Dark24
GREY = "#AAAAAA"  # unlabelled points, and the rarer classes when only the most frequent get a colour


def percent(v: float) -> str:
    """A score as a percentage, ``"—"`` for NaN (no labels to score against)."""
    return "—" if v != v else f"{v:.1%}"


def group_colour(group: int, position: int, n_names: int) -> str:
    """The colour of a group: by its class index when every class has its own colour, else by its position."""
    if group < 0:
        return GREY
    return PALETTE[(group if n_names <= len(PALETTE) else position) % len(PALETTE)]


def scatter(points: np.ndarray, groups: np.ndarray, names: Sequence[str], hover: Sequence[str] | None = None,
            wrong: np.ndarray | None = None, title: str = "", own: np.ndarray | None = None,
            own_label: str = "your image", ticks: bool = True, other: str = "other") -> go.Figure:
    """The embedding: one trace per group (legend = class), misclassified points as larger crosses,
    your image as a black star (2D) or diamond (3D). 2D axes keep one unit equal on both.

    Args:
        points: ``[N, 2]`` or ``[N, 3]``.
        groups: group (class) per point; ``-1`` is drawn grey and named ``other``.
        names: the name of each group index.
        hover: a hover text per point.
        wrong: boolean per point, True where the model is wrong.
        own: the position of your image, or None.
        ticks: show tick labels (PCA coordinates mean something; t-SNE/UMAP coordinates do not).

    Every trace carries the point indices in ``customdata``, so a selection maps back to the points.
    """
    dim = points.shape[1]
    wrong = np.zeros(len(points), bool) if wrong is None else np.asarray(wrong)
    hover = [f"#{i}" for i in range(len(points))] if hover is None else list(hover)
    big = len(points) > 4000
    uniq = [int(g) for g in np.unique(groups) if g >= 0] + ([-1] if (np.asarray(groups) < 0).any() else [])
    fig = go.Figure()
    for gi, g in enumerate(uniq):
        sel = np.flatnonzero(groups == g)
        col = group_colour(g, gi, len(names))
        symbols = np.where(wrong[sel], "x", "circle")
        name = other if g < 0 else names[g] if g < len(names) else str(g)
        common = dict(mode="markers", name=name, customdata=sel, hovertext=[hover[i] for i in sel],
                      hovertemplate="%{hovertext}<extra></extra>")
        if dim == 2:
            base = 4 if big else 7
            marker = dict(color=col, size=np.where(wrong[sel], base + 4, base), symbol=symbols, line=dict(width=0))
            trace = go.Scattergl if big else go.Scatter
            fig.add_trace(trace(x=points[sel, 0], y=points[sel, 1], marker=marker, **common))
        else:
            marker = dict(color=col, size=np.where(wrong[sel], 5, 3), symbol=symbols)
            fig.add_trace(go.Scatter3d(x=points[sel, 0], y=points[sel, 1], z=points[sel, 2], marker=marker, **common))
    if own is not None:
        if dim == 2:
            fig.add_trace(go.Scatter(x=[own[0]], y=[own[1]], mode="markers", name="your image",
                                     marker=dict(size=22, symbol="star", color="black",
                                                 line=dict(color="white", width=2)),
                                     hovertemplate=f"your image ({own_label})<extra></extra>"))
        else:
            fig.add_trace(go.Scatter3d(x=[own[0]], y=[own[1]], z=[own[2]], mode="markers", name="your image",
                                       marker=dict(size=8, color="black", symbol="diamond"),
                                       hovertemplate="your image<extra></extra>"))
    fig.update_layout(height=640, font=FONT, margin=dict(l=10, r=10, t=30, b=10), legend=dict(itemsizing="constant"),
                      title=title + (" — × misclassified" if wrong.any() else ""))
    if dim == 2:
        fig.update_yaxes(scaleanchor="x", scaleratio=1, showticklabels=ticks)
        fig.update_xaxes(showticklabels=ticks)
    return fig


def picked_points(event) -> list[int]:
    """The point indices of a chart selection (``st.plotly_chart(..., on_select="rerun")``), from the
    ``customdata`` that :func:`scatter` puts on every trace; ``[]`` for no selection."""
    points = event.selection.points if event is not None and hasattr(event, "selection") else []
    cds = [p.get("customdata") for p in points]
    return [int(cd[0] if isinstance(cd, list) else cd) for cd in cds if cd is not None and cd != []]


def count_by_trace(fig: go.Figure, picked: Sequence[int], top: int = 10) -> list[tuple[str, int]]:
    """How many of the ``picked`` points each trace (class) of ``fig`` holds, most first (read through
    ``to_dict``, so a frozen figure answers too)."""
    trace_of = {int(i): t.get("name") for t in fig.to_dict()["data"] if t.get("customdata") is not None
                for i in values(t["customdata"]).reshape(-1)}
    return Counter(trace_of[i] for i in picked if i in trace_of).most_common(top)


def layer_scatter_image(points: np.ndarray, labels: np.ndarray, side: int = 300, height: int | None = None,
                        radius: int = 2, pad: float = 0.04) -> np.ndarray:
    """A small 2D scatter of one layer of the comparison as a picture, coloured by true label (the colours of
    :func:`scatter`; no axes, no hover): each axis spans its points' range, ``pad`` of the side left free
    around them, later classes drawn over earlier ones.

    A picture, not a chart: the comparison shows up to six of these, and every one Plotly draws costs the browser
    about a fifth of a second on each rerun (measured on 2 cores: BENCHMARKS.md); an image costs nearly nothing.

    Args:
        side: the width in pixels; ``height`` (default: ``side``) the height.

    Returns:
        uint8 ``[height, side, 3]``, white where there is no point.

    Examples::

        >>> img = layer_scatter_image(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1]), side=101, pad=0.0)
        >>> img[100, 0].tolist(), img[0, 100].tolist()  # y grows upwards, as on a chart
        ([99, 110, 250], [239, 85, 59])
    """
    height = side if height is None else height
    img = np.full((height, side, 3), 255, np.uint8)
    p = np.asarray(points, np.float64)[:, :2]
    if len(p) == 0:
        return img
    lo, hi = p.min(0), p.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    extent = np.array([side - 1, height - 1], np.float64)
    xy = (p - lo) / span * extent * (1 - 2 * pad) + extent * pad
    cols = np.rint(xy[:, 0]).astype(int)
    rows = np.rint((height - 1) - xy[:, 1]).astype(int)
    # a disc of the radius as pixel offsets, stamped at every point of a class at once (a thousand points: 1 ms)
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = dy ** 2 + dx ** 2 <= radius ** 2
    labels = np.asarray(labels)
    for g in np.unique(labels):
        sel = labels == g
        r = (rows[sel, None] + dy[disc][None, :]).ravel()
        c = (cols[sel, None] + dx[disc][None, :]).ravel()
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < side)
        img[r[inside], c[inside]] = hex_rgb(group_colour(int(g), 0, 0))
    return img


def image_grid(thumbs: np.ndarray, cells: np.ndarray, rows: int, cols: int, pad: int = 1,
               empty: float = 0.5) -> np.ndarray:
    """Compose thumbnails into the grid picture: thumbnail i in cell ``cells[i]`` (Karpathy's t-SNE grid).

    Args:
        thumbs: uint8 [N, H, W] or [N, H, W, 3].
        cells: the cell of each thumbnail (:func:`cnnviz.methods.embeddings.snap_to_grid`).
        empty: grey level of cells without an image; white lines of ``pad`` px between cells.

    Returns:
        uint8 [H', W'] or [H', W', 3].

    Examples::

        >>> image_grid(np.array([[[255]], [[0]]], np.uint8), np.array([1, 0]), 1, 3, pad=0).tolist()
        [[0, 255, 128]]
    """
    t = torch.as_tensor(np.asarray(thumbs)).float() / 255
    if t.ndim == 4:
        t = t.permute(0, 3, 1, 2)
    full = torch.full((rows * cols, *t.shape[1:]), empty)
    full[torch.as_tensor(cells)] = t
    img, _layout = tile_grid(full, cols=cols, pad=pad, pad_value=1.0)
    if img.ndim == 3:
        img = img.permute(1, 2, 0)
    return (img.clamp(0, 1) * 255).round().byte().numpy()


def selection_grid(thumbs: np.ndarray, limit: int = 64) -> np.ndarray:
    """The first ``limit`` selected images in a near-square grid (1 px white lines)."""
    show = np.asarray(thumbs)[:limit]
    rows, cols = grid_shape(len(show))
    return image_grid(show, np.arange(len(show)), rows, cols)


def neighbour_strip(thumbs: np.ndarray, labels: Sequence[str], cols: int = 8, side: int = 84) -> np.ndarray:
    """Neighbours in rows of ``cols``, each ``side`` px (small images enlarged crisply) with its label under it."""
    return labelled_grid(list(thumbs), list(labels), side=side, cols=cols, pad=4, font_size=14)[0]


__all__ = ["PALETTE", "GREY", "percent", "group_colour", "scatter", "picked_points", "count_by_trace",
           "layer_scatter_image", "image_grid", "selection_grid", "neighbour_strip"]
