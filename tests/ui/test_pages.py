"""Every page runs in its default state without an exception (Streamlit AppTest)."""
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.ui.nav import PAGES, available_pages


def test_all_declared_pages_exist_or_are_pending():
    assert available_pages()[0].file == "home.py"
    assert len({p.url_path for p in PAGES}) == len(PAGES)


@pytest.mark.parametrize("spec", available_pages(), ids=lambda p: p.url_path or "home")
def test_page_runs_default_state(spec):
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240).run()
    at.switch_page(f"pages/{spec.file}")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if spec.url_path == "deck":  # the player is a slide: its title is the slide's, in the slide bar
        assert any("cnnviz-slide-title" in m.value for m in at.markdown)
    else:
        assert len(at.title) >= 1, "every page starts with a title"


def test_home_shows_bundled_model_card():
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=120).run()
    text = "\n".join(m.value for m in at.markdown)
    assert "LeNet-5" in text and "Test accuracy" in text and "99" in text


def test_bad_link_parameter_is_ignored_with_notice():
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=120)
    at.query_params["model"] = "no-such-model"
    at.query_params["zzz"] = "1"
    at.run()
    assert not at.exception
    toasts = " ".join(t.value for t in at.toast)
    assert "model" in toasts and "zzz" in toasts
