"""Figures for "which map to believe": deletion/insertion curves, the leaderboard table, maps with colour bars.

Streamlit-free. Scores come from :mod:`cnnviz.methods.faithfulness`, maps from
:mod:`cnnviz.methods.attribution`. Signed maps (Integrated Gradients, DeepLIFT, GradientSHAP,
occlusion) are drawn on a diverging scale centred on zero; every heat map has a colour bar.

Examples::

    >>> from cnnviz.figures.faithfulness import leaderboard_table
    >>> leaderboard_table(lb).data[0].type
    'table'
"""
from __future__ import annotations

import plotly.colors as px_colors
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT
from cnnviz.methods.attribution import METHODS, Attribution, is_signed, signed_map
from cnnviz.methods.faithfulness import RANDOM, Leaderboard

FLAG = "#F8D7DA"  # rows that do not beat random
OK = "#FFFFFF"
DIVERGING, SEQUENTIAL = "RdBu_r", "Viridis"
PALETTE = px_colors.qualitative.Plotly + px_colors.qualitative.D3


def curves_figure(lb: Leaderboard, methods: list[str] | None = None) -> go.Figure:
    """Deletion (left: lower is better) and insertion (right: higher is better) curves, one line per method,
    the AUC in the legend; the random map dashed grey.

    Examples::

        >>> len(curves_figure(lb).data) == 2 * len(lb.curves)
        True
    """
    keys = [k for k in (methods or list(lb.curves)) if k in lb.curves]
    if RANDOM in lb.curves and RANDOM not in keys:
        keys.append(RANDOM)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Deletion (lower AUC is better)",
                                                        "Insertion (higher AUC is better)"))
    for i, key in enumerate(keys):
        dele, ins = lb.curves[key]
        label = "Random map" if key == RANDOM else (METHODS[key].label if key in METHODS else key)
        line = dict(dash="dash", color="#888888", width=2) if key == RANDOM else dict(
            width=2, color=PALETTE[i % len(PALETTE)])  # the same colour in both panels
        for col, c in ((1, dele), (2, ins)):
            fig.add_trace(go.Scatter(x=[100 * f for f in c.fractions], y=c.scores, mode="lines", line=line,
                                     name=f"{label} (AUC {dele.auc:.2f} / {ins.auc:.2f})", legendgroup=key,
                                     showlegend=col == 1), row=1, col=col)
    fig.update_xaxes(title_text="% of pixels removed (left) or added (right), most important first", range=[0, 100])
    fig.update_yaxes(title_text="class probability", range=[0, 1.02])
    fig.update_layout(height=420, font=FONT, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(title="method (AUC deletion / insertion)"))
    return fig


def leaderboard_rows(lb: Leaderboard) -> list[list[str]]:
    """The table's cells row by row: rank, method, deletion AUC, insertion AUC, score, Average Drop,
    Increase in Confidence, verdict.

    Examples::

        >>> leaderboard_rows(lb)[-1][1]
        'Random map'
    """
    out = []
    for i, r in enumerate(lb.rows):
        verdict = "baseline" if r.beats_random is None else ("beats random" if r.beats_random
                                                             else "does NOT beat random")
        out.append(["—" if r.method == RANDOM else str(i + 1), r.label, f"{r.deletion_auc:.3f}",
                    f"{r.insertion_auc:.3f}", f"{r.score:+.3f}", f"{r.avg_drop:.1f}%", f"{r.increase:.0f}%", verdict])
    return out


def leaderboard_table(lb: Leaderboard) -> go.Figure:
    """The leaderboard as a table, best first; methods that do not beat the random map on a pink background.

    Examples::

        >>> leaderboard_table(lb).data[0].header.values[0]
        '#'
    """
    rows = leaderboard_rows(lb)
    fills = [FLAG if r.beats_random is False else ("#EEEEEE" if r.beats_random is None else OK) for r in lb.rows]
    head = ["#", "method", "deletion AUC ↓", "insertion AUC ↑", "score (ins − del) ↑", "Average Drop ↓",
            "Increase in Conf. ↑", "verdict"]
    fig = go.Figure(go.Table(header=dict(values=head, fill_color="#DDE6F0", font=dict(size=15), align="left"),
                             cells=dict(values=list(map(list, zip(*rows, strict=True))) if rows else [[]] * len(head),
                                        fill_color=[fills] * len(head), font=dict(size=15), height=30,
                                        align="left"),
                             columnwidth=[0.4, 1.6, 1, 1, 1.1, 1, 1, 1.5]))
    what = f"{lb.images} images" if lb.images > 1 else "this image"
    fig.update_layout(title=f"Which map to believe? Faithfulness on {what} ({lb.baseline} baseline)", font=FONT,
                      height=90 + 31 * (len(rows) + 1), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def value_range(maps: dict[str, torch.Tensor], signed: bool) -> tuple[float, float]:
    """One colour range for several maps: symmetric ``(-L, L)`` when any map is drawn signed, else ``(0, L)``.

    Examples::

        >>> value_range({"a": torch.tensor([[1., -3.]])}, True)
        (-3.0, 3.0)
    """
    top = max((float(v.abs().max()) for v in maps.values()), default=1.0) or 1.0
    return (-top, top) if signed else (0.0, top)


def map_grid(results: dict[str, Attribution], shared: bool = False, cols: int = 4, title: str = "") -> go.Figure:
    """Every map as a heat map with a colour bar: signed methods on a diverging scale centred on 0, the others
    from 0 up. ``shared``: one scale (and one colour bar) for all, so a weak map looks weak; otherwise each
    map is stretched over its own range (its colour bar says which).

    Examples::

        >>> map_grid({"gradcam": a}).data[0].colorbar.title.text
        'Grad-CAM'
    """
    keys = list(results)
    maps = {k: signed_map(results[k]).float().cpu() for k in keys}
    rows = max(1, -(-len(keys) // cols))
    labels = [METHODS[k].label if k in METHODS else k for k in keys]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=labels, horizontal_spacing=0.07,
                        vertical_spacing=0.12 / max(1, rows - 1) if rows > 1 else 0.1)
    any_signed = any(is_signed(k) for k in keys)
    shared_lim = value_range(maps, any_signed) if shared else None
    for i, k in enumerate(keys):
        r, c = divmod(i, cols)
        v = maps[k]
        lo, hi = shared_lim or value_range({k: v}, is_signed(k))
        signed = (shared and any_signed) or (not shared and is_signed(k))
        xa = fig.layout[f"xaxis{i + 1 if i else ''}"].domain
        ya = fig.layout[f"yaxis{i + 1 if i else ''}"].domain
        bar = dict(title=dict(text="all maps" if shared else labels[i], side="right"), thickness=10,
                   x=xa[1] + 0.005, y=(ya[0] + ya[1]) / 2, len=(ya[1] - ya[0]) * 0.95, tickfont=dict(size=11))
        fig.add_trace(go.Heatmap(z=v.numpy()[::-1], zmin=lo, zmax=hi, colorscale=DIVERGING if signed else SEQUENTIAL,
                                 zmid=0 if signed else None, showscale=not shared or i == 0, colorbar=bar,
                                 hovertemplate="%{z:.3g}<extra>" + labels[i] + "</extra>"), row=r + 1, col=c + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, scaleanchor="x", constrain="domain")
    scale = "one shared scale" if shared else "each map on its own scale"
    fig.update_layout(title=title or f"Attribution maps, {scale} (red/blue: signed, for/against the class)",
                      height=260 * rows + 60, font=FONT, margin=dict(l=10, r=40, t=70, b=10))
    return fig
