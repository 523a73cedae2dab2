"""Any architecture without running its code: ONNX from bytes, wrap(), show(), and refusing pickles."""
from __future__ import annotations

import io
import os
import pickle

import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.model import ModelFileError, read_state_dict
from cnnviz.core.onnx_import import OnnxError, load_onnx, parse_class_names
from cnnviz.methods.attribution import grad_cam


class StudentNet(nn.Module):
    """A CNN defined only here (not in the zoo), with a depthwise conv and a residual add."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pointwise = nn.Conv2d(8, 12, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(12, 4)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = y + torch.relu(self.depthwise(y))  # residual add
        y = torch.relu(self.pointwise(y))
        return self.head(self.pool(y).flatten(1))


def _export(net: nn.Module, size=(3, 32, 32)) -> bytes:
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(1, *size),), buf, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return StudentNet().eval()


@pytest.fixture(scope="module")
def onnx_bytes(student):
    return _export(student)


CLASSES = ["ant", "bee", "cat", "dog"]


def test_onnx_from_bytes_predicts_like_the_module(student, onnx_bytes):
    m = load_onnx(onnx_bytes, (3, 32, 32), mean=(0.5,), std=(0.25,), classes=CLASSES, name="student.onnx")
    x = torch.randn(5, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(m.logits(x), student(x), atol=1e-4, rtol=1e-4)
    assert m.classes == CLASSES and m.mean == (0.5, 0.5, 0.5) and m.source == "onnx"
    # the layers keep the ONNX node names; the convs are real Conv2d layers the pages can use
    assert m.conv_layer_names() == ["stem/Conv", "depthwise/Conv", "pointwise/Conv"]
    acts = m.activations(x[:1])
    assert {"stem/Conv", "depthwise/Conv", "Add"} <= set(acts)


def test_grad_cam_on_onnx_matches_the_original(student, onnx_bytes):
    m = load_onnx(onnx_bytes, (3, 32, 32), classes=CLASSES)
    w = cnnviz.wrap(student, (3, 32, 32), CLASSES)
    x = torch.randn(1, 3, 32, 32)
    ours, ref = grad_cam(m, x, 2, layer="pointwise/Conv"), grad_cam(w, x, 2, layer="pointwise")
    torch.testing.assert_close(ours.raw, ref.raw, atol=1e-5, rtol=1e-4)
    assert ours.raw.max() > 0


def test_wrap_copies_and_freezes_a_copy(student):
    w = cnnviz.wrap(student, (3, 32, 32), 4, mean=(0.1, 0.2, 0.3), std=(1, 1, 1), name="mine")
    assert w.module is not student and not any(p.requires_grad for p in w.module.parameters())
    assert all(p.requires_grad for p in student.parameters()), "your own module stays trainable"
    assert w.classes == ["0", "1", "2", "3"] and w.predict(torch.zeros(3, 32, 32), k=2)[0][0] in w.classes
    with pytest.raises(ModelFileError, match="4 outputs"):
        cnnviz.wrap(student, (3, 32, 32), 7)


def test_bad_onnx_files_are_refused_with_a_reason(onnx_bytes, tmp_path):
    with pytest.raises(OnnxError, match="not an ONNX file"):
        load_onnx(b"\x89PNG not a model", (3, 32, 32))
    with pytest.raises(OnnxError, match="empty"):
        load_onnx(b"", (3, 32, 32))
    fixed = _export(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 30 * 30, 3)).eval())
    with pytest.raises(OnnxError, match=r"expects 32 input height, not 7: set the input size to \(3, 32, 32\)"):
        load_onnx(fixed, (3, 7, 7))
    with pytest.raises(OnnxError, match="class names given"):
        load_onnx(onnx_bytes, (3, 32, 32), classes=["a", "b"])
    with pytest.raises(OnnxError, match="expects 3 input channels"):
        load_onnx(onnx_bytes, (1, 32, 32))
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:
        f.truncate(301 * 2**20)  # sparse: the size is checked before anything is read
    with pytest.raises(OnnxError, match="limit"):
        load_onnx(big, (3, 32, 32))
    assert parse_class_names(" a \n\nb\n") == ["a", "b"]


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['CNNVIZ_PAYLOAD_MARKER']}",))


def test_crafted_pickle_and_pt2_are_refused_and_never_run(tmp_path, monkeypatch):
    marker = tmp_path / "payload-ran"
    monkeypatch.setenv("CNNVIZ_PAYLOAD_MARKER", str(marker))
    buf = io.BytesIO()
    torch.save({"weight": _Payload()}, buf)  # a .pt whose unpickling would run a shell command
    with pytest.raises(ModelFileError, match="refused"):
        read_state_dict(buf.getvalue(), "evil.pt")
    raw = pickle.dumps(_Payload())
    with pytest.raises(ModelFileError):
        read_state_dict(raw, "evil.pkl")
    # a torch.export program: loading it unpickles, so it needs trust_code=True and is no upload format
    prog = tmp_path / "evil.pt2"
    prog.write_bytes(b"PK\x03\x04" + raw)
    with pytest.raises(ModelFileError, match="trust_code=True"):
        cnnviz.load_model(str(prog), input_size=(3, 32, 32))
    with pytest.raises(ModelFileError):
        read_state_dict(prog.read_bytes(), "evil.pt2")
    assert not marker.exists(), "the payload ran"


def test_load_model_takes_onnx_files(onnx_bytes, tmp_path):
    path = tmp_path / "student.onnx"
    path.write_bytes(onnx_bytes)
    m = cnnviz.load_model(str(path), input_size=(3, 32, 32), mean=(0.5,), std=(0.5,), classes=4)
    assert m.name == "student.onnx" and len(m.classes) == 4
    with pytest.raises(ModelFileError, match="input_size"):
        cnnviz.load_model(str(path))
