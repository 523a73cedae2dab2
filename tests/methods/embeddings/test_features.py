"""cnnviz.methods.embeddings.features: which layers, pooling, extraction equal to the model's own activations,
and the shared cache of features."""
import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.core.runtime import ResultCache
from cnnviz.errors import CnnvizError, LayerError
from cnnviz.methods.embeddings import EmbeddingError, FeaturesTooLarge, knn_accuracy, load_points
from cnnviz.methods.embeddings import features as ef
from cnnviz.methods.embeddings.features import (
    PIXELS,
    cached_features,
    comparison_layers,
    extract_features,
    extract_layers,
    feature_layers,
    input_batch,
    layer_shapes,
    penultimate_layer,
    pool_features,
    pooled_side,
)


def test_pool_features_hand_worked():
    t = torch.arange(32.0).view(1, 2, 4, 4)
    v, how = pool_features(t, "avg")
    assert how == "avg" and v.tolist() == [[7.5, 23.5]]  # means of 0..15 and 16..31
    v, how = pool_features(t, "flatten")
    assert how == "flatten" and v.shape == (1, 32) and v[0, 5].item() == 5.0
    v, how = pool_features(t, "auto")  # 32 values <= 4096: flattened
    assert how == "flatten" and v.shape == (1, 32)
    v, how = pool_features(torch.zeros(1, 300, 8, 8), "auto")  # 19200 > 4096: s = isqrt(4096 // 300) = 3
    assert how == "avg3x3" and v.shape == (1, 2700)
    assert pooled_side(5000, 2, 2, "auto") == ("avg", 1)  # 5000 channels: even 1 x 1 is over; s stays 1
    with pytest.raises(EmbeddingError, match="pooling must be one of"):
        pool_features(t, "max")


def test_lenet_layers_and_comparison_defaults(lenet):
    names = feature_layers(lenet)
    assert names[0] == PIXELS and "features.0" in names and "classifier.5" in names
    assert "classifier.0" not in names  # Flatten repeats its input
    assert comparison_layers(lenet) == [PIXELS, "features.2", "features.5", "classifier.4"]
    assert penultimate_layer(lenet) == "classifier.4"
    shapes = layer_shapes(lenet)
    assert list(shapes) == names
    # 1x28x28 -> conv 5x5 pad 2 (6x28x28) -> pool 2 (6x14x14) -> conv 5x5 (16x10x10) -> pool 2 (16x5x5)
    assert shapes[PIXELS] == (1, 28, 28) and shapes["features.2"] == (6, 14, 14) and shapes["features.5"] == (16, 5, 5)


def test_comparison_layers_of_a_model_that_calls_a_module_twice(resnet18_untrained):
    # each ReLU of a basic block runs twice ('relu' inside, 'relu#2' the block's output): the defaults were a
    # KeyError before. resnet18: one pooling layer (maxpool) before avgpool, so the block ends come from the 18
    # activations and max-pool before avgpool: early = 6th (ceil(18 / 3)), middle = 12th (ceil(36 / 3))
    assert comparison_layers(resnet18_untrained) == [PIXELS, "layer1.1.relu#2", "layer3.0.relu#2", "avgpool"]
    assert set(comparison_layers(resnet18_untrained)) <= set(feature_layers(resnet18_untrained))


