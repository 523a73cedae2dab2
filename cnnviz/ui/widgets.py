"""Widgets every page shares: images, figures with a PNG download, a clickable tile grid.

Pages place what the figures layer returns through these helpers, so the look, the export
button and the click handling are written once.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.errors import CnnvizError
from cnnviz.figures.common import enlarge
from cnnviz.figures.export import to_png


def show_image(arr: np.ndarray | Image.Image, caption: str | None = None, min_side: int = 224, container=st,
               download: str | None = None, **kw) -> None:
    """Show an image, small ones (28x28) enlarged with crisp nearest-neighbour pixels.

    Args:
        download: a file name stem: adds a PNG download of the image at native resolution,
            upscaled with nearest neighbour.

    Examples::

        >>> show_image(m.deprocess(m.preprocess(img)), caption="what the model sees")
    """
    a = np.asarray(arr)
    container.image(enlarge(a, min_side), caption=caption, **kw)
    if download:
        png_download(a, download, container=container, min_side=max(min_side, 512))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower() or "figure"


def png_download(fig, name: str, container=st, **kw) -> None:
    """A small "PNG" download button for a figure (Plotly figure or image array).

    The PNG is rendered only when the button is drawn (arrays: at once, cheap; Plotly: through
    kaleido); a figure that cannot be rendered here gets a caption saying why, never an error box.
    """
    try:
        data = to_png(fig, **kw)
    except CnnvizError as e:
        container.caption(f"PNG export unavailable: {e}")
        return
    container.download_button("PNG", data, file_name=f"{_slug(name)}.png", mime="image/png",
                              key=f"png:{_slug(name)}", icon=":material/download:")


def show_figure(fig, name: str, container=st, **kw) -> None:
    """Place a Plotly figure full width (``name`` also keys the chart and names its PNG)."""
    container.plotly_chart(fig, width="stretch", key=f"fig:{_slug(name)}", **kw)


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


def what_to_notice(markdown: str, container=st) -> None:
    """A page's "what to notice" notes (in presenter view, shown as short speaker notes)."""
    container.info(markdown, icon=":material/lightbulb:")


def secondary_controls(container=st):
    """A context for controls that do not change what a slide shows (presenter view tucks them away).

        with secondary_controls():
            cmap = state.selectbox("Colour map", "cmap", COLORMAPS)
    """
    return container.container()
