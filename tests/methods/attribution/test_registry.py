"""The registry (cnnviz.methods.attribution): every method by key, default parameters, sign rules, and the
shared model left alone over many runs and threads."""
import gc
import tracemalloc

import pytest
import torch

import cnnviz
from cnnviz.methods.attribution import (
    METHODS,
    Attribution,
    attribute,
    default_params,
    grad_cam,
    guided_backprop,
    integrated_gradients,
    is_signed,
    saliency,
    signed_map,
)

from ...conftest import SAMPLES, run_in_threads
from .conftest import hook_count


@pytest.mark.parametrize("digit", range(10))
def test_lenet_predicts_bundled_digits_and_explains_them(lenet, digit):
    img = cnnviz.load_image(SAMPLES / f"digit-{digit}.png")
    assert lenet.predict(img, k=1)[0][0] == str(digit)
    a = attribute(lenet, img, "gradcam")
    assert a.target == digit and a.map.shape == (28, 28)


def test_every_method_runs_and_is_on_the_device(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    for key in METHODS:
        a = attribute(lenet, img, key, **({"steps": 8} if key == "ig" else {}))
        assert isinstance(a, Attribution) and a.map.shape == (28, 28) and a.map.device.type == lenet.device.type
        assert torch.isfinite(a.map).all() and 0 <= float(a.heat().min()) and float(a.heat().max()) <= 1
        assert a.method == key


def test_unknown_method_and_layer_for_a_method_without_one(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(ValueError, match="unknown method"):
        attribute(lenet, x, "lime")
    # a layer passed to a method that takes none is dropped, not an error (the comparison grid passes one to all)
    assert torch.equal(attribute(lenet, x, "saliency", 7, layer="features.3").map, saliency(lenet, x, 7).map)


def test_signed_methods_are_drawn_signed(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-4.png"))
    ig = integrated_gradients(lenet, x, 4, steps=8)
    assert torch.equal(signed_map(ig), ig.raw.sum(0)) and float(signed_map(ig).min()) < 0 <= float(ig.map.min())
    dl = attribute(lenet, x, "deeplift", 4)
    assert torch.equal(signed_map(dl), dl.map) and float(dl.map.min()) < 0 < float(dl.map.max())
    assert [k for k in METHODS if is_signed(k)] == ["ig", "occlusion", "deeplift", "gradientshap"]
    assert not is_signed("gradcam") and torch.equal(signed_map(s := saliency(lenet, x, 4)), s.map)


def test_default_params(lenet, resnet18_untrained):
    # LeNet (28 px): patch 28 // 7 = 4, stride 28 // 14 = 2; ResNet-18 (224 px): 32 and 16
    assert default_params(lenet, "occlusion") == {"patch": 4, "stride": 2}
    assert default_params(resnet18_untrained, "occlusion") == {"patch": 32, "stride": 16}
    assert default_params(lenet, "gradcam") == {"layer": "features.3"} == default_params(lenet, "guided_gradcam")
    assert all(default_params(lenet, k) == {"layer": "features.3"} for k, s in METHODS.items() if s.uses_layer)
    assert default_params(lenet, "saliency") == {} and default_params(lenet, "ig") == {"steps": 16}


def test_hooks_released_and_memory_bounded_over_100_repeats(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    runs = {
        "gradcam": lambda: grad_cam(lenet, x, None),
        "guided": lambda: guided_backprop(lenet, x, 7),
        "saliency": lambda: saliency(lenet, x, 7),
        "activations": lambda: lenet.activations(x),
    }
    for name, fn in runs.items():
        for _ in range(5):  # warm caches (traced extractor, autograd) before measuring
            fn()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        objs = len(gc.get_objects())
        for _ in range(100):
            fn()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert hook_count(lenet.module) == 0, name
        assert grown < 200_000, f"{name}: {grown} bytes kept after 100 runs"
        assert len(gc.get_objects()) - objs < 500, name


def test_threads_match_serial_results(small_vgg):
    imgs = [cnnviz.load_image(SAMPLES / p)
            for p in ("fashion-bag.png", "fashion-coat.png", "fashion-sneaker.png", "fashion-dress.png")]
    xs = [small_vgg.preprocess(i) for i in imgs]
    jobs = [(k, j) for k in ("gradcam", "saliency", "guided") for j in range(len(xs))]

    def run(key, j):
        if key == "gradcam":
            return grad_cam(small_vgg, xs[j], None).map
        if key == "saliency":
            return saliency(small_vgg, xs[j], 0).map
        return guided_backprop(small_vgg, xs[j], 1).map

    serial = {job: run(*job) for job in jobs}
    results = {}

    def worker(i):
        for job in jobs[i::8] + jobs[(i + 3) % len(jobs)::5]:
            results.setdefault(job, []).append(run(*job))

    errors = run_in_threads(worker, 8)
    assert not errors, errors
    assert set(results) == set(jobs)
    for job, outs in results.items():
        for o in outs:
            assert torch.allclose(o, serial[job], atol=1e-6), job
    assert hook_count(small_vgg.module) == 0


def test_the_old_names_stay_importable():
    """cnnviz's top-level names and the page's imports read the package as they read the module."""
    from cnnviz.methods import attribution as at

    for name in ("attribute", "saliency", "smoothgrad", "integrated_gradients", "grad_cam", "guided_grad_cam",
                 "occlusion", "LayerGradients"):
        assert getattr(cnnviz, name) is getattr(at, name)
    for name in ("AttributionError", "resolve_target", "cam_from", "deconvnet", "deeplift", "gradient_shap",
                 "default_cam_layer", "occlusion_positions", "rank_correlation", "MethodSpec"):
        assert hasattr(at, name), name
