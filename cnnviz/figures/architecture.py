"""Figures of the /architecture page: spatial size, depth and receptive field along a network's main path;
parameters and MACs per layer.

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
from cnnviz.figures.volumes import volume_row_figure
from cnnviz.methods.architecture import DepthPoint, LayerRow

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


PARAMS_COLOR, MACS_COLOR = "#4C78A8", "#E45756"


def cost_figure(rows: list[LayerRow], height: int = 460) -> go.Figure:
    """Where the parameters and the work are: each layer that has either, parameters above and MACs below,
    in execution order, each bar labelled with its share of the total when there are few layers.

    Args:
        rows: the layer table (:func:`cnnviz.methods.architecture.layer_table`).
        height: pixels.

    Examples::

        >>> from cnnviz.methods.architecture import LayerRow
        >>> rows = [LayerRow(0, "conv", "Conv2d", (5, 5), (1, 1), (0, 0), (6, 28, 28), 156, 117600),
        ...         LayerRow(1, "relu", "ReLU", None, None, None, (6, 28, 28), 0, 0),
        ...         LayerRow(2, "fc", "Linear", None, None, None, (10,), 850, 840)]
        >>> fig = cost_figure(rows)
        >>> list(fig.data[0].x), list(fig.data[0].y), list(fig.data[1].y)
        (['conv', 'fc'], [156, 850], [117600, 840])
    """
    shown = [r for r in rows if r.params or r.macs]
    names = [r.name for r in shown]
    tot_p, tot_m = max(sum(r.params for r in rows), 1), max(sum(r.macs for r in rows), 1)
    few = len(shown) <= 24
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=[f"Parameters ({tot_p:,} in all)", f"MACs per image ({tot_m:,} in all)"])
    for i, (vals, tot, color, what) in enumerate(((([r.params for r in shown]), tot_p, PARAMS_COLOR, "parameters"),
                                                   ([r.macs for r in shown], tot_m, MACS_COLOR, "MACs")), 1):
        fig.add_trace(go.Bar(x=names, y=vals, marker_color=color, name=what,
                             text=[f"{v / tot:.0%}" if v / tot >= 0.005 else "" for v in vals] if few else None,
                             textposition="outside", cliponaxis=False,
                             customdata=[r.type for r in shown],
                             hovertemplate="%{x} (%{customdata}): %{y:,} " + what + "<extra></extra>"), i, 1)
        fig.update_yaxes(range=[0, max(vals + [1]) * 1.25], row=i, col=1)
    fig.update_xaxes(tickangle=-45, ticktext=names if len(names) <= 40 else None, row=2, col=1)
    fig.update_layout(height=height, showlegend=False, font=FONT, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="white", bargap=0.25)
    return fig


def outline_figure(volumes: list[tuple[str, tuple[int, int, int]]], height: int | None = None) -> go.Figure:
    """The network drawn as its volumes, left to right (:func:`cnnviz.methods.architecture.outline`): maps to one
    scale, channels on a log scale, fully connected layers as thin rods.

    Examples::

        >>> fig = outline_figure([("input", (1, 28, 28)), ("conv", (6, 28, 28)), ("fc", (10, 1, 1))])
        >>> [a.text for a in fig.layout.annotations][-2:]
        ['fc', '<b>10</b>']
    """
    names = [n for n, _ in volumes]
    answers = ["×".join(str(v) for v in (s[:1] if s[1:] == (1, 1) and n != "input" else s)) for n, s in volumes]
    return volume_row_figure([s for _, s in volumes], names, answers, height=height)
