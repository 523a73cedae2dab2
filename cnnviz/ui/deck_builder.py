"""The session's lecture deck, built in the sidebar: "Add this view to the deck", then edit,
reorder, download (JSON) or upload it, and play it in the deck player (``/deck?deck=session``).
"""
from __future__ import annotations

import streamlit as st

from cnnviz.core.paths import PAGES_DIR
from cnnviz.methods.decks import Deck, DeckError, Slide, make_link, parse_deck
from cnnviz.ui import presenter, view
from cnnviz.ui.nav import PAGES, page_views

SESSION = "session"  # the player's name for this deck
PLAYER_KEYS = ("deck", "slide", "present")  # URL keys of the player and the shell, not of a view
_SLIDES = "_deck_slides"
_TITLE = "_deck_title"
_VER = "_deck_ver"  # bumped on every structural change, so the edit widgets start from the new values
_SEEN = "_deck_upload_seen"
VIEW_PATH = "_deck_view_path"  # set by the player: the page its current slide shows
VIEW_ID = "_deck_view_id"  # and the view


def session_deck() -> Deck:
    """The deck built in this session (possibly empty)."""
    slides = tuple(Slide(**s) for s in st.session_state.get(_SLIDES, []))
    return Deck(title=st.session_state.get(_TITLE, "My lecture"), slides=slides, name=SESSION)


def _set(deck: Deck) -> None:
    st.session_state[_SLIDES] = [s.to_dict() for s in deck.slides]
    st.session_state[_TITLE] = deck.title
    st.session_state[_VER] = st.session_state.get(_VER, 0) + 1


def current_link() -> str:
    """The app-relative link of the view on screen (player keys left out)."""
    path = presenter.page_path()
    if path == "deck":
        path = st.session_state.get(VIEW_PATH, path)
    params = {k: v for k, v in st.query_params.to_dict().items() if k not in PLAYER_KEYS and k != "view"}
    return make_link(path, params)


def _page_title(path: str) -> str:
    return next((p.title for p in PAGES if p.url_path == path), path or "Home")


def _add() -> None:
    link = current_link()  # at the click: a view may have changed the URL since the sidebar was drawn
    title = st.session_state.get("deckb_title", "").strip() or _page_title(link.split("?")[0].strip("/"))
    slides = st.session_state.setdefault(_SLIDES, [])
    vid = st.session_state.get("deckb_view") or ""
    if vid and title == _page_title(link.split("?")[0].strip("/")):
        title = view.get(vid).title if view.get(vid) else title
    slides.append({"title": title, **({"view": vid} if vid else {}), "link": link,
                   "note": st.session_state.get("deckb_note", "").strip()})
    st.session_state["deckb_title"] = ""
    st.session_state["deckb_note"] = ""
    st.session_state["deckb_pick"] = len(slides)
    st.session_state[_VER] = st.session_state.get(_VER, 0) + 1


def _move(i: int, by: int) -> None:
    slides = st.session_state[_SLIDES]
    j = i + by
    if 0 <= j < len(slides):
        slides[i], slides[j] = slides[j], slides[i]
        st.session_state["deckb_pick"] = j + 1
        st.session_state[_VER] = st.session_state.get(_VER, 0) + 1


def _delete(i: int) -> None:
    slides = st.session_state[_SLIDES]
    del slides[i]
    st.session_state["deckb_pick"] = max(1, min(i + 1, len(slides)))
    st.session_state[_VER] = st.session_state.get(_VER, 0) + 1


def _edit(i: int, field: str, wkey: str) -> None:
    st.session_state[_SLIDES][i][field] = st.session_state[wkey]


def _upload(sb) -> None:
    up = sb.file_uploader("Upload a deck (JSON)", type=["json"], key="deckb_upload",
                          help="Replaces this session's deck. The format: "
                               '{"title": ..., "slides": [{"title": ..., "link": "/page?...", "note": ...}]}')
    if up is None:
        return
    file_id = getattr(up, "file_id", None) or up.name
    if st.session_state.get(_SEEN, (None,))[0] != file_id:
        try:
            _set(parse_deck(up.getvalue(), source=up.name))
            err = None
        except DeckError as e:
            err = str(e)
        st.session_state[_SEEN] = (file_id, err)
    err = st.session_state[_SEEN][1]
    if err:
        sb.error(f"{err} The deck you had is kept.", icon=":material/error:")


def panel() -> None:
    """The sidebar's deck panel (called after the page ran, so the link is the final one)."""
    link = current_link()
    path = link.split("?")[0].strip("/")
    with st.sidebar.expander("Lecture deck", icon=":material/slideshow:"):
        ids = list(page_views(path))
        if ids:
            here = st.query_params.get("view") or st.session_state.get(VIEW_ID)
            if st.session_state.get("deckb_view") not in ids:
                st.session_state["deckb_view"] = here if here in ids else ids[0]
            st.selectbox("View", ids, key="deckb_view", format_func=lambda v: view.get(v).title if view.get(v) else v,
                         help="The slide shows this one view, whole, with the settings of this page's link.")
        else:
            st.session_state["deckb_view"] = ""
        st.text_input("Slide title", key="deckb_title", placeholder=_page_title(link.split("?")[0].strip("/")))
        st.text_area("Note (for the speaker)", key="deckb_note", height=68)
        st.button("Add this view to the deck", key="deckb_add", icon=":material/add:", on_click=_add,
                  width="stretch")
        box = st.container()  # filled after the upload below is read, so an uploaded deck shows at once
        _upload(st)
    with box:
        deck = session_deck()
        st.text_input("Deck title", key=f"deckb_dtitle_{st.session_state.get(_VER, 0)}", value=deck.title,
                      on_change=lambda k: st.session_state.__setitem__(_TITLE, st.session_state[k]),
                      args=(f"deckb_dtitle_{st.session_state.get(_VER, 0)}",))
        if deck.slides:
            _slide_editor(deck)
            st.page_link(str(PAGES_DIR / "deck.py"), label=f"Play this deck ({len(deck)} slides)",
                         icon=":material/play_arrow:", query_params={"deck": SESSION, "slide": "1"})
            st.download_button("Download deck (JSON)", deck.to_json(), file_name="deck.json", mime="application/json",
                               key="deckb_download", icon=":material/download:", on_click="ignore", width="stretch")
        else:
            st.caption("No slides yet: set up a view, then add it. Each slide is this view's link, so the player "
                       "reopens it exactly.")


def _slide_editor(deck: Deck) -> None:
    n = len(deck)
    ver = st.session_state.get(_VER, 0)
    if not 1 <= st.session_state.get("deckb_pick", 1) <= n:
        st.session_state["deckb_pick"] = n
    i = st.selectbox("Slide", range(1, n + 1), key="deckb_pick",
                     format_func=lambda k: f"{k}. {deck.slides[k - 1].title}") - 1
    s = deck.slides[i]
    for field, widget in (("title", st.text_input), ("view", st.text_input), ("link", st.text_input),
                          ("note", st.text_area)):
        wkey = f"deckb_{field}_{i}_{ver}"
        widget(field.capitalize(), value=getattr(s, field), key=wkey, on_change=_edit, args=(i, field, wkey))
    c1, c2, c3 = st.columns(3)
    c1.button("Up", key="deckb_up", icon=":material/arrow_upward:", on_click=_move, args=(i, -1), disabled=i == 0)
    c2.button("Down", key="deckb_down", icon=":material/arrow_downward:", on_click=_move, args=(i, 1),
              disabled=i == n - 1)
    c3.button("Delete", key="deckb_del", icon=":material/delete:", on_click=_delete, args=(i,))
