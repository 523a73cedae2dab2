"""Presenter view: any page, ready for a projector.

``?present=1`` on any page (or the sidebar's "Presenter view" toggle) hides the sidebar, the
Streamlit toolbar and the controls a page puts in ``widgets.secondary_controls()``, makes type
1.5x larger, lets figures fill the width and shows "what to notice" notes as short speaker
notes. The flag is an ordinary URL-mirrored toggle (key ``present``): it survives page switches
and is part of "Link to this view". The deck player (``/deck``) is in presenter view unless its
link says ``present=0``.

Hidden controls stay rendered (only CSS hides them), so their values and URL keys are kept.
"""
from __future__ import annotations

import contextvars
import re

import streamlit as st

from cnnviz.ui import state

SLIDE_FIGURE_PX = 560  # = cnnviz.ui.view.SLIDE_FIGURE_PX (the figure area of a 1280x720 slide)

KEY = "present"
DECK_PATH = "deck"  # the page that is in presenter view by default
SCALE = 1.5  # type and fixed-size figures grow by this factor
_ON = "_present_on"
_PAGE = "_present_page"
_COUNT = "_present_count"

# Streamlit 1.67 test ids; the html font-size scales every rem-sized text and control at once.
CSS = f"""
<style>
html {{ font-size: {16 * SCALE:.0f}px; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stAppDeployButton"],
[data-testid="stMainMenu"], .stAppDeployButton {{ display: none !important; }}
[data-testid="stMainBlockContainer"], .block-container {{ padding: 0.6rem 1.5rem 3rem 1.5rem !important;
  max-width: 100% !important; }}
[class*="st-key-cnnviz-secondary"], [class*="st-key-png-"] {{ display: none !important; }}
[data-testid="stImage"] img {{ image-rendering: pixelated; }}
[class*="st-key-cnnviz-notes"] {{ border-left: 0.25rem solid #4C78A8; padding-left: 0.75rem; font-size: 0.8rem;
  color: #444; }}
h1 {{ font-size: 2rem !important; }}
.st-key-cnnviz-slide-bar {{ background: white; }}
.st-key-cnnviz-slide-bar h2.cnnviz-slide-title {{ font-size: 1.45rem; margin: 0; padding: 0; line-height: 1.2; }}
.cnnviz-slide-count {{ font-size: 0.8rem; color: #666; white-space: nowrap; }}
.st-key-cnnviz-slide-bar button {{ min-height: 0; padding: 0.15rem 0.5rem; font-size: 0.8rem; }}
.st-key-deck_prev [data-testid="stMarkdownContainer"], .st-key-deck_next [data-testid="stMarkdownContainer"] {{
  display: none; }}
.st-key-cnnviz-slide-bar kbd, .st-key-cnnviz-slide-bar [data-testid="stButtonShortcut"] {{ display: none; }}
.st-key-cnnviz-slide-bar [data-testid="stMarkdownContainer"] p {{ margin: 0; }}
.st-key-cnnviz-slide-body [data-testid="stImage"] img {{ max-height: {SLIDE_FIGURE_PX}px; width: auto; max-width: 100%;
  object-fit: contain; }}
.st-key-cnnviz-present-exit {{ position: fixed; bottom: 0.4rem; right: 0.6rem; z-index: 999990; width: auto !important;
  opacity: 0.25; }}
.st-key-cnnviz-present-exit:hover {{ opacity: 1; }}
.st-key-cnnviz-present-exit button {{ font-size: 0.6rem; min-height: 0; padding: 0.1rem 0.5rem; }}
</style>
"""


