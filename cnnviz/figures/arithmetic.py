"""Plotly figures for convolution arithmetic: the animated sliding window, number grids, im2col.

Pure Plotly (no Streamlit), so each figure is one call away in a notebook::

    >>> import torch
    >>> from cnnviz.methods.arithmetic import LayerSpec
    >>> fig = sliding_window_figure(torch.arange(49.).view(7, 7) % 10, torch.ones(3, 3), 0.0,
    ...                             LayerSpec("conv", 7, 7, 1, 1, kernel=3, stride=2, padding=1))
    >>> len(fig.to_dict()["frames"])
    16
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnnviz.figures.common import FONT, FrozenFigure
from cnnviz.methods import arithmetic as ar
from cnnviz.text.arithmetic import format_dot_product

PAD_COLOR = "#f3d9a4"       # padding cells: warm sand, clearly not image
INSERTED_COLOR = "#d8e6f3"  # zeros inserted by a transposed convolution
OVERHANG_COLOR = "#eeeeee"  # ceil-mode windows hanging past the padded input
WINDOW_COLOR = "#e4572e"
MAX_GRID = 40               # cells per side that stay legible in the animation
MAX_FRAMES = 1600

__all__ = ["FONT", "PAD_COLOR", "INSERTED_COLOR", "OVERHANG_COLOR", "WINDOW_COLOR", "MAX_GRID", "MAX_FRAMES",
           "sliding_window_figure", "window_animation", "at_step", "number_grid", "animation_too_large", "POOL_COLORS",
           "pool_example_figures", "im2col_figures"]


def _fmt_value(v: float, decimals: int) -> str:
    if v == float("-inf"):
        return "−∞"
    if decimals == 0:
        return f"{int(round(v))}"
    return f"{v:.{decimals}f}".rstrip("0").rstrip(".") if v == v else ""


def _decimals(values: np.ndarray) -> int:
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.allclose(finite, np.round(finite)):
        return 0
    return 1 if np.abs(finite).max() >= 10 else 2


def _texts(values: np.ndarray) -> np.ndarray:
    """Each value as the grid writes it (whole numbers without decimals, -inf as −∞)."""
    dec = _decimals(values)
    return np.vectorize(lambda v: _fmt_value(v, dec))(values)


def _cell_font(cells: int, px: int) -> int:
    return int(max(7, min(18, px / max(cells, 1) * 0.42)))


def _outline(r0: float, c0: float, r1: float, c1: float) -> tuple[list[float], list[float]]:
    """A closed rectangle path around cells r0..r1, c0..c1 (inclusive) for a scatter line."""
    return ([c0 - .5, c1 + .5, c1 + .5, c0 - .5, c0 - .5], [r0 - .5, r0 - .5, r1 + .5, r1 + .5, r0 - .5])


# ---------------------------------------------------------------------------------------------- the sliding window
@dataclass(frozen=True)
class _WindowLayout:
    """Sizes of the animation: the input grid's share of the width, cell sizes, margins and fonts."""

    left: float  # the input's share of the width
    cell: float  # pixels per input cell
    out_cell: float  # pixels per output cell
    top: int
    bottom: int
    height: int

    @property
    def in_font(self) -> int:
        return int(max(7, min(18, self.cell * 0.5)))

    @property
    def out_font(self) -> int:
        return int(max(7, min(18, self.out_cell * 0.36)))


def _window_layout(grid_shape: tuple[int, int], out_shape: tuple[int, int], kernel: int, width: int,
                   height: int | None) -> _WindowLayout:
    (gh, gw), (oh, ow) = grid_shape, out_shape
    left = gw / (gw + ow) if gw < ow else max(0.58, gw / (gw + ow))  # the input gets the room; outputs are smaller
    top, bottom = 30 + 22 * min(kernel, 5), 105
    cell = min(48.0, (width - 40) * left / gw, 900 / gh)
    out_cell = min((width - 40) * (1 - left) / max(ow, 1), cell * gh / max(oh, 1))
    return _WindowLayout(left, cell, out_cell, top, bottom, height or int(cell * gh + top + bottom + 30))


