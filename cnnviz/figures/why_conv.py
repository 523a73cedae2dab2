"""Figures of /why-convolutions: parameter counts, permuted pixels, handcrafted vs learned, simple and complex
cells, the sigmoid's slope and gradients through depth, degradation, random labels, auxiliary classifiers.

Every function takes the plain results of :mod:`cnnviz.methods.why_conv` and returns a Plotly figure (one per
view, its panels side by side so a slide shows it whole).

Examples::

    >>> from cnnviz.methods.why_conv import layer_params, params_by_side
    >>> fig = params_figure(layer_params(32, 32, 3, 64), params_by_side(3, 64))
    >>> fig.layout.yaxis.type
    'log'
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT
from cnnviz.methods.why_conv import (
    MODELS,
    AuxiliaryResult,
    CellTuning,
    DegradationSweep,
    HandcraftedCurve,
    InitGradients,
    LabelCurves,
    LayerParams,
    PermutedResult,
)

BLUE, RED, GREEN, ORANGE, GREY = "#4C78A8", "#E45756", "#54A24B", "#F58518", "#888888"
LAYER_COLOURS = {"dense": RED, "local": ORANGE, "conv": BLUE}


def _layout(fig: go.Figure, title: str, height: int | None, legend_below: bool = True) -> go.Figure:
    fig.update_layout(title=title, height=height or 460, font=FONT, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0) if legend_below else None)
    return fig


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


# ------------------------------------------------------------------------------------------- parameters
def params_figure(p: LayerParams, sweep: list[LayerParams], height: int | None = None) -> go.Figure:
    """Left: the three layers' parameter counts on your input (log bars, numbers written on them). Right: the
    same against the number of input values for square images with your channels (log-log), your input marked."""
    fig = make_subplots(1, 2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                        subplot_titles=(f"{p.height}x{p.width}x{p.channels}: {p.units} outputs",
                                        f"square images with {p.channels} channel(s)"))
    f = f"{p.kernel}x{p.kernel}"
    labels = ["one dense<br>unit", f"dense<br>{p.units} units", f"locally connected<br>{p.units} × {f} per position",
              f"conv<br>{p.units} × {f}"]
    values = [p.dense_per_unit, p.dense, p.local, p.conv]
    colours = [RED, RED, ORANGE, BLUE]
    fig.add_bar(x=labels, y=values, marker_color=colours, text=[_fmt(v) for v in values], textposition="outside",
                cliponaxis=False, showlegend=False, hovertemplate="%{x}: %{y:,} parameters<extra></extra>",
                row=1, col=1)
    xs = [s.height * s.width * s.channels for s in sweep]
    sides = [f"{s.height}x{s.width}x{s.channels}" for s in sweep]
    for key, name in (("dense", f"dense, {p.units} units"), ("local", "locally connected"),
                      ("conv", f"conv, {p.units} filters")):
        fig.add_scatter(x=xs, y=[getattr(s, key) for s in sweep], mode="lines+markers", name=name,
                        line=dict(color=LAYER_COLOURS[key]), customdata=sides,
                        hovertemplate="%{customdata}: %{y:,} parameters<extra>" + name + "</extra>", row=1, col=2)
    fig.add_scatter(x=[p.height * p.width * p.channels] * 3, y=[p.dense, p.local, p.conv], mode="markers",
                    marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="black", width=2)),
                    name="your input", hovertemplate="your input: %{y:,}<extra></extra>", row=1, col=2)
    fig.update_yaxes(type="log", title_text="parameters", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(type="log", title_text="input values H·W·C", row=1, col=2)
    fig.update_xaxes(tickangle=0, row=1, col=1)
    return _layout(fig, f"A dense layer needs {p.ratio:,.0f}x the parameters of a convolution here", height)


# ------------------------------------------------------------------------------------------- permuted pixels
def permuted_figure(r: PermutedResult, plain: np.ndarray, permuted: np.ndarray, height: int | None = None) -> go.Figure:
    """Left: test accuracy of each network on plain and on permuted digits (bars). Right: a few training digits,
    each row of plain digits above the same digits with the permutation applied, as the networks receive them."""
    fig = make_subplots(1, 2, column_widths=[0.55, 0.45], horizontal_spacing=0.08,
                        subplot_titles=("test accuracy", "the same digits, plain and permuted"))
    for pixels, colour in (("plain", BLUE), ("permuted", RED)):
        names = [m for m in r.accuracy if pixels in r.accuracy[m]]
        vals = [r.accuracy[m][pixels] for m in names]
        fig.add_bar(x=names, y=vals, name=f"{pixels} pixels", marker_color=colour, text=[f"{v:.1%}" for v in vals],
                    textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}, " + pixels + ": %{y:.1%}<extra></extra>", row=1, col=1)
    fig.update_layout(barmode="group")
    fig.update_xaxes(categoryorder="array", categoryarray=list(MODELS), range=[-0.5, len(MODELS) - 0.5],
                     row=1, col=1)  # both networks' places from the first run on (the chart grows in them)
    fig.update_yaxes(range=[0, 1.08], tickformat=".0%", row=1, col=1)
    grid = _pairs(plain, permuted)
    fig.add_heatmap(z=grid, colorscale="gray", showscale=False, hoverinfo="skip", row=1, col=2)
    fig.update_yaxes(autorange="reversed", scaleanchor="x2", showticklabels=False, showgrid=False, constrain="domain",
                     row=1, col=2)
    fig.update_xaxes(showticklabels=False, showgrid=False, constrain="domain", row=1, col=2)
    changes = "; ".join(f"{m} {a['plain']:.1%} → {a['permuted']:.1%}" for m, a in r.accuracy.items() if len(a) == 2)
    return _layout(fig, f"Permuted pixels: {changes}" if changes else "Permuted pixels", height)


def _pairs(plain: np.ndarray, permuted: np.ndarray, per_row: int = 4) -> np.ndarray:
    """Rows of ``per_row`` plain digits, each above the same digits permuted; pairs of rows 6 pixels apart."""
    rows = []
    for i in range(0, len(plain), per_row):
        top, bottom = _strip(plain[i:i + per_row]), _strip(permuted[i:i + per_row])
        rows += ([np.ones((6, top.shape[1]))] if rows else []) + [top, np.ones((1, top.shape[1])), bottom]
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=1.0) for r in rows])


def _strip(images: np.ndarray) -> np.ndarray:
    """Images [N, 28, 28] in [0, 1] side by side with a white gap of 2 pixels."""
    parts = []
    for img in images:
        parts += [img, np.ones((img.shape[0], 2))]
    return np.concatenate(parts[:-1], axis=1)


# ------------------------------------------------------------------------------------------- handcrafted
PIPELINE_STYLE = {"features": ("{feat} + linear SVM", GREEN, "solid"),
                  "pixels": ("raw pixels + linear SVM", GREY, "dot"),
                  "cnn": ("LeNet-5 (learned features)", BLUE, "solid")}
FEATURE_TITLES = {"hog": "HOG", "gabor": "Gabor bank"}


def handcrafted_figure(c: HandcraftedCurve, height: int | None = None, sizes: tuple[int, ...] = ()) -> go.Figure:
    """Test accuracy against the number of training digits (log x), one line per pipeline."""
    fig = go.Figure()
    for key, (name, colour, dash) in PIPELINE_STYLE.items():
        label = name.format(feat=FEATURE_TITLES.get(c.features, c.features))
        fig.add_scatter(x=c.sizes, y=c.accuracy[key], mode="lines+markers", name=label,
                        line=dict(color=colour, dash=dash, width=3), marker=dict(size=9),
                        hovertemplate="%{x} digits: %{y:.1%}<extra>" + label + "</extra>")
    xs = list(sizes or c.sizes) or [50, 1000]
    fig.update_xaxes(type="log", title_text="training digits", tickvals=xs, range=[np.log10(min(xs)) - 0.1,
                                                                                  np.log10(max(xs)) + 0.1])
    # a fixed scale: the chart grows point by point while the experiment runs, and its axes must not jump
    fig.update_yaxes(tickformat=".0%", title_text=f"accuracy on {c.n_test:,} test digits", range=[0, 1.02])
    return _layout(fig, "Handcrafted features vs learned ones, by the size of the training set", height)


# ------------------------------------------------------------------------------------------- cells
def cells_figure(t: CellTuning, height: int | None = None) -> go.Figure:
    """Left: the stimulus, the simple cell's receptive field (circle; its excitatory stripe drawn in red contours,
    the inhibitory flanks in blue) and the complex cell's pooling region (dashed square). Middle: response
    against the bar's angle. Right: response against the bar's position."""
    fig = make_subplots(1, 3, column_widths=[0.3, 0.35, 0.35], horizontal_spacing=0.07,
                        subplot_titles=("the stimulus", f"against angle (offset {t.offset:+.0f} px)",
                                        f"against position (angle {t.angle:.0f}°)"))
    fig.add_heatmap(z=t.stimulus, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip", row=1, col=1)
    c, r = (t.stimulus.shape[0] - 1) / 2, t.kernel.shape[0] / 2
    k = t.kernel.shape[0]
    top = float(np.abs(t.kernel).max())
    fig.add_contour(z=t.kernel, x=np.arange(k) + c - (k - 1) / 2, y=np.arange(k) + c - (k - 1) / 2,
                    colorscale=[[0, BLUE], [0.5, "rgba(0,0,0,0)"], [1, RED]], zmin=-top, zmax=top, showscale=False,
                    contours=dict(coloring="lines", start=-0.75 * top, end=0.75 * top, size=0.5 * top),
                    line=dict(width=1.5), hoverinfo="skip", showlegend=False, row=1, col=1)
    fig.add_shape(type="circle", x0=c - r, x1=c + r, y0=c - r, y1=c + r, line=dict(color=RED, width=2),
                  row=1, col=1)
    p = t.pool + r
    fig.add_shape(type="rect", x0=c - p, x1=c + p, y0=c - p, y1=c + p, line=dict(color=BLUE, width=2, dash="dash"),
                  row=1, col=1)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, constrain="domain", row=1, col=1)
    sweeps = ((2, t.angles, t.simple_by_angle, t.complex_by_angle, t.angle, "bar angle (°)"),
              (3, t.offsets, t.simple_by_offset, t.complex_by_offset, t.offset, "bar position (px from the centre)"))
    for col, xs, s, cx, x_now, xtitle in sweeps:
        fig.add_scatter(x=xs, y=s, mode="lines", name="simple cell (Gabor unit)", line=dict(color=RED, width=3),
                        legendgroup="s", showlegend=col == 2, row=1, col=col)
        fig.add_scatter(x=xs, y=cx, mode="lines", name="complex cell (max-pool of Gabor units)",
                        line=dict(color=BLUE, width=3, dash="dash"), legendgroup="c", showlegend=col == 2,
                        row=1, col=col)
        fig.add_vline(x=x_now, line=dict(color=GREY, width=1), row=1, col=col)
        fig.update_xaxes(title_text=xtitle, row=1, col=col)
        fig.update_yaxes(range=[-0.03, 1.1], row=1, col=col)
    fig.update_yaxes(title_text="response (1 = preferred bar at the centre)", row=1, col=2)
    title = (f"Preferred bar {t.preferred:.0f}° · now: simple {t.simple_now:.2f}, complex {t.complex_now:.2f}")
    return _layout(fig, title, height)


# ------------------------------------------------------------------------------------------- sigmoid
def sigmoid_figure(x: np.ndarray, s: np.ndarray, ds: np.ndarray, depths: np.ndarray, bound: np.ndarray,
                   g: InitGradients, height: int | None = None) -> go.Figure:
    """Left: σ and σ'. Middle: 0.25ⁿ against depth n (log). Right: the error signal reaching each layer of a
    fresh deep network with the chosen activation and initialisation scale (log)."""
    fig = make_subplots(1, 3, horizontal_spacing=0.08,
                        subplot_titles=("σ(x) and σ'(x) ≤ 0.25", "the most n sigmoids pass: 0.25ⁿ",
                                        f"{g.depth}-layer {g.activation} net at init, gain {g.gain:g}"))
    fig.add_scatter(x=x, y=s, name="σ(x)", line=dict(color=BLUE, width=3), row=1, col=1)
    fig.add_scatter(x=x, y=ds, name="σ'(x)", line=dict(color=RED, width=3), row=1, col=1)
    fig.add_hline(y=0.25, line=dict(color=GREY, dash="dot", width=1), row=1, col=1)
    fig.add_scatter(x=depths, y=bound, mode="lines+markers", name="0.25ⁿ", line=dict(color=RED), showlegend=False,
                    hovertemplate="n = %{x}: %{y:.2e}<extra></extra>", row=1, col=2)
    layers = np.arange(1, g.depth + 1)
    fig.add_scatter(x=layers, y=g.signal_norms, mode="lines+markers", name="‖∂L/∂h‖ per layer",
                    line=dict(color=ORANGE, width=3), customdata=g.activation_std,
                    hovertemplate="layer %{x}: gradient %{y:.2e}, activation std %{customdata:.2g}<extra></extra>",
                    row=1, col=3)
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="depth n", row=1, col=2)
    fig.update_xaxes(title_text="layer (1 = next to the input)", row=1, col=3)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=3)
    verdict = "vanishing" if g.ratio < 0.1 else "exploding" if g.ratio > 10 else "about steady"
    return _layout(fig, f"Gradient at layer 1 ÷ at layer {g.depth}: {g.ratio:.1e} ({verdict})", height)


# ------------------------------------------------------------------------------------------- degradation
def degradation_figure(d: DegradationSweep, height: int | None = None, depths: tuple[int, ...] = ()) -> go.Figure:
    """Training error (solid) and test error (dotted) against depth, plain (red) and residual (blue)."""
    fig = go.Figure()
    for kind, colour in (("plain", RED), ("residual", BLUE)):
        fig.add_scatter(x=d.depths, y=d.train_error[kind], mode="lines+markers", name=f"{kind}: training error",
                        line=dict(color=colour, width=3), marker=dict(size=9),
                        hovertemplate="%{x} blocks: %{y:.1%}<extra>" + kind + " (train)</extra>")
        fig.add_scatter(x=d.depths, y=d.test_error[kind], mode="lines+markers", name=f"{kind}: test error",
                        line=dict(color=colour, width=1.5, dash="dot"),
                        hovertemplate="%{x} blocks: %{y:.1%}<extra>" + kind + " (test)</extra>")
    xs = list(depths or d.depths) or [2, 20]
    fig.update_xaxes(title_text="blocks (2 conv layers each)", tickvals=xs, range=[min(xs) - 1, max(xs) + 1])
    fig.update_yaxes(tickformat=".0%", title_text="error", range=[0, 1.02])  # fixed: it grows net by net
    return _layout(fig, f"The same budget for every depth ({d.n_train} digits, {d.epochs} epochs)", height)


# ------------------------------------------------------------------------------------------- random labels
def labels_figure(c: LabelCurves, height: int | None = None, epochs: int | None = None) -> go.Figure:
    """Accuracy against epoch: on the training digits (solid) and on test digits (dashed), true labels (blue) and
    random labels (red); chance (10%) dotted."""
    fig = go.Figure()
    for labels, colour in (("true", BLUE), ("random", RED)):
        for split, series, dash in (("train", c.train[labels], "solid"), ("test", c.test[labels], "dash")):
            fig.add_scatter(x=list(range(1, len(series) + 1)), y=series, mode="lines",
                            line=dict(color=colour, dash=dash, width=3), name=f"{labels} labels: {split}",
                            hovertemplate="epoch %{x}: %{y:.1%}<extra></extra>")
    fig.add_hline(y=0.1, line=dict(color=GREY, dash="dot"), annotation_text="chance",
                  annotation_position="bottom right")
    if epochs:
        fig.update_xaxes(range=[0.5, epochs + 0.5])
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], title_text="accuracy")
    title = (f"Random labels: {c.final('train', 'random'):.0%} on the training digits, "
             f"{c.final('test', 'random'):.0%} on test digits" if c.train["random"] else "True vs random labels")
    return _layout(fig, title, height)


# ------------------------------------------------------------------------------------------- auxiliary
def auxiliary_figure(r: AuxiliaryResult, height: int | None = None) -> go.Figure:
    """The error signal reaching each layer (log y), from the main loss alone and with the auxiliary loss."""
    layers = np.arange(1, r.depth + 1)
    fig = go.Figure()
    fig.add_scatter(x=layers, y=r.signal_without, mode="lines+markers", name="main loss only",
                    line=dict(color=RED, width=3), hovertemplate="layer %{x}: %{y:.2e}<extra>main only</extra>")
    fig.add_scatter(x=layers, y=r.signal_with, mode="lines+markers", name=f"main + {r.aux_weight:g} × auxiliary",
                    line=dict(color=BLUE, width=3, dash="dash"),
                    hovertemplate="layer %{x}: %{y:.2e}<extra>with the auxiliary loss</extra>")
    fig.add_vline(x=r.aux_at, line=dict(color=GREY, dash="dot"), annotation_text="auxiliary head",
                  annotation_position="top")
    fig.update_xaxes(title_text="hidden layer (1 = next to the input)")
    fig.update_yaxes(type="log", exponentformat="power", title_text="‖∂L/∂h‖ reaching the layer")
    return _layout(fig, f"Layer 1 gets {r.boost:,.0f}x more gradient with the auxiliary head "
                        f"({r.depth}-layer {r.activation} net at init)", height)
