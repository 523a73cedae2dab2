"""Figures of a training run: curves, first-layer filters, gradient norms per layer, confusion matrix, transfer curve.

Every function takes the library's plain results (:class:`~cnnviz.methods.training.History`,
:class:`~cnnviz.methods.training_presets.TransferCurve`) and returns a Plotly figure or a uint8 image.

Examples::

    >>> fig = learning_curves({"run": trainer.history})
    >>> img = filter_grid(trainer.history.epochs[-1].filters)
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT, enlarge, heatmap
from cnnviz.figures.render import tile_grid, to_uint8
from cnnviz.methods.training import History
from cnnviz.methods.training_presets import TRANSFER_METHODS, TransferCurve

PALETTE = ["#4C78A8", "#E45756", "#54A24B", "#F58518", "#B279A2", "#72B7B2"]


def learning_curves(histories: dict[str, History], height: int = 380) -> go.Figure:
    """Training loss (left) and accuracy (right) against epochs, one colour per run.

    Solid: on the training batches as they were trained (augmented, dropout on); dashed with markers:
    test accuracy (per epoch on the whole test split, between epochs on the quick subset); dotted:
    clean training images after each epoch (the train side of the train/test gap).
    """
    fig = make_subplots(1, 2, subplot_titles=("training loss", "accuracy"), horizontal_spacing=0.08)
    for i, (label, h) in enumerate(histories.items()):
        c = PALETTE[i % len(PALETTE)]
        x = [p.epoch for p in h.points]
        name = label if len(histories) > 1 else ""
        fig.add_scatter(x=x, y=[p.loss for p in h.points], mode="lines", line=dict(color=c),
                        name=f"{name} loss".strip(), legendgroup=label, row=1, col=1)
        fig.add_scatter(x=x, y=[p.train_accuracy for p in h.points], mode="lines", line=dict(color=c, width=1.5),
                        name=f"{name} train (batches)".strip(), legendgroup=label, row=1, col=2)
        tests = [(p.epoch, p.test_accuracy) for p in h.points if p.test_accuracy is not None]
        tests += [(e.epoch, e.test_accuracy) for e in h.epochs if e.test_accuracy is not None]
        tests.sort()
        if tests:
            fig.add_scatter(x=[t[0] for t in tests], y=[t[1] for t in tests], mode="lines+markers",
                            line=dict(color=c, dash="dash"), name=f"{name} test".strip(), legendgroup=label,
                            row=1, col=2)
        clean = [(e.epoch, e.train_accuracy) for e in h.epochs if e.train_accuracy is not None]
        if clean:
            fig.add_scatter(x=[t[0] for t in clean], y=[t[1] for t in clean], mode="lines+markers",
                            line=dict(color=c, dash="dot"), marker=dict(symbol="square", size=6),
                            name=f"{name} train (clean, per epoch)".strip(), legendgroup=label, row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def filter_grid(filters: np.ndarray, min_side: int = 320) -> np.ndarray:
    """First-layer filters ``[out, in, k, k]`` as a grid of gray tiles (one per filter, the mean over its input
    channels), all on one symmetric scale: mid-gray is 0, white positive, black negative."""
    w = torch.from_numpy(np.asarray(filters, dtype=np.float32)).mean(1)
    scale = float(w.abs().max()) or 1.0
    grid, _ = tile_grid(w / (2 * scale) + 0.5, cols=min(8, math.ceil(math.sqrt(len(w)))), pad=1, pad_value=1.0)
    return enlarge(to_uint8(grid), min_side)


def gradient_norms(histories: dict[str, History], index: int = -1, height: int = 380) -> go.Figure:
    """The gradient norm of every weight layer, input (left) to output (right), on a log scale; one line per run.

    Args:
        index: which progress report (default: the latest); the value is the mean over its batches.
    """
    fig = go.Figure()
    for i, (label, h) in enumerate(histories.items()):
        if not h.points:
            continue
        norms = np.maximum(np.asarray(h.points[index].grad_norms), 1e-30)  # log axis: no zeros
        fig.add_scatter(x=list(range(1, len(norms) + 1)), y=norms, mode="lines+markers", name=label,
                        line=dict(color=PALETTE[i % len(PALETTE)]), customdata=h.layers,
                        hovertemplate="layer %{x} (%{customdata}): %{y:.2e}<extra>" + label + "</extra>")
    fig.update_yaxes(type="log", title_text="‖∂loss/∂W‖ (log scale)", exponentformat="power")
    fig.update_xaxes(title_text="weight layer (1 = first conv … last = linear head)",
                     dtick=1 if _layers(histories) <= 24 else None)
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def _layers(histories: dict[str, History]) -> int:
    return max((len(h.layers) for h in histories.values()), default=0)


def confusion_matrix(conf: np.ndarray, classes: list[str], height: int = 420) -> go.Figure:
    """Test-set counts: row = true class, column = predicted class; the diagonal is what it gets right."""
    return heatmap(np.asarray(conf), colorscale="Blues", text=False, height=height,
                   hover="true %{y}, predicted %{x}: %{z}<extra></extra>",
                   trace=dict(x=classes, y=classes, text=np.asarray(conf), texttemplate="%{text}"),
                   xaxis=dict(title=dict(text="predicted"), type="category"),
                   yaxis=dict(title=dict(text="true"), type="category"))


def transfer_chart(curve: TransferCurve, height: int = 400) -> go.Figure:
    """Test accuracy against labelled examples per class (log x), one line per way of training."""
    fig = go.Figure()
    for i, m in enumerate(TRANSFER_METHODS):
        pts = sorted(curve.accuracy.get(m, {}).items())
        if pts:
            fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=m,
                            line=dict(color=PALETTE[i]),
                            hovertemplate="%{x} per class: %{y:.1%}<extra>" + m + "</extra>")
    fig.update_xaxes(type="log", tickvals=list(curve.ns), title_text=f"labelled {curve.target} examples per class")
    fig.update_yaxes(tickformat=".0%", title_text=f"{curve.target} test accuracy")
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig
