"""/arithmetic and /architecture driven through AppTest: every preset and mode, invalid settings, the quiz."""
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT


@pytest.fixture(scope="module")
def arithmetic_app():
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240).run()
    at.switch_page("pages/arithmetic.py")
    return at.run()


def _texts(at, kind: str) -> str:
    return "\n".join(e.value for e in getattr(at, kind))


def test_every_preset_runs_and_matches_pytorch(arithmetic_app):
    at = arithmetic_app
    labels = [b.label for b in at.button if b.key and b.key.startswith("ar_preset_")]
    assert len(labels) == 8
    for i in range(len(labels)):
        at.button(key=f"ar_preset_{i}").click().run()
        assert not at.exception, (labels[i], [e.value for e in at.exception])
        assert "equals the formula" in _texts(at, "success"), labels[i]
    # the last preset is the transposed convolution: 4x4, k3 s2 p1 op1 -> 8x8
    assert "1 × 8 × 8" in " ".join(str(m.value) for m in at.metric)


@pytest.mark.parametrize("mode", ["maxpool", "avgpool", "transposed", "conv"])
def test_each_mode_renders(arithmetic_app, mode):
    at = arithmetic_app
    at.radio(key="qp:ar_mode").set_value(mode).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "equals the formula" in _texts(at, "success")


def test_invalid_settings_are_explained_not_raised(arithmetic_app):
    at = arithmetic_app
    at.radio(key="qp:ar_mode").set_value("conv").run()
    at.number_input(key="qp:ar_s").set_value(0).run()
    assert not at.exception
    assert "move at least one pixel" in _texts(at, "warning")
    at.number_input(key="qp:ar_s").set_value(2).run()
    at.selectbox(key="qp:ar_p").set_value("same").run()
    assert "refuses 'same' for strided convolutions" in _texts(at, "warning")
    at.selectbox(key="qp:ar_p").set_value(0).run()
    at.number_input(key="qp:ar_s").set_value(1).run()
    assert "equals the formula" in _texts(at, "success")


def test_quiz_hides_and_reveals(arithmetic_app):
    at = arithmetic_app
    assert "What is the size?" in _texts(at, "markdown")
    at.toggle(key="qp:ar_q0").set_value(True).run()
    assert "20×28×28" in _texts(at, "markdown")  # the lecture example: 3x32x32 through twenty 5x5 filters


def test_architecture_page_lists_lenet():
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240).run()
    at.switch_page("pages/architecture.py")
    at.run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["61,706", "416,520"]
    assert any("LeNet-5" in s.value for s in at.subheader)


def test_huge_layer_checked_on_meta_and_animation_declines(arithmetic_app):
    at = arithmetic_app
    at.radio(key="qp:ar_mode").set_value("conv").run()
    at.selectbox(key="qp:ar_p").set_value(1).run()
    for key, value in (("qp:ar_h", 224), ("qp:ar_w", 224), ("qp:ar_cin", 512), ("qp:ar_cout", 512), ("qp:ar_k", 3)):
        at.number_input(key=key).set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "meta" in _texts(at, "success")          # 512x512x3x3 on 224x224: shape rules without computing
    assert "draws grids up to" in _texts(at, "info")  # 226x226 cells would not be legible
    assert "512 × 224 × 224" in " ".join(str(m.value) for m in at.metric)


def test_custom_numbers_are_parsed_or_explained(arithmetic_app):
    at = arithmetic_app
    for key, value in (("qp:ar_h", 4), ("qp:ar_w", 4), ("qp:ar_cin", 1), ("qp:ar_cout", 1), ("qp:ar_k", 2)):
        at.number_input(key=key).set_value(value).run()
    at.selectbox(key="qp:ar_p").set_value(0).run()
    at.selectbox(key="qp:ar_src").set_value("custom").run()
    at.selectbox(key="qp:ar_kern").set_value("ones").run()
    at.text_input(key="qp:ar_x").set_value("1 2 3; 4 5 6; 7 8 9").run()
    assert not at.exception
    # 2x2 kernel of ones, bias 1, at (0, 0): 1+2+4+5+1 = 13
    assert "= 13" in _texts(at, "markdown")
    at.text_input(key="qp:ar_x").set_value("1 2; 3").run()
    assert "cannot be read" in _texts(at, "error")
    assert not at.exception
