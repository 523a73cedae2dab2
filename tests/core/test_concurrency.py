"""One shared ModelHandle serves every browser session: concurrent requests must give exactly
the results of a single-threaded run, and leave no hooks behind."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.methods.attribution import grad_cam


def _images(n: int, size: int, mode: str, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    return [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode) for _ in range(n)]


def _no_hooks_left(module: torch.nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in module.modules())


def _inplace_flags(module: torch.nn.Module) -> list[bool]:
    return [m.inplace for m in module.modules() if hasattr(m, "inplace")]


def _input_gradient(model, img) -> torch.Tensor:
    """Gradient saliency by hand: autograd w.r.t. the input through the shared module."""
    x = model.preprocess(img).requires_grad_(True)
    module = model.module
    out = module(x)
    (g,) = torch.autograd.grad(out[0, out[0].argmax()], x)
    return g


def _run_all(model, imgs, layers, workers: int):
    """Every image through predict, activations, an input gradient and Grad-CAM; results in request order."""
    def job(i):
        kind = i % 4
        img = imgs[i]
        if kind == 0:
            return model.predict(img, k=3)
        if kind == 1:
            return {k: v.clone() for k, v in model.activations(img, layers).items()}
        if kind == 2:
            return _input_gradient(model, img)
        return grad_cam(model, img).raw

    if workers == 1:
        return [job(i) for i in range(len(imgs))]
    start = threading.Barrier(workers)

    def gated(i):
        if i < workers:
            start.wait(timeout=30)  # release the first wave together so requests really overlap
        return job(i)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(gated, range(len(imgs))))


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, list):  # predictions
        assert [c for c, _ in a] == [c for c, _ in b]
        np.testing.assert_allclose([p for _, p in a], [p for _, p in b], rtol=1e-5, atol=1e-7)
    elif isinstance(a, dict):  # activations
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fixture,n,size,mode,layers", [
    ("lenet", 48, 28, "L", None),  # every leaf layer
    ("resnet18_untrained", 12, 64, "RGB", ["conv1", "relu", "layer1.0.relu", "layer4.1.conv2", "fc"]),
])
def test_concurrent_requests_match_single_thread(request, fixture, n, size, mode, layers):
    model = request.getfixturevalue(fixture)
    flags = _inplace_flags(model.module)
    imgs = _images(n, size, mode, seed=n)
    expected = _run_all(model, imgs, layers, workers=1)
    got = _run_all(model, imgs, layers, workers=8)
    for e, g in zip(expected, got, strict=True):
        _assert_same(e, g)
    # distinct inputs gave distinct outputs, so a mixed-up result would have been caught
    assert not torch.equal(expected[2], expected[6]) and not torch.equal(expected[3], expected[7])
    assert _no_hooks_left(model.module), "a hook outlived its request"
    assert _inplace_flags(model.module) == flags, "a request changed the in-place flags"
    assert not any(_inplace_flags(model.module)), "in-place activations are switched off once, at load"


def test_forward_and_gradient_passes_take_no_lock(small_vgg):
    # hold the handle's lock (all that is left of it builds the untrained twin): sessions must not wait for it
    img = _images(1, 28, "L", seed=1)[0]
    expected = small_vgg.predict(img, k=3)
    with small_vgg.lock, ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(small_vgg.predict, img, 3), pool.submit(grad_cam, small_vgg, img),
                   pool.submit(small_vgg.activations, img, ["features.0"])]
        results = [f.result(timeout=60) for f in futures]
    _assert_same(results[0], expected)


def test_resnet_shared_relu_captured_twice_under_load(resnet18_untrained):
    # torchvision's BasicBlock calls its one ReLU twice: both calls must be kept, in order,
    # even when other threads run the model at the same time.
    m = resnet18_untrained
    img = _images(1, 64, "RGB", seed=3)[0]
    alone = m.activations(img, ["layer1.0.relu"])
    assert set(alone) == {"layer1.0.relu", "layer1.0.relu#2"}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: m.activations(img, ["layer1.0.relu"]), range(8)))
    for r in results:
        assert set(r) == set(alone)
        for k in alone:
            torch.testing.assert_close(r[k], alone[k])
