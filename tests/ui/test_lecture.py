"""Presenter view, the deck player and the deck builder, in Streamlit's AppTest."""
import html
import json

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.methods import decks
from cnnviz.ui import deck_builder, view
from cnnviz.ui.nav import page_views

from .apptest import texts


def _app() -> AppTest:
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=300)


def _open(at: AppTest, page: str, **params) -> AppTest:
    at.switch_page(f"pages/{page}")
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


_texts = texts


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(decks.bundled_decks()))
def test_every_bundled_slide_restores_a_real_view(name):
    """Each slide shows one view of its link's page, uses every parameter of its link (no 'ignored'
    notice), and an old-style ``#anchor`` names that view."""
    deck = decks.load_bundled(name)
    at = _app().run()
    _open(at, "deck.py", deck=name, slide="1")
    for i, slide in enumerate(deck.slides, 1):
        if i > 1:
            at.button(key="deck_next").click().run()
        where = f"{name} slide {i} ({slide.link})"
        assert not at.exception, (where, [e.value for e in at.exception])
        assert at.query_params["slide"] == str(i) and at.query_params["deck"] == name, where
        assert f"{i} / {len(deck)}" in _texts(at.markdown), where
        assert f"cnnviz-slide-title'>{html.escape(slide.title)}</h2>" in _texts(at.markdown), where
        shown = at.session_state[deck_builder.VIEW_ID]
        assert shown in page_views(slide.path) and (not slide.view or shown == slide.view), (where, shown)
        assert "does not use" not in _texts(at.warning) + _texts(at.error), where
        assert "Ignored link parameter" not in _texts(at.toast), (where, _texts(at.toast))
        for k, v in slide.params.items():  # the view kept every value of the link (defaults drop out of the URL)
            assert at.query_params.get(k, v) == v, (where, k, at.query_params.get(k))
        if slide.anchor:
            v = view.get(shown)
            assert slide.anchor in (v.anchor, *v.anchors), (where, shown, v.anchors)


def test_present_flag_survives_page_switches_and_is_in_the_link():
    at = _app()
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    assert at.toggle(key="qp:present").value is True
    _open(at, "kernels.py")
    assert at.query_params.get("present") == "1"
    assert "present=1" in _texts(at.sidebar.html)  # "Link to this view"
    # hidden by CSS, not removed: a secondary control still runs, and its link value is kept
    at = _open(_app().run(), "kernels.py", present="1", kn_img="96")
    assert at.slider(key="qp:kn_img").value == 96 and at.query_params.get("kn_img") == "96"


def test_presenter_notes_are_short_speaker_notes():
    at = _app().run()
    _open(at, "kernels.py")
    long_notes = [i.value for i in at.info if len(i.value) > 200]
    at.toggle(key="qp:present").set_value(True).run()
    notes = [m.value for m in at.markdown if m.value.startswith("**Notes**")]
    if long_notes:  # the page has "what to notice" notes: in presenter view they are shorter
        assert notes and len(notes[0]) < len(long_notes[0])
        assert long_notes[0] not in [i.value for i in at.info]


def test_deck_player_defaults_to_presenter_view_and_clamps_the_slide():
    at = _app().run()
    _open(at, "deck.py", deck="limits-of-cnns", slide="99")
    assert not at.exception
    n = len(decks.load_bundled("limits-of-cnns"))
    assert at.query_params["slide"] == str(n) and at.toggle(key="qp:present").value is True
    assert f"{n} / {n}" in _texts(at.markdown)
    assert "does not exist" in _texts(at.toast)


def test_unknown_deck_name_is_a_message():
    at = _app().run()
    _open(at, "deck.py", deck="no-such-deck")
    assert not at.exception
    assert "no bundled deck 'no-such-deck'" in _texts(at.error)


def test_deck_builder_adds_reorders_edits_and_downloads():
    at = _app().run()
    _open(at, "arithmetic.py", ar_k="3")
    at.text_input(key="deckb_title").set_value("Three by three")
    at.text_area(key="deckb_note").set_value("A small kernel.")
    at.button(key="deckb_add").click().run()
    _open(at, "kernels.py")
    at.button(key="deckb_add").click().run()
    slides = at.session_state["_deck_slides"]
    first_kernels_view = view.get(page_views("kernels")[0])  # the slide shows one view: the one picked (the first)
    assert [s["title"] for s in slides] == ["Three by three", first_kernels_view.title]
    assert slides[0]["link"] == "/arithmetic?ar_k=3" and slides[0]["note"] == "A small kernel."
    assert slides[0]["view"] == page_views("arithmetic")[0]
    assert slides[1]["link"].startswith("/kernels") and slides[1]["view"] == first_kernels_view.id
    at.button(key="deckb_up").click().run()  # the editor shows the last added slide: move it up
    assert [s["title"] for s in at.session_state["_deck_slides"]] == [first_kernels_view.title, "Three by three"]
    title_key = next(t.key for t in at.text_input if t.key.startswith("deckb_title_0_"))
    at.text_input(key=title_key).set_value("Kernels").run()
    assert at.session_state["_deck_slides"][0]["title"] == "Kernels"
    at.button(key="deckb_del").click().run()
    assert len(at.session_state["_deck_slides"]) == 1
    assert any("deckb_download" in str(b.proto.id) for b in at.get("download_button"))
    back = decks.parse_deck(json.dumps({"title": "t", "slides": at.session_state["_deck_slides"]}))
    assert back.slides[0].link == "/arithmetic?ar_k=3"


def test_uploaded_malformed_deck_is_a_message_and_the_deck_is_kept():
    at = _app().run()
    at.file_uploader(key="deckb_upload").set_value(("bad.json", b'{"title": 1}', "application/json")).run()
    assert not at.exception
    assert "'title' must be a string" in _texts(at.sidebar.error)
