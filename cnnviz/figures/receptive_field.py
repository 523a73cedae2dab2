"""Figures of the Receptive fields page (Plotly and PIL; no computation beyond drawing).

Streamlit-free: each function returns a Plotly figure, a picture, or LaTeX/Markdown text.

Examples::

    >>> import cnnviz
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> fields = cnnviz.receptive_fields(m)
    >>> fig = depth_chart(list(fields.values()), "features.3", (28, 28))
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw

from cnnviz.figures.common import colorscale
from cnnviz.figures.render import colormap
from cnnviz.methods.receptive_field import EffectiveReceptiveField, ReceptiveField, RecurrenceStep

FONT = dict(size=15)
BOX = "#e6194b"      # the clipped field, on the image
PAD = "rgba(120,120,120,0.55)"  # the part of the field that lies in the padding
INFERNO = colorscale("Inferno")  # zero stays black under Streamlit's theme


def depth_chart(fields: list[ReceptiveField], chosen: str, input_hw: tuple[int, int]) -> go.Figure:
    """Receptive field size per layer (graph order) against the input size."""
    x = list(range(len(fields)))
    ry = [f.size[0] for f in fields]
    rx = [f.size[1] for f in fields]
    hover = [f"{f.name} ({f.op})<br>field {f.size[0]}×{f.size[1]} px, jump {f.jump[0]}×{f.jump[1]}" for f in fields]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=ry, mode="lines+markers", name="field height", hovertext=hover,
                             hoverinfo="text", line=dict(width=3, color="#4C78A8"), marker=dict(size=6)))
    if rx != ry:
        fig.add_trace(go.Scatter(x=x, y=rx, mode="lines", name="field width", hoverinfo="skip",
                                 line=dict(width=2, dash="dot", color="#F58518")))
    fig.add_hline(y=input_hw[0], line=dict(color="#444", dash="dash", width=2),
                  annotation_text=f"input height {input_hw[0]} px", annotation_position="top left",
                  annotation_font=FONT)
    idx = next((i for i, f in enumerate(fields) if f.name == chosen), None)
    if idx is not None:
        fig.add_trace(go.Scatter(x=[idx], y=[ry[idx]], mode="markers+text", text=[f"{chosen}: {ry[idx]} px  "],
                                 textposition="top left", textfont=dict(size=15, color=BOX),
                                 marker=dict(size=14, color=BOX, symbol="diamond"), name="chosen layer",
                                 hoverinfo="skip"))
    fig.update_layout(xaxis_title="layer (graph order)", yaxis_title="receptive field (input pixels)", font=FONT,
                      height=380, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.08),
                      yaxis=dict(rangemode="tozero"))
    return fig


def recurrence_latex(steps: list[RecurrenceStep], rf: ReceptiveField, axis: int = 0) -> str:
    """The backward recurrence with the layer's numbers, one line per window layer (last layer first)."""
    depth = len(steps)
    # %-formatting keeps LaTeX's braces readable
    lines = [r"r_{%d} &= 1 && \text{one unit of } \texttt{%s}" % (depth, _tex(rf.name))]  # noqa: UP031
    for i, s in enumerate(steps):
        lo, hi = depth - i - 1, depth - i
        lines.append(
            r"r_{%d} &= s_{%d}\,r_{%d} + (k_{%d} - s_{%d}) = %d \cdot %d + (%d - %d) = %d "  # noqa: UP031
            r"&& \texttt{%s}\ (\text{%s},\ k{=}%d,\ s{=}%d)"
            % (lo, hi, hi, hi, hi, s.s, s.r_after, s.k, s.s, s.r_before, _tex(s.name), s.op, s.k, s.s))
    return r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}"


