"""Figures of the Saliency and Grad-CAM page: attribution maps, overlays, the method grid, the sanity chart.

Streamlit-free. The maps come from :mod:`cnnviz.methods.attribution`; these functions only
colour them, blend them over the input and chart the sanity check's rank correlations.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.attribution import attribute
    >>> from cnnviz.figures.attribution import attribution_overlay
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> img = cnnviz.load_image("assets/samples/digit-7.png")
    >>> attribution_overlay(m.deprocess(m.preprocess(img)), attribute(m, img, "gradcam")).shape
    (28, 28, 3)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures.activations import render_map
from cnnviz.figures.common import FONT
from cnnviz.figures.render import overlay
from cnnviz.methods.attribution import METHODS, Attribution

SANITY_LIMIT = 0.5  # above this rank correlation the map barely depends on the learned weights
HIGH, LOW = "#E45756", "#4C78A8"


@dataclass
class Panel:
    """One image of a grid with its caption."""

    image: np.ndarray  # uint8 RGB
    caption: str


def attribution_map(a: Attribution, size: int = 240) -> Panel:
    """The map alone, about ``size`` pixels wide: signed maps (occlusion) on ``rdbu`` symmetric around
    zero, the others on ``viridis`` from their minimum to their maximum.

    Examples::

        >>> attribution_map(attribute(m, img, "occlusion")).caption
        'Occlusion (red: hiding it lowers the score, blue: raises it)'
    """
    label = METHODS[a.method].label if a.method in METHODS else a.method
    if a.method == "occlusion":
        lim = float(a.map.abs().max()) or 1.0
        return Panel(render_map(a.map, "rdbu", size, value_range=(-lim, lim)),
                     f"{label} (red: hiding it lowers the score, blue: raises it)")
    return Panel(render_map(a.map, "viridis", size), f"{label} (yellow = most important)")


def attribution_overlay(seen: np.ndarray, a: Attribution, alpha: float = 0.5) -> np.ndarray:
    """The positive part of the map (``a.heat()``, 0..1) upsampled onto ``seen`` in ``jet``, blended with ``alpha``.

    Examples::

        >>> attribution_overlay(np.zeros((28, 28, 3), np.uint8), a, alpha=0.0).max()
        0
    """
    return overlay(seen, a.heat(), alpha=alpha)


def method_grid(seen: np.ndarray, results: dict[str, Attribution], alpha: float = 0.5,
                prefix: str = "", timings: bool = True) -> list[Panel]:
    """One overlay per method, captioned with its label (and its time, from ``info["seconds"]``).

    Examples::

        >>> [p.caption for p in method_grid(seen, {"saliency": a}, timings=False)]
        ['Gradient saliency']
    """
    panels = []
    for meth, a in results.items():
        cap = prefix + METHODS[meth].label
        if timings:
            cap += f" — {a.info.get('seconds', 0) * 1e3:.0f} ms"
        panels.append(Panel(attribution_overlay(seen, a, alpha), cap))
    return panels


def sanity_chart(rhos: dict[str, float]) -> go.Figure:
    """Rank correlation of each method's map on the trained vs the random-weight network, one bar each;
    red above :data:`SANITY_LIMIT` (the map barely depends on training).

    Examples::

        >>> list(sanity_chart({"saliency": 0.7, "gradcam": 0.1}).data[0].marker.color)
        ['#E45756', '#4C78A8']
    """
    vals = list(rhos.values())
    fig = go.Figure(go.Bar(x=[METHODS[k].label for k in rhos], y=vals, text=[f"{v:.2f}" for v in vals],
                           textposition="outside", marker_color=[HIGH if v > SANITY_LIMIT else LOW for v in vals]))
    fig.update_layout(title=f"Rank correlation, trained vs random weights (red: above {SANITY_LIMIT}, the map "
                            "barely depends on training)", yaxis=dict(range=[-0.2, 1.1]), height=340,
                      font=FONT, margin=dict(l=10, r=10, t=50, b=10))
    return fig
