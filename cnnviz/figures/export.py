"""The one export path: a figure of the figures layer -> PNG bytes.

Plotly figures are rendered by kaleido where it is installed; image arrays through PIL,
enlarged with nearest neighbour so small maps (28x28 digits, 7x7 deep maps) stay crisp.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cnnviz.errors import CnnvizError

SLIDE_SIZE = (1280, 720)  # Plotly charts are written at a slide-friendly size


class ExportError(CnnvizError):
    """A figure that cannot be written as PNG here (the message names what is missing)."""


def array_to_png(arr: np.ndarray, min_side: int = 0) -> bytes:
    """A uint8 image array (H, W) or (H, W, 3|4) as PNG bytes, upscaled by an integer factor
    with nearest neighbour until its shorter side is at least ``min_side``.

    Examples::

        >>> png = array_to_png(np.zeros((28, 28), np.uint8), min_side=280)
        >>> Image.open(io.BytesIO(png)).size
        (280, 280)
    """
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    h, w = a.shape[:2]
    f = max(1, -(-min_side // max(1, min(h, w)))) if min_side else 1
    if f > 1:
        a = np.repeat(np.repeat(a, f, axis=0), f, axis=1)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def plotly_to_png(fig, width: int = SLIDE_SIZE[0], height: int | None = None, scale: float = 1.0) -> bytes:
    """A Plotly figure as PNG bytes through kaleido, at ``width`` x ``height`` pixels."""
    try:
        return fig.to_image(format="png", width=width, height=height or fig.layout.height or SLIDE_SIZE[1],
                            scale=scale)
    except Exception as e:  # kaleido missing, or no browser for it: say so instead of a traceback
        raise ExportError(f"cannot render the chart as PNG here ({str(e).splitlines()[0]}). "
                          "Use the chart's camera button, or install kaleido.") from e


def to_png(fig, **kw) -> bytes:
    """PNG bytes of anything the figures layer returns: a Plotly figure, a PIL image or an array."""
    if isinstance(fig, Image.Image):
        fig = np.asarray(fig.convert("RGB") if fig.mode not in ("L", "RGB", "RGBA") else fig)
    if isinstance(fig, np.ndarray):
        return array_to_png(fig, **{k: v for k, v in kw.items() if k == "min_side"})
    return plotly_to_png(fig, **kw)
