"""Figures of /detection: canvases with boxes, proposals, the R-CNN stages, NMS, RoI pooling, anchors, timings.

Streamlit-free: each function returns a Plotly figure. A canvas is drawn as an image trace with its boxes as
line traces (pixel-edge coordinates: a box ``(x0, y0, x1, y1)`` is drawn from ``x0 - 0.5`` to
``x1 - 0.5``, the image's pixel centres being the integers).

Examples::

    >>> import numpy as np
    >>> fig = canvas_figure(np.zeros((64, 64), np.uint8), [BoxSet(np.array([[2., 3., 20., 30.]]), ["7"])])
    >>> len(fig.data), fig.layout.annotations[0].text   # the image, one trace of boxes
    (2, '7')
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT, colorscale
from cnnviz.figures.export import array_to_png

TRUTH, PROPOSAL, KEPT, GONE, PICKED = "#2ca02c", "#4C78A8", "#F58518", "rgba(214,39,40,0.8)", "#FFD700"
METHOD_COLOURS = {"R-CNN": "#E45756", "Fast R-CNN": "#F58518", "Faster R-CNN": "#54A24B", "paper": "#9D9D9D"}


@dataclass
class BoxSet:
    """Boxes drawn alike: ``[N, 4]`` boxes, an optional label per box, a colour, a line width and dash."""

    boxes: np.ndarray
    labels: Sequence[str] | None = None
    colour: str = PROPOSAL
    width: float = 2.0
    dash: str = "solid"
    opacity: float = 1.0


def _image_trace(image: np.ndarray, min_side: int = 512) -> go.Image:
    """The canvas as a PNG (``source``), not as numbers (``z``): a few KB instead of 65 KB for 128x128, and the
    browser draws it without colouring every pixel in JavaScript. It is enlarged by a whole factor with nearest
    neighbour (the browser would blur a small picture); ``x0``/``dx`` keep the canvas's pixel coordinates, pixel
    ``(i, j)`` centred on ``x = j, y = i``."""
    img = np.asarray(image)
    rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
    f = max(1, -(-min_side // max(1, min(rgb.shape[:2]))))
    uri = "data:image/png;base64," + base64.b64encode(array_to_png(rgb, min_side=min_side)).decode("ascii")
    return go.Image(source=uri, x0=-0.5 + 0.5 / f, y0=-0.5 + 0.5 / f, dx=1 / f, dy=1 / f,
                    hovertemplate="x %{x:.0f}, y %{y:.0f}<extra></extra>")


def _outline(boxes: np.ndarray, pad: float = -0.5, end_pad: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    """The rectangles of ``boxes`` as one polyline (corners, then a NaN gap) for a single scatter trace.

    Arrays, not lists: Plotly sends them as typed arrays without checking each number (a list with ``None`` gaps
    is validated element by element: 0.3-0.6 s for the thousand sliding windows), and plotly.js breaks a line
    at a NaN as it does at a null."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0] + pad, b[:, 1] + pad, b[:, 2] + end_pad, b[:, 3] + end_pad
    gap = np.full(len(b), np.nan)
    xs = np.stack([x0, x1, x1, x0, x0, gap], 1).reshape(-1)
    ys = np.stack([y0, y0, y1, y1, y0, gap], 1).reshape(-1)
    return xs, ys


def _add_boxes(fig: go.Figure, sets: Sequence[BoxSet], row: int | None = None, col: int | None = None) -> None:
    """Each set of boxes as one line trace (Plotly validates layout shapes one by one, which takes seconds for
    hundreds of boxes), the labels as annotations."""
    where = {} if row is None else dict(row=row, col=col)
    notes = []
    for s in sets:
        boxes = np.asarray(s.boxes, np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            continue
        xs, ys = _outline(boxes)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=s.colour, width=s.width, dash=s.dash),
                                 opacity=s.opacity, hoverinfo="skip", showlegend=False), **where)
        if s.labels is not None:
            n = 1 if row is None else col
            xref, yref = ("x", "y") if n == 1 else (f"x{n}", f"y{n}")
            notes += [dict(xref=xref, yref=yref, x=b[0] - 0.5, y=b[1] - 0.5, text=t, showarrow=False, xanchor="left",
                           yanchor="bottom", font=dict(color="white", size=13), bgcolor=s.colour, borderpad=1)
                      for b, t in zip(boxes, s.labels, strict=False) if t]
    if notes:
        fig.update_layout(annotations=[*fig.layout.annotations, *notes])


