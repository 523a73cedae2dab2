"""Activation maps: the recording engine against plain PyTorch, stats, orders, pre/post pairs, safety."""
import gc
import tracemalloc

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnnviz
from cnnviz.core.capture import traces, with_hooks
from cnnviz.core.model import ModelHandle
from cnnviz.methods.activations import (
    activation_after,
    channel_order,
    channel_stats,
    compare_maps,
    conv_stages,
    first_layer_kernel,
    layer_maps,
    strongest_maps,
    transformed,
)

from ..conftest import SAMPLES, run_in_threads


def _reference(m, x):
    """Every leaf output by plain forward hooks that clone (nothing can overwrite them)."""
    mods = dict(m.module.named_modules())
    got = {}

    def hook_for(n):
        def hook(_m, _i, out):
            k, i = n, 2
            while k in got:
                k, i = f"{n}#{i}", i + 1
            got[k] = out.clone()
        return hook

    module = m.module
    with torch.inference_mode():
        hs = [mods[n].register_forward_hook(hook_for(n)) for n in m.layer_names()]
        try:
            module(x)
        finally:
            for h in hs:
                h.remove()
    return got


def test_all_layer_activations_match_plain_pytorch(lenet, resnet18_untrained):
    for m, img in [(lenet, "digit-3.png"), (resnet18_untrained, "photo-cat.jpg")]:
        x = m.preprocess(cnnviz.load_image(SAMPLES / img))
        acts, ref = m.activations(x), _reference(m, x)
        assert list(acts) == list(ref)
        for k in ref:
            assert torch.equal(acts[k], ref[k]), k


def test_resnet_bn2_is_not_overwritten_by_the_residual_sum(resnet18_untrained):
    m = resnet18_untrained
    x = m.preprocess(cnnviz.load_image(SAMPLES / "photo-coffee.jpg"))
    acts = m.activations(x, ["layer1.0.conv2", "layer1.0.bn2", "layer1.0.relu", "maxpool"])
    blk = m.module.layer1[0]
    with torch.inference_mode():
        bn2 = blk.bn2(acts["layer1.0.conv2"])
        assert torch.allclose(acts["layer1.0.bn2"], bn2)  # BasicBlock does `out += identity` in place
        assert torch.allclose(acts["layer1.0.relu#2"], F.relu(bn2 + acts["maxpool"]), atol=1e-6)
    assert set(acts) == {"layer1.0.conv2", "layer1.0.bn2", "layer1.0.relu", "layer1.0.relu#2", "maxpool"}
    # in-place ReLUs were switched off once, at load time, and no request switches them back
    assert not m.module.relu.inplace and not blk.relu.inplace


def test_untraceable_model_falls_back_to_hooks():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.act = nn.ReLU()

        def forward(self, x):
            y = self.conv(x)
            if y.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                y = y * 2
            return self.act(y)

    torch.manual_seed(0)
    mod = Branchy().eval()
    m = ModelHandle("branchy", mod, torch.device("cpu"), ["a"], (1, 4, 4), (0.0,), (1.0,), "branchy")
    x = torch.randn(1, 1, 4, 4)
    acts = m.activations(x)
    with torch.inference_mode():
        conv = mod.conv(x)
        assert torch.equal(acts["conv"], conv)
        assert torch.allclose(acts["act"], F.relu(conv * 2 if conv.sum() > 0 else conv))
    with torch.inference_mode():  # the fallback served it, on a private twin: the module itself has no hooks left
        assert list(with_hooks(mod, x, ["conv"], (), ())[1]) == ["conv"]
    assert not traces(mod) and not any(sub._forward_hooks for sub in mod.modules())


def test_channel_stats_by_hand():
    maps = torch.tensor([[[0.0, 2.0], [0.0, 2.0]], [[-1.0, 3.0], [5.0, 1.0]]])
    s = channel_stats(maps)
    assert s.row(0) == {"min": 0.0, "max": 2.0, "mean": 1.0, "fraction zero": 0.5}
    assert s.row(1) == {"min": -1.0, "max": 5.0, "mean": 2.0, "fraction zero": 0.0}


def test_channel_order_by_mean_and_max():
    maps = torch.stack([torch.full((2, 2), 1.0), torch.tensor([[0.0, 0.0], [0.0, 9.0]]), torch.full((2, 2), 3.0)])
    # means 1, 2.25, 3; maxima 1, 9, 3
    assert channel_order(maps, "mean").tolist() == [2, 1, 0]
    assert channel_order(maps, "max").tolist() == [1, 2, 0]
    assert channel_order(maps, "index").tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="expected one of"):
        channel_order(maps, "median")


