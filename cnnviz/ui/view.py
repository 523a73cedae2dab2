"""Views: one figure-centred section of a page, the unit a page lists and a slide shows.

A view is a function that draws its few controls, its figure(s) and its "what to notice" note, for
the model and image the sidebar picked. It is registered once, with a stable id (``page.name``,
e.g. ``activations.channels``), a title and the URL keys its controls own::

    @register("activations.depth", "From edges to parts", keys=("ac_sk", "ac_sby"))
    def depth(f: Frame) -> None:
        c = f.controls(2)
        k = state.slider("Maps per layer", "ac_sk", 1, 8, 4, container=c[0])
        ...
        widgets.show_figure(fig, "activations-depth-strip")
        f.note("- Deep maps are coarse ...")

Every view runs as an ``st.fragment``: a control inside it reruns that view alone. State that other
views of the page need flows through the sidebar (model, image) and the URL: a view that reads a key
another view owns names it in ``reads``, and a change of such a key reruns the whole page.

A page (``cnnviz.ui.page``) is an ordered list of views. A slide (``draw_slide``) is one view, whole:
the title in a one-row bar, the view's controls folded into a popover in that bar, the figure as large
as a 16:9 screen allows, the note as a speaker note under it.
"""
from __future__ import annotations

import contextvars
import gc
import importlib
import importlib.util
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.ui import presenter, state

log = logging.getLogger("cnnviz.ui")
# CNNVIZ_TIMING=1: each view's draw time on stderr (what a slider step or a page load spends on the server)
_TIMING = os.environ.get("CNNVIZ_TIMING", "") not in ("", "0")


def _time_collections() -> None:
    """With CNNVIZ_TIMING: each of Python's garbage collections over 20 ms, on stdout (they pause every thread)."""
    started: list[float] = []

    def log(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started and (ms := 1000 * (time.perf_counter() - started[0])) > 20:
            print(f"cnnviz timing: gc generation {info['generation']} {ms:.0f} ms "
                  f"({info['collected']} collected)", flush=True)

    gc.callbacks.append(log)


if _TIMING:
    _time_collections()

# The 16:9 projector a slide is laid out for; its figure area is SLIDE_FIGURE_PX high (CSS pixels): the
# screen less the slide bar and the margins.
SLIDE_W, SLIDE_H = 1280, 720
SLIDE_FIGURE_PX = presenter.SLIDE_FIGURE_PX
_CHANGED = state.CHANGED  # URL keys whose control changed since the last run (state.mark_changed)
PAGE_VIEWS = "_page_views"  # ids of the views the current page shows


@dataclass(frozen=True)
class View:
    """One registered view (see the module docstring).

    Attributes:
        id: ``"<page path>.<name>"``, stable: decks and links name it.
        title: the section heading on the page, the default slide title.
        draw: ``draw(frame)`` draws it.
        keys: the URL keys its controls own.
        reads: URL keys owned by another view of the same page that this one reads; a change of one of
            them reruns the page instead of the view alone.
        anchors: headings of the old whole-page layout (``#2-every-channel-of-one-layer``) that meant this
            view, so older deck links land on it.
        warm: for a view whose figure needs long work (a background job): ``warm(params)`` starts that work
            for the settings of a link's query ``params`` without drawing anything and returns its
            ``background.Job``, so a deck can have a later slide's result ready when the lecture gets there
            (``slides.warm_up``).
    """

    id: str
    title: str
    draw: Callable[[Frame], None]
    keys: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    anchors: tuple[str, ...] = ()
    warm: Callable[[Mapping[str, str]], Any] | None = None

    @property
    def page(self) -> str:
        """The URL path of the page this view belongs to (``""`` for Home)."""
        p = self.id.split(".", 1)[0]
        return "" if p == "home" else p

    @property
    def anchor(self) -> str:
        """The HTML id of its heading on the page: the id with dots as dashes (``activations-channels``)."""
        return slug(self.id)


VIEWS: dict[str, View] = {}


def register(view_id: str, title: str, keys: Iterable[str] = (), reads: Iterable[str] = (),
             anchors: Iterable[str] = (), warm: Callable[[Mapping[str, str]], Any] | None = None,
             ) -> Callable[[Callable[[Frame], None]], Callable[[Frame], None]]:
    """Decorator: add ``draw`` to the table of views under ``view_id``.

    Examples::

        >>> @register("home.model", "The loaded model")
        ... def model_card(f): ...
    """
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z][a-z0-9_-]*", view_id):
        raise ValueError(f"view id {view_id!r}: write it as '<page path>.<name>' in lower case")

    def add(draw: Callable[[Frame], None]) -> Callable[[Frame], None]:
        if view_id in VIEWS and VIEWS[view_id].draw is not draw:
            raise ValueError(f"view id {view_id!r} is registered twice")
        VIEWS[view_id] = View(view_id, title, draw, tuple(keys), tuple(reads), tuple(anchors), warm)
        return draw

    return add


