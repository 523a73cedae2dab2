"""Deck player: step through a lecture deck of saved views, in presenter view.

``/deck?deck=<name>&slide=<n>``: slide n's view is shown below a bar with the previous and next
buttons (also the Left and Right arrow keys), the slide counter and the note. The URL always names
the deck and the slide, so a reload or a shared link lands on the same slide.
"""
import streamlit as st

from cnnviz.methods import decks
from cnnviz.ui import deck_builder, presenter, slides, state, widgets

PATH = "deck"
bundled = decks.bundled_decks()
names = list(bundled) + ([deck_builder.SESSION] if deck_builder.session_deck().slides else [])
name = state.get_param("deck", names[0] if names else "")
n = state.get_param("slide", 1, int)


def _load(name: str) -> decks.Deck:
    if name == deck_builder.SESSION:
        d = deck_builder.session_deck()
        if not d.slides:
            raise decks.DeckError("this session's deck is empty: add views with 'Add this view to the deck' in the "
                                  "sidebar (Lecture deck), or upload a deck there.")
        return d
    return decks.load_bundled(name)


def _go(k: int) -> None:
    st.query_params["slide"] = str(k)


def _play(other: str) -> None:
    st.query_params.from_dict({"deck": other, "slide": "1"} | (
        {"present": st.query_params["present"]} if "present" in st.query_params else {}))


def _deck_list() -> None:
    """Buttons that open each deck at its first slide (hidden in presenter view)."""
    with widgets.secondary_controls():
        st.markdown("**Decks**")
        cols = st.columns(max(1, len(names)))
        for col, other in zip(cols, names):
            label = "This session's deck" if other == deck_builder.SESSION else _title_of(other)
            col.button(label, key=f"deck_play_{other}", on_click=_play, args=(other,), icon=":material/slideshow:",
                       width="stretch", type="primary" if other == name else "secondary")


def _title_of(other: str) -> str:
    try:
        return decks.load_bundled(other).title
    except decks.DeckError:
        return other


try:
    deck = _load(name)
except decks.DeckError as e:
    deck = None
    st.title("Deck player")
    st.error(f"Cannot play the deck {name!r}: {e}", icon=":material/error:")

if deck is not None:
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

    with st.container(key="cnnviz-deck-bar", border=True):
        c1, c2, c3 = st.columns([8, 1, 1], vertical_alignment="center")
        c1.markdown(f"**{n} / {total}** · **{slide.title}** :gray[· {deck.title}]")
        c2.button("Back", key="deck_prev", icon=":material/arrow_back:", on_click=_go, args=(n - 1,),
                  disabled=n <= 1, shortcut="Left", width="stretch", help="Previous slide (Left arrow)")
        c3.button("Next", key="deck_next", icon=":material/arrow_forward:", icon_position="right", on_click=_go,
                  args=(n + 1,), disabled=n >= total, shortcut="Right", width="stretch",
                  help="Next slide (Right arrow)")
        if slide.note:
            st.caption(slide.note)

    wrong = slides.problems(slide, PATH)
    spec = None if wrong else slides.page_for(slide.path)
    if wrong:
        for msg in wrong:
            st.error(msg, icon=":material/link_off:")
        st.caption("The other slides are not affected: use Previous / Next (or the arrow keys).")
    else:
        slides.apply_view((name, n), slide, keep)
        st.session_state[deck_builder.VIEW_PATH] = slide.path
        notes = st.container()
        slides.run_page(spec)
        unused = slides.unused_params(slide, keep)
        if unused:
            notes.warning(f"This slide's link names parameter(s) {', '.join(unused)} that the page "
                          f"'{spec.title}' does not use in this view; they were ignored.", icon=":material/link_off:")
        slides.scroll_to_anchor()

    if not presenter.is_on():
        st.divider()
        if st.button("Export this deck (one PNG per slide and an index page, as ZIP)", key="deck_export",
                     icon=":material/photo_library:"):
            from cnnviz.ui import deck_export

            bar = st.progress(0.0, text="Starting headless Chromium…")
            try:
                data = deck_export.export_zip_from_app(deck, lambda i, t, msg: bar.progress(i / t, text=msg))
                st.download_button("Download the ZIP", data, file_name=f"{deck.name or 'deck'}-slides.zip",
                                   mime="application/zip", key="deck_zip", icon=":material/download:")
            except deck_export.DeckExportError as e:
                widgets.show_error(e)
_deck_list()
