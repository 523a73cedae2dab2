"""Layers drawn as volumes: input, filters and output as boxes in an oblique projection (CNN Explainer's
picture), with the numbers in the formula; a stack of layers for the quiz; dilation and grouped costs.

Pure Plotly (no Streamlit)::

    >>> from cnnviz.methods.arithmetic import LayerSpec
    >>> fig = layer_shape_figure(LayerSpec("conv", 32, 32, 3, 20, kernel=5))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.figures.arithmetic import PAD_COLOR, WINDOW_COLOR
from cnnviz.figures.common import FONT, hex_rgb
from cnnviz.methods import arithmetic as ar
from cnnviz.text.arithmetic_cases import grouped_label, grouped_name

# an oblique projection: width and height in input pixels (one scale for the whole figure, so a shrinking map
# looks smaller), channels along the receding axis on a log scale (3 and 2048 channels both fit).
DEPTH_DX, DEPTH_DY = 0.62, 0.42  # the receding axis on screen, per unit of drawn depth
INPUT_COLOR, OUTPUT_COLOR, FILTER_COLOR = "#9ecae1", "#fdae6b", "#f4a582"
UNSEEN_COLOR = "rgba(70, 70, 70, 0.55)"  # input rows/columns no window ever reads
MAX_CELL_LINES = 48  # cells per side up to which a face shows its grid


def _shade(color: str, f: float) -> str:
    """``color`` (#rrggbb) lightened (f > 0) or darkened (f < 0) by the fraction ``|f|``."""
    r, g, b = hex_rgb(color)
    mix = (lambda v: v + (255 - v) * f) if f > 0 else (lambda v: v * (1 + f))
    return "#" + "".join(f"{int(round(mix(v))):02x}" for v in (r, g, b))


def _path(points: list[tuple[float, float]]) -> str:
    return "M " + " L ".join(f"{x:.4f},{y:.4f}" for x, y in points) + " Z"


def channel_depth(channels: int, scale: float) -> float:
    """How deep a volume of ``channels`` is drawn, for a figure whose largest map side is ``scale``.

    Examples::

        >>> round(channel_depth(1, 32), 2), round(channel_depth(2048, 32), 2)
        (3.2, 19.2)
    """
    return float(scale * (0.1 + 0.5 * np.log2(max(int(channels), 1)) / 11))


def _box(fig: go.Figure, x: float, y: float, w: float, h: float, d: float, color: str, *, dash: str | None = None,
         line: str = "#444444", width: float = 1.2, opacity: float = 1.0, layer: str = "below",
         faces: bool = True) -> None:
    """A box: front face ``[x, x+w] x [y, y+h]``, receding by ``d`` (its top and right side shaded)."""
    dx, dy = d * DEPTH_DX, d * DEPTH_DY
    front = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    top = [(x, y + h), (x + w, y + h), (x + w + dx, y + h + dy), (x + dx, y + h + dy)]
    side = [(x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)]
    style = dict(color=line, width=width, dash=dash)
    for pts, fill in ((side, _shade(color, -0.18)), (top, _shade(color, 0.35)), (front, color)):
        if d <= 0 and pts is not front:
            continue
        fig.add_shape(type="path", path=_path(pts), fillcolor=fill if faces else "rgba(0,0,0,0)", line=style,
                      opacity=opacity, layer=layer)


def _rect(fig: go.Figure, x0: float, y0: float, x1: float, y1: float, fill: str = "rgba(0,0,0,0)",
          line: str | None = None, width: float = 2.0, dash: str | None = None, layer: str = "above") -> None:
    fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, fillcolor=fill, layer=layer,
                  line=dict(color=line or "rgba(0,0,0,0)", width=width if line else 0, dash=dash))


def _grid_lines(x0: float, y_top: float, cols: int, rows: int, cell: float = 1.0) -> tuple[list, list]:
    """Polyline coordinates (None-separated) of a ``rows x cols`` grid whose top-left corner is ``(x0, y_top)``."""
    xs: list = []
    ys: list = []
    for c in range(cols + 1):
        xs += [x0 + c * cell, x0 + c * cell, None]
        ys += [y_top, y_top - rows * cell, None]
    for r in range(rows + 1):
        xs += [x0, x0 + cols * cell, None]
        ys += [y_top - r * cell, y_top - r * cell, None]
    return xs, ys


