"""Figures of the /augmentation page: invariance curves, image strips (Streamlit-free).

Each function takes a result of :mod:`cnnviz.methods.augmentation` and returns a Plotly figure
or a uint8 image, so every chart of the page is one call away in a notebook::

    >>> import cnnviz
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> fig = rotation_figure(cnnviz.rotation_scale_grid(m, "assets/samples/digit-6.png", angles=[0, 90]))
    >>> len(fig.data)  # one curve per scale
    3
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from cnnviz.figures.common import FONT
from cnnviz.figures.render import tile_grid, to_uint8
from cnnviz.methods.augmentation import LabelFlip, RotationScaleGrid, ScrambleSweep, ShiftSweep, Sweep

COLOURS = ["#4C78A8", "#F58518", "#E45756", "#54A24B", "#B279A2"]
BAND_FILL = "rgba(76,120,168,0.25)"


def strip(images: torch.Tensor, cols: int | None = None) -> np.ndarray:
    """Pixel-domain images ``[N, C, H, W]`` (0..1) side by side in one uint8 picture, white between them.

    Examples::

        >>> strip(torch.zeros(3, 1, 28, 28)).shape  # one pixel of padding around each 28-pixel tile
        (30, 88)
    """
    grid, _ = tile_grid(images, cols=cols or len(images), pad=max(1, images.shape[-1] // 28), pad_value=1.0)
    return to_uint8(grid)


KEPT_RGB, CHANGED_RGB = (46, 125, 50), (198, 40, 40)  # green: the clean prediction kept; red: changed


def sample_grid(arrays: list[np.ndarray], labels: list[str], kept: list[bool], cols: int, side: int,
                font_size: int = 18, frame: int = 4) -> np.ndarray:
    """Augmented samples as one picture (a slide's figure): ``cols`` per row, each ``side`` px (small images
    enlarged with nearest neighbour), in a green frame where the prediction is the clean one and a red frame where
    it changed, with its label (one or more lines) under it in the same colour.

    Examples::

        >>> sample_grid([np.zeros((28, 28), np.uint8)] * 3, ["7 90%"] * 3, [True, False, True], cols=2, side=56).shape
        (202, 146, 3)
    """
    from PIL import Image, ImageDraw, ImageFont

    lines = max((str(t).count("\n") + 1 for t in labels), default=1)
    band, pad, outer = lines * (font_size + 4) + 6, 6, side + 2 * frame
    n = len(arrays)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    canvas = Image.new("RGB", (pad + cols * (outer + pad), pad + rows * (outer + band + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=font_size)
    for i, (arr, label, ok) in enumerate(zip(arrays, labels, kept, strict=True)):
        img = Image.fromarray(np.asarray(arr)).convert("RGB")
        img = img.resize((side, side), Image.BOX if img.width > side else Image.NEAREST)
        r, c = divmod(i, cols)
        x0, y0 = pad + c * (outer + pad), pad + r * (outer + band + pad)
        colour = KEPT_RGB if ok else CHANGED_RGB
        draw.rectangle((x0, y0, x0 + outer - 1, y0 + outer - 1), fill=colour)
        canvas.paste(img, (x0 + frame, y0 + frame))
        draw.multiline_text((x0 + outer / 2, y0 + outer + 3), str(label), fill=colour, font=font, anchor="ma",
                            align="center", spacing=4)
    return np.asarray(canvas)


def sample_grid_shape(n: int, width: int, height: int, font_size: int = 18, lines: int = 1,
                      frame: int = 4) -> tuple[int, int]:
    """(columns, tile side) of the :func:`sample_grid` of ``n`` samples that covers most of ``width`` x ``height``
    pixels, among the layouts whose last row is at least half full.

    Examples::

        >>> sample_grid_shape(16, 1180, 520)
        (6, 129)
    """
    band, pad = lines * (font_size + 4) + 6, 6
    best, best_area = (1, 1), 0
    for cols in range(1, max(1, n) + 1):
        rows = -(-n // cols)
        side = min((width - pad) // cols - pad - 2 * frame, (height - pad) // rows - pad - band - 2 * frame)
        area = (pad + cols * (side + 2 * frame + pad)) * (pad + rows * (side + 2 * frame + band + pad))
        if side > 0 and 2 * (rows * cols - n) <= cols and area > best_area:
            best, best_area = (cols, side), area
    return best


def _figure(title: str, xtitle: str, ytitle: str, height: int = 380) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, font=FONT, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def rotation_figure(grid: RotationScaleGrid) -> go.Figure:
    """P(clean class) against the rotation angle, one curve per zoom scale."""
    clean = grid.classes[grid.reference]
    fig = _figure(f"P({clean}) against rotation", "rotation (degrees)", f"P({clean})")
    for i, (s, r) in enumerate(zip(grid.scales, grid.reference_probs(), strict=True)):
        fig.add_trace(go.Scatter(x=grid.angles, y=r, mode="lines+markers", name=f"scale {s:.0%}",
                                 line=dict(color=COLOURS[i % len(COLOURS)], width=3)))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(tickvals=grid.angles[::2] if len(grid.angles) > 10 else grid.angles)
    return fig


def sweep_figure(sweep: Sweep, title: str, xtitle: str) -> go.Figure:
    """P(clean class) along a sweep, and the top class at each value (a diamond labelled with its name)."""
    clean = sweep.classes[sweep.reference]
    fig = _figure(title, xtitle, "probability")
    fig.add_trace(go.Scatter(x=sweep.values, y=sweep.reference_probs, mode="lines+markers", name=f"P({clean})",
                             line=dict(color=COLOURS[0], width=3)))
    fig.add_trace(go.Scatter(x=sweep.values, y=sweep.confidences, mode="markers+text", text=sweep.labels,
                             textposition="top center", name="top class (label above)", marker=dict(symbol="diamond")))
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    return fig


def shift_change_figure(s: ShiftSweep) -> go.Figure:
    """Relative change of the layer's output against the shift, raw and after taking out whole-cell moves;
    dotted lines at multiples of the layer's stride."""
    shifts = s.sweep.values
    fig = _figure(f"Change of {s.layer} (stride {s.stride})", "shift (pixels)", "relative L2 change")
    fig.add_trace(go.Scatter(x=shifts, y=s.change, mode="lines+markers", name="raw: ‖a(k) − a(0)‖ / ‖a(0)‖",
                             line=dict(color=COLOURS[1], width=3)))
    if s.aligned_change is not None:
        fig.add_trace(go.Scatter(x=shifts, y=s.aligned_change, mode="lines+markers",
                                 name=f"after moving a(0) by round(k / {s.stride}) cells",
                                 line=dict(color=COLOURS[3], width=3)))
    if s.stride:
        for k in range(s.stride, int(max(shifts)) + 1, s.stride):
            fig.add_vline(x=k, line_dash="dot", line_color="gray")
    return fig


