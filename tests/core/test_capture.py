"""The capture engine: one naming rule everywhere, nothing on the shared module, gradients as autograd gives them."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from cnnviz.core.capture import CaptureError, capture, module_calls, prepare_for_serving, split_key, traces
from cnnviz.core.model import ModelHandle

PACKAGE = Path(__file__).resolve().parents[2] / "cnnviz"


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in module.modules())


def test_no_forward_hook_is_registered_outside_the_engine():
    # measuring code in cnnviz/bench may count calls; nothing that serves a request hooks a module
    pattern = re.compile(r"register_(forward|full_backward|forward_pre|backward)_hook|register_module_forward_hook")
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if pattern.search(p.read_text()) and p.name != "capture.py" and "bench" not in p.parts]
    assert offenders == [], f"hooks registered outside cnnviz/core/capture.py: {offenders}"
    assert not any(re.search(r"\.inplace\s*=", p.read_text()) for p in PACKAGE.rglob("*.py")
                   if p.name != "capture.py"), "in-place flags are switched in one place, at load time"


def test_naming_rule_by_hand():
    class Twice(nn.Module):  # one ReLU module called twice, and a residual add done in place
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.act(self.conv(x))
            y += x
            return self.act(y - 1)

    net = prepare_for_serving(Twice())
    net.conv.weight.fill_(-1.0)
    x = torch.tensor([[[[2.0, -3.0]]]])
    c = capture(net, x, ["act", "conv"], logits=True)
    # conv: -x = [-2, 3]; act: [0, 3]; y = [0, 3] + x = [2, 0]; act(y - 1) = [1, 0]
    assert list(c.outputs) == ["conv", "act", "act#2"]
    assert c.outputs["conv"].flatten().tolist() == [-2.0, 3.0]
    assert c.outputs["act"].flatten().tolist() == [0.0, 3.0]
    assert c.outputs["act#2"].flatten().tolist() == [1.0, 0.0]
    assert list(capture(net, x, ["act#2"]).outputs) == ["act#2"]
    assert [k for k, _ in module_calls(net)] == ["conv", "act", "act#2"]
    assert split_key("layer1.0.relu#2") == ("layer1.0.relu", 2) and split_key("a#b") == ("a#b", None)
    with pytest.raises(CaptureError, match="not in the model"):
        capture(net, x, ["nope"])
    with pytest.raises(CaptureError, match="never happen"):
        capture(net, x, ["act#3"])


def test_repeated_module_means_the_same_tensor_on_every_path(resnet18_untrained):
    from cnnviz.methods.augmentation import normalize, shift_image, shift_sweep
    from cnnviz.methods.embeddings import extract_features, feature_layers
    from cnnviz.methods.maximal import ArrayImageSet, build_index

    m = resnet18_untrained
    key = "layer1.0.relu#2"  # the block's output: its ReLU's second call, after the residual sum
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, (4, 224, 224, 3), dtype=np.uint8)
    x = torch.stack([m.image_to_tensor(a) for a in arrays])
    ref = m.activations(x, [key])[key]
    blk = m.module.layer1[0]
    with torch.inference_mode():  # worked out by PyTorch itself: relu(bn2(conv2(...)) + identity)
        inp = m.activations(x, ["maxpool"])["maxpool"]
        by_hand = F.relu(blk.bn2(blk.conv2(F.relu(blk.bn1(blk.conv1(inp))))) + inp)
    torch.testing.assert_close(ref, by_hand)
    # embeddings: the average-pooled features of the same call
    assert key in feature_layers(m)
    feats = extract_features(m, x, key, pooling="avg")
    torch.testing.assert_close(feats.values, ref.mean((2, 3)))
    # maximal: each channel's best value over the images is the max of the same tensor
    idx = build_index(m, ArrayImageSet("noise", arrays), [key], k=2, cache=False)
    torch.testing.assert_close(idx.top_values[key][:, 0], ref.amax((0, 2, 3)).cpu())
    # augmentation: the shift sweep's activation change of the same call, worked out from activations
    pixels = torch.from_numpy(arrays[0]).permute(2, 0, 1).float() / 255  # the sweep works in 0..1 pixels
    sweep = shift_sweep(m, pixels, max_shift=2, layer=key)
    shifted = torch.stack([normalize(m, shift_image(pixels, 0, k)) for k in range(3)])
    a = m.activations(shifted, [key])[key].flatten(1)
    expected = ((a - a[:1]).norm(dim=1) / a[:1].norm(dim=1)).tolist()
    np.testing.assert_allclose(sweep.change, expected, rtol=1e-4, atol=1e-6)


def test_gradients_equal_plain_autograd(lenet):
    x = torch.randn(3, 1, 28, 28)
    c = capture(lenet.module, x, ["features.3"], logits=True, grad_of=lambda c: c.logits[:, 4].sum())
    xx = x.clone().requires_grad_(True)
    feats = lenet.module.features[:4](xx)  # LeNet's forward is classifier(features(x))
    (g,) = torch.autograd.grad(lenet.module.classifier(lenet.module.features[4:](feats))[:, 4].sum(), feats)
    torch.testing.assert_close(c.grads["features.3"], g)
    gi = capture(lenet.module, x, (), logits=True, grad_of=lambda c: c.logits[:, 4].sum(), grad_input=True)
    (g2,) = torch.autograd.grad(lenet.module(xx)[:, 4].sum(), xx)
    torch.testing.assert_close(gi.input_grad, g2)
    assert not any(p.requires_grad for p in lenet.module.parameters()) and _no_hooks(lenet.module)


def test_streamed_outputs_match_collected(resnet18_untrained):
    m = resnet18_untrained
    x = torch.randn(1, 3, 64, 64)
    got = {}
    capture(m.module, x, ["layer1.0.relu", "layer2.0.conv1"], on_output=lambda k, t: got.__setitem__(k, t.clone()))
    ref = capture(m.module, x, ["layer1.0.relu", "layer2.0.conv1"]).outputs
    assert list(got) == list(ref)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k])


def test_untraceable_model_uses_a_private_twin_and_gives_the_same_values():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.conv(x)
            if y.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                y = y * 2
            return self.act(y)

    torch.manual_seed(0)
    m = ModelHandle("branchy", Branchy(), torch.device("cpu"), ["a", "b"], (1, 4, 4), (0.0,), (1.0,), "branchy")
    assert not traces(m.module) and not m.module.act.inplace
    x = torch.randn(2, 1, 4, 4)
    c = capture(m.module, x, ["conv", "act"], logits=True, grad_of=lambda c: c.outputs["act"].sum(), grad_input=True)
    with torch.inference_mode():
        conv = m.module.conv(x)
    torch.testing.assert_close(c.outputs["conv"], conv)
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m.module(xx).sum(), xx)
    torch.testing.assert_close(c.input_grad, g)
    assert _no_hooks(m.module), "the shared module itself is never hooked"


def test_hundred_captures_leave_nothing_behind(resnet18_untrained):
    import gc
    import tracemalloc

    m = resnet18_untrained
    x = torch.randn(1, 3, 64, 64)
    for _ in range(5):
        capture(m.module, x, ["layer4.1.conv2"], logits=True, grad_of=lambda c: c.logits[:, 1].sum())
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(100):
        capture(m.module, x, ["layer4.1.conv2"], logits=True, grad_of=lambda c: c.logits[:, 1].sum())
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 2_000_000, f"Python memory grew {grown} bytes over 100 captures"
    assert _no_hooks(m.module)


def test_torchvision_inplace_relu_is_off_after_load():
    net = prepare_for_serving(torchvision.models.resnet18())
    assert not any(getattr(mod, "inplace", False) for mod in net.modules())
    assert not net.training and not any(p.requires_grad for p in net.parameters())
