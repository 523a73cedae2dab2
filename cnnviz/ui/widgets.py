"""Widgets every page shares: images, figures with a PNG download, a clickable tile grid.

Pages place what the figures layer returns through these helpers, so the look, the export
button and the click handling are written once.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.errors import CnnvizError
from cnnviz.figures.common import FrozenFigure, enlarge
from cnnviz.figures.export import plotly_export_problem, to_png
from cnnviz.ui import presenter


def show_image(arr: np.ndarray | Image.Image, caption: str | None = None, min_side: int = 224, container=st,
               download: str | None = None, **kw) -> None:
    """Show an image, small ones (28x28) enlarged with crisp nearest-neighbour pixels.

    Args:
        download: a file name stem, unique on the page: adds a PNG download of the image at native
            resolution, upscaled with nearest neighbour (rendered only when clicked).

    In presenter view a fixed ``width`` grows 1.5x (as the type does).

    Examples::

        >>> show_image(m.deprocess(m.preprocess(img)), caption="what the model sees", download="input")
    """
    a = np.asarray(arr)
    if presenter.is_on() and isinstance(kw.get("width"), int):
        kw["width"] = int(kw["width"] * presenter.SCALE)
    container.image(enlarge(a, min_side), caption=caption, **kw)
    if download:
        png_download(a, download, container=container, min_side=max(min_side, 512))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower() or "figure"


_PNG_CACHE: OrderedDict[str, bytes] = OrderedDict()  # figure JSON hash -> PNG, for repeated clicks
_PNG_LOCK = threading.Lock()


def _png_later(fig, **kw) -> Callable[[], bytes]:
    """A callable that renders ``fig`` as PNG when the download is clicked (Plotly PNGs take seconds)."""

    def render() -> bytes:
        if isinstance(fig, (np.ndarray, Image.Image)):
            return to_png(fig, **kw)
        key = hashlib.sha1((fig.to_json() + repr(sorted(kw.items()))).encode()).hexdigest()
        with _PNG_LOCK:
            if key in _PNG_CACHE:
                _PNG_CACHE.move_to_end(key)
                return _PNG_CACHE[key]
        data = to_png(fig, **kw)
        with _PNG_LOCK:
            _PNG_CACHE[key] = data
            while len(_PNG_CACHE) > 32:
                _PNG_CACHE.popitem(last=False)
        return data

    return render


def png_download(fig, name: str, container=st, **kw) -> None:
    """A small "PNG" download button for a figure (Plotly figure or image array).

    Nothing is rendered until the button is clicked (Streamlit calls the data callable then), so
    the button costs nothing per rerun. Plotly charts are written at a slide size (1280 wide, at
    twice the pixels) through kaleido; where kaleido or its browser is missing, a caption says so.

    Args:
        name: a file name stem, unique on the page (also keys the button).
        kw: passed to :func:`cnnviz.figures.export.to_png` (``min_side`` for arrays; ``width``,
            ``height``, ``scale`` for charts).
    """
    if not isinstance(fig, (np.ndarray, Image.Image)):
        problem = plotly_export_problem()
        if problem:
            container.caption(f"PNG export unavailable: {problem}.")
            return
    slug = _slug(name)
    with container.container(key=f"png-{slug}"):
        st.download_button("PNG", _png_later(fig, **kw), file_name=f"{slug}.png", mime="image/png",
                           key=f"png:{slug}", icon=":material/download:", type="tertiary", on_click="ignore",
                           help="Download this figure as a PNG (for slides)")


def show_figure(fig, name: str, container=st, download: bool = True, slide_height: int | None = None, **kw):
    """Place a Plotly figure full width, with a PNG download under it.

    Args:
        fig: a Plotly figure from the figures layer.
        name: unique on the page: keys the chart and names its PNG.
        download: False for a placeholder: the empty axes a run's numbers will fill (drawn inside a container
            keyed ``waiting-<name>``, so a check of "one PNG per figure" can tell it apart).
        slide_height: its height on a slide (default: the whole figure area of the 16:9 screen).

    In presenter view the chart is drawn with 1.5x type (on a copy; ``fig`` is left alone); on a slide it
    is as high as the screen allows.

    Examples::

        >>> show_figure(bar_predictions(preds), "predictions")
    """
    shown = _presenter_copy(fig) if presenter.is_on() else fig
    if _slide():
        shown = _relayout(shown, height=slide_height or presenter.SLIDE_FIGURE_PX, autosize=True)
    if not download:
        container = container.container(key=f"waiting-{_slug(name)}")
    event = container.plotly_chart(shown, width="stretch", key=f"fig:{_slug(name)}", **kw)
    if download:
        png_download(fig, name, container=container)
    return event  # with on_select="rerun": the selection (points, box, lasso)


def _relayout(fig, **layout):
    """A copy of ``fig`` with these layout properties (``fig`` is left alone; a frozen figure stays a dict)."""
    if isinstance(fig, FrozenFigure):
        return fig.with_layout(**layout)
    out = go.Figure(fig)
    out.update_layout(**layout)
    return out


def _presenter_copy(fig):
    """The figure with its base font and fixed height grown by the presenter scale."""
    lay = fig.to_dict().get("layout", {}) if isinstance(fig, FrozenFigure) else fig.layout.to_plotly_json()
    size = (lay.get("font") or {}).get("size") or 12
    grown = dict(font=dict(size=round(size * presenter.SCALE)))
    if lay.get("height"):
        grown["height"] = round(lay["height"] * presenter.SCALE)
    return _relayout(fig, **grown)


def clickable_grid(image: np.ndarray, key: str, tile_at: Callable[[float, float], int | None],
                   on_pick: Callable[[int], None], width: int | str | None = None, cursor: str = "pointer") -> None:
    """Show a tile grid image; a click on tile ``i`` calls ``on_pick(i)`` before the rerun.

    Args:
        image: the grid as drawn (uint8 array).
        key: the widget key.
        tile_at: maps ``(y, x)`` in ``image``'s own pixels to a tile index, or None on padding
            (``GridLayout.tile_at``).
        on_pick: what a click does (typically sets a ``qp:`` session key).
        width: display width (the click is scaled back to native pixels).
    """
    nat_h, nat_w = image.shape[:2]

    def _clicked() -> None:
        click = st.session_state.get(key)
        if not click:
            return
        i = tile_at(click["y"] * nat_h / max(1, click["height"]), click["x"] * nat_w / max(1, click["width"]))
        if i is not None:
            on_pick(int(i))

    streamlit_image_coordinates(image, key=key, on_click=_clicked, cursor=cursor, width=width)


def untrained_badge(model) -> None:
    """A warning on the page when the model has random weights."""
    if not model.trained:
        st.warning("This model is **untrained** (random weights): what you see is what an untrained network does. "
                   + model.card.get("weight_status", ""), icon=":material/warning:")


def show_error(e: CnnvizError, container=st) -> None:
    """A domain error's message on the page (the page goes on rendering)."""
    container.error(str(e), icon=":material/error:")