def _lines(fig: go.Figure, xs: list, ys: list, color: str, width: float = 1.0, dash: str | None = None) -> None:
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=width, dash=dash),
                             hoverinfo="skip", showlegend=False))


def _label(fig: go.Figure, x: float, y: float, text: str, size: int = 16, color: str = "#222222",
           xanchor: str = "center", yanchor: str = "middle", angle: float = 0, **kw) -> None:
    fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=size, color=color), xanchor=xanchor,
                       yanchor=yanchor, textangle=angle, **kw)


def _fmt_shape(c: int, h: int, w: int) -> str:
    return f"{c} × {h} × {w}"


def size_formula_text(spec: ar.LayerSpec) -> str:
    """The output-height formula with this layer's numbers, as plain text for a figure (no LaTeX).

    Examples::

        >>> size_formula_text(ar.LayerSpec("conv", 32, 32, 3, 20, kernel=5, padding=2))
        'H_out = ⌊(H + 2P − D·(K−1) − 1) / S⌋ + 1 = ⌊(32 + 2·2 − 1·(5−1) − 1) / 1⌋ + 1 = 32'
    """
    s, out = spec, spec.output_size(spec.height)
    if s.mode == "transposed":
        return (f"H_out = (H−1)·S − 2P + D·(K−1) + out_pad + 1 = ({s.height}−1)·{s.stride} − 2·{int(s.padding)} + "
                f"{s.dilation}·({s.kernel}−1) + {s.output_padding} + 1 = {out}")
    pb, pa = s.pad
    lo, hi = ("⌈", "⌉") if s.ceil_mode else ("⌊", "⌋")
    two_p = f"2·{pb}" if pb == pa else f"({pb}+{pa})"
    return (f"H_out = {lo}(H + 2P − D·(K−1) − 1) / S{hi} + 1 = {lo}({s.height} + {two_p} − {s.dilation}·({s.kernel}−1)"
            f" − 1) / {s.stride}{hi} + 1 = {out}")


