"""The foundation: bundled models, the zoo, your own weights, the public API."""
import io
import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import cnnviz
from cnnviz.core import zoo as zoo
from cnnviz.core.datasets import load_dataset
from cnnviz.core.model import ModelFileError, read_state_dict

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


def test_predict_reads_bundled_digit_pngs(lenet):
    for d in range(10):
        label, p = lenet.predict(cnnviz.load_image(SAMPLES / f"digit-{d}.png"), k=1)[0]
        assert label == str(d) and p > 0.5


def test_predict_is_softmax_of_logits(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-3.png")
    probs = torch.softmax(lenet.module(lenet.preprocess(img)), 1)[0]
    top = lenet.predict(img, k=3)
    assert [c for c, _ in top] == [lenet.classes[i] for i in probs.topk(3).indices.tolist()]
    assert sum(p for _, p in lenet.predict(img, k=10)) == pytest.approx(1.0, abs=1e-5)


def test_preprocess_normalises_by_hand(lenet):
    arr = np.zeros((28, 28), np.uint8)
    arr[10, 12] = 255
    x = lenet.preprocess(cnnviz.load_image(arr))
    assert x.shape == (1, 1, 28, 28) and x.device == lenet.device
    bg = (0 - 0.1307) / 0.3081
    assert x[0, 0, 0, 0].item() == pytest.approx(bg, rel=1e-5)
    assert x[0, 0, 10, 12].item() == pytest.approx((1 - 0.1307) / 0.3081, rel=1e-5)
    assert lenet.deprocess(x)[10, 12] == 255 and lenet.deprocess(x)[0, 0] == 0


def test_digit_photographed_dark_on_light_is_inverted(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    inverted = cnnviz.load_image(255 - np.asarray(img))
    assert torch.allclose(lenet.preprocess(img), lenet.preprocess(inverted))


def test_imagenet_preprocess_resizes_and_centre_crops(resnet18_untrained):
    m = resnet18_untrained
    img = cnnviz.load_image(np.full((300, 600, 3), 255, np.uint8))
    prepared = m.prepare_image(img)
    assert prepared.size == (224, 224)
    x = m.preprocess(img)
    expected = (1 - torch.tensor(m.mean)) / torch.tensor(m.std)
    assert torch.allclose(x[0, :, 100, 100].cpu(), expected, atol=1e-5)


def test_layers_table_lenet_by_hand(lenet):
    rows = {r.name: r for r in lenet.layers()}
    assert rows["features.0"].output_shape == (6, 28, 28)
    assert rows["features.0"].params == 6 * 25 + 6
    assert rows["features.0"].macs == 28 * 28 * 6 * 25
    assert rows["features.3"].output_shape == (16, 10, 10)
    assert rows["features.3"].macs == 10 * 10 * 16 * 6 * 25
    assert rows["features.5"].output_shape == (16, 5, 5)
    assert rows["classifier.1"].macs == 400 * 120
    assert sum(r.params for r in lenet.layers()) == lenet.num_parameters == 61706


def test_activations_match_manual_forward(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-5.png")
    acts = lenet.activations(img)
    x = lenet.preprocess(img)
    conv = lenet.module.features[0](x)
    assert torch.allclose(acts["features.0"], conv)
    assert torch.allclose(acts["features.1"], torch.relu(conv))
    assert all(not h for mod in lenet.module.modules() for h in (mod._forward_hooks,))


def test_inplace_relu_does_not_corrupt_preactivation(resnet18_untrained):
    m = resnet18_untrained
    img = cnnviz.load_image(SAMPLES / "photo-cat.jpg")
    acts = m.activations(img, layers=["bn1", "relu"])
    assert (acts["bn1"] < 0).any(), "pre-activation keeps its negative values"
    assert torch.allclose(acts["relu"], acts["bn1"].clamp_min(0))
    assert m.module.relu.inplace is False, "in-place activations are switched off once, at load"


def test_unknown_layer_message(lenet):
    with pytest.raises(KeyError, match="layer_names"):
        lenet.activations(cnnviz.load_image(SAMPLES / "digit-1.png"), layers=["nope"])


def test_untrained_twin_differs_and_is_labelled(lenet):
    u = lenet.untrained()
    assert not u.trained and "UNTRAINED" in u.title
    assert not torch.equal(u.module.features[0].weight, lenet.module.features[0].weight)
    assert lenet.untrained() is u  # built once
    assert torch.equal(u.module.features[0].weight, lenet._make_untrained().module.features[0].weight)  # seeded


# --------------------------------------------------------------------------- zoo

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


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_code_is_refused(capsys):
    data = pickle.dumps({"w": _Evil()})
    with pytest.raises(ModelFileError, match="weights-only"):
        read_state_dict(data, "evil.pt")
    buf = io.BytesIO()
    torch.save({"model": nn.Linear(2, 2)}, buf)  # a whole pickled module
    with pytest.raises(ModelFileError):
        read_state_dict(buf.getvalue(), "module.pt")
    assert "pwned" not in capsys.readouterr().out


def test_garbage_and_empty_weight_files():
    with pytest.raises(ModelFileError, match="empty"):
        read_state_dict(b"", "x.safetensors")
    with pytest.raises(ModelFileError):
        read_state_dict(b"\x00" * 64, "x.safetensors")


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
    wa, wb = load_file(str(tmp_path / "a" / "lenet5-mnist.safetensors")), load_file(str(tmp_path / "b" / "lenet5-mnist.safetensors"))
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
