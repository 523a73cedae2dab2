"""Loading models: bundled ones, the zoo, your own weights, the dispatch of load_model, the public API.

The handle itself is tested in test_handle.py, weight files in test_weights.py, architectures in
test_architectures.py."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import cnnviz
from cnnviz.core import zoo as zoo
from cnnviz.core.architectures import architecture
from cnnviz.core.datasets import load_dataset
from cnnviz.core.model import ModelFileError
from cnnviz.core.weights import MissingWeightsError

from ..conftest import SAMPLES


def evaluate(module, x, y, device) -> float:
    """Test accuracy worked out here, batch by batch (independent of the trainer's own evaluation)."""
    right = 0
    with torch.inference_mode():
        for i in range(0, len(x), 500):
            right += int((module(x[i:i + 500].to(device)).argmax(1).cpu() == y[i:i + 500]).sum())
    return right / len(x)


@pytest.mark.parametrize("name,threshold", [("lenet5-mnist", 0.97), ("small-vgg-fashion", 0.88)])
def test_shipped_checkpoint_meets_its_accuracy(name, threshold):
    m = cnnviz.load_model(name)
    ds = load_dataset(m.dataset, "test")
    x = torch.stack([m.image_to_tensor(img) for img in ds.images])
    acc = evaluate(m.module, x, torch.from_numpy(ds.labels), m.device)
    card = json.loads((zoo.MODELS_DIR / f"{name}.json").read_text())
    assert acc >= threshold
    assert acc == pytest.approx(card["test_accuracy"], abs=2e-4)  # the card tells the truth
    assert m.module.training is False


# --------------------------------------------------------------------------- zoo

@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_weight_status_names_torchvisions_own_weights_url(name, tmp_path, monkeypatch):
    """The sidebar reads the weight file name from ZOO, without importing torchvision.models; it is the enum's."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = zoo.zoo_weights(name).url
    st = zoo.weight_status(name)
    assert st.url == url and st.path == tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]


def test_the_sidebar_does_not_import_torchvision():
    """A fresh server's first request on a page that needs no torchvision does not pay for importing it."""
    code = ("import sys, cnnviz.ui.sidebar as s, cnnviz.core.zoo as z; [z.weight_status(n) for n in z.ZOO]; "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr

def test_zoo_without_weights_is_untrained_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    m = cnnviz.load_model("mobilenet_v3_small")
    assert not m.trained
    st = zoo.weight_status("mobilenet_v3_small")
    assert st.url in m.card["weight_status"] and str(st.path) in m.card["weight_status"]
    assert len(m.classes) == 1000 and m.classes[0] == "tench"


def test_zoo_loads_weights_from_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    st = zoo.weight_status("resnet18")
    assert st.path.parent == tmp_path / "hub" / "checkpoints" and not st.available
    ref = zoo.build_zoo_module("resnet18", for_weights=True)
    with torch.no_grad():
        ref.fc.bias.fill_(0.25)
    st.path.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), st.path)
    m = cnnviz.load_model("resnet18")
    assert m.trained and zoo.weight_status("resnet18").available
    assert torch.equal(m.module.fc.bias.cpu(), torch.full((1000,), 0.25))


def test_googlenet_cache_weights_with_aux_heads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    st = zoo.weight_status("googlenet")
    st.path.parent.mkdir(parents=True)
    torch.save(zoo.build_zoo_module("googlenet", for_weights=True).state_dict(), st.path)
    m = cnnviz.load_model("googlenet")
    assert m.trained and m.module.aux1 is None
    assert m.logits(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


# --------------------------------------------------------------------------- your own weights

def _lenet_state():
    return {k: v.clone() for k, v in cnnviz.load_model("lenet5-mnist").module.state_dict().items()}


def test_own_safetensors_roundtrip(tmp_path):
    state = _lenet_state()
    path = tmp_path / "mine.safetensors"
    save_file(state, str(path))
    m = cnnviz.load_model(str(path), architecture="lenet5-mnist")
    assert m.source == "upload" and m.trained
    assert m.predict(cnnviz.load_image(SAMPLES / "digit-4.png"), k=1)[0][0] == "4"


def test_own_pt_state_dict_with_other_class_count():
    state = {k: v for k, v in cnnviz.load_model("resnet18", untrained=True).module.state_dict().items()}
    state["fc.weight"] = torch.randn(7, 512)
    state["fc.bias"] = torch.zeros(7)
    buf = io.BytesIO()
    torch.save(state, buf)
    m = cnnviz.load_model("resnet18", weights=buf.getvalue(), weights_name="seven.pt", num_classes=7)
    assert len(m.classes) == 7 and m.logits(torch.zeros(1, 3, 224, 224)).shape == (1, 7)


def test_wrong_weights_are_refused_with_reasons():
    state = _lenet_state()
    del state["features.0.bias"]
    state["extra.weight"] = torch.zeros(1)
    state["classifier.5.weight"] = torch.zeros(5, 84)
    buf = io.BytesIO()
    torch.save(state, buf)
    with pytest.raises(ModelFileError) as e:
        cnnviz.load_model("lenet5-mnist", weights=buf.getvalue(), weights_name="bad.pt")
    msg = str(e.value)
    assert "missing keys" in msg and "features.0.bias" in msg
    assert "unexpected keys" in msg and "extra.weight" in msg
    assert "wrong shapes" in msg and "classifier.5.weight" in msg and "(5, 84)" in msg


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ValueError, match="lenet5-mnist"):
        cnnviz.load_model("nonexistent")