def test_pre_and_post_activation(lenet, resnet18_untrained):
    assert activation_after(lenet, "features.0") == "features.1"
    assert activation_after(lenet, "features.3") == "features.4"
    assert activation_after(lenet, "features.2") is None  # pooling: nothing to pair
    r = resnet18_untrained
    assert activation_after(r, "conv1") == "relu"
    assert activation_after(r, "layer1.0.conv1") == "layer1.0.relu"
    assert activation_after(r, "layer1.0.conv2") == "layer1.0.relu#2"  # after the residual sum
    assert activation_after(r, "layer2.0.conv2") == "layer2.0.relu#2"  # skipping the 1x1 shortcut conv
    img = cnnviz.load_image(SAMPLES / "digit-6.png")
    pre, post = layer_maps(lenet, img, "features.0", "pre"), layer_maps(lenet, img, "features.0", "post")
    assert torch.equal(post, F.relu(pre)) and float(pre.min()) < 0
    x = r.preprocess(cnnviz.load_image(SAMPLES / "photo-flower.jpg"))
    pre = layer_maps(r, x, "conv1", "pre")
    with torch.inference_mode():
        assert torch.allclose(pre, F.conv2d(x, r.module.conv1.weight, stride=2, padding=3)[0], atol=1e-5)
        assert torch.allclose(layer_maps(r, x, "conv1", "post"), F.relu(r.module.bn1(pre[None]))[0], atol=1e-5)


def test_strongest_maps_of_every_stage(lenet, resnet18_untrained):
    img = cnnviz.load_image(SAMPLES / "digit-2.png")
    s = strongest_maps(lenet, img, k=3)
    assert s.layers == ["features.1", "features.4"] and s.k == 3
    acts = lenet.activations(img, ["features.1"])["features.1"][0]
    assert s.channels[0] == acts.mean((1, 2)).argsort(descending=True)[:3].tolist()
    assert torch.equal(s.maps[0], acts[s.channels[0]]) and tuple(s.maps[1].shape) == (3, 10, 10)
    by_max = strongest_maps(lenet, img, k=3, by="max").channels[0]
    assert by_max == acts.amax((1, 2)).argsort(descending=True, stable=True)[:3].tolist()
    rs = strongest_maps(resnet18_untrained, cnnviz.load_image(SAMPLES / "photo-cat.jpg"), k=2)
    assert len(rs.layers) == 17 and not any("downsample" in s for s in rs.layers)
    assert rs.layers == conv_stages(resnet18_untrained)
    assert [len(c) for c in strongest_maps(resnet18_untrained, img, k=2, max_layers=5).channels] == [2] * 5


def test_first_layer_kernel(lenet, resnet18_untrained):
    assert torch.equal(first_layer_kernel(lenet, "features.0", 2), lenet.module.features[0].weight[2])
    assert first_layer_kernel(lenet, "features.3", 2) is None
    assert torch.equal(first_layer_kernel(resnet18_untrained, "conv1", 0), resnet18_untrained.module.conv1.weight[0])


def test_compare_maps(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    same = compare_maps(lenet, img, img, "features.0")
    assert torch.equal(same.a, same.b) and float(same.diff.max()) == 0
    c = compare_maps(lenet, img, transformed(img, "hflip"), "features.0")
    assert c.order == channel_order(c.a, "mean").tolist() and float(c.diff.max()) > 0
    assert torch.allclose(c.diff, (c.a - c.b).abs().mean((1, 2)))
    assert (c.lo, c.hi) == (min(float(c.a.min()), float(c.b.min())), max(float(c.a.max()), float(c.b.max())))
    assert transformed(img, "rotate90").size == img.size[::-1]
    with pytest.raises(ValueError, match="expected one of"):
        transformed(img, "blur")


def test_activations_memory_bounded_and_hooks_free(lenet):
    m = lenet
    x = m.preprocess(cnnviz.load_image(SAMPLES / "digit-1.png"))
    names = ["features.0", "features.4"]
    for _ in range(3):
        m.activations(x, names)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(100):
        m.activations(x, names)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 200_000, grown
    assert sum(len(mod._forward_hooks) for mod in m.module.modules()) == 0


def test_threads_match_serial_activations(lenet):
    imgs = [lenet.preprocess(cnnviz.load_image(SAMPLES / f"digit-{d}.png")) for d in range(8)]
    serial = [lenet.activations(x) for x in imgs]
    out = [None] * 8

    def worker(i):
        for _ in range(5):
            out[i] = lenet.activations(imgs[i])

    errors = run_in_threads(worker, 8)
    assert not errors
    for a, b in zip(out, serial, strict=True):
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)





def test_conv_stages_skip_squeeze_excitation_gates():
    m = cnnviz.load_model("mobilenet_v3_small", untrained=True)
    stages = conv_stages(m)
    assert not any(".fc" in s for s in stages)  # SE gates work on a 1x1 map: nothing to show
    assert "features.1.block.1.fc1" in m.conv_layer_names() and "features.1.block.1.fc1" not in m.spatial_layers()
    assert stages[0] == "features.0.2"  # conv -> BN -> Hardswish: the activation after the first conv
