"""Figures of /capsules: the squashing curve, routing by agreement on a toy, capsule lengths with the margins,
the decoder's pictures, CapsNet beside a CNN on distorted digits, and the pooling critique.

Streamlit-free: each function takes the library's results (:mod:`cnnviz.methods.capsules`) and returns a Plotly
figure.

Examples::

    >>> fig = squash_curve(2.0)
    >>> fig = routing_figure(toy_routing("agree"), iteration=3)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT
from cnnviz.methods.capsules.losses import M_MINUS, M_PLUS
from cnnviz.methods.capsules.readout import CapsuleReadout
from cnnviz.methods.capsules.robustness import PoolingCritique, Robustness
from cnnviz.methods.capsules.toy import ToyRouting

PALETTE = ["#4C78A8", "#E45756", "#54A24B", "#F58518", "#B279A2", "#72B7B2"]
SQUASH_ANGLE = 35.0  # degrees: the direction of the example vector s in the squashing figure


def _layout(fig: go.Figure, title: str, height: int | None) -> go.Figure:
    """Title on top, the legend (if any) in a row under it, above the subplot titles."""
    legend = any(t.showlegend is not False for t in fig.data if t.type == "scatter")
    fig.update_layout(title=dict(text=title, y=0.98, yanchor="top"), font=FONT, height=height,
                      margin=dict(l=10, r=10, t=120 if legend else 70, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.07, x=0))
    return fig


def _image_axes(fig: go.Figure, row: int, col: int, anchor: str) -> None:
    """Axes of an image subplot: pixels square, no ticks, no grid."""
    fig.update_yaxes(autorange="reversed", scaleanchor=anchor, showticklabels=False, showgrid=False, zeroline=False,
                     row=row, col=col)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=row, col=col)


def squash_curve(s_length: float, max_s: float = 5.0, height: int | None = 460) -> go.Figure:
    """|v| against |s| for the squashing function beside a sigmoid and a ReLU (left), and one vector s with its
    squashed v (right): same direction, length pulled into [0, 1)."""
    s = np.linspace(0, max_s, 301)
    v = s**2 / (1 + s**2)
    fig = make_subplots(1, 2, column_widths=[0.6, 0.4], horizontal_spacing=0.1,
                        subplot_titles=("length in -> length out", "the vector keeps its direction"))
    fig.add_scatter(x=s, y=v, name="squash |s|²/(1+|s|²)", line=dict(color=PALETTE[0], width=3), row=1, col=1)
    fig.add_scatter(x=s, y=1 / (1 + np.exp(-s)), name="sigmoid(|s|)", line=dict(color=PALETTE[3], dash="dash"),
                    row=1, col=1)
    fig.add_scatter(x=s, y=s, name="ReLU(|s|)", line=dict(color="#999", dash="dot"), row=1, col=1)
    out = s_length**2 / (1 + s_length**2)
    fig.add_scatter(x=[s_length], y=[out], mode="markers+text", marker=dict(size=14, color=PALETTE[1]),
                    text=[f"|v| = {out:.3f}"], textposition="top left", name="your |s|", row=1, col=1)
    fig.add_hline(y=1, line=dict(color="#bbb", dash="dot"), row=1, col=1)
    fig.update_xaxes(title_text="|s| (length of the capsule's input)", range=[0, max_s], row=1, col=1)
    fig.update_yaxes(title_text="|v| (length out)", range=[0, 1.25], row=1, col=1)
    a = np.deg2rad(SQUASH_ANGLE)
    d = np.array([np.cos(a), np.sin(a)])
    lim = max(1.2, s_length * 1.1)
    for vec, name, color, width in ((s_length * d, "s", PALETTE[3], 2), (out * d, "v = squash(s)", PALETTE[1], 5)):
        fig.add_scatter(x=[0, vec[0]], y=[0, vec[1]], mode="lines+markers", name=name, showlegend=False,
                        line=dict(color=color, width=width), marker=dict(size=[0, 10], symbol="arrow",
                                                                          angleref="previous"), row=1, col=2)
        fig.add_annotation(x=vec[0], y=vec[1], text=name, showarrow=False, yshift=14, row=1, col=2)
    t = np.linspace(0, np.pi / 2, 50)
    fig.add_scatter(x=np.cos(t), y=np.sin(t), mode="lines", line=dict(color="#bbb", dash="dot"), showlegend=False,
                    hoverinfo="skip", row=1, col=2)
    fig.update_xaxes(range=[-0.05, lim], scaleanchor="y2", row=1, col=2)
    fig.update_yaxes(range=[-0.05, lim], row=1, col=2)
    return _layout(fig, f"Squashing: |s| = {s_length:.2f} -> |v| = {out:.3f}", height)


def routing_figure(toy: ToyRouting, iteration: int, height: int | None = 480) -> go.Figure:
    """Iteration ``iteration`` of routing: the coupling coefficients (left, parts x wholes, each row sums to 1) and
    each whole's part predictions (thin, as opaque as their coupling) with its output capsule (thick)."""
    c, v = toy.coupling(iteration), toy.outputs(iteration)
    parts, wholes = c.shape
    names = [f"whole {j + 1}" for j in range(wholes)]
    fig = make_subplots(1, 2, column_widths=[0.32, 0.68], horizontal_spacing=0.06,
                        subplot_titles=(f"coupling c (iteration {iteration})", "predictions û and output v"))
    fig.add_heatmap(z=c, x=names, y=[f"part {i + 1}" for i in range(parts)], colorscale="Blues", zmin=0, zmax=1,
                    texttemplate="%{z:.2f}", showscale=False,
                    hovertemplate="%{y} -> %{x}: c = %{z:.3f}<extra></extra>", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    gap = 2.6
    for j in range(wholes):
        color, ox = PALETTE[j % len(PALETTE)], j * gap
        for i in range(parts):
            u = toy.predictions[i, j]
            fig.add_scatter(x=[ox, ox + u[0]], y=[0, u[1]], mode="lines", showlegend=False,
                            line=dict(color=color, width=1 + 5 * c[i, j]), opacity=0.2 + 0.8 * c[i, j],
                            hovertemplate=f"part {i + 1} -> {names[j]}: c = {c[i, j]:.2f}<extra></extra>",
                            row=1, col=2)
        length = float(np.linalg.norm(v[j]))
        fig.add_scatter(x=[ox, ox + v[j, 0]], y=[0, v[j, 1]], mode="lines+markers", showlegend=False,
                        line=dict(color="black", width=5), marker=dict(size=[0, 14], symbol="arrow",
                                                                       angleref="previous", color="black"),
                        hovertemplate=f"{names[j]}: |v| = {length:.3f}<extra></extra>", row=1, col=2)
        fig.add_annotation(x=ox, y=-1.25, text=f"<b>{names[j]}</b><br>|v| = {length:.2f}", showarrow=False,
                           row=1, col=2)
    fig.update_xaxes(range=[-1.2, (wholes - 1) * gap + 1.2], showticklabels=False, showgrid=False, zeroline=False,
                     scaleanchor="y2", row=1, col=2)
    fig.update_yaxes(range=[-1.55, 1.2], showticklabels=False, showgrid=False, zeroline=False, row=1, col=2)
    return _layout(fig, f"Routing by agreement, iteration {iteration} of {toy.iterations}", height)


def lengths_figure(r: CapsuleReadout, height: int | None = 440) -> go.Figure:
    """The 10 digit capsules' lengths, the longest highlighted, with the margin loss's m+ = 0.9 and m- = 0.1."""
    colors = [PALETTE[1] if k == r.predicted else PALETTE[0] for k in range(len(r.lengths))]
    fig = go.Figure(go.Bar(x=r.classes, y=r.lengths, marker_color=colors, text=[f"{v:.2f}" for v in r.lengths],
                           textposition="outside", cliponaxis=False,
                           hovertemplate="capsule %{x}: length %{y:.3f}<extra></extra>"))
    fig.add_hline(y=M_PLUS, line=dict(color=PALETTE[2], dash="dash"),
                  annotation_text=f"m+ = {M_PLUS}: the true digit's capsule should be longer",
                  annotation_position="top left")
    fig.add_hline(y=M_MINUS, line=dict(color=PALETTE[3], dash="dash"),
                  annotation_text=f"m- = {M_MINUS}: every other capsule should be shorter",
                  annotation_position="top left")
    fig.update_xaxes(type="category", title_text="digit capsule")
    fig.update_yaxes(range=[0, 1.1], title_text="length |v| (probability the digit is there)")
    return _layout(fig, f"Capsule lengths: {r.classes[r.predicted]} is the longest ({r.lengths[r.predicted]:.2f})",
                   height)


def image_row(images: Sequence[np.ndarray], titles: Sequence[str], title: str = "",
              height: int | None = 420) -> go.Figure:
    """Grayscale images (0..1) side by side with their titles."""
    fig = make_subplots(1, len(images), subplot_titles=list(titles), horizontal_spacing=0.03)
    for k, img in enumerate(images):
        fig.add_heatmap(z=np.asarray(img), colorscale="gray", zmin=0, zmax=1, showscale=False,
                        hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>", row=1, col=k + 1)
        _image_axes(fig, 1, k + 1, f"x{k + 1 if k else ''}")
    return _layout(fig, title, height)


def _strip(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """Images (N, H, W) side by side with a gap of NaN (blank) columns."""
    n, h, _ = images.shape
    blank = np.full((h, gap), np.nan)
    return np.concatenate([part for img in images for part in (img, blank)][:-1], axis=1) if n else blank


def robustness_figure(results: Sequence[Robustness], height: int | None = 520) -> go.Figure:
    """Accuracy against the amount of each distortion, one line per model, the numbers on the points; under each
    chart the first test digit as distorted."""
    fig = make_subplots(2, len(results), row_heights=[0.78, 0.22], vertical_spacing=0.14, horizontal_spacing=0.06,
                        subplot_titles=[f"{r.kind} ({r.unit})" for r in results])
    for k, r in enumerate(results):
        for i, (name, acc) in enumerate(r.accuracy.items()):
            fig.add_scatter(x=r.values, y=acc, mode="lines+markers+text", name=name, legendgroup=name,
                            showlegend=k == 0, line=dict(color=PALETTE[i]), text=[f"{a:.0%}" for a in acc],
                            textposition="top center" if i == 0 else "bottom center",
                            hovertemplate=f"{name}: %{{y:.1%}} at %{{x}}<extra></extra>", row=1, col=k + 1)
        fig.update_yaxes(range=[0, 1.12], tickformat=".0%", showticklabels=k == 0, row=1, col=k + 1)
        fig.update_xaxes(tickvals=r.values, row=1, col=k + 1)
        fig.add_heatmap(z=_strip(r.examples), colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                        row=2, col=k + 1)
        _image_axes(fig, 2, k + 1, f"x{len(results) + k + 1}")
    n = results[0].n if results else 0
    return _layout(fig, f"Accuracy on {n} bundled test digits, distorted", height)


def pooling_figure(p: PoolingCritique, classes: Sequence[str], height: int | None = 520) -> go.Figure:
    """The digit scrambled on each grid (top) and, per grid, what survives (bottom): the similarity of the CNN's
    globally max-pooled features, the CNN's probability, the CapsNet's capsule length and pose agreement."""
    label = classes[p.label]
    fig = make_subplots(2, 1, row_heights=[0.3, 0.7], vertical_spacing=0.1,
                        subplot_titles=("the digit, its tiles shuffled: " + ", ".join(f"{g}x{g}" for g in p.grids),
                                        f"what is left of the {label}"))
    fig.add_heatmap(z=_strip(p.images), colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                    row=1, col=1)
    _image_axes(fig, 1, 1, "x")
    series = (("CNN: max-pooled features, cosine to the digit's", p.pooled_similarity, "dash"),
              (f"CNN: probability of {label}", p.cnn_probability, "solid"),
              (f"CapsNet: length of capsule {label}", p.capsule_length, "solid"),
              (f"CapsNet: capsule {label}'s pose, cosine to the digit's", p.capsule_agreement, "dot"))
    x = [f"{g}x{g}" for g in p.grids]
    for i, (name, ys, dash) in enumerate(series):
        fig.add_scatter(x=x, y=ys, mode="lines+markers+text", name=name, line=dict(color=PALETTE[i], dash=dash),
                        text=[f"{y:.2f}" for y in ys], textposition="top center",
                        hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>", row=2, col=1)
    low = min(-0.05, min(p.capsule_agreement) - 0.1)
    fig.update_yaxes(range=[low, 1.15], row=2, col=1)
    return _layout(fig, "Pooling keeps the parts, loses their arrangement", height)
