"""The one export path: a figure of the figures layer -> PNG bytes.

Plotly figures are rendered by kaleido (>= 1, which drives a Chromium-based browser: the one
:func:`chromium_path` finds); image arrays through PIL, enlarged with nearest neighbour so small
maps (28x28 digits, 7x7 deep maps) stay crisp.
"""
from __future__ import annotations

import functools
import io
import os
import shutil

import numpy as np
from PIL import Image

from cnnviz.errors import CnnvizError, foreign

SLIDE_SIZE = (1280, 720)  # Plotly charts are written at a slide-friendly size
PLOTLY_SCALE = 2.0  # ... at twice the pixels, so they stay sharp on a projector
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


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


def chromium_path() -> str | None:
    """The Chromium-based browser used for PNG export and deck export: ``$CNNVIZ_CHROMIUM``, else
    ``/usr/bin/chromium``, else the first of :data:`CHROMIUM_NAMES` on the PATH; None if there is none.

    Examples::

        >>> chromium_path()  # Debian's chromium package
        '/usr/bin/chromium'
    """
    for p in (os.environ.get("CNNVIZ_CHROMIUM"), "/usr/bin/chromium"):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return next((w for w in map(shutil.which, CHROMIUM_NAMES) if w), None)


@functools.lru_cache(maxsize=1)
def plotly_export_problem() -> str | None:
    """Why Plotly charts cannot be written as PNG here (None when they can): kaleido or a browser missing."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "kaleido is not installed (pip install 'kaleido>=1')"
    path = chromium_path()
    if path is None:
        return ("no Chromium-based browser found for kaleido: install one (Debian: apt-get install chromium) "
                "or set CNNVIZ_CHROMIUM to its path")
    os.environ.setdefault("BROWSER_PATH", path)  # kaleido/choreographer look here first
    return None


def plotly_to_png(fig, width: int = SLIDE_SIZE[0], height: int | None = None, scale: float = PLOTLY_SCALE) -> bytes:
    """A Plotly figure as PNG bytes through kaleido: ``width`` x ``height`` layout pixels (height: the
    figure's own, else 720) times ``scale``.

    Raises:
        ExportError: kaleido or a browser for it is missing, or the rendering failed.
    """
    problem = plotly_export_problem()
    if problem:
        raise ExportError(f"cannot render the chart as PNG here: {problem}. Use the chart's camera button instead.")
    # kaleido's browser failed to start or render: said instead of a traceback
    with foreign(ExportError, "cannot render the chart as PNG here ({why}). Use the chart's camera button instead."):
        return fig.to_image(format="png", width=width, height=height or fig.layout.height or SLIDE_SIZE[1],
                            scale=scale)


def to_png(fig, **kw) -> bytes:
    """PNG bytes of anything the figures layer returns: a Plotly figure, a PIL image or an array."""
    if isinstance(fig, Image.Image):
        fig = np.asarray(fig.convert("RGB") if fig.mode not in ("L", "RGB", "RGBA") else fig)
    if isinstance(fig, np.ndarray):
        return array_to_png(fig, **{k: v for k, v in kw.items() if k == "min_side"})
    return plotly_to_png(fig, **kw)