def _axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)


def canvas_figure(image: np.ndarray, sets: Sequence[BoxSet], title: str = "", height: int | None = None) -> go.Figure:
    """A canvas with sets of boxes on it."""
    fig = go.Figure(_image_trace(image))
    _add_boxes(fig, sets)
    _axes(fig)
    fig.update_layout(title=title, height=height or 560, margin=dict(l=10, r=10, t=50 if title else 10, b=10),
                      font=FONT)
    return fig


def side_by_side(image: np.ndarray, panels: Sequence[tuple[str, Sequence[BoxSet]]], title: str = "",
                 height: int | None = None) -> go.Figure:
    """The same canvas two or more times, each with its own boxes and subtitle."""
    fig = make_subplots(1, len(panels), subplot_titles=[p[0] for p in panels], horizontal_spacing=0.03)
    for i, (_, sets) in enumerate(panels, start=1):
        fig.add_trace(_image_trace(image), 1, i)
        _add_boxes(fig, sets, 1, i)
    _axes(fig)
    fig.update_layout(title=title, height=height or 520, margin=dict(l=10, r=10, t=80, b=10), font=FONT)
    return fig


def nms_figure(image: np.ndarray, boxes: np.ndarray, names: Sequence[str], kept: Sequence[int],
               suppressed: dict[int, tuple[int, float]], truth: np.ndarray, title: str = "",
               height: int | None = None) -> go.Figure:
    """NMS on a canvas: kept boxes solid with their label and score, suppressed ones dashed with the IoU that
    removed them, the truth thin green.

    Args:
        suppressed: index -> (index of the kept box that removed it, their IoU).
    """
    gone = sorted(suppressed)
    sets = [BoxSet(truth, None, TRUTH, 1.0, "dot"),
            BoxSet(boxes[gone] if gone else np.zeros((0, 4)), [f"IoU {suppressed[i][1]:.2f}" for i in gone], GONE,
                   1.2, "dash", 0.8),
            BoxSet(boxes[list(kept)] if len(kept) else np.zeros((0, 4)), [names[i] for i in kept], KEPT, 3.0)]
    return canvas_figure(image, sets, title, height)


def feature_map_figure(fmap: np.ndarray, rois: np.ndarray, chosen: int, pooled: np.ndarray, channel_name: str,
                       title: str = "", height: int | None = None) -> go.Figure:
    """Fast R-CNN: one channel of the shared feature map with every RoI on it (the chosen one bold), and that
    RoI's pooled grid with its values.

    Args:
        fmap: ``(h, w)`` one channel of the feature map.
        rois: ``[K, 4]`` in feature-map cells (inclusive ends, as RoI pooling reads them).
        pooled: ``(5, 5)`` the chosen RoI's pooled values of that channel.
    """
    fig = make_subplots(1, 2, column_widths=[0.62, 0.38], horizontal_spacing=0.08,
                        subplot_titles=[f"The one feature map ({channel_name}, {fmap.shape[0]}x{fmap.shape[1]} "
                                        "cells) and every RoI", f"RoI {chosen}: max-pooled to {pooled.shape[0]}x"
                                                                f"{pooled.shape[1]}"])
    fig.add_trace(go.Heatmap(z=fmap, colorscale="Viridis", showscale=False,
                             hovertemplate="cell (%{y}, %{x}): %{z:.2f}<extra></extra>"), 1, 1)
    rois = np.asarray(rois, np.float64).reshape(-1, 4)
    others = np.delete(rois, chosen, axis=0) if 0 <= chosen < len(rois) else rois
    for boxes, colour, width in ((others, "rgba(255,255,255,0.35)", 1.0), (rois[chosen:chosen + 1], PICKED, 3.0)):
        xs, ys = _outline(boxes, -0.5, 0.5)  # RoIs in cells, ends inclusive
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=colour, width=width), hoverinfo="skip",
                                 showlegend=False), 1, 1)
    fig.add_trace(go.Heatmap(z=pooled, colorscale="Viridis", showscale=False, text=np.round(pooled, 1),
                             texttemplate="%{text}", hovertemplate="bin (%{y}, %{x}): %{z:.3f}<extra></extra>"), 1, 2)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, row=1, col=1)
    fig.update_yaxes(autorange="reversed", scaleanchor="x2", constrain="domain", showgrid=False, row=1, col=2)
    fig.update_xaxes(showgrid=False, constrain="domain")
    fig.update_layout(title=title, height=height or 520, margin=dict(l=10, r=10, t=80, b=10), font=FONT)
    return fig


