"""Showing a slide: what the deck player needs from the shell.

A slide is one view (``cnnviz.ui.view``) with the settings of its app link (``/page?query``). To show it,
the player (1) makes the link's query the whole state: every control forgets its value, so only the link
decides, and the run starts again so the sidebar reads the model and image from it; then (2) draws that
one view as a slide (``view.draw_slide``). A link-only slide (older decks) shows the view its ``#anchor``
or its keys point to (``view.view_for_link``). The player's keys (``deck``, ``slide``, ``present``) stay
in the URL beside the view's, so a reload lands on the same slide. While a slide is shown, the long work of
the slides still to come starts in the background (``warm_up``), so a training slide's result is ready when the
lecture reaches it instead of starting then.
"""
from __future__ import annotations

import threading

import streamlit as st

from cnnviz.methods.decks import Deck, Slide, link_problems
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


class _Chain:
    """One deck's warm-up: its slides' long work started one job at a time, in lecture order, in a thread."""

    def __init__(self, todo: list):
        self.todo, self.quit = todo, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="cnnviz-deck-warm-up")

    def _run(self) -> None:
        # a warm() that raises ends the chain (the thread's exception is logged); each slide still starts its own
        # work when it is shown
        for v, slide in self.todo:
            if self.quit.is_set():
                return
            job = v.warm(slide.params)
            while job is not None and job.running and not self.quit.wait(0.5):
                pass


_CHAINS: dict[str, _Chain] = {}  # deck -> its running warm-up (one per deck on this server)
_CHAINS_LOCK = threading.Lock()


def warm_up(deck: Deck, n: int) -> _Chain:
    """Start the long work (``View.warm``) of ``deck``'s slides, with their links' settings, while slide ``n`` is
    shown: that slide's own first (its view has started it: the chain waits for it), then the slides after it in
    the order the lecture reaches them, then those before it.

    One job at a time, in a thread (:class:`_Chain`): the slide on the screen and then the next one get the
    cores, instead of every later slide's work competing with them at once. A later call for the same deck (the
    lecture moved on) replaces the chain, which ends at its next check. Work already running or done on this
    server is found, not started again (the views' job tables); a slide that cannot be shown is skipped (the
    player says why when it gets there). Returns the chain (``todo``: (view, slide) pairs; ``thread``)."""
    from cnnviz.ui import view

    todo = []
    for slide in [*deck.slides[max(0, n - 1):], *deck.slides[:max(0, n - 1)]]:
        if link_problems(slide.link, known_paths(), slide.view):
            continue
        v = view.get(view_of(slide) or "")
        if v is not None and v.warm is not None:
            todo.append((v, slide))
    chain = _Chain(todo)
    with _CHAINS_LOCK:
        old = _CHAINS.get(deck.name or deck.title)
        if old is not None:
            old.quit.set()
        if todo:
            _CHAINS[deck.name or deck.title] = chain
            chain.thread.start()
    return chain


def stop_warm_ups() -> None:
    """End every deck's warm-up (the jobs it started keep running; stop those in their tables)."""
    with _CHAINS_LOCK:
        for chain in _CHAINS.values():
            chain.quit.set()
        _CHAINS.clear()
