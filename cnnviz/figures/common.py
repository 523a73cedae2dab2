"""Figures every page uses: heat maps, prediction bars, crisp enlargement of small images.

Streamlit-free: each function returns a Plotly figure or an image array.
"""
from __future__ import annotations

import base64
import re

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go

FONT = dict(size=15)


def colorscale(name: str) -> list[list]:
    """Plotly's named colour scale ``name`` as stops, safe under Streamlit's theme.

    Streamlit's frontend replaces the strings ``#000001`` .. ``#000040`` anywhere in a chart with its theme
    colours (they are its placeholders). Magma and Inferno start at ``#000004``, so their zero came out pink.
    Such a stop is written as ``rgb(...)``: the same colour, not a placeholder.

    Examples::

        >>> colorscale("Magma")[0], colorscale("Magma")[-1]
        ([0.0, 'rgb(0, 0, 4)'], [1.0, '#fcfdbf'])
    """
    stops = next((getattr(m, name) for m in (pcolors.sequential, pcolors.diverging, pcolors.cyclical)
                  if isinstance(getattr(m, name, None), list)), None)
    if stops is None:
        raise ValueError(f"{name!r} is not one of Plotly's named colour scales")
    return [[i / (len(stops) - 1), _unplaceholder(c)] for i, c in enumerate(stops)]


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """A ``#rrggbb`` colour as its three 0..255 channels.

    Examples::

        >>> hex_rgb("#1f77b4")
        (31, 119, 180)
    """
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return r, g, b


def _unplaceholder(colour: str) -> str:
    if re.fullmatch(r"#0000(?:[0-3][0-9]|40)", colour.lower()):
        return "rgb({}, {}, {})".format(*hex_rgb(colour))
    return colour


def values(v) -> np.ndarray:
    """The numbers of a figure property read through ``to_dict``: a list, or Plotly's typed-array spec
    (``{"dtype", "bdata", "shape"}``, which ``to_dict`` gives for numpy arrays).

    Examples::

        >>> values(go.Scatter(x=np.array([1, 2, 3], np.int8)).to_plotly_json()["x"]).tolist()
        [1, 2, 3]
    """
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        return a.reshape([int(n) for n in str(shape).split(",")]) if shape else a
    return np.asarray(v)


class FrozenFigure(go.Figure):
    """A finished figure held as its plain dict: :meth:`to_dict` gives it back without rebuilding it.

    For figures too large to validate again on every rerun (the sliding window's hundreds of frames): Streamlit,
    ``plotly.io`` and the PNG export all serialise through ``to_dict``, so it shows and exports as usual. It is
    read-only: its ``layout`` holds only the height, and :meth:`with_layout` returns a changed copy. Never mutate
    what ``to_dict`` returns: a server-wide cache may share it.

    Examples::

        >>> fig = FrozenFigure({"data": [], "layout": {"height": 300}})
        >>> fig.layout.height, fig.with_layout(height=500).to_dict()["layout"]["height"]
        (300, 500)
    """

    def __init__(self, d: dict):
        super().__init__(layout=dict(height=d.get("layout", {}).get("height")))
        self._frozen = d

    def to_dict(self) -> dict:
        return dict(self._frozen)  # a shallow copy: readers may set top-level keys, never nested ones

    def with_layout(self, **layout) -> FrozenFigure:
        """A copy with these layout properties (a dict value is merged into the one there: ``font=dict(size=18)``)."""
        old = self._frozen.get("layout", {})
        new = {k: ({**old[k], **v} if isinstance(v, dict) and isinstance(old.get(k), dict) else v)
               for k, v in layout.items()}
        return FrozenFigure({**self._frozen, "layout": {**old, **new}})

    def __reduce__(self):  # pickling (st.cache_data) keeps it frozen
        return (FrozenFigure, (self._frozen,))


def enlarge(arr: np.ndarray, min_side: int = 224) -> np.ndarray:
    """Nearest-neighbour upscale so small images (28x28) show crisp pixels, not blur.

    Examples::

        >>> enlarge(np.zeros((28, 28), np.uint8)).shape
        (224, 224)
    """
    h, w = arr.shape[:2]
    f = max(1, int(np.ceil(min_side / max(1, min(h, w)))))
    return arr if f == 1 else np.repeat(np.repeat(arr, f, axis=0), f, axis=1)


def heatmap(z: np.ndarray, title: str = "", colorscale: str = "Viridis", zmid: float | None = None,
            text: bool = False, height: int | None = None, hover: str | None = None, customdata=None,
            trace: dict | None = None, xaxis: dict | None = None, yaxis: dict | None = None) -> go.Figure:
    """A Plotly heat map with the origin at the top left (image convention).

    ``trace``, ``xaxis`` and ``yaxis`` add properties to the trace and the axes. The figure is built in one
    pass: each later ``update_*`` call costs Plotly a few milliseconds of validation, and a page run builds
    several heat maps.

    Examples::

        >>> fig = heatmap(np.eye(2), trace=dict(zmin=-1), yaxis=dict(dtick=1))
        >>> fig.data[0].zmin, fig.layout.yaxis.autorange, fig.layout.yaxis.dtick
        (-1, 'reversed', 1)
    """
    data = {"type": "heatmap", "z": z, "colorscale": colorscale, "zmid": zmid, "customdata": customdata,
            "text": np.round(z, 2) if text else None, "texttemplate": "%{text}" if text else None,
            "hovertemplate": hover or "row %{y}, col %{x}: %{z:.3f}<extra></extra>", **(trace or {})}
    layout = dict(title=title, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT, height=height,
                  xaxis=dict(showgrid=False, constrain="domain", **(xaxis or {})),
                  yaxis=dict(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False,
                             **(yaxis or {})))
    return go.Figure(dict(data=[{k: v for k, v in data.items() if v is not None}], layout=layout))


def bar_predictions(preds: list[tuple[str, float]], title: str = "Top predictions") -> go.Figure:
    """Horizontal bars of ``(label, probability)``, best on top, labels kept as categories (so
    digit classes "0".."9" are not read as numbers) and percentages legible outside the bars.

    Examples::

        >>> fig = bar_predictions([("7", 0.98), ("1", 0.01)])
        >>> list(fig.data[0].y)
        ['1', '7']
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