def all_views() -> dict[str, View]:
    """Every view of the app, id -> view (every view module is imported on first use)."""
    import pkgutil

    import cnnviz.ui.views as package

    for mod in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{mod.name}")

    return VIEWS


def get(view_id: str) -> View | None:
    """The view ``view_id``, importing only its page's module (``cnnviz.ui.views.<page>``, dashes as
    underscores): a fresh server's first request does not pay for every page's imports."""
    if view_id not in VIEWS:
        module = view_id.split(".", 1)[0].replace("-", "_")
        if re.fullmatch(r"[a-z][a-z0-9_]*", module) and importlib.util.find_spec(f"cnnviz.ui.views.{module}"):
            importlib.import_module(f"cnnviz.ui.views.{module}")
    return VIEWS.get(view_id)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ------------------------------------------------------------------------------------------- the frame
@dataclass
class Frame:
    """What a view draws with: the page context, whether it is a slide, and where its controls go.

    Attributes:
        view: the view being drawn.
        slide: True on a slide (the deck player, ``?present=1&view=...``): one view on a 16:9 screen.
        controls_slot: on a slide, the place in the slide bar where the controls popover goes.
        figure_cut: pixels of a slide taken by something drawn above the figure (a running job's progress row);
            ``figure_height`` gives the figure what is left.
    """

    view: View
    slide: bool = False
    controls_slot: object | None = None
    figure_cut: int = 0  # px of a slide that something above the figure takes (a running job's progress bar)

    @property
    def ctx(self):
        from cnnviz.ui.sidebar import current

        return current()

    @property
    def model(self):
        return self.ctx.model

    @property
    def figure_height(self) -> int | None:
        """The height (px) a slide's main figure gets; None on a page (the figure's own height)."""
        return SLIDE_FIGURE_PX - self.figure_cut if self.slide else None

    def controls(self, spec: int | list[float] = 1, **kw) -> list:
        """Columns for the view's controls: a row above the figure on a page, folded into the "Controls"
        popover of the slide bar on a slide (so the figure keeps the screen)."""
        if self.slide:
            if self.controls_slot is None:
                box = st.expander("Controls", icon=":material/tune:")
            else:
                box = self.controls_slot.popover("Controls", icon=":material/tune:", width=720)
            return box.columns(spec, **kw) if not isinstance(spec, int) or spec > 1 else [box]
        return st.columns(spec, **kw) if not isinstance(spec, int) or spec > 1 else [st.container()]

    def note(self, markdown: str) -> None:
        """The view's "what to notice": an info box on a page; on a slide, short speaker notes (the slide's
        own note, when it has one, replaces them)."""
        from cnnviz.ui import widgets

        if self.slide:
            if not st.session_state.get("_slide_has_note"):
                widgets.speaker_note(markdown)
            return
        widgets.what_to_notice(markdown)


_FRAME: contextvars.ContextVar[Frame | None] = presenter.FRAME
on_slide = presenter.on_slide


def current_frame() -> Frame | None:
    """The frame of the view being drawn (None outside a view)."""
    return _FRAME.get()


# ------------------------------------------------------------------------------------------- running
def _shared_keys(view_id: str) -> set[str]:
    """Keys that another view on screen owns or reads: a change of one of them reruns the page."""
    others = [get(v) for v in st.session_state.get(PAGE_VIEWS, ()) if v != view_id]
    return {k for v in others if v is not None for k in (*v.keys, *v.reads)}


def begin_page(view_ids: Iterable[str]) -> None:
    """Called by a page (or a slide) in a full run, before its views: which views are on screen."""
    st.session_state[PAGE_VIEWS] = tuple(view_ids)
    st.session_state[_CHANGED] = set()


def run_view(view_id: str, slide: bool = False, controls_slot=None, heading: bool = True) -> None:
    """Draw one view as a fragment (a control inside it reruns it alone).

    Args:
        view_id: a registered id.
        slide: lay it out as a slide (controls folded away, figures sized for the screen).
        controls_slot: on a slide, the bar's place for the controls popover.
        heading: on a page, a heading with the view's title (and anchor) above it.
    """
    if heading and not slide:
        v = get(view_id)
        st.header(v.title if v else view_id, anchor=slug(view_id), divider="gray")
    _view_fragment(view_id, slide, controls_slot)


@st.fragment
def _view_fragment(view_id: str, slide: bool, controls_slot) -> None:
    changed = st.session_state.get(_CHANGED, set())
    if changed & _shared_keys(view_id):  # a key another view reads: the whole page reruns, once
        st.session_state[_CHANGED] = set()
        st.rerun()
    st.session_state[_CHANGED] = set()
    view = get(view_id)
    if view is None:
        st.error(f"There is no view {view_id!r} in this version of cnnviz.", icon=":material/link_off:")
        return
    token = _FRAME.set(Frame(view, slide, controls_slot))
    presenter.reset_keys(view.anchor)
    t0 = time.perf_counter()
    try:
        with st.container(key=f"cnnviz-view-{view.anchor}"):
            view.draw(_FRAME.get())
    except CnnvizError as e:
        from cnnviz.ui.widgets import show_error

        show_error(e)
    except Exception as e:  # a bug in one view must not take the page down: logged, said, the rest goes on
        if _under_apptest():
            raise  # tests see the exception itself
        log.exception("view %s failed", view_id)
        st.error(f"This view failed ({type(e).__name__}: {str(e)[:300]}). The other views work; the details are "
                 "in the server log.", icon=":material/error:")
    finally:
        presenter.reset_keys("")
        _FRAME.reset(token)
        if _TIMING:
            print(f"cnnviz timing: view {view_id} {1000 * (time.perf_counter() - t0):.0f} ms", flush=True)


def _under_apptest() -> bool:
    from streamlit import config

    try:
        return bool(config.get_option("global.appTest"))
    except RuntimeError:  # an unknown option in another Streamlit: not under AppTest
        return False


# ------------------------------------------------------------------------------------------- slides
def draw_slide(view_id: str, title: str = "", note: str = "", bar_extra: Callable[[list], None] | None = None,
               extra_width: float = 0.0, body: Callable[[], None] | None = None) -> None:
    """One view, whole, for a 16:9 screen: a one-row bar (title, the controls popover, ``bar_extra``'s
    buttons), the figure under it, the note as a speaker note.

    Args:
        view_id: the view.
        title: the slide title (default: the view's).
        note: the speaker note (default: the view's own short notes).
        bar_extra: draws into the columns it is given (the player's counter and Back/Next).
        extra_width: the relative width of those columns together.
        body: draws instead of the view (a slide that cannot be shown says why).
    """
    from cnnviz.ui import widgets

    v = get(view_id)
    begin_page([view_id])
    with st.container(key="cnnviz-slide-bar"):
        widths = [6.0, 1.8] + ([extra_width] if bar_extra else [])
        cols = st.columns(widths, vertical_alignment="center", gap="small")
        cols[0].markdown(f"<h2 class='cnnviz-slide-title'>{_html(title or (v.title if v else view_id))}</h2>",
                         unsafe_allow_html=True)
        slot = cols[1].empty()
        if bar_extra:
            bar_extra(cols[2:])
    st.session_state["_slide_has_note"] = bool(note)
    with st.container(key="cnnviz-slide-body"):
        if body is not None:
            body()
        else:
            _view_fragment(view_id, True, slot)
    if note:
        widgets.speaker_note(note)


def _html(text: str) -> str:
    import html

    return html.escape(text)


def view_for_link(path: str, anchor: str = "", params: dict | None = None) -> str | None:
    """The view an old link-only slide meant: the one whose heading (old or new) its ``#anchor`` names,
    else the first view of the page that owns one of the link's keys, else the page's first view."""
    from cnnviz.ui.nav import page_views

    ids = page_views(path)
    views = {vid: get(vid) for vid in ids}
    if anchor:
        for vid in ids:
            v = views.get(vid)
            if v and (anchor == v.anchor or anchor in v.anchors):
                return vid
    for key in (params or {}):
        for vid in ids:
            v = views.get(vid)
            if v and key in v.keys:
                return vid
    return ids[0] if ids else None
