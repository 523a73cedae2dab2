"""Deep links and shared input state (Streamlit AppTest): every control mirrored in the URL,
bad or unknown parameters ignored with a notice, controls remembered across page switches,
bad uploads refused with the previous image kept."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnnviz.core.images import MAX_UPLOAD_BYTES
from cnnviz.core.paths import APP_SCRIPT

APP = str(APP_SCRIPT)


def _app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _toasts(at) -> str:
    return " ".join(t.value for t in at.toast)


def _ctx(at):
    return at.session_state["cnnviz_ctx"]


def test_deep_link_restores_model_and_sample():
    at = _app(model="small-vgg-fashion", img="fashion-bag")
    assert not at.exception, [e.value for e in at.exception]
    ctx = _ctx(at)
    assert ctx.model.name == "small-vgg-fashion" and ctx.image_label == "sample fashion-bag"
    assert at.sidebar.selectbox(key="qp:model").value == "small-vgg-fashion"
    assert not _toasts(at)  # nothing was ignored
    assert at.query_params["img"] == "fashion-bag"


def test_widget_changes_are_written_to_the_url():
    at = _app()
    assert "img" not in at.query_params  # defaults are left out of links
    at.sidebar.selectbox(key="qp:img").set_value("digit-3").run()
    assert at.query_params["img"] == "digit-3"
    assert _ctx(at).image_label == "sample digit-3"
    at.sidebar.toggle(key="qp:untrained").set_value(True).run()
    assert at.query_params["untrained"] == "1" and not _ctx(at).model.trained


def test_switching_model_family_picks_a_suitable_sample():
    at = _app()
    assert _ctx(at).image_label.startswith("sample digit-")
    at.sidebar.selectbox(key="qp:model").set_value("small-vgg-fashion").run()
    assert _ctx(at).image_label.startswith("sample fashion-")


@pytest.mark.parametrize("params,bad", [
    ({"model": "no-such-model"}, "model"),
    ({"img": "../../etc/passwd"}, "img"),
    ({"untrained": "perhaps"}, "untrained"),
    ({"src": "telepathy"}, "src"),
    ({"zzz": "1", "model": "lenet5-mnist"}, "zzz"),
])
def test_bad_or_unknown_parameters_are_ignored_with_a_notice(params, bad):
    at = _app(**params)
    assert not at.exception, [e.value for e in at.exception]
    assert bad in _toasts(at)
    assert bad not in at.query_params or bad == "model"  # dropped from the URL
    assert _ctx(at).model.name == "lenet5-mnist"


def test_draw_source_is_refused_for_imagenet_models():
    at = _app(model="resnet18", untrained="1", src="draw")
    assert not at.exception
    assert "src" in _toasts(at)
    assert at.sidebar.radio(key="qp:src").value == "sample"


# ------------------------------------------------------------------ state.py machinery on a tiny app
def _two_page_script():
    import streamlit as st

    from cnnviz.ui import state

    state.begin_run()
    page = st.session_state.get("page", "a")
    if page == "a":
        k = state.slider("Kernel", "ta_k", 1, 9, 3)
        chans = state.multiselect("Channels", "ta_ch", ["r", "g", "b"], ["r"])
        ch = state.get_param("ta_unit", 0, int, valid=lambda c: 0 <= c < 10)
        st.write(f"k={k} ch={','.join(chans)} unit={ch}")
    else:
        v = state.select("Mode", "tb_mode", ["x", "y"], "x")
        st.write(f"mode={v}")
    state.end_run()


def test_page_controls_remembered_and_stale_keys_dropped_silently():
    at = AppTest.from_function(_two_page_script, default_timeout=30)
    at.query_params["ta_k"] = "7"
    at.run()
    assert at.markdown[0].value == "k=7 ch=r unit=0" and not at.toast
    at.session_state["page"] = "b"
    at.run()
    # ta_k belongs to a control this run did not show: removed from the URL without a notice
    assert "ta_k" not in at.query_params and not at.toast
    at.session_state["page"] = "a"
    at.run()
    # back on page a: the control and its link come back
    assert at.markdown[0].value.startswith("k=7") and at.query_params["ta_k"] == "7"


@pytest.mark.parametrize("key,raw", [("ta_k", "abc"), ("ta_k", "99"), ("ta_k", "nan"), ("ta_ch", "r,purple"),
                                     ("ta_unit", "-3"), ("ta_unit", "x")])
def test_malformed_values_fall_back_to_defaults_with_notice(key, raw):
    at = AppTest.from_function(_two_page_script, default_timeout=30)
    at.query_params[key] = raw
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.markdown[0].value == "k=3 ch=r unit=0"
    assert key in _toasts(at) and key not in at.query_params


def test_valid_multiselect_and_param_from_link():
    at = AppTest.from_function(_two_page_script, default_timeout=30)
    at.query_params["ta_ch"] = "g,b"
    at.query_params["ta_unit"] = "4"
    at.run()
    assert at.markdown[0].value == "k=3 ch=g,b unit=4" and not at.toast


# ------------------------------------------------------------------ bad uploads in the real app
def _png(color=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, "PNG")
    return buf.getvalue()


def _upload(at, name: str, data: bytes, mime: str = "image/png"):
    at.sidebar.radio(key="qp:src").set_value("upload").run()
    up = [u for u in at.get("file_uploader") if "image" in u.proto.label.lower()]
    assert up, "the image uploader is labelled as an image upload"
    up[0].set_value((name, data, mime)).run()


def test_good_upload_becomes_the_shared_image():
    at = _app()
    _upload(at, "red.png", _png())
    assert not at.exception
    ctx = _ctx(at)
    assert ctx.image_label == "red.png" and ctx.image.getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize("name,data,message", [
    ("empty.png", b"", "empty"),
    ("cut.png", _png()[:40], "damaged or truncated"),
    ("notes.png", b"just some text\n" * 10, "not an image"),
])
def test_bad_upload_shows_message_and_keeps_previous_image(name, data, message):
    at = _app()
    _upload(at, "red.png", _png())
    _upload(at, name, data)
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.sidebar.error)
    assert name in errors and message in errors and "previous image is kept" in errors
    assert _ctx(at).image_label == "red.png"


def test_upload_over_size_limit_refused():
    at = _app()
    big = _png() + b"\0" * (MAX_UPLOAD_BYTES + 1 - len(_png()))
    _upload(at, "huge.png", big)
    assert "MiB" in " ".join(e.value for e in at.sidebar.error)
    assert _ctx(at).image_label.startswith("sample")


def test_draw_source_runs_for_the_digit_model():
    at = _app(src="draw")
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.radio(key="qp:src").value == "draw" and not _toasts(at)
    assert any("Clear drawing" in b.label for b in at.sidebar.button)
    assert _ctx(at).image_label.startswith("sample digit-")  # nothing drawn yet: the previous image
