"""Presenter view, the deck player and the deck builder, in Streamlit's AppTest."""
import re

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.methods import decks
from cnnviz.ui.nav import PAGES


def _app() -> AppTest:
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=300)


def _open(at: AppTest, page: str, **params) -> AppTest:
    at.switch_page(f"app_pages/{page}")
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _slug(text: str) -> str:
    """Streamlit's heading anchor: the words of the heading, lower case, joined by '-'."""
    return "-".join(w for w in re.split(r"[^0-9a-z]+", text.lower()) if w)


def _texts(els) -> str:
    return " ".join(str(e.value) for e in els)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(decks.bundled_decks()))
def test_every_bundled_slide_restores_a_real_view(name):
    """Each slide's page exists and uses every parameter of its link (no 'ignored' notice), and its
    anchor is one of the page's headings."""
    deck = decks.load_bundled(name)
    titles = {p.url_path: p.title for p in PAGES}
    at = _app().run()
    _open(at, "deck.py", deck=name, slide="1")
    for i, slide in enumerate(deck.slides, 1):
        if i > 1:
            at.button(key="deck_next").click().run()
        where = f"{name} slide {i} ({slide.link})"
        assert not at.exception, (where, [e.value for e in at.exception])
        assert at.query_params["slide"] == str(i) and at.query_params["deck"] == name, where
        assert f"Slide {i} / {len(deck)}" in _texts(at.markdown), where
        assert titles[slide.path] in _texts(at.title), where
        assert "does not use" not in _texts(at.warning) + _texts(at.error), where
        assert "Ignored link parameter" not in _texts(at.toast), (where, _texts(at.toast))
        for k, v in slide.params.items():  # the view kept every value of the link (defaults drop out of the URL)
            assert at.query_params.get(k, v) == v, (where, k, at.query_params.get(k))
        if slide.anchor:
            heads = {_slug(h.value) for h in list(at.header) + list(at.subheader)}
            assert slide.anchor in heads, (where, sorted(heads))