def _add_input_grid(fig: go.Figure, grid: ar.PaddedGrid, font: int) -> None:
    """The input cells (grey by value) and the padding, inserted zeros and overhang (one colour each)."""
    gv, kind = grid.values.numpy(), grid.kind.numpy()
    in_text = _texts(gv)
    zin = np.where(kind == ar.CELL_INPUT, gv, np.nan)
    finite_in = zin[np.isfinite(zin)]
    lo, hi = (float(finite_in.min()), float(finite_in.max())) if finite_in.size else (0.0, 1.0)
    fig.add_trace(go.Heatmap(z=zin, colorscale=[[0, "#ffffff"], [1, "#9a9a9a"]], showscale=False, zmin=lo,
                             zmax=max(hi, lo + 1e-9), xgap=1, ygap=1, text=in_text, texttemplate="%{text}",
                             textfont=dict(size=font, color="#111111"),
                             hovertemplate="grid row %{y}, col %{x}: %{text}<extra>input</extra>"), 1, 1)
    pad_scale = [[0, PAD_COLOR], [0.5, PAD_COLOR], [0.5, INSERTED_COLOR], [0.75, INSERTED_COLOR],
                 [0.75, OVERHANG_COLOR], [1, OVERHANG_COLOR]]
    fig.add_trace(go.Heatmap(z=np.where(kind == ar.CELL_INPUT, np.nan, kind.astype(float)), colorscale=pad_scale,
                             zmin=1, zmax=3, showscale=False, xgap=1, ygap=1,
                             text=np.where((kind == ar.CELL_OVERHANG) | (kind == ar.CELL_INPUT), "", in_text),
                             texttemplate="%{text}", textfont=dict(size=font, color="#7a5c1e"),
                             hovertemplate="grid row %{y}, col %{x}: padding<extra></extra>"), 1, 1)


class _OutputFill:
    """The output map as the animation fills it: cells up to step ``i`` (row-major), or all at once when large."""

    def __init__(self, out: np.ndarray):
        self.out, self.text = out, _texts(out)
        self.progressive = out.size <= 400

    def z(self, i: int) -> np.ndarray:
        if not self.progressive:
            return self.out
        z = self.out.copy().ravel()
        z[i + 1:] = np.nan
        return z.reshape(self.out.shape)

    def t(self, i: int) -> np.ndarray:
        if not self.progressive:
            return self.text
        t = self.text.copy().ravel()
        t[i + 1:] = ""
        return t.reshape(self.out.shape)


def _add_output_map(fig: go.Figure, fill: _OutputFill, start: int, layout: _WindowLayout) -> None:
    fin = fill.out[np.isfinite(fill.out)]
    lim = float(np.abs(fin).max()) if fin.size else 1.0
    diverging = bool((fin < 0).any())
    fig.add_trace(go.Heatmap(z=fill.z(start), text=fill.t(start),
                             texttemplate="%{text}" if layout.out_cell >= 15 else "",  # too small: colours, hover
                             colorscale="RdBu" if diverging else "Blues", zmid=0 if diverging else None,
                             zmin=None if diverging else 0, zmax=None if diverging else lim, showscale=False,
                             xgap=1, ygap=1, textfont=dict(size=layout.out_font),
                             hovertemplate="output row %{y}, col %{x}: %{z}<extra></extra>"), 1, 2)


def _window_traces(step: ar.WindowStep, spec: ar.LayerSpec, marker_size: float) -> list[dict]:
    """The kernel's outline and taps on the input, and the output cell they compute."""
    r0, c0 = min(step.rows), min(step.cols)
    span = (spec.kernel - 1) * spec.dilation
    wx, wy = _outline(r0, c0, r0 + span, c0 + span)
    ox, oy = _outline(step.out_row, step.out_col, step.out_row, step.out_col)
    return [
        dict(type="scatter", x=wx, y=wy, mode="lines", line=dict(color=WINDOW_COLOR, width=3), hoverinfo="skip"),
        dict(type="scatter", x=list(step.cols), y=list(step.rows), mode="markers", hoverinfo="skip",
             marker=dict(symbol="square-open", size=marker_size, color=WINDOW_COLOR, line=dict(width=2))),
        dict(type="scatter", x=ox, y=oy, mode="lines", line=dict(color=WINDOW_COLOR, width=4), hoverinfo="skip"),
    ]


