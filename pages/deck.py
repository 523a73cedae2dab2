"""Deck player: step through a lecture deck, one view per slide, in presenter view.

``/deck?deck=<name>&slide=<n>``: slide n's view fills the screen under a one-row bar with the slide's
title, the view's controls (folded away), the slide counter and the Back / Next buttons (also the Left
and Right arrow keys); the note is the speaker note under the figure. The URL always names the deck and
the slide, so a reload or a shared link lands on the same slide.
"""
import html

import streamlit as st

from cnnviz.methods import decks
from cnnviz.ui import deck_builder, presenter, slides, state, view, widgets

PATH = "deck"


def _load(name: str) -> decks.Deck:
    if name == deck_builder.SESSION:
        d = deck_builder.session_deck()
        if not d.slides:
            raise decks.DeckError("this session's deck is empty: add views with 'Add this view to the deck' in the "
                                  "sidebar (Lecture deck), or upload a deck there.")
        return d
    from cnnviz.ui import deck_export

    handed = deck_export.shared(name)  # the player's own export, in a headless browser
    return handed if handed is not None else decks.load_bundled(name)


def _go(k: int) -> None:
    st.query_params["slide"] = str(k)


def _play(other: str) -> None:
    st.query_params.from_dict({"deck": other, "slide": "1"} | (
        {"present": st.query_params["present"]} if "present" in st.query_params else {}))


def _title_of(other: str) -> str:
    try:
        return decks.load_bundled(other).title
    except decks.DeckError:
        return other


def _deck_list(names: list[str], name: str) -> None:
    """Buttons that open each deck at its first slide (hidden in presenter view)."""
    with widgets.secondary_controls():
        st.markdown("**Decks**")
        cols = st.columns(max(1, len(names)))
        for col, other in zip(cols, names, strict=False):  # one column is made even when there is no deck
            label = "This session's deck" if other == deck_builder.SESSION else _title_of(other)
            col.button(label, key=f"deck_play_{other}", on_click=_play, args=(other,), icon=":material/slideshow:",
                       width="stretch", type="primary" if other == name else "secondary")


def _nav(n: int, total: int, deck_title: str):
    def draw(cols: list) -> None:
        a, b, c = cols[0].columns([0.9, 1, 1], vertical_alignment="center", gap="small")
        title = html.escape(deck_title, quote=True)
        a.markdown(f"<span class='cnnviz-slide-count' title='{title}'>{n} / {total}</span>", unsafe_allow_html=True)
        b.button("Back", key="deck_prev", icon=":material/arrow_back:", on_click=_go, args=(n - 1,),
                 disabled=n <= 1, shortcut="Left", width="stretch", help="Previous slide (Left arrow)")
        c.button("Next", key="deck_next", icon=":material/arrow_forward:", icon_position="right", on_click=_go,
                 args=(n + 1,), disabled=n >= total, shortcut="Right", width="stretch", help="Next slide (Right arrow)")
    return draw


def _export(deck: decks.Deck) -> None:
    st.divider()
    if st.button("Export this deck (one PNG per slide and an index page, as ZIP)", key="deck_export",
                 icon=":material/photo_library:"):
        from cnnviz.ui import deck_export

        bar = st.progress(0.0, text="Starting headless Chromium…")
        try:
            data = deck_export.export_zip_from_app(deck, lambda f, text: bar.progress(f, text=text))
            st.download_button("Download the ZIP", data, file_name=f"{deck.name or 'deck'}-slides.zip",
                               mime="application/zip", key="deck_zip", icon=":material/download:")
        except deck_export.DeckExportError as e:
            widgets.show_error(e)


def play() -> None:
    bundled = decks.server_decks()
    names = list(bundled) + ([deck_builder.SESSION] if deck_builder.session_deck().slides else [])
    name = state.get_param("deck", names[0] if names else "")
    n = state.get_param("slide", 1, int)
    try:
        deck = _load(name)
    except decks.DeckError as e:
        st.title("Deck player")
        st.error(f"Cannot play the deck {name!r}: {e}", icon=":material/error:")
        _deck_list(names, name)
        return
    total = len(deck.slides)
    if not 1 <= n <= total:
        state.notice(f"This deck has {total} slides; slide {n} does not exist, so slide {min(max(n, 1), total)} "
                     "is shown.")
        n = min(max(n, 1), total)
    state.set_param("deck", name)
    state.set_param("slide", n)
    slide = deck.slides[n - 1]
    keep = {"deck": name, "slide": str(n)} | ({"present": st.query_params["present"]}
                                              if "present" in st.query_params else {})
    wrong = slides.problems(slide, PATH)
    shown = None if wrong else slides.view_of(slide)
    if shown is None:
        view.draw_slide("", title=slide.title, bar_extra=_nav(n, total, deck.title), extra_width=2.2,
                        body=lambda: _problems(wrong or [f"The page /{slide.path} has no views to show."]))
    else:
        slides.apply_view((name, n), slide, keep)
        st.session_state[deck_builder.VIEW_PATH] = slide.path
        st.session_state[deck_builder.VIEW_ID] = shown
        view.draw_slide(shown, title=slide.title, note=slide.note, bar_extra=_nav(n, total, deck.title),
                        extra_width=2.2)
        unused = slides.unused_params(slide, keep)
        if unused:
            st.warning(f"This slide's link names parameter(s) {', '.join(unused)} that its view does not use; "
                       "they were ignored.", icon=":material/link_off:")
    slides.warm_up(deck, n)  # the later slides' long work runs while this one is shown
    if not presenter.is_on():
        _export(deck)
    _deck_list(names, name)


def _problems(msgs: list[str]) -> None:
    for msg in msgs:
        st.error(msg, icon=":material/link_off:")
    st.caption("The other slides are not affected: use Back / Next (or the arrow keys).")


if __name__ == "__main__":
    from cnnviz.ui.page import legacy_lookup

    if not legacy_lookup():
        play()
