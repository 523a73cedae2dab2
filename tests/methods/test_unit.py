"""One unit rebuilt from its input and weights equals what the network computed (LeNet, ResNet-18, grouped, dilated)."""
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnnviz
from cnnviz.core.model import ModelHandle
from cnnviz.methods import network as nw
from cnnviz.methods.unit import UnitError, unit_computation, unit_layer, window_region

from ..conftest import SAMPLES


def _handle(name: str, net: nn.Module, size: tuple[int, int, int]) -> ModelHandle:
    torch.manual_seed(0)
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    return ModelHandle(name, net.eval(), torch.device("cpu"), ["a", "b"], size,
                       (0.0,) * size[0], (1.0,) * size[0], name)


def grouped() -> ModelHandle:
    """Two grouped convs (groups 2 and a depthwise one), strided, with reflect padding in the middle."""
    net = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.ReLU(),
                        nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, padding_mode="reflect"), nn.BatchNorm2d(6),
                        nn.Flatten(), nn.Linear(6 * 5 * 5, 2))
    return _handle("grouped", net, (4, 10, 10))


def dilated() -> ModelHandle:
    """Dilation 2 and 3, one with stride 2, 'same' padding on the first (kernel 4: uneven padding)."""
    net = nn.Sequential(nn.Conv2d(3, 5, 4, padding="same", dilation=2), nn.Hardswish(),
                        nn.Conv2d(5, 4, 3, stride=2, padding=2, dilation=3), nn.ReLU())
    return _handle("dilated", net, (3, 13, 13))


def _random_units(m: ModelHandle, n: int, rng: random.Random) -> list[tuple[str, tuple[int, ...]]]:
    g = nw.network_graph(m)
    out = []
    for _ in range(n):
        layer = rng.choice(nw.unit_layers(g))
        out.append((layer, tuple(rng.randrange(s) for s in g.nodes[layer].shape)))
    return out


def test_fifty_units_equal_the_captured_activations(lenet, resnet18_untrained):
    rng = random.Random(18)
    torch.manual_seed(0)
    cases = [(lenet, lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-3.png")), 14),
             (resnet18_untrained, resnet18_untrained.preprocess(cnnviz.load_image(SAMPLES / "photo-cat.jpg")), 12),
             (grouped(), torch.randn(1, 4, 10, 10), 12), (dilated(), torch.randn(1, 3, 13, 13), 12)]
    # ResNet-18: a strided conv and the downsample branch are always among them
    forced = {"resnet18": [("layer2.0.conv1", (5, 27, 0)), ("layer3.0.downsample.0", (100, 13, 13))]}
    checked = 0
    for m, x, n in cases:
        acts = m.activations(x)  # every layer call, by the capture engine (the activation page's numbers)
        for layer, unit in forced.get(m.name, []) + _random_units(m, n, rng):
            u = unit_computation(m, x, layer, unit)
            expected = float(acts[layer][0][unit])
            assert abs(u.pre_activation - expected) <= 1e-5, (m.name, layer, unit, u.pre_activation, expected)
            assert u.produced == pytest.approx(expected, abs=0)
            # the per-channel contributions sum to the pre-activation (with the bias)
            assert sum(t.contribution for t in u.terms) + u.bias == pytest.approx(u.pre_activation, abs=1e-9)
            assert u.running_sum("contribution")[-1] == pytest.approx(u.total, abs=1e-9)
            for step in u.following:  # BN and activations applied by their own formulas match the pass
                if step.produced is not None:
                    assert step.value == pytest.approx(step.produced, abs=1e-4), (layer, step)
            checked += 1
    assert checked >= 50


def test_lenet_unit_by_hand(lenet):
    """features.0 unit (c, y, x): the 5x5 patch of the padded digit times the kernel, plus the bias."""
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    conv = lenet.module.features[0]
    u = unit_computation(lenet, x, "features.0", (2, 0, 1))
    padded = F.pad(x[0, 0].double(), tuple(conv._reversed_padding_repeated_twice))
    p = conv.padding[0]
    patch = padded[0:5, 1:6]
    assert np.allclose(u.terms[0].patch, patch.numpy())
    assert u.terms[0].padding[:p].all() and not u.terms[0].padding[p:, p:].any()  # top rows are padding
    expect = float((patch * conv.weight[2, 0].double()).sum() + conv.bias[2].double())
    assert u.pre_activation == pytest.approx(expect, abs=1e-12)


def test_grouped_and_dilated_taps():
    m = grouped()
    x = torch.randn(1, 4, 10, 10)
    u = unit_computation(m, x, "0", (4, 3, 3))  # groups=2: output channel 4 is in group 1 -> inputs 2, 3
    assert [t.channel for t in u.terms] == [2, 3] and "groups = 2" in u.group_note
    d = unit_computation(m, x, "2", (5, 1, 2))  # depthwise: output channel 5 reads input channel 5 only
    assert [t.channel for t in d.terms] == [5] and "Depthwise" in d.group_note
    assert d.terms[0].rows == [1, 2, 3] and d.terms[0].cols == [3, 4, 5]  # stride 2, pad 1
    m2 = dilated()
    u2 = unit_computation(m2, torch.randn(1, 3, 13, 13), "2", (0, 2, 1))
    assert u2.terms[0].rows == [2, 5, 8] and u2.terms[0].cols == [0, 3, 6]  # 2*2-2 + 3a; 1*2-2 + 3b
    assert u2.following[0].op == "ReLU"


def test_linear_unit_terms_per_channel_and_errors(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    g = nw.network_graph(lenet)
    first_fc = next(i for i in nw.unit_layers(g) if g.nodes[i].op == "Linear")
    u = unit_computation(lenet, x, first_fc, (3,))
    c, h, w = g.nodes["features.5"].shape
    assert u.kind == "linear" and len(u.terms) == c and u.terms[0].kernel.shape == (h, w)
    assert unit_layer(g, ("features.1",)) == "features.0"  # a ReLU shows its conv's units
    assert unit_layer(g, ("features.2",)) is None  # pooling has no weights
    with pytest.raises(UnitError, match="Conv2d and Linear"):
        unit_computation(lenet, x, "features.2", (0, 0, 0))
    with pytest.raises(UnitError, match="outside"):
        unit_computation(lenet, x, "features.0", (6, 0, 0))
    with pytest.raises(UnitError, match="linear layer"):
        window_region(u, torch.zeros(3, 3))


def test_window_region_starts_at_the_unit(resnet18_untrained):
    m = resnet18_untrained
    x = m.preprocess(cnnviz.load_image(SAMPLES / "photo-cat.jpg"))
    u = unit_computation(m, x, "layer2.0.conv1", (1, 20, 9))  # 3x3 stride 2 pad 1 on a 56x56 map
    from cnnviz.methods.arithmetic import LayerSpec, sliding_windows
    from cnnviz.methods.unit import input_channel

    ch = input_channel(m, x, "layer2.0.conv1", u.terms[0].channel)
    r = window_region(u, ch)
    assert r.padded
    spec = LayerSpec("conv", *r.values.shape, 1, 1, kernel=r.kernel, stride=r.stride, padding=r.padding,
                     dilation=r.dilation)
    step = sliding_windows(r.values, torch.as_tensor(u.terms[0].kernel), 0.0, spec)[r.start]
    assert step.value == pytest.approx(u.terms[0].contribution, abs=1e-9)
