"""Small Streamlit figure helpers shared by the pages."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

FONT = dict(size=15)


def enlarge(arr: np.ndarray, min_side: int = 224) -> np.ndarray:
    """Nearest-neighbour upscale so small images (28x28) show crisp pixels, not blur."""
    h, w = arr.shape[:2]
    f = max(1, int(np.ceil(min_side / max(1, min(h, w)))))
    return arr if f == 1 else np.repeat(np.repeat(arr, f, axis=0), f, axis=1)


def show_image(arr: np.ndarray | Image.Image, caption: str | None = None, min_side: int = 224, container=st, **kw) -> None:
    """Show an image, small ones (28x28) enlarged with crisp nearest-neighbour pixels.

    Examples::

        >>> show_image(m.deprocess(m.preprocess(img)), caption="what the model sees")
    """
    a = np.asarray(arr)
    container.image(enlarge(a, min_side), caption=caption, **kw)


def heatmap(z: np.ndarray, title: str = "", colorscale: str = "Viridis", zmid: float | None = None,
            text: bool = False, height: int | None = None, hover: str | None = None, customdata=None) -> go.Figure:
    """A Plotly heat map with the origin at the top left (image convention)."""
    fig = go.Figure(go.Heatmap(z=z, colorscale=colorscale, zmid=zmid, customdata=customdata,
                               text=np.round(z, 2) if text else None, texttemplate="%{text}" if text else None,
                               hovertemplate=hover or "row %{y}, col %{x}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False)
    fig.update_xaxes(showgrid=False, constrain="domain")
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT,
                      height=height)
    return fig


def bar_predictions(preds: list[tuple[str, float]], title: str = "Top predictions") -> go.Figure:
    """Horizontal bars of ``(label, probability)``, best on top, labels kept as categories (so
    digit classes "0".."9" are not read as numbers) and percentages legible outside the bars.

    Examples::

        >>> fig = bar_predictions([("7", 0.98), ("1", 0.01)])
    """
    labels = [str(p[0]) for p in preds][::-1]
    vals = [float(p[1]) for p in preds][::-1]
    fig = go.Figure(go.Bar(x=vals, y=labels, orientation="h", text=[f"{v:.1%}" for v in vals], textposition="outside",
                           cliponaxis=False, marker_color="#4C78A8", textfont=dict(size=15),
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(title=title, xaxis=dict(range=[0, 1.18], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1]),
                      yaxis=dict(type="category", automargin=True), margin=dict(l=10, r=10, t=40, b=10),
                      height=70 + 34 * len(preds), font=FONT)
    return fig


def untrained_badge(model) -> None:
    """A warning on the page when the model has random weights."""
    if not model.trained:
        st.warning("This model is **untrained** (random weights): what you see is what an untrained network does. "
                   + model.card.get("weight_status", ""), icon=":material/warning:")
