"""Showing a slide: what the deck player needs from the shell.

A slide is one view (``cnnviz.ui.view``) with the settings of its app link (``/page?query``). To show it,
the player (1) makes the link's query the whole state: every control forgets its value, so only the link
decides, and the run starts again so the sidebar reads the model and image from it; then (2) draws that
one view as a slide (``view.draw_slide``). A link-only slide (older decks) shows the view its ``#anchor``
or its keys point to (``view.view_for_link``). The player's keys (``deck``, ``slide``, ``present``) stay
in the URL beside the view's, so a reload lands on the same slide.
"""
from __future__ import annotations

import streamlit as st

from cnnviz.methods.decks import Slide, link_problems
from cnnviz.ui import state
from cnnviz.ui.nav import PageSpec, available_pages

_SHOWN = "_slide_shown"  # (deck id, slide number) whose view was last applied


def known_paths() -> set[str]:
    """URL paths of the pages this app has (``""`` is Home)."""
    return {p.url_path for p in available_pages()}


def page_for(path: str) -> PageSpec | None:
    return next((p for p in available_pages() if p.url_path == path), None)


def problems(slide: Slide, player_path: str) -> list[str]:
    """What keeps ``slide`` from being shown (bad link, unknown page or view, the player itself)."""
    from cnnviz.ui import view

    out = link_problems(slide.link, known_paths(), slide.view)
    if not out and slide.path == player_path:
        out.append("This slide's link opens the deck player itself; link to a page of the app instead.")
    if not out and slide.view and view.get(slide.view) is None:
        ids = ", ".join(v for v in view.all_views() if view.get(v).page == slide.path)
        out.append(f"This slide names the view {slide.view!r}, which this version of cnnviz does not have. "
                   f"Views of /{slide.path}: {ids or 'none'}.")
    return out


def view_of(slide: Slide) -> str | None:
    """The view ``slide`` shows: its own, or the one its link points to (older link-only slides)."""
    from cnnviz.ui import view

    return slide.view or view.view_for_link(slide.path, slide.anchor, slide.params)


def apply_view(slide_id: tuple, slide: Slide, keep: dict[str, str]) -> None:
    """Make ``slide``'s link the current view and rerun (once per slide; later runs return at once).

    Args:
        slide_id: identifies the slide (deck, number); the view is applied when it changes.
        slide: the slide to show.
        keep: URL keys of the player that stay beside the view's (deck, slide, present).
    """
    if st.session_state.get(_SHOWN) == slide_id:
        return
    st.session_state[_SHOWN] = slide_id
    params = {k: v for k, v in slide.params.items() if k not in keep}
    current = {k: v for k, v in st.query_params.to_dict().items() if k not in keep}
    if current == params and st.session_state.get(state.USED_RUN) == 1:
        return  # the session's first run, opened on this very link: every control read it already
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith("qp:") and k[3:] not in keep]:
        del st.session_state[k]
    memory = st.session_state.get(state.MEMORY, {})
    st.session_state[state.MEMORY] = {k: v for k, v in memory.items() if k in keep}
    st.query_params.from_dict({**params, **keep})
    st.rerun()


def unused_params(slide: Slide, keep: dict[str, str]) -> list[str]:
    """The slide's link parameters that no control of its view used in this run."""
    used = st.session_state.get(state.USED, set()) | state.GLOBAL_KEYS
    return [k for k in slide.params if k not in used and k not in keep]
