"""Activation maps: the recording engine against plain PyTorch, grids, stats, pre/post pairs, safety."""
import gc
import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnnviz
from cnnviz.core.capture import _with_hooks, traces
from cnnviz.methods.activations import (activation_after, channel_order, channel_stats, compare_maps,
                                conv_stages, depth_strip, first_layer_filter, layer_maps, render_channel_grid,
                                render_map, spatial_layers, transformed)
from cnnviz.methods.activations import grid_geometry as ac_grid_geometry
from cnnviz.core.model import ModelHandle
from cnnviz.figures.render import COLORMAPS

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
        assert list(_with_hooks(mod, x, ["conv"], (), ())[1]) == ["conv"]
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


def test_grid_layout_and_click_mapping_by_hand():
    # 3 channels of 2x2, constant 0, 1, 2; shared scale -> colours bottom, middle, top of viridis
    maps = torch.stack([torch.full((2, 2), float(v)) for v in (0, 1, 2)])
    g = render_channel_grid(maps, order="max", scale="shared", tile_px=2, cols=3)
    # tile 2 px, pad 2: width 2 + 3 * (2 + 2) = 14, height 2 + 1 * (2 + 2) = 6
    assert g.image.shape == (6, 14, 3) and g.scale == 1
    assert g.order == [2, 1, 0]  # sorted by max: channel 2 first
    assert g.channel_at(2, 2) == 2 and g.channel_at(3, 7) == 1 and g.channel_at(2, 10) == 0
    assert g.channel_at(0, 0) is None and g.channel_at(2, 4) is None  # padding
    top, bottom = ((np.asarray(COLORMAPS["viridis"][i]) * 255).round() for i in (-1, 0))
    assert np.array_equal(g.image[2, 2], top) and np.array_equal(g.image[2, 10], bottom)
    assert (g.lo, g.hi) == (0.0, 2.0)
    # the frame of channel 1 (tile 1, origin (2, 6)) fills the padding around it, the tile itself is untouched
    red = g.highlight(1)
    assert red[0, 4].tolist() == [228, 26, 28] and red[5, 9].tolist() == [228, 26, 28] and red[3, 5].tolist() == [228, 26, 28]
    assert np.array_equal(red[2:4, 6:8], g.image[2:4, 6:8]) and np.array_equal(g.highlight(7), g.image)
    # per-channel scale: a constant map has no range and shows the bottom colour
    gp = render_channel_grid(maps, scale="per", tile_px=2, cols=3)
    assert np.array_equal(gp.image[2, 10], bottom)


def test_grid_enlarges_small_maps_by_an_integer_factor():
    g = render_channel_grid(torch.rand(16, 5, 5), tile_px=40)
    assert g.scale == 8 and g.layout.tile_h == 40 and g.layout.cols == 4
    y, x = g.layout.origin(5)
    assert g.channel_at(y + 39, x + 39) == g.order[5]
    assert render_map(torch.rand(7, 7), size=224).shape == (224, 224, 3)


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


def test_depth_strip_picks_strongest_maps(lenet, resnet18_untrained):
    img = cnnviz.load_image(SAMPLES / "digit-2.png")
    strip = depth_strip(lenet, img, k=3, tile=20)
    assert strip.layers == ["features.1", "features.4"]
    acts = lenet.activations(img, ["features.1"])["features.1"][0]
    assert strip.channels[0] == acts.mean((1, 2)).argsort(descending=True)[:3].tolist()
    # 2 columns, 3 rows of 20 px tiles with 3 px padding
    assert strip.image.shape == (3 + 3 * 23, 3 + 2 * 23, 3)
    rs = depth_strip(resnet18_untrained, cnnviz.load_image(SAMPLES / "photo-cat.jpg"), k=2, tile=16)
    assert len(rs.layers) == 17 and not any("downsample" in s for s in rs.layers)
    assert rs.layers == conv_stages(resnet18_untrained)


def test_first_layer_filter(lenet, resnet18_untrained):
    assert first_layer_filter(lenet, "features.0", 2).shape[:2] == (160, 160)
    assert first_layer_filter(lenet, "features.3", 2) is None
    f = first_layer_filter(resnet18_untrained, "conv1", 0, size=140)
    w = resnet18_untrained.module.conv1.weight[0]
    assert f.shape == (140, 140, 3)
    # the weight with the largest magnitude maps to 0 or 255 in its colour channel
    c, i, j = np.unravel_index(int(w.abs().argmax()), w.shape)
    assert f[i * 20, j * 20, c] in (0, 255)


def test_compare_maps(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    a, b, diff = compare_maps(lenet, img, img, "features.0")
    assert np.array_equal(a.image, b.image) and float(diff.max()) == 0
    a, b, diff = compare_maps(lenet, img, transformed(img, "hflip"), "features.0")
    assert a.order == b.order and float(diff.max()) > 0
    assert transformed(img, "rotate90").size == img.size[::-1]
    with pytest.raises(ValueError, match="expected one of"):
        transformed(img, "blur")


def test_spatial_layers(lenet):
    assert spatial_layers(lenet) == ["features.0", "features.1", "features.2", "features.3", "features.4", "features.5"]


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
    for a, b in zip(out, serial):
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_grid_geometry_is_wider_than_tall():
    # 6 channels: ceil(sqrt(9.6)) = 4 columns, 1100 / 4 - 3 = 272 px capped at 160
    assert ac_grid_geometry(6) == (4, 160)
    # 512 channels: ceil(sqrt(819.2)) = 29 columns of int(1100 / 29 - 3) = 34 px
    assert ac_grid_geometry(512) == (29, 34)


def test_conv_stages_skip_squeeze_excitation_gates():
    m = cnnviz.load_model("mobilenet_v3_small", untrained=True)
    stages = conv_stages(m)
    assert not any(".fc" in s for s in stages)  # SE gates work on a 1x1 map: nothing to show
    assert "features.1.block.1.fc1" in m.conv_layer_names() and "features.1.block.1.fc1" not in spatial_layers(m)
    assert stages[0] == "features.0.2"  # conv -> BN -> Hardswish: the activation after the first conv
