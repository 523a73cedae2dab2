"""The views of /arithmetic and /architecture: which view each deck slide lands on, and each view drawn alone as a
slide from its link's settings (Streamlit AppTest)."""
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.methods import decks
from cnnviz.ui import slides, view

# the bundled deck on convolution, slide by slide: the view its link lands on
FUNDAMENTALS = ["arithmetic.numbers"] * 4 + ["arithmetic.special", "arithmetic.numbers", "arithmetic.numbers",
                                             "arithmetic.special", "arithmetic.window", "arithmetic.window",
                                             "arithmetic.quiz", "architecture.table", "architecture.table"]


def test_fundamentals_deck_slides_land_on_the_views_they_mean():
    deck = decks.load_bundled("convolution-fundamentals")
    assert [slides.view_of(s) for s in deck.slides] == FUNDAMENTALS


def test_views_read_the_layer_settings_they_do_not_own():
    views = view.all_views()
    owned = set(views["arithmetic.numbers"].keys)
    assert {"ar_h", "ar_w", "ar_cin", "ar_cout", "ar_k", "ar_p", "ar_s", "ar_d", "ar_g", "ar_mode"} <= owned
    for vid in ("arithmetic.window", "arithmetic.check", "arithmetic.special"):
        assert owned <= set(views[vid].reads), vid
    assert "at_arch" in views["architecture.table"].keys
    assert all("at_arch" in views[v].reads for v in ("architecture.case-study", "architecture.depth"))


def _slide(page: str, view_id: str, **params) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240)
    at.query_params["present"] = "1"  # before the first run: the presenter toggle reads it once
    at.run()
    at.switch_page(f"pages/{page}")
    at.query_params.update({"view": view_id, **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cnnviz-slide-title" in m.value for m in at.markdown), "not drawn as a slide"
    return at


def _charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_special_cases_slide_picks_the_case_of_its_layer():
    at = _slide("arithmetic.py", "arithmetic.special", ar_cin="64", ar_cout="64", ar_k="3", ar_p="1", ar_g="64")
    assert at.radio(key="qp:ar_case").value == "grouped"
    assert len(_charts(at)) == 2  # the depthwise layer drawn, and the weights as the groups grow
    at = _slide("arithmetic.py", "arithmetic.special", ar_h="28", ar_w="28", ar_cin="64", ar_cout="16", ar_k="1")
    assert at.radio(key="qp:ar_case").value == "1x1" and len(_charts(at)) == 1
    assert at.query_params["ar_cin"] == "64"  # read, not owned: the link keeps it


def test_window_slide_follows_the_link_layer():
    at = _slide("arithmetic.py", "arithmetic.window", ar_h="7", ar_w="7", ar_cin="1", ar_cout="1", ar_k="3",
                ar_p="1", ar_s="2")
    assert at.slider(key="qp:ar_pos").max == 15  # 4x4 output positions
    assert len(_charts(at)) == 1


def test_window_explains_an_invalid_layer_instead_of_drawing():
    at = _slide("arithmetic.py", "arithmetic.window", ar_h="5", ar_w="5", ar_k="7")
    assert "does not work" in " ".join(e.value for e in at.error)
    assert not _charts(at)


def test_quiz_slide_reveals_from_its_controls():
    at = _slide("arithmetic.py", "arithmetic.quiz")
    assert not [m for m in at.markdown if "What is the size?" in m.value]  # the figure asks, not the rows
    assert len(_charts(at)) == 1
    at.toggle(key="qp:ar_q0").set_value(True).run()
    assert not at.exception
    assert at.query_params["ar_q0"] == "1"


def test_numbers_slide_draws_the_layer():
    at = _slide("arithmetic.py", "arithmetic.numbers", ar_s="2")
    assert len(_charts(at)) == 1 and not at.metric  # the numbers are in the drawing on a slide


@pytest.mark.parametrize("params", [{"model": "lenet5-mnist"}, {"at_arch": "alexnet"}])
def test_architecture_table_slide(params):
    at = _slide("architecture.py", "architecture.table", **params)
    assert len(at.dataframe) == 1
    text = " ".join(m.value for m in at.markdown)
    assert ("61,706" if "model" in params else "61,100,840") in text


def test_architecture_case_study_and_depth_read_the_picked_model():
    at = _slide("architecture.py", "architecture.case-study", at_arch="alexnet")
    assert "AlexNet" in " ".join(m.value for m in at.markdown) and len(_charts(at)) == 1
    at = _slide("architecture.py", "architecture.depth", at_arch="alexnet")
    assert len(_charts(at)) == 1