# --------------------------------------------------------------------------- device, training

def test_device_override(monkeypatch):
    monkeypatch.setenv("CNNVIZ_DEVICE", "cpu")
    assert cnnviz.pick_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("CNNVIZ_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="CNNVIZ_DEVICE"):
            cnnviz.pick_device()


def test_training_is_reproducible(tmp_path):
    from safetensors.torch import load_file

    from cnnviz.methods.training import train

    a = train("lenet5-mnist", epochs=1, seed=3, out_dir=tmp_path / "a", limit=512, device="cpu")
    b = train("lenet5-mnist", epochs=1, seed=3, out_dir=tmp_path / "b", limit=512, device="cpu")
    wa = load_file(str(tmp_path / "a" / "lenet5-mnist.safetensors"))
    wb = load_file(str(tmp_path / "b" / "lenet5-mnist.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["test_accuracy"] == b["test_accuracy"] > 0.15  # better than chance after one short epoch


def test_bundled_data_split_is_fixed_and_disjoint():
    tr, te = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert len(tr) == 8000 and len(te) == 2000
    assert np.bincount(te.labels, minlength=10).min() > 150
    f = load_dataset("fashion-mnist", "test")
    assert len(f) == 3000 and np.bincount(f.labels).tolist() == [300] * 10


def test_unknown_architecture_lists_the_known_ones(tmp_path):
    from safetensors.torch import save_file

    from cnnviz.core.model import UnknownModelError

    m = cnnviz.load_model("lenet5-mnist")
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in m.module.state_dict().items()}, str(path))
    with pytest.raises(UnknownModelError) as e:
        cnnviz.load_model(str(path), architecture="lenet-7")
    msg = str(e.value)
    assert "unknown architecture 'lenet-7'" in msg and "lenet5" in msg and "resnet18" in msg
    assert isinstance(e.value, cnnviz.CnnvizError)
    # the bundled network's own architecture name works, and gives the same predictions
    own = cnnviz.load_model(str(path), architecture="lenet5")
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(own.logits(x), m.logits(x))
    with pytest.raises(UnknownModelError, match="Known: lenet5-mnist"):
        cnnviz.load_model("no-such-model")


# --------------------------------------------------------------------------- the dispatch and the module layout

def test_a_weight_file_goes_to_the_model_its_architecture_names(tmp_path):
    net = architecture("small-vgg").build(3)
    with torch.no_grad():
        net.classifier[2].bias.copy_(torch.tensor([0.5, -0.5, 0.25]))
    path = tmp_path / "three.pt"
    torch.save(net.state_dict(), path)
    m = cnnviz.load_model(str(path), architecture="small-vgg", num_classes=3)
    # small-vgg-fashion's loader: its input and normalisation, the file's classes, no data set of its own
    assert (m.input_size, m.mean, m.std) == ((1, 28, 28), (0.2860,), (0.3530,))
    assert m.classes == ["0", "1", "2"] and m.source == "upload" and m.dataset is None
    assert m.card["title"] == "small-vgg (three.pt)"
    x = torch.randn(2, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(m.logits(x), net.eval()(x))
    with pytest.raises(ModelFileError, match="input_size"):  # the suffix picks the loader, in any case
        cnnviz.load_model(str(tmp_path / "NET.ONNX"))


def test_missing_bundled_weights_say_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "MODELS_DIR", tmp_path)
    with pytest.raises(MissingWeightsError, match="python -m cnnviz.train lenet5-mnist") as e:
        cnnviz.load_model("lenet5-mnist")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, cnnviz.CnnvizError)
    assert not cnnviz.load_model("lenet5-mnist", untrained=True).trained  # random weights need no file


def test_model_keeps_the_names_it_had():
    from cnnviz.core import architectures, handle, model, onnx_import, weights

    assert model.ModelHandle is handle.ModelHandle and model.LayerInfo is handle.LayerInfo
    assert (model.read_state_dict, model.load_state_into, model.weights_digest) == (
        weights.read_state_dict, weights.load_state_into, weights.weights_digest)
    assert model.ModelFileError is weights.ModelFileError and issubclass(onnx_import.OnnxError, model.ModelFileError)
    assert model.UnknownModelError is architectures.UnknownModelError
    assert model.resolve_architecture("lenet5") == "lenet5-mnist"
    assert all(hasattr(model, n) for n in model.__all__)

