"""The views of Home as slides: the loaded model (card in one line, input, predictions) and the table of pages."""
import html

from streamlit.testing.v1 import AppTest

from cnnviz.ui import view
from cnnviz.ui.nav import available_pages

from .apptest import open_page, texts


def _open(**params) -> AppTest:
    return open_page("home", **params)


_texts = texts


def test_model_slide_has_the_card_in_one_line_and_the_predictions():
    at = _open(present="1", view="home.model")
    assert not at.exception
    assert f"cnnviz-slide-title'>{html.escape(view.get('home.model').title)}</h2>" in _texts(at.markdown)
    line = next(m.value for m in at.markdown if "**Test accuracy:**" in m.value)
    assert "LeNet-5" in line and "99" in line
    assert len(at.get("plotly_chart")) == 1


def test_pages_slide_is_a_table_of_every_page():
    at = _open(present="1", view="home.pages")
    assert not at.exception
    table = at.dataframe[0].value
    listed = [p for p in available_pages() if p.url_path]
    assert len(table) == len(listed)
    assert list(table["page"]) == [f"/{p.url_path}#{p.title}" for p in listed]


def test_home_page_keeps_its_headline():
    at = _open()
    assert "cnnviz: see inside a convolutional network" in _texts(at.title)
    assert [h.value for h in at.header] == [view.get("home.model").title, view.get("home.pages").title]