@dataclass(frozen=True)
class _Volumes:
    """Where the layer drawing puts things: the input's front face, the scale, the depths, the output's shape."""

    spec: ar.LayerSpec
    c_out: int
    oh: int
    ow: int
    pb: int  # padding before (0 for a transposed convolution, whose padding crops the output)
    pa: int
    scale: float  # the largest side drawn: sets the depths and margins
    d_in: float  # drawn depth of the input and output volumes
    d_out: float
    x0: float  # left edge of the input's front face (the padding ring lies left of it)
    y_top: float  # top edge of the input's front face

    @property
    def gap(self) -> float:
        return 0.3 * self.scale

    @property
    def transposed(self) -> bool:
        return self.spec.mode == "transposed"

    def window(self, i: int, j: int) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the window of output cell (i, j) on the padded input."""
        s = self.spec
        left, top = self.x0 - self.pb + j * s.stride, self.y_top + self.pb - i * s.stride
        return left, top - s.effective_kernel, left + s.effective_kernel, top


def _volumes(spec: ar.LayerSpec) -> _Volumes:
    c_out, oh, ow = spec.output_shape()
    pb, pa = (0, 0) if spec.mode == "transposed" else spec.pad
    m = float(max(spec.height + pb + pa, spec.width + pb + pa, oh, ow, 4))
    return _Volumes(spec, c_out, oh, ow, pb, pa, m, channel_depth(spec.in_channels, m), channel_depth(c_out, m),
                    float(pb), spec.height / 2)


def _draw_input(fig: go.Figure, v: _Volumes) -> tuple[list[int], list[int]]:
    """The input volume, its padding ring and grid, and the rows and columns no window reads (returned)."""
    s, x0, y_top, pb, pa = v.spec, v.x0, v.y_top, v.pb, v.pa
    H, W = s.height, s.width
    if pb or pa:
        _rect(fig, x0 - pb, -H / 2 - pa, x0 + W + pa, y_top + pb, fill=PAD_COLOR, line="#b8995a", width=1,
              layer="below")
    _box(fig, x0, -H / 2, W, H, v.d_in, INPUT_COLOR)
    if max(H + pb + pa, W + pb + pa) <= MAX_CELL_LINES:
        _lines(fig, *_grid_lines(x0 - pb, y_top + pb, W + pb + pa, H + pb + pa), "rgba(0,0,0,0.22)", 0.8)
    rows_unseen, cols_unseen = s.uncovered()
    for r in rows_unseen:
        _rect(fig, x0, y_top - r - 1, x0 + W, y_top - r, fill=UNSEEN_COLOR)
    for c in cols_unseen:
        _rect(fig, x0 + c, -H / 2, x0 + c + 1, y_top, fill=UNSEEN_COLOR)
    return rows_unseen, cols_unseen


def _draw_window(fig: go.Figure, v: _Volumes) -> tuple[float, float, float, float]:
    """The first window (its taps when dilated, and the second, dashed, for the stride) or, transposed, the input
    cell; returns its (left, bottom, right, top)."""
    s, x0, y_top = v.spec, v.x0, v.y_top
    if v.transposed:
        win = (x0, y_top - 1, x0 + 1, y_top)
        _rect(fig, *win, fill=WINDOW_COLOR, line=WINDOW_COLOR)
        if s.width > 1:
            _rect(fig, x0 + 1, y_top - 1, x0 + 2, y_top, line=WINDOW_COLOR, dash="dash")
        return win
    win, keff = v.window(0, 0), s.effective_kernel
    k_depth = v.d_in / max(s.groups, 1) if s.mode == "conv" else max(v.d_in / s.in_channels, 0.015 * v.scale)
    _box(fig, win[0], win[1], keff, keff, k_depth, WINDOW_COLOR, line=WINDOW_COLOR, width=2.5, opacity=0.45,
         layer="above")
    _rect(fig, *win, line=WINDOW_COLOR, width=3)
    if s.dilation > 1:
        for a in range(s.kernel):
            for b in range(s.kernel):
                tx, ty = win[0] + b * s.dilation, win[3] - a * s.dilation
                _rect(fig, tx + 0.12, ty - 0.88, tx + 0.88, ty - 0.12, fill=WINDOW_COLOR)
    if v.ow > 1:
        w2 = v.window(0, 1)
        _rect(fig, *w2, line=WINDOW_COLOR, width=2.5, dash="dash")
        fig.add_annotation(x=w2[0], y=w2[3], ax=win[0], ay=win[3], xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=2, arrowcolor=WINDOW_COLOR,
                           standoff=0, startstandoff=0, text="")
        _label(fig, (win[0] + w2[0]) / 2, win[3], f"<b>S = {s.stride}</b>", 16, WINDOW_COLOR, yanchor="bottom",
               yshift=4)
    return win


def _draw_filters(fig: go.Figure, v: _Volumes) -> tuple[float, float, float]:
    """The filters (or the pooling rule) between input and output, with their caption; returns the right edge, the
    bottom and the top of what was drawn."""
    s, K = v.spec, v.spec.kernel
    xf = v.x0 + s.width + v.pa + v.d_in * DEPTH_DX + v.gap
    kf = min(0.3, 0.08 + 0.03 * s.effective_kernel) * v.scale
    per_group = s.in_channels // max(s.groups, 1)
    if s.is_pool:
        _box(fig, xf, -kf / 2, kf, kf, max(v.d_in / s.in_channels, 0.015 * v.scale), FILTER_COLOR)
        if K <= 15:
            _lines(fig, *_grid_lines(xf, kf / 2, K, K, kf / K), "rgba(0,0,0,0.45)", 1)
        rule = "maximum" if s.mode == "maxpool" else "mean"
        text = (f"<b>{rule} of each {K}×{K} window</b><br>one channel at a time<br>"
                f"{'ceil_mode: last partial window<br>' if s.ceil_mode else ''}no parameters")
        _label(fig, xf + kf / 2, -kf / 2, text, 15, "#333333", yanchor="top", yshift=-6)
        return xf + kf, -kf / 2, kf / 2
    df = channel_depth(v.c_out // max(s.groups, 1) if v.transposed else per_group, v.scale)
    n = min(s.in_channels if v.transposed else v.c_out, 3)
    step = kf * 1.3 + df * DEPTH_DY
    top0 = (n * kf + (n - 1) * (step - kf)) / 2
    for i in range(n):
        yb = top0 - i * step - kf
        _box(fig, xf, yb, kf, kf, df, FILTER_COLOR)
        if K <= 15:
            _lines(fig, *_grid_lines(xf, yb + kf, K, K, kf / K), "rgba(0,0,0,0.45)", 1)
    bottom = top0 - (n - 1) * step - kf
    if v.transposed:
        text = (f"<b>{s.in_channels} × {v.c_out // s.groups} kernels {K}×{K}</b><br>each input value spreads<br>"
                f"a {K}×{K} patch, {s.stride} apart")
    else:
        many = v.c_out > n
        text = (f"<b>{v.c_out} filter{'s' if v.c_out > 1 else ''}</b>{'  ⋮' if many else ''}<br>"
                f"each {K}×{K}×{per_group}" + (f"<br>(sees {per_group} of {s.in_channels} channels)"
                                               if s.groups > 1 else "") + "<br>+ 1 bias each")
    _label(fig, xf + kf / 2, bottom, text, 15, "#333333", yanchor="top", yshift=-6)
    return xf + kf + df * DEPTH_DX, bottom, top0


def _draw_output(fig: go.Figure, v: _Volumes, xo: float, win: tuple[float, float, float, float]) -> None:
    """The output volume with the cell (transposed: the patch) the first window computes, joined to the window."""
    s, oh, ow = v.spec, v.oh, v.ow
    yo_top = oh / 2
    _box(fig, xo, -oh / 2, ow, oh, v.d_out, OUTPUT_COLOR)
    if max(oh, ow) <= MAX_CELL_LINES:
        _lines(fig, *_grid_lines(xo, yo_top, ow, oh), "rgba(0,0,0,0.22)", 0.8)
    if v.transposed:
        r0 = c0 = -int(s.padding)
        r1 = c1 = r0 + s.effective_kernel
        cell = (xo + max(c0, 0), yo_top - min(r1, oh), xo + min(c1, ow), yo_top - max(r0, 0))
        _rect(fig, *cell, fill="rgba(228,87,46,0.35)", line=WINDOW_COLOR, width=3)
    else:
        cell = (xo, yo_top - 1, xo + 1, yo_top)
        _rect(fig, *cell, fill=WINDOW_COLOR, line=WINDOW_COLOR)
        if ow > 1:
            _rect(fig, xo + 1, yo_top - 1, xo + 2, yo_top, line=WINDOW_COLOR, width=2, dash="dash")
    # dotted lines from the window's right corners to the cell's left corners
    _lines(fig, [win[2], cell[0], None, win[2], cell[0], None], [win[3], cell[3], None, win[1], cell[1], None],
           WINDOW_COLOR, 1.5, "dot")


def _draw_labels(fig: go.Figure, v: _Volumes, xo: float, unseen: bool) -> None:
    """Names and sizes of the input and output volumes."""
    s, x0, y_top, d_in, d_out = v.spec, v.x0, v.y_top, v.d_in, v.d_out
    H, W, oh, ow = s.height, s.width, v.oh, v.ow
    yo_top = oh / 2
    pad_note = f"<br><span style='color:#9a7a35'>padding P = {s.padding}</span>" if (v.pb or v.pa) else ""
    _label(fig, x0 + W / 2 + d_in * DEPTH_DX / 2, y_top + v.pb + d_in * DEPTH_DY,
           f"<b>Input {_fmt_shape(s.in_channels, H, W)}</b>", 17, yanchor="bottom", yshift=8)
    _label(fig, x0 + W / 2, -H / 2 - v.pa, f"W = {W}{pad_note}", 15, yanchor="top", yshift=-4)
    _label(fig, x0 - v.pb, 0, f"H = {H}", 15, xanchor="right", angle=-90, xshift=-4)
    _label(fig, x0 + W + d_in * DEPTH_DX, y_top + d_in * DEPTH_DY, f"C = {s.in_channels}", 15, xanchor="left",
           yanchor="top", xshift=4)
    _label(fig, xo + ow / 2 + d_out * DEPTH_DX / 2, yo_top + d_out * DEPTH_DY,
           f"<b>Output {_fmt_shape(v.c_out, oh, ow)}</b>", 17, yanchor="bottom", yshift=8)
    _label(fig, xo + ow / 2, -oh / 2, f"{ow}", 15, yanchor="top", yshift=-4)
    _label(fig, xo, 0, f"{oh}", 15, xanchor="right", xshift=-4)
    _label(fig, xo + ow + d_out * DEPTH_DX, yo_top + d_out * DEPTH_DY, f"{v.c_out}", 15, xanchor="left",
           yanchor="top", xshift=4)
    if unseen:
        _label(fig, x0 + W, -H / 2 - v.pa, "<span style='color:#444'>▇ never read</span>", 14, xanchor="right",
               yanchor="top", yshift=-4)


def layer_shape_figure(spec: ar.LayerSpec, height: int = 460) -> go.Figure:
    """The layer as volumes: the (padded) input, its filters, the output, to one scale, with the first kernel
    window on the input and the output cell it computes.

    The second window (dashed) shows the stride; rows and columns no window reads are dark; a dilated kernel
    shows its taps. Pooling draws one channel's window (each channel is pooled on its own); a transposed
    convolution draws one input cell and the K×K patch of the output it spreads to. Under the drawing: the
    output-size formula with the numbers, the parameters and the work.

    Args:
        spec: a valid layer (:meth:`cnnviz.methods.arithmetic.LayerSpec.problems` is empty).
        height: pixels.

    Examples::

        >>> fig = layer_shape_figure(ar.LayerSpec("conv", 32, 32, 3, 20, kernel=5))
        >>> fig.layout.meta["output"], fig.layout.meta["window"]
        ([20, 28, 28], [0.0, 11.0, 5.0, 16.0])
    """
    s, v = spec, _volumes(spec)
    fig = go.Figure()
    rows_unseen, cols_unseen = _draw_input(fig, v)
    win = _draw_window(fig, v)
    k_right, k_bottom, k_top = _draw_filters(fig, v)
    xo = k_right + v.gap
    _draw_output(fig, v, xo, win)
    _draw_labels(fig, v, xo, bool(rows_unseen or cols_unseen))
    work = (f"{ar.human(s.pool_ops())} {'comparisons' if s.mode == 'maxpool' else 'additions'}" if s.is_pool
            else f"{ar.human(s.macs())} MACs")
    fig.add_annotation(x=0.5, y=0, xref="paper", yref="paper", xanchor="center", yanchor="top", yshift=-8,
                       showarrow=False, align="center", font=dict(size=17, color="#222222"),
                       text=f"{size_formula_text(s)}<br><b>{s.params().total:,} parameters</b> · {work} per image")
    m = v.scale
    x_right = xo + v.ow + v.d_out * DEPTH_DX + 0.08 * m
    y_hi = max(v.y_top + v.pb + v.d_in * DEPTH_DY, v.oh / 2 + v.d_out * DEPTH_DY, k_top) + 0.1 * m
    y_lo = min(-s.height / 2 - v.pa, -v.oh / 2, k_bottom) - 0.2 * m
    fig.update_xaxes(visible=False, range=[v.x0 - v.pb - 0.12 * m, x_right])
    fig.update_yaxes(visible=False, range=[y_lo, y_hi], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, showlegend=False, plot_bgcolor="white", font=FONT,
                      margin=dict(l=10, r=10, t=10, b=70), dragmode=False)
    fig.layout.meta = {"output": [v.c_out, v.oh, v.ow], "window": [round(x, 4) for x in win],
                       "unseen": [len(rows_unseen), len(cols_unseen)]}
    return fig


def _layer_words(layer: ar.StackLayer) -> str:
    """``conv 5×5, 20 filters`` (stride, padding, dilation, groups when they are not the defaults)."""
    kind = {"conv": "conv", "maxpool": "max pool", "avgpool": "avg pool", "transposed": "tconv"}[layer.mode]
    extra = [f"stride {layer.stride}"] if layer.stride != (layer.kernel if layer.filters is None else 1) else []
    extra += [f"pad {layer.padding}"] if layer.padding not in (0, "valid") else []
    extra += [f"dil {layer.dilation}"] if layer.dilation != 1 else []
    extra += [f"groups {layer.groups}"] if layer.groups != 1 else []
    head = f"{kind} {layer.kernel}×{layer.kernel}" + (f", {layer.filters} filters" if layer.filters else "")
    return head + ("<br>" + ", ".join(extra) if extra else "")


def stack_figure(input_shape: tuple[int, int, int], rows: list[ar.StackRow], revealed: list[bool],
                 height: int | None = None) -> go.Figure:
    """The quiz's stack of layers as volumes, left to right: the input, then each layer's output. An answer not
    revealed yet is a dashed box with a question mark (the size of the volume before it, so the drawing gives
    nothing away); a revealed one is drawn to scale with its shape under it.

    Args:
        input_shape: ``(C, H, W)``.
        rows: :func:`cnnviz.methods.arithmetic.evaluate_stack`'s rows.
        revealed: for each row, whether its answer is shown.
        height: pixels.

    Examples::

        >>> rows = ar.evaluate_stack((3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2"))
        >>> fig = stack_figure((3, 32, 32), rows, [True, False])
        >>> fig.layout.meta["shown"]
        ['3×32×32', '20×28×28', '?']
    """
    shapes: list[tuple[int, int, int] | None] = [tuple(input_shape)] + [r.output_shape for r in rows]
    kinds, shown, drawn = ["input"], [_fmt_compact(input_shape)], [tuple(input_shape)]
    for shape, seen in zip(shapes[1:], revealed, strict=True):
        kinds.append("open" if not seen else "bad" if shape is None else "output")
        shown.append({"open": "?", "bad": "does not fit"}.get(kinds[-1]) or _fmt_compact(shape))
        # an answer still hidden is drawn at the size of the volume before it, so the drawing gives nothing away
        drawn.append(shape if kinds[-1] == "output" else drawn[-1])
    heads = ["<b>Input</b>"] + [f"<b>{i}.</b> {_layer_words(r.layer)}" for i, r in enumerate(rows, 1)]
    fig = volume_row_figure(drawn, heads, shown, kinds, height=height, scale_shapes=[s for s in shapes if s])
    fig.layout.meta = {"shown": shown}
    return fig


def _fmt_compact(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


VOLUME_STYLE = {  # kind -> (fill, line, dash, mark, answer colour)
    "input": (INPUT_COLOR, "#444444", None, "", "#222222"),
    "output": (OUTPUT_COLOR, "#444444", None, "", "#b35806"),
    "open": (None, "#888888", "dash", "?", "#888888"),
    "bad": (None, WINDOW_COLOR, "dot", "✗", WINDOW_COLOR),
}


def volume_row_figure(volumes: list[tuple[int, int, int]], heads: list[str], answers: list[str],
                      kinds: list[str] | None = None, height: int | None = None,
                      scale_shapes: list[tuple[int, int, int]] | None = None) -> go.Figure:
    """Volumes left to right with arrows between them, each with a caption (``heads``) and its shape (``answers``)
    under it; width and height to one scale, channels on a log scale (:func:`channel_depth`).

    Args:
        volumes: ``(C, H, W)`` of each volume as drawn.
        heads, answers: the two lines of text under each volume (HTML allowed; empty heads are left out).
        kinds: per volume, ``"input"`` (blue), ``"output"`` (orange), ``"open"`` (dashed, a question mark) or
            ``"bad"`` (dotted, a cross); default: the first is the input, the rest outputs.
        height: pixels (default: what the drawing needs at about 1100 pixels wide).
        scale_shapes: the shapes that set the scale (default ``volumes``).

    Examples::

        >>> fig = volume_row_figure([(1, 28, 28), (6, 28, 28), (6, 14, 14)], ["in", "conv", "pool"],
        ...                         ["1×28×28", "6×28×28", "6×14×14"])
        >>> len(fig.layout.shapes), len(fig.layout.annotations)  # 3 faces per box; 2 arrows + 2 captions per box
        (9, 8)
    """
    kinds = kinds or ["input"] + ["output"] * (len(volumes) - 1)
    scale = scale_shapes or volumes
    M = float(max(max(v[1], v[2]) for v in scale))
    slot = 100.0
    extent = max(v[2] + channel_depth(v[0], M) * DEPTH_DX for v in scale)
    k = 0.76 * slot / extent  # data units per input pixel: the widest volume fills 76 % of its slot
    n = len(volumes)
    head_size, answer_size = (16, 22) if n <= 8 else (13, 16) if n <= 12 else (11, 13)
    fig = go.Figure()
    tops, bottoms = [], []
    for i, ((c, h, w), kind) in enumerate(zip(volumes, kinds, strict=True)):
        cx = i * slot
        fill, line, dash, mark, _ = VOLUME_STYLE[kind]
        d = channel_depth(c, M) * k
        bw, bh = max(w * k, 0.025 * slot), max(h * k, 0.025 * slot)  # a vector (C×1×1) stays visible
        x = cx - (bw + d * DEPTH_DX) / 2
        _box(fig, x, -bh / 2, bw, bh, d, fill or "#eeeeee", dash=dash, line=line, faces=fill is not None)
        if mark:
            _label(fig, x + bw / 2, 0, f"<b>{mark}</b>", 40, line)
        tops.append(bh / 2 + d * DEPTH_DY)
        bottoms.append(-bh / 2)
        if i:  # the arrow from the previous slot
            fig.add_annotation(x=cx - 0.5 * slot + 0.1 * slot, y=0, ax=cx - 0.5 * slot - 0.1 * slot, ay=0,
                               xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=3, arrowsize=1.3,
                               arrowwidth=2.5 if n <= 12 else 1.5, arrowcolor="#555555", text="")
    y_lo, y_hi = min(bottoms), max(tops)
    for i, (head, answer, kind) in enumerate(zip(heads, answers, kinds, strict=True)):
        if head:
            _label(fig, i * slot, y_lo, head, head_size, "#333333", yanchor="top", yshift=-10)
        _label(fig, i * slot, y_lo, f"<b>{answer}</b>", answer_size, VOLUME_STYLE[kind][4], yanchor="top",
               yshift=-(14 + 3.2 * head_size) if head else -10)
    pad = 0.06 * (y_hi - y_lo)
    bottom = 30 + int(4.4 * (head_size + answer_size))
    if height is None:
        height = int(min(560, max(240, 1100 * (y_hi - y_lo + 2 * pad) / (n * slot) + bottom + 20)))
    fig.update_xaxes(visible=False, range=[-0.5 * slot, (n - 0.5) * slot])
    fig.update_yaxes(visible=False, range=[y_lo - pad, y_hi + pad], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, showlegend=False, plot_bgcolor="white", font=FONT, dragmode=False,
                      margin=dict(l=10, r=10, t=10, b=bottom))
    return fig


def dilation_figure(kernel: int = 3, dilations: tuple[int, ...] = (1, 2, 3, 4), height: int = 320) -> go.Figure:
    """The taps of a ``kernel``×``kernel`` kernel at each dilation: the same weights spread over a wider span.

    Examples::

        >>> fig = dilation_figure(3, (1, 2))
        >>> [np.asarray(t.z).shape for t in fig.data]
        [(3, 3), (5, 5)]
    """
    spans = [d * (kernel - 1) + 1 for d in dilations]
    fig = make_subplots(rows=1, cols=len(dilations), column_widths=spans, horizontal_spacing=0.04,
                        subplot_titles=[f"D = {d}: span {s}×{s}" for d, s in zip(dilations, spans, strict=True)])
    for i, (d, span) in enumerate(zip(dilations, spans, strict=True), 1):
        z = np.zeros((span, span))
        z[::d, ::d] = 1
        fig.add_trace(go.Heatmap(z=z, colorscale=[[0, "#f2f2f2"], [1, WINDOW_COLOR]], zmin=0, zmax=1, showscale=False,
                                 xgap=2, ygap=2, hoverinfo="skip"), 1, i)
        fig.update_xaxes(visible=False, scaleanchor=f"y{'' if i == 1 else i}", constrain="domain", row=1, col=i)
        fig.update_yaxes(visible=False, autorange="reversed", constrain="domain", row=1, col=i)
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    return fig


def grouped_figure(costs: list[ar.GroupedCost], height: int = 360) -> go.Figure:
    """Weights of the same 3×3 layer as the groups grow (bars; the hover adds the MACs).

    Examples::

        >>> fig = grouped_figure(ar.grouped_costs(12, 12, 32))
        >>> list(fig.data[0].x)[:2], fig.data[0].y[0]
        ([9216, 4608], 'groups = 1')
    """
    fig = go.Figure(go.Bar(
        x=[c.weights for c in costs], y=[grouped_label(c) for c in costs], orientation="h",
        marker_color=["#54A24B" if c.separable else "#4C78A8" for c in costs],
        text=[f"{c.weights:,}" for c in costs], textposition="outside", cliponaxis=False,
        customdata=[[grouped_name(c), ar.human(c.macs)] for c in costs],
        hovertemplate="%{customdata[0]}: %{x:,} weights, %{customdata[1]} MACs<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title="weights", range=[0, max(c.weights for c in costs) * 1.45], automargin=True)
    fig.update_layout(height=height, font=FONT, margin=dict(l=10, r=20, t=50, b=10), plot_bgcolor="white",
                      title=f"Weights of a 3×3 layer, {costs[0].channels} → {costs[0].channels} channels")
    return fig