def rpn_figure(image: np.ndarray, anchors_here: np.ndarray, objectness: np.ndarray, proposals: np.ndarray,
               detections: Sequence[BoxSet], title: str = "", height: int | None = None) -> go.Figure:
    """Faster R-CNN: the anchors at one location over the canvas, the objectness map (best anchor per
    location), the top proposals, the final detections.

    Args:
        anchors_here: ``[9, 4]`` the anchors of the chosen location.
        objectness: ``(rows, cols)`` the largest anchor objectness at each feature-map location.
        proposals: ``[P, 4]`` the RPN's top proposals.
        detections: the boxes to draw on the last panel (final detections and truth).
    """
    fig = make_subplots(1, 3, horizontal_spacing=0.03,
                        subplot_titles=["Anchors at one location", "Objectness (best anchor per cell)",
                                        f"Top {len(proposals)} proposals → detections"])
    fig.add_trace(_image_trace(image), 1, 1)
    _add_boxes(fig, [BoxSet(anchors_here, None, PICKED, 1.5)], 1, 1)
    fig.add_trace(go.Heatmap(z=objectness, colorscale=colorscale("Magma"), zmin=0, zmax=1, showscale=False,
                             hovertemplate="cell (%{y}, %{x}): P(object) %{z:.2f}<extra></extra>"), 1, 2)
    fig.update_yaxes(autorange="reversed", scaleanchor="x2", constrain="domain", row=1, col=2)
    fig.add_trace(_image_trace(image), 1, 3)
    _add_boxes(fig, [BoxSet(proposals, None, PROPOSAL, 0.8, "solid", 0.5), *detections], 1, 3)
    _axes(fig)
    fig.update_layout(title=title, height=height or 480, margin=dict(l=10, r=10, t=80, b=10), font=FONT)
    return fig


def timing_figure(rows: Sequence[tuple[str, str, float]], title: str = "", height: int | None = None) -> go.Figure:
    """Seconds per stage on a log axis, one bar per (method, stage), coloured by method.

    Args:
        rows: ``(method, stage, seconds)``; methods are coloured by :data:`METHOD_COLOURS`.
    """
    labels = [f"{m} · {s}" for m, s, _ in rows][::-1]
    secs = [max(float(t), 1e-6) for _, _, t in rows][::-1]
    colours = [METHOD_COLOURS.get(m, PROPOSAL) for m, _, _ in rows][::-1]
    text = [f"{t:.3g} s" if t >= 0.1 else f"{t * 1000:.3g} ms" for t in secs]
    fig = go.Figure(go.Bar(x=secs, y=labels, orientation="h", marker_color=colours, text=text,
                           textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.4f} s<extra></extra>"))
    fig.update_xaxes(type="log", title="seconds per canvas (log scale)")
    fig.update_yaxes(type="category", automargin=True)
    fig.update_layout(title=title, height=height or max(320, 40 + 30 * len(rows)),
                      margin=dict(l=10, r=60, t=50, b=40), font=FONT)
    return fig


__all__ = ["BoxSet", "canvas_figure", "feature_map_figure", "nms_figure", "rpn_figure", "side_by_side",
           "timing_figure"]
