"""Figures of the /architecture page: spatial size, depth and receptive field along a network's main path.

Streamlit-free: each function returns a Plotly figure.

    >>> import cnnviz
    >>> from cnnviz.methods.architecture import depth_steps, layer_table
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> fig = depth_figure(depth_steps(m, layer_table(m), None), m.input_size[1])
    >>> fig.data[0].y[0], fig.data[1].y[-1], len(fig.data)  # input height, last depth, no RF panel
    (28, 16, 2)
"""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT
from cnnviz.methods.architecture import DepthPoint

HEIGHT_COLOR, DEPTH_COLOR, RF_COLOR = "#4C78A8", "#F58518", "#54A24B"


def depth_figure(steps: list[DepthPoint], input_height: int) -> go.Figure:
    """Height, channels and (when known) receptive field of each step, one panel each, sharing the x axis.

    Args:
        steps: the main path with the input first (:func:`cnnviz.methods.architecture.depth_steps`).
        input_height: the input's height in pixels (a dashed line on the receptive-field panel).
    """
    xs = list(range(len(steps)))
    names = [p.name for p in steps]
    has_rf = any(p.rf for p in steps)
    n_rows = 3 if has_rf else 2
    fig = make_subplots(rows=n_rows, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=["Spatial size (height of the output map, pixels)", "Depth (channels)"]
                        + (["Receptive field (input pixels)"] if has_rf else []))
    fig.add_trace(go.Scatter(x=xs, y=[p.output_shape[1] for p in steps], mode="lines+markers", name="height",
                             customdata=names, hovertemplate="%{customdata}: %{y} px<extra></extra>",
                             line=dict(color=HEIGHT_COLOR, width=3)), 1, 1)
    fig.add_trace(go.Scatter(x=xs, y=[p.output_shape[0] for p in steps], mode="lines+markers", name="channels",
                             customdata=names, hovertemplate="%{customdata}: %{y} channels<extra></extra>",
                             line=dict(color=DEPTH_COLOR, width=3)), 2, 1)
    if has_rf:
        fig.add_trace(go.Scatter(x=xs, y=[p.rf for p in steps], mode="lines+markers", name="receptive field",
                                 customdata=names, hovertemplate="%{customdata}: %{y} px<extra></extra>",
                                 line=dict(color=RF_COLOR, width=3), connectgaps=True), 3, 1)
        fig.add_hline(y=input_height, line_dash="dash", line_color="#888", annotation_text=f"input {input_height} px",
                      row=3, col=1)
    fig.update_xaxes(tickmode="array", tickvals=xs, ticktext=names if len(names) <= 40 else None, tickangle=-45,
                     row=n_rows, col=1)
    fig.update_layout(height=780 if has_rf else 560, showlegend=False, font=FONT, margin=dict(l=10, r=10, t=40, b=10),
                      hovermode="x unified")
    return fig
