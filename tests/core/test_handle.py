"""The model handle: preprocessing, normalisation, predictions, the layer table and the untrained twin."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.handle import ModelHandle

from ..conftest import SAMPLES


def _tiny(mean=(0.5,), std=(0.25,)) -> ModelHandle:
    """A 1x2x2 input, a 2x2 conv of ones (no bias, so its output is the sum of the input), two classes out."""
    conv = nn.Conv2d(1, 1, 2, bias=False)
    head = nn.Linear(1, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        head.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        head.bias.zero_()
    net = nn.Sequential(conv, nn.ReLU(inplace=True), nn.Flatten(), head)
    return ModelHandle("tiny", net, torch.device("cpu"), ["up", "down"], (1, 2, 2), mean, std, "tiny")


def test_a_new_handle_is_prepared_for_serving():
    m = _tiny()
    assert m.module.training is False
    assert not any(p.requires_grad for p in m.module.parameters())
    assert m.module[1].inplace is False  # in-place activations off
    assert m.key == "tiny|tiny|trained|" and m.title == "tiny" and m.grayscale and m.num_parameters == 4 + 2 + 2


def test_normalize_and_to_pixels_by_hand():
    m = _tiny(mean=(0.5,), std=(0.25,))
    pixels = torch.tensor([[[[0.0, 0.25], [0.5, 1.0]]]])
    x = m.normalize(pixels)
    torch.testing.assert_close(x, torch.tensor([[[[-2.0, -1.0], [0.0, 2.0]]]]))  # (p - 0.5) / 0.25
    torch.testing.assert_close(m.to_pixels(x), pixels)
    torch.testing.assert_close(m.to_pixels(torch.tensor([[[-3.0, 3.0]]])), torch.tensor([[[0.0, 1.0]]]))  # clipped
    # one image [C, H, W] and three channels with their own statistics
    rgb = ModelHandle("rgb", nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), torch.device("cpu"), ["a", "b"],
                      (3, 2, 2), (0.1, 0.2, 0.3), (0.5, 0.5, 1.0), "rgb")
    torch.testing.assert_close(rgb.normalize(torch.ones(3, 2, 2))[:, 0, 0], torch.tensor([1.8, 1.6, 0.7]))


def test_predict_is_the_softmax_of_the_hand_computed_logits():
    m = _tiny(mean=(0.0,), std=(1.0,))
    img = np.array([[64, 0], [0, 0]], np.uint8)  # pixel sum 64/255: logits (s, -s)
    s = 64 / 255
    up = math.exp(s) / (math.exp(s) + math.exp(-s))
    (top, p_top), (low, p_low) = m.predict(img, k=2)
    assert (top, low) == ("up", "down")
    assert p_top == pytest.approx(up, abs=1e-6) and p_low == pytest.approx(1 - up, abs=1e-6)
    assert m.predict(img, k=10) == m.predict(img, k=2)  # k beyond the classes gives them all
    torch.testing.assert_close(m.predict_batch(m.preprocess([img, img]), batch_size=1)[:, 0],
                               torch.tensor([up, up]))


def test_layer_table_of_the_tiny_net_by_hand():
    rows = _tiny().layers()
    assert [(r.name, r.type, r.output_shape, r.params, r.macs) for r in rows] == [
        ("0", "Conv2d", (1, 1, 1), 4, 4),  # one output x 4 products
        ("1", "ReLU", (1, 1, 1), 0, 0),
        ("2", "Flatten", (1,), 0, 0),
        ("3", "Linear", (2,), 4, 2)]
    assert rows[0].kernel == (2, 2) and rows[0].stride == (1, 1) and rows[0].padding == (0, 0)


def test_spatial_layers_by_hand():
    """A conv on a 4x4 map (3x3 out), a ReLU reused on it, a 3x3 conv down to one pixel, another ReLU call."""
    relu = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(1, 2, 2), relu, nn.Conv2d(2, 2, 3), relu, nn.Flatten(), nn.Linear(2, 2))
    m = ModelHandle("sp", net, torch.device("cpu"), ["a", "b"], (1, 4, 4), (0.0,), (1.0,), "sp")
    assert m.output_shapes() == {"0": (2, 3, 3), "1": (2, 3, 3), "2": (2, 1, 1), "4": (2,), "5": (2,)}
    assert m.spatial_layers() == ["0", "1"]  # the shared ReLU once, at its first call; a 1x1 map is no map
    assert m.spatial_layers(convs_only=True) == ["0"]


def test_spatial_layers_of_lenet(lenet):
    # conv 6x28x28, ReLU, pool 6x14x14, conv 16x10x10, ReLU, pool 16x5x5; then the flat classifier
    assert lenet.spatial_layers() == ["features.0", "features.1", "features.2", "features.3", "features.4",
                                      "features.5"]
    assert lenet.spatial_layers(convs_only=True) == ["features.0", "features.3"]


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


