"""ONNX as people export it today: torchvision classifiers through current torch's exporters, both of them.

The README's recipe (the default exporter: ``net.onnx`` + ``net.onnx.data``, opset 18+) and the older
TorchScript one (``dynamo=False``, one file, opset 20) are run here as written; each file loads and gives
the original module's probabilities.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import onnx
import pytest
import torch
import torchvision
from onnx import TensorProto, helper

import cnnviz
from cnnviz.core.onnx_import import OnnxError, load_onnx
from cnnviz.methods.attribution import grad_cam
from cnnviz.methods.network import network_graph

ROOT = Path(__file__).resolve().parents[2]
ARCHS = ("resnet18", "mobilenet_v3_small", "efficientnet_b0")
SIZE = (3, 224, 224)


def _readme_recipe() -> str:
    """The export line the README tells a user to type."""
    text = (ROOT / "README.md").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("torch.onnx.export(")]
    assert len(lines) == 1, lines
    return lines[0]


def _export(model: torch.nn.Module, path: Path, how: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "readme":  # as written, with `model` and the file name it uses
            recipe = _readme_recipe()
            exec(recipe.replace('"net.onnx"', repr(str(path))), {"torch": torch, "model": model})
        else:
            torch.onnx.export(model, torch.zeros(1, *SIZE), str(path), dynamo=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each architecture (random weights, seeded) exported both ways: {(arch, how): (path, module)}."""
    out = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, arch)(weights=None).eval()
        for how in ("readme", "torchscript"):
            folder = tmp_path_factory.mktemp(f"{arch}-{how}")
            _export(model, folder / "net.onnx", how)
            out[arch, how] = (folder / "net.onnx", model)
    return out


def test_the_readme_recipe_is_the_default_exporter():
    recipe = _readme_recipe()
    assert "dynamo" not in recipe and "opset" not in recipe  # what a user on current torch types


@pytest.mark.slow
def test_six_exports_load_and_give_the_modules_probabilities(exported):
    x = torch.rand(2, *SIZE)
    for (arch, how), (path, model) in exported.items():
        if how == "readme":  # the default exporter keeps the weights beside the graph, at opset 18 or newer
            assert (path.parent / "net.onnx.data").is_file(), arch
            assert max(o.version for o in onnx.load(path, load_external_data=False).opset_import if not o.domain) >= 18
        m = load_onnx(path, SIZE, device="cpu")
        with torch.inference_mode():
            got, want = m.module(x).softmax(1), model(x).softmax(1)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0, msg=f"{arch} ({how})")
        assert len(m.classes) == 1000


def test_resnet18_from_the_default_exporter_on_the_pages_methods(exported):
    path, model = exported["resnet18", "readme"]
    m = cnnviz.load_model(str(path), input_size=SIZE)  # load_model reads net.onnx.data from beside it
    # /network: the network's layers, none of the exporter's plumbing
    g = network_graph(m)
    ops = {n.op for n in g.nodes.values()}
    assert not {"OnnxConstant", "Constant", "Identity", "OnnxIdentity"} & ops, ops
    assert sum(n.op == "Conv2d" for n in g.nodes.values()) == 20  # ResNet-18: 17 convs + 3 downsample 1x1
    # receptive fields follow the graph: the last conv of ResNet-18 sees 435 px (Araujo et al., Distill 2019)
    rf = cnnviz.receptive_fields(m)
    assert max(f.size[0] for f in rf.values()) == 435
    # Grad-CAM on the converted graph equals Grad-CAM on the original module at the same layer
    x = torch.rand(1, *SIZE)
    w = cnnviz.wrap(model, SIZE, 1000)
    last_relu = [n for n in m.layer_names() if "relu" in n.lower()][-1]
    ours, ref = grad_cam(m, x, 3, layer=last_relu), grad_cam(w, x, 3, layer="layer4.1.relu#2")
    torch.testing.assert_close(ours.raw, ref.raw, atol=1e-5, rtol=1e-3)
    # /activations reads every layer
    assert len(m.activations(x)) >= 20