def _slide() -> bool:
    return presenter.on_slide()


def speaker_note(markdown: str, container=st) -> None:
    """A slide's speaker note: short, quiet, under the figure."""
    short = presenter.short_notes(markdown)
    if short:
        with container.container(key=presenter.next_key("notes")):
            st.markdown(f"**Notes** · {short}" if "\n" not in short else f"**Notes**\n\n{short}")


def what_to_notice(markdown: str, container=st) -> None:
    """A page's "what to notice" notes; in presenter view, cut to short speaker notes
    (:func:`cnnviz.ui.presenter.short_notes`) in a quiet box.

    Examples::

        >>> what_to_notice("- Early layers find edges.\n- Deep layers find parts.")
    """
    if not presenter.is_on():
        container.info(markdown, icon=":material/lightbulb:")
        return
    speaker_note(markdown, container)


def secondary_controls(container=st):
    """A context for controls that do not change what a slide shows; presenter view hides them
    (with CSS: they stay rendered, so their values and URL keys are kept).

    Examples::

        with secondary_controls():
            cmap = state.select("Colour map", "cmap", COLORMAPS)
    """
    return container.container(key=presenter.next_key("secondary"))


def with_progress(label: str, run: Callable[[Callable[[float, str], None]], Any], container=st) -> Any:
    """``run(progress)`` with a progress bar under ``label`` that appears only once the work reports
    ``progress(fraction, text)`` (a cache hit reports nothing and draws nothing); removed when done.

        pts = with_progress("Loading images", lambda p: cache.get_or_compute(key, lambda: load(progress=p)))
    """
    slot = container.empty()
    try:
        return run(lambda f, t: slot.progress(min(1.0, max(0.0, float(f))), text=f"{label}: {t}"))
    finally:
        slot.empty()