def test_extraction_equals_model_activations(lenet):
    pts = load_points("mnist", "test", 40, seed=3)
    x = lenet.preprocess([Image.fromarray(a) for a in pts.images])
    ref = lenet.activations(x, ["features.3", "classifier.4"])
    for layer in ("features.3", "classifier.4"):
        f = extract_features(lenet, pts.images, layer, "flatten", batch_size=16)
        assert f.values.device == lenet.device and f.values.shape == (40, ref[layer][0].numel())
        torch.testing.assert_close(f.values, ref[layer].reshape(40, -1), rtol=1e-5, atol=1e-5)
    pix = extract_features(lenet, pts.images, PIXELS, batch_size=7)
    torch.testing.assert_close(pix.values, x.reshape(40, -1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pix.predictions, lenet.predict_batch(x).argmax(1))
    avg = extract_features(lenet, pts.images, "features.3", "avg")
    torch.testing.assert_close(avg.values, ref["features.3"].mean((2, 3)), rtol=1e-5, atol=1e-5)
    both = extract_layers(lenet, pts.images, ["classifier.4", PIXELS, "features.3"], "flatten", batch_size=16)
    assert list(both) == ["classifier.4", PIXELS, "features.3"]
    torch.testing.assert_close(both["features.3"].values, ref["features.3"].reshape(40, -1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(both[PIXELS].values, x.reshape(40, -1), rtol=1e-5, atol=1e-5)


def test_input_batch_normalises_by_hand(lenet):
    # the fast path for arrays of the network's size: (pixel / 255 - mean) / std, worked out here
    a = np.array([[[0, 255], [51, 102]]], np.uint8).repeat(14, 1).repeat(14, 2)  # [1, 28, 28]
    x = input_batch(lenet, a, 0, 1)
    mean, std = lenet.mean[0], lenet.std[0]
    assert x.shape == (1, 1, 28, 28)
    assert x[0, 0, 0, 0].item() == pytest.approx((0 - mean) / std, abs=1e-5)
    assert x[0, 0, 0, 27].item() == pytest.approx((1 - mean) / std, abs=1e-5)
    assert x[0, 0, 27, 0].item() == pytest.approx((0.2 - mean) / std, abs=1e-5)


def test_extraction_releases_hooks_and_rejects_unknown_layer(lenet):
    for _ in range(5):
        extract_features(lenet, load_points("mnist", "test", 8).images, "features.1")
    assert all(not m._forward_hooks for m in lenet.module.modules())
    with pytest.raises(KeyError, match="feature_layers"):
        extract_features(lenet, load_points("mnist", "test", 8).images, "nope")
    with pytest.raises(LayerError, match="not in model"):
        extract_features(lenet, load_points("mnist", "test", 8).images, "nope")
    with pytest.raises(EmbeddingError, match="no images"):
        extract_features(lenet, np.zeros((0, 28, 28), np.uint8), "features.1")


def test_too_many_features_are_refused_before_they_are_held(lenet, monkeypatch):
    monkeypatch.setattr(ef, "MAX_FEATURE_BYTES", 10 * 84 * 4 - 1)  # 10 images x 84 values of float32, less 1 byte
    images = load_points("mnist", "test", 10).images
    with pytest.raises(FeaturesTooLarge, match="pooling 'avg'") as e:
        extract_features(lenet, images, "classifier.4")
    assert isinstance(e.value, MemoryError) and isinstance(e.value, CnnvizError)
    assert extract_features(lenet, images[:9], "classifier.4").values.shape == (9, 84)  # 9 x 84 x 4 fits


def test_trained_features_separate_digits_better_than_pixels(lenet):
    pts = load_points("mnist", "test", 400, seed=1)
    acc = {n: knn_accuracy(extract_features(lenet, pts.images, n).values, pts.labels) for n in (PIXELS, "classifier.4")}
    assert acc["classifier.4"] > 0.95 and acc["classifier.4"] > acc[PIXELS] + 0.02


def test_cached_features_one_pass_for_the_missing_layers(lenet, monkeypatch):
    calls = []
    real = ef.extract_layers
    monkeypatch.setattr(ef, "extract_layers",
                        lambda m, im, layers, *a, **kw: calls.append(list(layers)) or real(m, im, layers, *a, **kw))
    c, imgs = ResultCache(10), load_points("mnist", "test", 20).images
    f = cached_features(c, lenet, "k", imgs, "classifier.4", also=["pixels", "classifier.4", "features.2"])
    assert calls == [["classifier.4", "pixels", "features.2"]] and f.values.shape == (20, 84)
    assert cached_features(c, lenet, "k", imgs, "pixels") is c.get((lenet.key, "k", "pixels", "auto"))
    cached_features(c, lenet, "k", imgs, "features.5", also=["pixels"])
    assert calls[1:] == [["features.5"]]  # pixels were cached: not extracted again
    ref = extract_features(lenet, imgs, "features.2")
    assert torch.allclose(c.get((lenet.key, "k", "features.2", "auto")).values, ref.values)


def test_result_cache_computes_once_and_evicts():
    c, calls = ResultCache(2), []

    def value(v):
        return lambda: calls.append(v) or v

    assert c.get_or_compute("a", value(1)) == 1 and c.get_or_compute("a", value(99)) == 1
    c.get_or_compute("b", value(2))
    c.get_or_compute("c", value(3))  # evicts "a" (least recently used)
    assert "a" not in c and "b" in c and calls == [1, 2, 3]
