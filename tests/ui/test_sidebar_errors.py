"""A model that fails to load is reported under the model choice, and the pages go on with the default model,
saying so (Streamlit AppTest): a damaged zoo weight file, an unexpected failure, uploaded weights that do not
fit, a bad ONNX file (which keeps the ONNX model that loaded before it) and a broken cnnviz.show() model."""
from __future__ import annotations

import io
import json
import logging

import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from cnnviz.core import zoo
from cnnviz.core.paths import APP_SCRIPT
from cnnviz.ui.resources import shared_model
from cnnviz.ui.show import SHOW_META_ENV, SHOW_MODEL_ENV

DEFAULT_NOTE = "The pages use **LeNet-5 on MNIST digits**, the default model, instead."


def _app(**params) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _errors(at) -> str:
    return " ".join(e.value for e in at.sidebar.error)


def _model(at):
    return at.session_state["cnnviz_ctx"].model


@pytest.fixture
def fresh_models():
    """No model an earlier test loaded answers from the server-wide cache (failures are never cached)."""
    shared_model.clear()
    yield
    shared_model.clear()


def test_a_damaged_zoo_weight_file_is_reported_and_the_default_used(tmp_path, monkeypatch, fresh_models):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    status = zoo.weight_status("resnet18")
    status.path.parent.mkdir(parents=True)
    status.path.write_bytes(b"the first bytes of an interrupted download" * 4)
    at = _app(model="resnet18")
    assert not at.exception, [e.value for e in at.exception]
    errors = _errors(at)
    assert f"Could not load **ResNet-18 (2015)**: {status.path} cannot be read as a weights-only PyTorch file" in errors
    assert DEFAULT_NOTE in errors
    assert _model(at).name == "lenet5-mnist"
    assert at.sidebar.selectbox(key="qp:model").value == "resnet18"  # the choice stays; it was not replaced


def test_an_unexpected_failure_is_logged_with_its_traceback_and_said_in_short(monkeypatch, caplog, fresh_models):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(zoo, "load_zoo", broken)
    with caplog.at_level(logging.ERROR, logger="cnnviz.ui"):
        at = _app(model="alexnet")
    assert not at.exception, [e.value for e in at.exception]
    errors = _errors(at)
    assert ("Could not load **AlexNet (2012)** (RuntimeError: the disk went away); the details are in the server "
            "log.") in errors and DEFAULT_NOTE in errors
    logged = [r for r in caplog.records if r.name == "cnnviz.ui" and r.exc_info]
    assert logged and logged[0].exc_info[0] is RuntimeError and "alexnet" in logged[0].getMessage()
    assert _model(at).name == "lenet5-mnist"


def test_uploaded_weights_that_do_not_fit_are_reported(lenet):
    state = {k: v.clone() for k, v in lenet.module.state_dict().items()}
    state["classifier.5.weight"] = torch.zeros(5, 84)
    buf = io.BytesIO()
    torch.save(state, buf)
    at = _app(model="upload")
    assert "Until a weight file loads, the pages use **LeNet-5 on MNIST digits**" in " ".join(
        i.value for i in at.sidebar.info)  # nothing uploaded yet: no error
    at.sidebar.file_uploader(key="upload_model").set_value(("five.pt", buf.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = _errors(at)
    assert "Could not load **five.pt**: the weights do not match lenet5 with 10 classes" in errors
    assert "classifier.5.weight: file (5, 84) vs model (10, 84)" in errors and DEFAULT_NOTE in errors
    assert _model(at).name == "lenet5-mnist"


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


def _onnx(size=(3, 224, 224)) -> bytes:
    buf = io.BytesIO()
    torch.onnx.export(_Tiny().eval(), (torch.zeros(1, *size),), buf, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return buf.getvalue()


def test_a_bad_onnx_file_is_reported_and_keeps_the_previous_onnx_model():
    garbage = ("garbage.onnx", b"this is not a protobuf" * 10, "application/octet-stream")
    at = _app(model="onnx")
    at.sidebar.file_uploader(key="onnx_file").set_value([garbage]).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = _errors(at)
    assert "Could not load **garbage.onnx**: garbage.onnx is not an ONNX file" in errors and DEFAULT_NOTE in errors
    assert _model(at).name == "lenet5-mnist"
    at.sidebar.file_uploader(key="onnx_file").set_value([("tiny.onnx", _onnx(), "application/octet-stream")]).run()
    assert not at.exception and not _errors(at) and _model(at).name == "tiny.onnx"
    at.sidebar.file_uploader(key="onnx_file").set_value([garbage]).run()
    errors = _errors(at)
    assert "garbage.onnx is not an ONNX file" in errors and "The pages keep using **tiny.onnx (ONNX)**." in errors
    assert _model(at).name == "tiny.onnx"


def test_a_broken_shown_model_is_reported_and_the_default_used(tmp_path, monkeypatch):
    path, meta = tmp_path / "mine.onnx", tmp_path / "meta.json"
    path.write_bytes(b"")  # cnnviz.show() wrote it, and something emptied it since
    meta.write_text(json.dumps({"name": "mine", "input_size": [3, 32, 32], "mean": [0.0] * 3, "std": [1.0] * 3,
                                "classes": ["a", "b"]}))
    monkeypatch.setenv(SHOW_MODEL_ENV, str(path))
    monkeypatch.setenv(SHOW_META_ENV, str(meta))
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    errors = _errors(at)
    assert "Could not load **mine (from your notebook)**: mine is empty" in errors and DEFAULT_NOTE in errors
    assert _model(at).name == "lenet5-mnist"