def test_the_pair_from_bytes_and_a_missing_data_file_named(exported):
    path, model = exported["mobilenet_v3_small", "readme"]
    graph, data = path.read_bytes(), (path.parent / "net.onnx.data").read_bytes()
    m = load_onnx(graph, SIZE, external={"net.onnx.data": data}, name="net.onnx", device="cpu")
    x = torch.rand(1, *SIZE)
    with torch.inference_mode():
        torch.testing.assert_close(m.module(x), model(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(OnnxError, match=r"'net\.onnx\.data', which did not come with it") as e:
        load_onnx(graph, SIZE, name="net.onnx")
    assert "not an ONNX file" not in str(e.value)
    with pytest.raises(OnnxError, match="do not belong together"):  # a truncated weights file
        load_onnx(graph, SIZE, external={"net.onnx.data": data[: len(data) // 2]}, name="net.onnx")
    lonely = path.parent.parent / "lonely"
    lonely.mkdir()
    (lonely / "net.onnx").write_bytes(graph)
    with pytest.raises(OnnxError, match=r"net\.onnx\.data"):
        cnnviz.load_model(str(lonely / "net.onnx"), input_size=SIZE)


def _model_with(node, opset: int, extra_init=()) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "k"])
    graph = helper.make_graph([node], "g", [x], [y], initializer=list(extra_init))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model.SerializeToString()


def test_an_operator_without_a_converter_is_named_with_its_opset_and_node():
    data = _model_with(helper.make_node("Hardmax", ["x"], ["y"], name="odd_layer", axis=-1), 17)
    with pytest.raises(OnnxError) as e:
        load_onnx(data, (1, 8, 8), name="odd.onnx")
    msg = str(e.value)
    assert re.search(r"Hardmax operator \(opset 13\) of node 'odd_layer'", msg), msg
    assert "cnnviz.wrap" in msg and "not an ONNX file" not in msg


def test_a_change_after_opset_17_that_cannot_be_lowered_is_named():
    roi = helper.make_tensor("roi", TensorProto.FLOAT, [0], [])
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], name="up", mode="linear", antialias=1)
    with pytest.raises(OnnxError, match=r"Resize operator \(opset 19\) of node 'up'.*antialiasing"):
        load_onnx(_model_with(node, 20, [roi, scales]), (1, 8, 8), name="up.onnx")


@pytest.mark.parametrize("opset", [13, 17, 18, 20, 21])
def test_reduce_mean_at_each_opset_equals_torch(opset):
    """ReduceMean took its axes as an attribute up to 17 and as an input from 18 on."""
    if opset >= 18:
        axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
        node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="gap", keepdims=0)
        data = _model_with(node, opset, [axes])
    else:
        data = _model_with(helper.make_node("ReduceMean", ["x"], ["y"], name="gap", axes=[2, 3], keepdims=0), opset)
    # a 1-channel "classifier" of one class: the mean of the image
    m = load_onnx(data, (1, 8, 8), name=f"mean{opset}.onnx", device="cpu")
    x = torch.rand(3, 1, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(m.module(x), x.mean(dim=(2, 3)))


def test_uploads_are_sorted_into_graph_and_weights():
    import io
    import zipfile

    from cnnviz.core.onnx_import import onnx_files

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("export/net.onnx", b"graph")
        z.writestr("export/net.onnx.data", b"weights")
        z.writestr("export/", b"")
    assert onnx_files({"both.zip": buf.getvalue()}) == ("net.onnx", b"graph", {"net.onnx.data": b"weights"})
    # an uploader's list: an earlier, refused upload, then the pair; the last .onnx is the graph
    assert onnx_files({"old.onnx": b"x", "net.onnx": b"graph", "net.onnx.data": b"w"})[:2] == ("net.onnx", b"graph")
    with pytest.raises(OnnxError, match=r"No \.onnx file among net\.onnx\.data"):
        onnx_files({"net.onnx.data": b"w"})
    with pytest.raises(OnnxError, match="not a zip file"):
        onnx_files({"both.zip": b"PK no"})
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("net.onnx", b"\0" * (301 * 2**20))  # 301 MiB of zeros, a few hundred KiB packed
    with pytest.raises(OnnxError, match="unpacks to more than 300 MiB"):
        onnx_files({"bomb.zip": bomb.getvalue()})
