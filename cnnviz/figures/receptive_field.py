"""Figures of the Receptive fields page (Plotly and PIL; no computation beyond drawing)."""
from __future__ import annotations

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw

from cnnviz.methods.receptive_field import EffectiveReceptiveField, ReceptiveField, RecurrenceStep
from cnnviz.figures.render import colormap

FONT = dict(size=15)
BOX = "#e6194b"      # the clipped field, on the image
PAD = "rgba(120,120,120,0.55)"  # the part of the field that lies in the padding
# Plotly's Inferno starts at #000004, one of the placeholder colours Streamlit's frontend swaps for theme
# colours (#000001..#0000xx): start it at #010104 so zero stays black
INFERNO = [[i / (len(_c) - 1), "#010104" if c.lower() == "#000004" else c] for _c in [pcolors.sequential.Inferno]
           for i, c in enumerate(_c)]


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
                                 marker=dict(size=14, color=BOX, symbol="diamond"), name="chosen layer", hoverinfo="skip"))
    fig.update_layout(xaxis_title="layer (graph order)", yaxis_title="receptive field (input pixels)", font=FONT,
                      height=380, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.08),
                      yaxis=dict(rangemode="tozero"))
    return fig


def recurrence_latex(steps: list[RecurrenceStep], rf: ReceptiveField, axis: int = 0) -> str:
    """The backward recurrence with the layer's numbers, one line per window layer (last layer first)."""
    depth = len(steps)
    lines = [r"r_{%d} &= 1 && \text{one unit of } \texttt{%s}" % (depth, _tex(rf.name))]
    for i, s in enumerate(steps):
        lo, hi = depth - i - 1, depth - i
        lines.append(
            r"r_{%d} &= s_{%d}\,r_{%d} + (k_{%d} - s_{%d}) = %d \cdot %d + (%d - %d) = %d && \texttt{%s}\ (\text{%s},\ k{=}%d,\ s{=}%d)"
            % (lo, hi, hi, hi, hi, s.s, s.r_after, s.k, s.s, s.r_before, _tex(s.name), s.op, s.k, s.s))
    return r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}"


def _tex(name: str) -> str:
    return name.replace("_", r"\_").replace("#", r"\#")


def activation_picture(act: torch.Tensor, unit: tuple[int, int], side: int = 320) -> tuple[Image.Image, int]:
    """A [H, W] map as a viridis picture ~``side`` px wide, the chosen unit outlined; returns (image, scale)."""
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


def field_on_image(img: np.ndarray, rf: ReceptiveField, unit: tuple[int, int], title: str = "") -> go.Figure:
    """The input image with the unit's receptive field: solid where it covers pixels, grey where it lies in the padding."""
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
    fig.update_xaxes(range=[min(left, 0) - 1.5, max(right, W) + 0.5], showgrid=False, zeroline=False, constrain="domain")
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
    t, l, b, r = erf.theoretical.clipped_box(*erf.unit, *g.shape)
    fig.add_shape(type="rect", x0=l - 0.5, x1=r - 0.5, y0=t - 0.5, y1=b - 0.5, line=dict(color="white", width=3, dash="dash"))
    (my, mx), (sy, sx) = erf.mean, erf.sigma
    for k, color in ((1, "#00e5ff"), (2, "#7CFC00")):
        fig.add_shape(type="rect", x0=mx - k * sx, x1=mx + k * sx, y0=my - k * sy, y1=my + k * sy,
                      line=dict(color=color, width=3))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, constrain="domain", zeroline=False)
    fig.update_layout(title=title, font=FONT, margin=dict(l=10, r=10, t=40, b=10), height=400)
    return fig
