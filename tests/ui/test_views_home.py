"""The views of Home as slides: the loaded model (card in one line, input, predictions) and the table of pages."""
import html

from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.ui import view
from cnnviz.ui.nav import available_pages


def _open(**params) -> AppTest:
    """Home with ``params`` in its link; ``present`` (a sidebar toggle, drawn from the first run) goes in first."""
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=300)
    if "present" in params:
        at.query_params["present"] = params.pop("present")
    at.run()
    at.switch_page("pages/home.py")
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _texts(els) -> str:
    return " ".join(str(e.value) for e in els)


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