def label_flip_figure(flip: LabelFlip) -> go.Figure:
    """P(source) and P(target) against the rotation, with a dashed line where the target wins first."""
    fig = _figure(f"The {flip.source}, rotated", "rotation (degrees, + = counter-clockwise)", "probability")
    for cls, colour in ((flip.source, COLOURS[0]), (flip.target, COLOURS[2])):
        fig.add_trace(go.Scatter(x=flip.sweep.values, y=flip.sweep.probs_of(cls), mode="lines", name=f"P({cls})",
                                 line=dict(width=3, color=colour)))
    if flip.flip_angle is not None:
        fig.add_vline(x=flip.flip_angle, line_dash="dash",
                      annotation_text=f"read as {flip.target} at {flip.flip_angle:g}°")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def scramble_figure(sweep: ScrambleSweep) -> go.Figure:
    """Mean P(clean class) over shuffles against the number of tiles, its min..max band, and the share kept top-1."""
    clean = sweep.classes[sweep.reference]
    fig = _figure(f"How much of '{clean}' survives scrambling ({sweep.probs.shape[1]} shuffles per grid)",
                  "number of tiles", f"P({clean})")
    lo, hi = sweep.probs.min(1).values.tolist(), sweep.probs.max(1).values.tolist()
    fig.add_trace(go.Scatter(x=sweep.tiles, y=hi, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=sweep.tiles, y=lo, mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor=BAND_FILL, name="min..max over shuffles"))
    fig.add_trace(go.Scatter(x=sweep.tiles, y=sweep.mean_probs, mode="lines+markers", name=f"mean P({clean})",
                             line=dict(color=COLOURS[0], width=3)))
    fig.add_trace(go.Scatter(x=sweep.tiles, y=sweep.kept, mode="lines+markers", name="shuffles still top-1",
                             line=dict(dash="dash", color=COLOURS[1])))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(tickvals=sweep.tiles)
    return fig