def begin(page_path: str) -> bool:
    """Draw the sidebar toggle and, when presenter view is on, its style and exit button.

    Called once per run by app.py after ``st.navigation`` and before the sidebar and the page.

    Args:
        page_path: the URL path of the page this run shows (``""`` for Home).

    Returns:
        Whether presenter view is on in this run.

    Examples::

        >>> presenter.begin(page.url_path)  # in app.py
        False
    """
    previous = st.session_state.get(_PAGE)
    st.session_state[_PAGE] = page_path
    st.session_state[_COUNT] = {}
    st.session_state[_SCOPE] = ""
    if page_path == DECK_PATH and previous not in (None, DECK_PATH) and KEY not in st.query_params:
        st.session_state.pop(f"qp:{KEY}", None)  # coming to the player from another page: its default, on
        st.session_state.get(state.MEMORY, {}).pop(KEY, None)
    on = state.toggle("Presenter view", KEY, default=page_path == DECK_PATH, container=st.sidebar,
                      help="For a projector: no sidebar or toolbar, larger type, figures full width, short notes. "
                           "Also `?present=1` on any link; Esc or the button at the top right leaves it.")
    st.session_state[_ON] = on
    if on:
        st.html(CSS)
        with st.container(key="cnnviz-present-exit"):
            st.button("Exit", key="present_exit", shortcut="Esc", on_click=leave, help="Leave presenter view (Esc)",
                      icon=":material/close_fullscreen:")
    return on


# The frame (cnnviz.ui.view.Frame) of the view being drawn, set while a view runs; None outside a view.
# It lives here, below both view and widgets, so that widgets can ask "on a slide?" without importing view.
FRAME: contextvars.ContextVar = contextvars.ContextVar("cnnviz_frame", default=None)


def on_slide() -> bool:
    """Whether the view being drawn is on a slide (the deck player, ``?present=1&view=...``)."""
    f = FRAME.get()
    return bool(f is not None and f.slide)


def leave() -> None:
    """Leave presenter view (a button's ``on_click``)."""
    st.session_state[f"qp:{KEY}"] = False



def is_on() -> bool:
    """Whether this run is in presenter view (False outside the app, e.g. before ``begin``)."""
    try:
        return bool(st.session_state.get(_ON, False))
    except (AttributeError, RuntimeError):  # no session (bare mode, another thread): never presenter view
        return False


def page_path() -> str:
    """The URL path of the page this run shows (``""`` for Home)."""
    return st.session_state.get(_PAGE, "")


_SCOPE = "_present_scope"


def reset_keys(scope: str) -> None:
    """Number container keys afresh inside ``scope`` (a view, while its fragment runs; ``""``: the page)."""
    st.session_state[_SCOPE] = scope
    counts = st.session_state.setdefault(_COUNT, {})
    for k in [k for k in counts if k[0] == scope]:
        del counts[k]


def next_key(kind: str) -> str:
    """A container key unique in this run and stable across runs of the same page or view
    (``cnnviz-<kind>-<n>``, or ``cnnviz-<kind>-<view>-<n>`` inside a view, which reruns alone)."""
    counts = st.session_state.setdefault(_COUNT, {})
    scope = st.session_state.get(_SCOPE, "")
    n = counts.get((scope, kind), 0)
    counts[(scope, kind)] = n + 1
    return f"cnnviz-{kind}-{scope}-{n}" if scope else f"cnnviz-{kind}-{n}"


_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*_`\"'])")


def short_notes(markdown: str, max_items: int = 4) -> str:
    """"What to notice" notes cut down to speaker notes: the first sentence of each of the first
    ``max_items`` bullets (or of the paragraph when there are no bullets).

    Args:
        markdown: the notes as the page wrote them (bullets or paragraphs).
        max_items: how many bullets to keep.

    Examples::

        >>> short_notes("- Edges first. Then more.\\n- Parts later. Much later.")
        '- Edges first.\\n- Parts later.'
        >>> short_notes("One idea. And its detail.")
        'One idea.'
    """
    text = re.sub(r"^\s*\*\*What to notice[.:]?\*\*[.:]?\s*", "", markdown.strip(), flags=re.I)
    lines = text.splitlines()
    if not any(_ITEM.match(line) for line in lines):
        return _SENTENCE_END.split(" ".join(x.strip() for x in lines if x.strip()), maxsplit=1)[0]
    items: list[str] = []
    for line in lines:
        if _ITEM.match(line):
            items.append(_ITEM.sub("", line, count=1).strip())
        elif line.strip() and items:
            items[-1] += " " + line.strip()  # a bullet continued on the next line
    firsts = [_SENTENCE_END.split(it, maxsplit=1)[0] for it in items[:max_items]]
    more = len(items) - max_items
    return "\n".join(f"- {f}" for f in firsts) + (f"\n- … ({more} more)" if more > 0 else "")