def _caption_annotation(text: str) -> dict:
    return dict(text=text, x=0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
                align="left", font=dict(size=16, family="monospace", color="#222222"), yshift=28)


def _title_annotations(fig: go.Figure) -> list:
    """The subplot titles (annotations) that a frame's layout.annotations would otherwise erase."""
    return [a for a in fig.layout.annotations if not (a.font and a.font.family == "monospace")]


def _caption(step: ar.WindowStep, bias: float, spec: ar.LayerSpec) -> str:
    body = format_dot_product(step, bias, spec.mode, max_terms=25, per_line=spec.kernel, newline="<br>")
    return f"<b>output ({step.out_row}, {step.out_col})</b>  =  {body}"


def _frames(fig: go.Figure, steps: list[ar.WindowStep], fill: _OutputFill, bias: float, spec: ar.LayerSpec,
            marker_size: float) -> list[dict]:
    """One frame per step: the output filled so far, the window, the caption (plain dicts: see window_animation)."""
    n_static = 3  # input, padding, output heat maps; then the window's three traces
    titles = [a.to_plotly_json() for a in _title_annotations(fig)]
    frames = []
    for i, s in enumerate(steps):
        data = ([dict(type="heatmap", z=fill.z(i), text=fill.t(i))] if fill.progressive else [])
        idx = ([2] if fill.progressive else []) + [n_static, n_static + 1, n_static + 2]
        layout = dict(annotations=[_caption_annotation(_caption(s, bias, spec))] + titles)
        frames.append(dict(name=str(i), data=data + _window_traces(s, spec, marker_size), traces=idx, layout=layout))
    return frames


def _style_grid_axes(fig: go.Figure, ticks: bool) -> None:
    for col in (1, 2):
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if col == 1 else 2}", constrain="domain",
                         showgrid=False, zeroline=False, showticklabels=ticks, dtick=1, row=1, col=col)
        fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain", showticklabels=ticks, dtick=1, row=1,
                         col=col)