def jump_latex(steps: list[RecurrenceStep], rf: ReceptiveField) -> str:
    """The jump as the product of the strides on the path, with the layer's numbers (rows).

    Examples::

        >>> steps = [RecurrenceStep("b", "Conv2d", 3, 2, 1, 1, 3), RecurrenceStep("a", "Conv2d", 3, 2, 1, 3, 7)]
        >>> print(jump_latex(steps, ReceptiveField("b", "Conv2d", (7, 7), (4, 4), (-2.0, -2.0)))[:31])
        j = \\prod_l s_l = 2 \\cdot 2 = 4
    """
    prod = " \\cdot ".join(str(s.s) for s in reversed(steps))
    return rf"j = \prod_l s_l = {prod} = {rf.jump[0]} \text{{ input pixels between neighbouring units}}"


def _tex(name: str) -> str:
    return name.replace("_", r"\_").replace("#", r"\#")


def activation_picture(act: torch.Tensor, unit: tuple[int, int], side: int = 320) -> tuple[Image.Image, int]:
    """A [H, W] map as a viridis picture ~``side`` px wide, the chosen unit outlined; returns (image, scale).

    Examples::

        >>> pic, scale = activation_picture(torch.arange(4.0).view(2, 2), (0, 1), side=100)
        >>> pic.size, scale, unit_at(60, 10, scale, (2, 2))
        ((100, 100), 50, 2)
    """
    a = act.float()
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if float(hi - lo) > 0 else torch.zeros_like(a)
    rgb = (colormap(a) * 255).round().byte().cpu().numpy()
    h, w = rgb.shape[:2]
    f = max(1, side // max(h, w))
    big = Image.fromarray(np.repeat(np.repeat(rgb, f, 0), f, 1))
    d = ImageDraw.Draw(big)
    r, c = unit
    d.rectangle([c * f, r * f, (c + 1) * f - 1, (r + 1) * f - 1], outline=(230, 25, 75), width=max(2, f // 6))
    return big, f


def unit_at(y: float, x: float, scale: int, shape: tuple[int, int]) -> int | None:
    """The unit under pixel (y, x) of :func:`activation_picture`'s image, as ``row * W + col`` (None outside)."""
    r, c = int(y // scale), int(x // scale)
    return r * shape[1] + c if 0 <= r < shape[0] and 0 <= c < shape[1] else None


def field_on_image(img: np.ndarray, rf: ReceptiveField, unit: tuple[int, int], title: str = "") -> go.Figure:
    """The input image with the unit's receptive field: solid where it covers pixels, grey where in the padding."""
    rgb = img if img.ndim == 3 else np.stack([img] * 3, -1)
    H, W = rgb.shape[:2]
    top, left, bottom, right = rf.box(*unit)
    ct, cl, cb, cr = rf.clipped_box(*unit, H, W)
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    # padding part: the whole box filled grey underneath; the image covers the part inside
    fig.add_shape(type="rect", x0=left - 0.5, x1=right - 0.5, y0=top - 0.5, y1=bottom - 0.5, layer="below",
                  fillcolor=PAD, line=dict(color="#555", dash="dash", width=2))
    fig.add_shape(type="rect", x0=-0.5, x1=W - 0.5, y0=-0.5, y1=H - 0.5, line=dict(color="#222", width=1))
    fig.add_shape(type="rect", x0=cl - 0.5, x1=cr - 0.5, y0=ct - 0.5, y1=cb - 0.5,
                  line=dict(color=BOX, width=4))
    cy, cx = rf.center(*unit)
    fig.add_trace(go.Scatter(x=[cx], y=[cy], mode="markers", marker=dict(symbol="x", size=12, color=BOX),
                             hovertemplate="centre (%{y:.1f}, %{x:.1f})<extra></extra>", showlegend=False))
    fig.update_xaxes(range=[min(left, 0) - 1.5, max(right, W) + 0.5], showgrid=False, zeroline=False,
                     constrain="domain")
    fig.update_yaxes(range=[max(bottom, H) + 0.5, min(top, 0) - 1.5], showgrid=False, zeroline=False, scaleanchor="x",
                     constrain="domain")
    fig.update_layout(title=title, font=FONT, margin=dict(l=10, r=10, t=40 if title else 10, b=10), height=430,
                      plot_bgcolor="white")
    return fig


def erf_figure(erf: EffectiveReceptiveField, title: str, log: bool = False) -> go.Figure:
    """The input-gradient magnitude with the theoretical box and the ±1σ / ±2σ bands."""
    g = erf.gradient
    z = np.log10(g + g.max() * 1e-4) if log and g.max() > 0 else g
    fig = go.Figure(go.Heatmap(z=z, zmin=float(z.min()), zmax=float(z.max()), colorscale=INFERNO,
                               showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"))
    top, left, bottom, right = erf.theoretical.clipped_box(*erf.unit, *g.shape)
    fig.add_shape(type="rect", x0=left - 0.5, x1=right - 0.5, y0=top - 0.5, y1=bottom - 0.5,
                  line=dict(color="white", width=3, dash="dash"))
    (my, mx), (sy, sx) = erf.mean, erf.sigma
    for k, color in ((1, "#00e5ff"), (2, "#7CFC00")):
        fig.add_shape(type="rect", x0=mx - k * sx, x1=mx + k * sx, y0=my - k * sy, y1=my + k * sy,
                      line=dict(color=color, width=3))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, constrain="domain", zeroline=False)
    fig.update_layout(title=title, font=FONT, margin=dict(l=10, r=10, t=40, b=10), height=400)
    return fig


def erf_size_table(erf: EffectiveReceptiveField) -> str:
    """A Markdown table of the effective field's ±1σ and ±2σ bands against the theoretical box on the image.

    Examples::

        >>> print(erf_size_table(erf).splitlines()[2])   # doctest: +SKIP
        | ±1σ (68 % of a Gaussian) | 3.2 px | 3.1 px |
    """
    s1, s2 = erf.size(1), erf.size(2)
    th = erf.clipped_theoretical()
    return (f"| | height | width |\n|---|---|---|\n"
            f"| ±1σ (68 % of a Gaussian) | {s1[0]:.1f} px | {s1[1]:.1f} px |\n"
            f"| ±2σ (95 %) | {s2[0]:.1f} px | {s2[1]:.1f} px |\n"
            f"| theoretical (on the image) | {th[0]} px | {th[1]} px |")


def erf_coverage(erf: EffectiveReceptiveField) -> float | None:
    """The share of the theoretical box's area (on the image) that the ±2σ band covers, at most 1; None if empty."""
    s2, th = erf.size(2), erf.clipped_theoretical()
    return min(1.0, s2[0] * s2[1] / (th[0] * th[1])) if th[0] > 0 and th[1] > 0 else None


def recurrence_figure(steps: list[RecurrenceStep], rf: ReceptiveField) -> go.Figure:
    """The recurrence as a pyramid: one unit of the chosen layer on top, under it the window it covers on each layer
    below (``r`` units of that layer, centred), down to the input pixels; each level names its step of the rule.

    Examples::

        >>> steps = [RecurrenceStep("b", "Conv2d", 3, 2, 1, 1, 3), RecurrenceStep("a", "Conv2d", 3, 2, 1, 3, 7)]
        >>> fig = recurrence_figure(steps, ReceptiveField("b", "Conv2d", (7, 7), (4, 4), (-2.0, -2.0)))
        >>> list(fig.data[0].x), list(fig.data[0].y)
        [1, 3, 7]
    """
    labels = [f"{rf.name} (one unit)"]
    widths = [1]
    notes = ["r = 1"]
    hover = [f"one unit of {rf.name}"]
    for i, s in enumerate(steps):
        below = f"{steps[i + 1].name} output" if i + 1 < len(steps) else "input image (pixels)"
        labels.append(below)
        widths.append(s.r_before)
        notes.append(f"r = {s.s}·{s.r_after} + ({s.k} − {s.s}) = {s.r_before}   ({s.name}: k={s.k}, s={s.s})")
        hover.append(f"{s.r_before} units of {below}, through {s.name} ({s.op}, k={s.k}, s={s.s})")
    labels = [f"{i}. {t}" for i, t in enumerate(labels)]  # unique categories even when names repeat
    big = max(widths)
    colors = [BOX] + ["#4C78A8"] * (len(widths) - 2) + (["#54A24B"] if len(widths) > 1 else [])
    fig = go.Figure(go.Bar(x=widths, y=labels, base=[-w / 2 for w in widths], orientation="h", marker_color=colors,
                           hovertext=hover, hoverinfo="text", width=0.7))
    for lab, note in zip(labels, notes, strict=True):
        fig.add_annotation(x=big * 0.56, y=lab, text=note, showarrow=False, xanchor="left")
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(range=[-big * 0.55, big * 1.55], showticklabels=False, showgrid=False, zeroline=True,
                     zerolinecolor="#bbb", title="the window one unit covers, in units of each layer (centred)")
    fig.update_layout(font=FONT, margin=dict(l=10, r=10, t=10, b=10), height=max(300, 70 + 42 * len(widths)),
                      bargap=0.25, plot_bgcolor="white")
    return fig


FIELD_COLORS = ["#e6194b", "#f58231", "#ffe119", "#3cb44b", "#42d4f4", "#4363d8", "#911eb4", "#f032e6"]


def fields_on_image(img: np.ndarray, fields: list[ReceptiveField], title: str = "") -> go.Figure:
    """The fields of the centre unit of several layers, shallow to deep, as nested boxes on the input image.

    Boxes that reach beyond the image (into the padding) are drawn in full; the image's own border is black.

    Examples::

        >>> f1 = ReceptiveField("a", "Conv2d", (3, 3), (1, 1), (-1.0, -1.0), (4, 8, 8))
        >>> fig = fields_on_image(np.zeros((8, 8), np.uint8), [f1])
        >>> fig.data[1].name
        'a: 3×3 px'
    """
    rgb = img if img.ndim == 3 else np.stack([img] * 3, -1)
    H, W = rgb.shape[:2]
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    lo_y, lo_x, hi_y, hi_x = 0.0, 0.0, float(H), float(W)
    for i, f in enumerate(fields):
        h, w = (f.output_shape[1], f.output_shape[2]) if f.output_shape and len(f.output_shape) == 3 else (1, 1)
        t, le, b, r = f.box(h // 2, w // 2)
        lo_y, lo_x, hi_y, hi_x = min(lo_y, t), min(lo_x, le), max(hi_y, b), max(hi_x, r)
        fig.add_trace(go.Scatter(x=[le - 0.5, r - 0.5, r - 0.5, le - 0.5, le - 0.5],
                                 y=[t - 0.5, t - 0.5, b - 0.5, b - 0.5, t - 0.5], mode="lines",
                                 line=dict(color=FIELD_COLORS[i % len(FIELD_COLORS)], width=4),
                                 name=f"{f.name}: {f.size[0]}×{f.size[1]} px",
                                 hovertemplate=f"{f.name} ({f.op}): unit ({h // 2}, {w // 2}) sees {f.size[0]}×"
                                               f"{f.size[1]} px<extra></extra>"))
    fig.add_shape(type="rect", x0=-0.5, x1=W - 0.5, y0=-0.5, y1=H - 0.5, line=dict(color="#222", width=2))
    fig.update_xaxes(range=[lo_x - 1.5, hi_x + 0.5], showgrid=False, zeroline=False, showticklabels=False,
                     constrain="domain")
    fig.update_yaxes(range=[hi_y + 0.5, lo_y - 1.5], showgrid=False, zeroline=False, scaleanchor="x",
                     showticklabels=False, constrain="domain")
    fig.update_layout(title=title, font=FONT, margin=dict(l=10, r=10, t=40 if title else 10, b=10), height=460,
                      plot_bgcolor="#d9d9d9", legend=dict(title="centre unit of", itemclick=False,
                                                          itemdoubleclick=False))
    return fig