def _player(steps: list[ar.WindowStep], start: int, speed_ms: int) -> dict:
    """Play/Pause buttons and the scrubbing slider, as layout arguments."""
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(label="▶ Play", method="animate",
                args=[None, dict(frame=dict(duration=speed_ms, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0), mode="immediate")])
    pause = dict(label="❚❚ Pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                    transition=dict(duration=0))])
    slider_steps = [dict(method="animate", label=f"{s.out_row},{s.out_col}", args=[[str(i)], still])
                    for i, s in enumerate(steps)]
    buttons = dict(type="buttons", direction="left", showactive=False, x=0.0, y=-0.08, xanchor="left",
                   yanchor="top", pad=dict(r=8, t=8), buttons=[play, pause], font=dict(size=15, color="#222222"))
    slider = dict(active=start, steps=slider_steps, x=0.26, len=0.74, y=-0.05, yanchor="top",
                  currentvalue=dict(prefix="step (output row, col): ", font=dict(size=15, color="#333333")),
                  pad=dict(t=40), font=dict(size=1, color="rgba(0,0,0,0)"), ticklen=0, tickcolor="rgba(0,0,0,0)",
                  transition=dict(duration=0))
    return dict(updatemenus=[buttons], sliders=[slider])


def sliding_window_figure(x: torch.Tensor, weight: torch.Tensor | None, bias: float, spec: ar.LayerSpec,
                          start: int = 0, speed_ms: int = 500, height: int | None = None,
                          width: int = 1050) -> go.Figure:
    """The kernel sliding over the padded input, with the output cell and the dot product per frame.

    Args:
        x: one input channel ``[H, W]`` (small integers read best).
        weight: the kernel ``[k, k]`` (None for pooling).
        bias: added to every dot product.
        spec: layer settings; must be valid (see :func:`cnnviz.methods.arithmetic.problems`).
        start: the step shown first (and where the slider starts).
        speed_ms: milliseconds per step when playing.
        height: figure height in pixels (default: what the grid needs at ``width``).
        width: the width the figure will be shown at, to size cells and fonts.

    Returns:
        A figure with one frame per output cell, Play/Pause buttons and a slider to scrub.
        Padding cells are sand-coloured, inserted zeros (transposed) light blue. It is
        :func:`at_step` of :func:`window_animation`: a page that scrubs keeps the animation and moves ``start``.
    """
    return at_step(window_animation(x, weight, bias, spec, speed_ms, height, width), start)


def window_animation(x: torch.Tensor, weight: torch.Tensor | None, bias: float, spec: ar.LayerSpec,
                     speed_ms: int = 500, height: int | None = None, width: int = 1050) -> dict:
    """The sliding window's figure at step 0 as a plain dict, its frames included (the arguments of
    :func:`sliding_window_figure`). Building it validates hundreds of objects; :func:`at_step` then shows any
    step without building again."""
    spec = replace(spec, height=x.shape[0], width=x.shape[1])
    steps = ar.sliding_windows(x, weight, bias, spec)
    grid = ar.padded_grid(x, spec)
    gh, gw = grid.values.shape
    _, oh, ow = spec.output_shape()
    fill = _OutputFill(np.array([s.value for s in steps], dtype=float).reshape(oh, ow))
    steps = steps[:MAX_FRAMES]
    start = 0
    layout = _window_layout((gh, gw), (oh, ow), spec.kernel, width, height)
    fig = make_subplots(rows=1, cols=2, column_widths=[layout.left, 1 - layout.left], horizontal_spacing=0.05,
                        subplot_titles=(f"Input {x.shape[0]}×{x.shape[1]} with padding → grid {gh}×{gw}",
                                        f"Output {oh}×{ow}"))
    _add_input_grid(fig, grid, layout.in_font)
    _add_output_map(fig, fill, start, layout)
    side = max(gh, gw)
    marker_size = max(6, int(layout.cell * side) / side * 0.8)  # a tap's square, a little inside its cell
    first = _window_traces(steps[start], spec, marker_size)
    for trace, col in zip(first, (1, 1, 2), strict=True):
        fig.add_trace(go.Scatter(trace), 1, col)
    frames = _frames(fig, steps, fill, bias, spec, marker_size)
    fig.layout.annotations = [_caption_annotation(_caption(steps[start], bias, spec))] + _title_annotations(fig)
    _style_grid_axes(fig, max(gh, gw) <= 24)
    fig.update_layout(height=layout.height, font=FONT, showlegend=False, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=layout.top, b=layout.bottom), **_player(steps, start, speed_ms))
    fig.layout.meta = {"steps": len(steps), "output": [oh, ow]}
    out = fig.to_dict()
    out["frames"] = frames  # hundreds: plain dicts, since validating them as go.Frame objects takes seconds
    return out


def at_step(animation: dict, step: int) -> FrozenFigure:
    """The animation of :func:`window_animation` showing ``step`` (clipped to its frames), and its slider there:
    that frame's traces and caption applied to a copy (the animation itself is left alone, so a cache can share it)."""
    frames = animation["frames"]
    step = int(min(max(step, 0), len(frames) - 1))
    frame = frames[step]
    data = list(animation["data"])
    for i, trace in zip(frame["traces"], frame["data"], strict=True):
        data[i] = {**data[i], **trace}
    layout = animation["layout"]
    layout = {**layout, "annotations": frame["layout"]["annotations"],
              "sliders": [{**layout["sliders"][0], "active": step}]}
    return FrozenFigure({**animation, "data": data, "layout": layout})




def animation_too_large(x: torch.Tensor, spec: ar.LayerSpec) -> str | None:
    """Why the animation declines this input (its padded grid would be over ``MAX_GRID`` cells a side), or None."""
    gh, gw = ar.padded_grid(x, replace(spec, height=x.shape[0], width=x.shape[1])).values.shape
    if max(gh, gw) <= MAX_GRID:
        return None
    return (
        f"The animation draws grids up to {MAX_GRID}×{MAX_GRID} cells so the numbers stay readable; this one is "
        f"{gh}×{gw}. Make the input smaller (the formulas above work for any size), or use a preset."
    )


# ---------------------------------------------------------------------------------------------- number grids
def number_grid(
    z: np.ndarray,
    title: str = "",
    colorscale: str = "Blues",
    height: int | None = None,
    highlight: list[tuple[int, int, int, int, str]] | None = None,
) -> go.Figure:
    """A small matrix drawn as a heat map with its numbers written in the cells.

    Args:
        z: the values ``[rows, cols]``.
        title: figure title.
        colorscale: Plotly colour scale.
        height: pixels (default: from the number of rows).
        highlight: rectangles ``(r0, c0, r1, c1, colour)`` (inclusive cells) drawn on top.
    """
    z = np.asarray(z, dtype=float)
    rows, cols = z.shape
    h = height or int(min(560, max(180, 34 * rows + 70)))
    fig = go.Figure(go.Heatmap(z=z, text=_texts(z), texttemplate="%{text}", colorscale=colorscale, showscale=False,
                               xgap=1, ygap=1, textfont=dict(size=_cell_font(max(rows, cols / 2), h)),
                               hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"))
    for r0, c0, r1, c1, color in highlight or []:
        xs, ys = _outline(r0, c0, r1, c1)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=4), hoverinfo="skip", showlegend=False)
        )
    fig.update_yaxes(autorange="reversed", showgrid=False, zeroline=False, dtick=1 if rows <= 20 else None)
    fig.update_xaxes(showgrid=False, zeroline=False, dtick=1 if cols <= 30 else None)
    fig.update_layout(
        title=title, height=h, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT, plot_bgcolor="white"
    )
    return fig


POOL_COLORS = ("#e4572e", "#17becf", "#2ca02c", "#9467bd")


def pool_example_figures(ex: ar.PoolExample, height: int = 300) -> tuple[go.Figure, go.Figure]:
    """The 4x4 input with its four 2x2 windows outlined, and the 2x2 output with each cell in its window's colour.

    Examples::

        >>> fin, fout = pool_example_figures(ar.pool_example())
        >>> fout.data[0].z.tolist()
        [[6.0, 8.0], [3.0, 4.0]]
    """
    k = ex.x.shape[0] // ex.y.shape[0]
    fin = number_grid(
        ex.x.numpy(),
        f"Input {ex.x.shape[0]}×{ex.x.shape[1]}",
        height=height,
        highlight=[(r, c, r + k - 1, c + k - 1, POOL_COLORS[i % 4]) for i, (r, c) in enumerate(ex.windows)],
    )
    oh, ow = ex.y.shape
    fout = number_grid(
        ex.y.numpy(),
        f"Max pool {k}×{k}, stride {k} → {oh}×{ow}",
        height=height,
        highlight=[(r, c, r, c, POOL_COLORS[(r * ow + c) % 4]) for r in range(oh) for c in range(ow)],
    )
    return fin, fout


def im2col_figures(ex: ar.Im2colExample, max_columns: int = 24) -> tuple[go.Figure, go.Figure]:
    """The kernel as one row ``W`` and the first ``max_columns`` columns of ``X_cols`` as number grids."""
    kk, n_cols = ex.cols.shape
    show = min(n_cols, max_columns)
    fw = number_grid(ex.weight_row.numpy(), "W: the kernel as one row", colorscale="RdBu", height=120)
    fx = number_grid(
        ex.cols[:, :show].numpy(),
        "X_cols: one column per window position" + (f" (first {show} of {n_cols})" if show < n_cols else ""),
        colorscale="Greys",
        height=min(520, 28 * kk + 80),
    )
    return fw, fx
