"""Receptive fields: published values for torchvision models, hand-worked chains, and a second
method (the support of an input gradient) on random models."""
from __future__ import annotations

import random

import pytest
import torch
import torchvision
from torch import nn

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.methods.receptive_field import (
    NotAModelError,
    ReceptiveField,
    ReceptiveFieldError,
    UnknownLayerError,
    effective_receptive_field,
    layer_output,
    receptive_fields,
    recurrence_steps,
    spatial_fields,
)


def _meta(builder, **kw) -> nn.Module:
    """A torchvision architecture on the meta device: no weights are allocated, only the graph matters."""
    with torch.device("meta"):
        return builder(**kw).eval()


# ----------------------------------------------------------------------------- published values at 224
def test_alexnet_last_maxpool_is_195():
    rf = receptive_fields(_meta(torchvision.models.alexnet), (3, 224, 224))
    # 11 s4 | pool 3 s2 | 5 | pool 3 s2 | 3 3 3 | pool 3 s2: 11+2*4+4*8+2*8+3*2*16+2*16 = 195
    assert rf["features.12"].size == (195, 195)
    assert rf["features.12"].jump == (32, 32)
    assert rf["features.12"].output_shape == (256, 6, 6)


def test_vgg16_conv5_3_and_last_pool():
    rf = receptive_fields(_meta(torchvision.models.vgg16), (3, 224, 224))
    assert rf["features.28"].size == (196, 196) and rf["features.28"].jump == (16, 16)
    assert rf["features.30"].size == (212, 212) and rf["features.30"].jump == (32, 32)
    assert rf["features.0"].start == (-1.0, -1.0)  # 3x3 pad 1: unit 0 reaches one pixel outside
    assert rf["classifier.0"].whole_input and rf["classifier.0"].size == (224, 224)


def test_resnet50_layer3_layer4():
    rf = receptive_fields(_meta(torchvision.models.resnet50), (3, 224, 224))
    assert rf["layer3"].size == (267, 267) and rf["layer3"].jump == (16, 16)
    assert rf["layer4"].size == (427, 427) and rf["layer4"].jump == (32, 32)
    assert rf["layer4"].container and rf["layer4"].output_shape == (2048, 7, 7)
    # every residual add joins paths with equal jumps and centres
    adds = [f for f in rf.values() if f.op == "add"]
    assert len(adds) == 16 and all(f.aligned for f in adds)
    assert rf["avgpool"].whole_input and rf["fc"].whole_input
    # the Distill recurrence walked backwards from layer4 lands on the same number
    steps = recurrence_steps(_meta(torchvision.models.resnet50), "layer4", input_size=(3, 224, 224))
    assert steps[0].r_after == 1 and steps[-1].r_before == 427 and steps[-1].name == "conv1"


def test_googlenet_traces_through_concatenations():
    m = _meta(torchvision.models.googlenet, init_weights=False, aux_logits=False)
    rf = receptive_fields(m, (3, 224, 224))
    cats = [f for f in rf.values() if f.op == "cat"]
    assert len(cats) == 9 and all(f.aligned for f in cats)
    # before inception3a: conv1 7 s2, pool 3 s2, conv2 1x1, conv3 3x3, pool 3 s2: 7+2*2+2*4+2*4 = 27, jump 8
    # its widest branch is two 3x3 convs (torchvision's "5x5" branch is 3x3): 27 + 2*8 = 43
    assert rf["inception3a"].size == (43, 43) and rf["inception3a"].jump == (8, 8)


def test_mobilenet_squeeze_excitation_is_global_context():
    rf = receptive_fields(_meta(torchvision.models.mobilenet_v3_small), (3, 224, 224))
    se_blocks = [f for f in rf.values() if f.op == "SqueezeExcitation" and f.container]
    assert rf["features.0"].global_context is False
    assert rf["features.1"].global_context is True  # the SE gate pools the whole map
    assert not rf["features.1"].whole_input and rf["features.1"].size == (7, 7)  # 3x3 s2 then 3x3 dw s2
    assert se_blocks  # SqueezeExcitation modules show as containers


# ----------------------------------------------------------------------------- hand-worked chains
def test_plain_chain_without_input_size():
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    rf = receptive_fields(net)
    assert [rf[n].size for n in "012"] == [(3, 3), (4, 4), (8, 8)]  # 3; 3+1*1; 4+2*2
    assert [rf[n].jump for n in "012"] == [(1, 1), (2, 2), (2, 2)]
    assert rf["2"].start == (0.0, 0.0) and rf["2"].output_shape is None
    # unit (1, 2) of the last layer: top = 0 + 1*2, left = 0 + 2*2
    assert rf["2"].box(1, 2) == (2.0, 4.0, 10.0, 12.0)
    assert rf["2"].center(1, 2) == (5.5, 7.5)


def test_lenet_handle(lenet):
    rf = receptive_fields(lenet)
    # conv 5 pad 2 | pool 2 | conv 5 | pool 2
    assert (rf["features.0"].size, rf["features.0"].start) == ((5, 5), (-2.0, -2.0))
    assert (rf["features.2"].size, rf["features.2"].jump) == ((6, 6), (2, 2))
    assert (rf["features.3"].size, rf["features.3"].output_shape) == ((14, 14), (16, 10, 10))
    assert (rf["features.5"].size, rf["features.5"].jump, rf["features.5"].start) == ((16, 16), (4, 4), (-2.0, -2.0))
    assert rf["classifier.1"].whole_input and rf["classifier.1"].size == (28, 28)
    assert spatial_fields(rf) == ["features.0", "features.1", "features.2", "features.3", "features.4", "features.5"]
    # corner unit: reaches 2 pixels into the padding; clipped to the 28x28 image
    assert rf["features.5"].box(0, 0) == (-2.0, -2.0, 14.0, 14.0)
    assert rf["features.5"].clipped_box(4, 4, 28, 28) == (14.0, 14.0, 28.0, 28.0)  # 14..30 clipped at 28


def test_dilated_stack():
    # 3x3 convs with dilation 1, 2, 4: effective kernels 3, 5, 9 -> 3, 7, 15
    net = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=1), nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, dilation=4))
    rf = receptive_fields(net, (1, 32, 32))
    assert [rf[n].size for n in "012"] == [(3, 3), (7, 7), (15, 15)]
    assert rf["2"].output_shape == (1, 18, 18)  # 32 - 2 - 4 - 8
    pool = nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1, dilation=2))
    r = receptive_fields(pool, (1, 16, 16))["0"]
    assert (r.size, r.jump, r.start) == ((5, 5), (2, 2), (-1.0, -1.0))  # dilated window: 2*(3-1)+1


def test_asymmetric_kernel_stride_padding():
    net = nn.Sequential(nn.Conv2d(1, 2, (1, 7), stride=(1, 2), padding=(0, 3)), nn.Conv2d(2, 2, (5, 1)))
    rf = receptive_fields(net, (1, 20, 20))
    assert (rf["0"].size, rf["0"].jump, rf["0"].start) == ((1, 7), (1, 2), (0.0, -3.0))
    # rows: 1 + 4*1 = 5; cols: unchanged 7, jump 2
    assert (rf["1"].size, rf["1"].jump, rf["1"].start) == ((5, 7), (1, 2), (0.0, -3.0))
    assert rf["1"].box(2, 3) == (2.0, 3.0, 7.0, 10.0)
    size = (1, 20, 20)
    rows = [(st.name, st.k, st.s, st.r_before) for st in recurrence_steps(net, "1", axis=0, input_size=size)]
    cols = [(st.name, st.k, st.s, st.p, st.r_before) for st in recurrence_steps(net, "1", axis=1, input_size=size)]
    assert rows == [("1", 5, 1, 5)]  # the 1x7 layer does nothing along rows
    assert cols == [("0", 7, 2, 3, 7)]


def test_same_padding_and_ceil_mode():
    net = nn.Sequential(nn.Conv2d(1, 1, 4, padding="same"), nn.MaxPool2d(3, 2, ceil_mode=True))
    rf = receptive_fields(net, (1, 6, 6))
    assert rf["0"].start == (-1.0, -1.0)  # even kernel: 1 pixel before, 2 after
    assert rf["1"].output_shape == (1, 3, 3)  # ceil((6-3)/2)+1
    # the last unit's window starts at 4 and runs past the 6-pixel input
    assert rf["1"].size == (6, 6) and rf["1"].box(2, 2)[:2] == (3.0, 3.0)


def test_padding_module_and_adaptive_pool():
    net = nn.Sequential(nn.ZeroPad2d((1, 0, 2, 0)), nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(2),
                        nn.AdaptiveAvgPool2d(1))
    rf = receptive_fields(net, (1, 8, 8))  # after pad 10x9, conv 8x7
    assert rf["1"].start == (-2.0, -1.0)
    # 8x7 -> 2x2: rows a fixed 4-window; cols windows [0,4) and [3,7): not one kernel
    assert rf["2"].size[0] == 3 + 3 and rf["2"].jump[0] == 4 and not rf["2"].exact
    assert rf["3"].whole_input and rf["3"].size == (8, 8)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv(x))


class _Misaligned(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 1, 2)
        self.pad = nn.ZeroPad2d((1, 0, 1, 0))
        self.b = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return self.a(x) + self.b(self.pad(x))


class _Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(1, 1, 1)
        self.b3 = nn.Conv2d(1, 1, 3, padding=1)
        self.b5 = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x)], 1)


class _SE(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y * torch.sigmoid(y.mean((2, 3), keepdim=True))


def test_merging_paths():
    rf = receptive_fields(_Residual(), (1, 8, 8))
    assert rf["add"].size == (3, 3) and rf["add"].aligned and rf["relu"].size == (3, 3)
    # a: r 2 start 0 (centre 0.5); b: start -1, r 3 (centre 0): union -1..2
    mis = receptive_fields(_Misaligned(), (1, 8, 8))["add"]
    assert (mis.size, mis.start, mis.aligned) == ((3, 3), (-1.0, -1.0), False)
    cat = receptive_fields(_Inception(), (1, 8, 8))
    assert cat["cat"].size == (5, 5) and cat["cat"].aligned and cat["cat"].output_shape == (3, 8, 8)
    se = receptive_fields(_SE(), (1, 8, 8))
    assert se["mul"].size == (3, 3) and se["mul"].global_context and not se["mul"].whole_input
    assert se["mean"].whole_input


def test_clear_errors():
    with pytest.raises(ReceptiveFieldError, match="input_size"):
        receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)))

    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(ReceptiveFieldError, match="cannot trace.*control flow"):
        receptive_fields(Branchy(), (1, 4, 4))
    with pytest.raises(ReceptiveFieldError, match="ConvTranspose2d"):
        receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 2, 2)), (1, 8, 8))
    with pytest.raises(ReceptiveFieldError, match="input_size must be"):
        receptive_fields(nn.Conv2d(1, 1, 3), (8, 8))


def test_user_errors_are_cnnviz_errors(lenet):
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
    # an unknown layer: a ReceptiveFieldError that is still a KeyError, as before
    for call in (lambda: recurrence_steps(net, "nope", input_size=(1, 8, 8)),
                 lambda: layer_output(lenet, "nope", torch.zeros(1, 1, 28, 28)),
                 lambda: effective_receptive_field(lenet, "nope")):
        with pytest.raises(UnknownLayerError, match="'nope' is not in the receptive field table") as e:
            call()
        assert isinstance(e.value, (CnnvizError, KeyError))
    # not a model: a ReceptiveFieldError that is still a TypeError
    with pytest.raises(NotAModelError, match="got str") as e:
        receptive_fields("vgg16")
    assert isinstance(e.value, TypeError) and isinstance(e.value, ReceptiveFieldError)
    with pytest.raises(NotAModelError, match="ModelHandle"):
        effective_receptive_field(net, "0")
    # features.3 of LeNet-5 is a 16 x 10 x 10 map: rows 0..9 exist, row 10 does not
    with pytest.raises(ReceptiveFieldError, match="outside the 10x10 map"):
        effective_receptive_field(lenet, "features.3", unit=(10, 0))
    with pytest.raises(ReceptiveFieldError, match="channel 99"):
        effective_receptive_field(lenet, "features.3", channel=99)


def test_layer_output_of_a_plain_module():
    net = nn.Sequential(nn.Conv2d(1, 1, 2, bias=False), nn.MaxPool2d(2))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # 2x2 sums over rows [0 1 2 3 / 4 5 6 7 / ...]: top-left 0+1+4+5 = 10; a step right adds 4 (1 per pixel),
    # a step down 16 (4 per pixel); the 2x2 max pool keeps the largest of the top-left 2x2 sums: 30
    expected = torch.tensor([[10.0, 14.0, 18.0], [26.0, 30.0, 34.0], [42.0, 46.0, 50.0]])
    torch.testing.assert_close(layer_output(net, "0", x)[0, 0], expected)
    torch.testing.assert_close(layer_output(net, "1", x)[0, 0], torch.tensor([[30.0]]))


def test_repeated_module_calls_are_numbered(resnet18_untrained):
    rf = receptive_fields(resnet18_untrained)
    assert "layer1.0.relu" in rf and "layer1.0.relu#2" in rf
    # stem 7 s2 + pool 3 s2 = 11 (jump 4); the block's ReLU runs after conv1 (+2*4) and again after the add (+2*4)
    assert rf["layer1.0.relu"].size == (19, 19) and rf["layer1.0.relu#2"].size == (27, 27)
    # 11 | layer1 +4*8 = 43 | layer2 +8 +3*16 = 99 | layer3 +16 +3*32 = 211 | layer4 +32 +3*64 = 435
    assert rf["layer2"].size == (99, 99) and rf["layer4"].size == (435, 435)
    x = torch.randn(1, 3, 224, 224)
    acts = resnet18_untrained.activations(x, ["layer1.0.relu"])
    torch.testing.assert_close(layer_output(resnet18_untrained, "layer1.0.relu#2", x), acts["layer1.0.relu#2"])


# ----------------------------------------------------------------------------- a second method: gradient support
def _random_linear_net(rng: random.Random) -> nn.Module:
    """Convolutions and average pools with positive weights and no nonlinearity: the input gradient of a
    unit is then non-zero exactly on the pixels its field covers (inside the image)."""
    layers: list[nn.Module] = [nn.Conv2d(1, 2, 1)]
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["conv", "conv", "pool"])
        k = (rng.randint(1, 4), rng.randint(1, 4))
        s = (rng.randint(1, 2), rng.randint(1, 2))
        if kind == "conv":
            d = (rng.randint(1, 2), rng.randint(1, 2))
            p = (rng.randint(0, k[0] // 2 * d[0]), rng.randint(0, k[1] // 2 * d[1]))
            layers.append(nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=d))
        else:
            p = (rng.randint(0, k[0] // 2), rng.randint(0, k[1] // 2))
            layers.append(nn.AvgPool2d(k, stride=s, padding=p))
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    return net.eval()


@pytest.mark.parametrize("seed", range(6))
def test_box_equals_gradient_support(seed):
    """Units whose box lies inside the image: the gradient's support has exactly that bounding box.
    Border units: the support lies inside the clipped box (intermediate padding units and pixels
    dropped by a strided layer's floor can shrink it further, so only containment is exact there)."""
    rng = random.Random(seed)
    net = _random_linear_net(rng)
    H, W = rng.randint(40, 56), rng.randint(40, 56)
    rf = receptive_fields(net, (1, H, W))
    f = rf[list(rf)[-1]]
    _, h, w = f.output_shape
    inside = [(i, j) for i in range(h) for j in range(w)
              if f.box(i, j)[0] >= 0 and f.box(i, j)[1] >= 0 and f.box(i, j)[2] <= H and f.box(i, j)[3] <= W]
    assert inside, f
    for row, col in {inside[0], inside[len(inside) // 2], inside[-1], (0, 0), (h - 1, w - 1), (0, w - 1)}:
        x = torch.rand(1, 1, H, W, requires_grad=True)
        (g,) = torch.autograd.grad(net(x)[0, :, row, col].sum(), x)
        nz = (g[0, 0] != 0).nonzero()
        support = (nz[:, 0].min().item(), nz[:, 1].min().item(), nz[:, 0].max().item() + 1, nz[:, 1].max().item() + 1)
        top, left, bottom, right = f.clipped_box(row, col, H, W)
        if (row, col) in inside:
            assert support == (top, left, bottom, right), (seed, row, col, f)
        else:
            assert top <= support[0] and left <= support[1], (seed, row, col, f)
            assert support[2] <= bottom and support[3] <= right, (seed, row, col, f)


def test_box_equals_gradient_support_residual():
    net = _Residual()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    rf = receptive_fields(net, (1, 9, 9))["add"]
    x = torch.rand(1, 1, 9, 9, requires_grad=True)
    (g,) = torch.autograd.grad((x + net.conv(x))[0, 0, 4, 0], x)
    nz = (g[0, 0] != 0).nonzero()
    assert (nz[:, 0].min().item(), nz[:, 1].min().item(), nz[:, 0].max().item() + 1, nz[:, 1].max().item() + 1) \
        == rf.clipped_box(4, 0, 9, 9) == (3.0, 0.0, 6.0, 2.0)


# ----------------------------------------------------------------------------- effective receptive field
def test_effective_receptive_field_lenet(lenet):
    erf = effective_receptive_field(lenet, "features.3", samples=3)
    assert erf.unit == (5, 5) and erf.gradient.shape == (28, 28) and erf.samples == 3
    top, left, bottom, right = (int(v) for v in erf.theoretical.clipped_box(5, 5, 28, 28))
    assert (top, left, bottom, right) == (8, 8, 22, 22)  # -2 + 5*2 = 8, +14
    outside = erf.gradient.copy()
    outside[top:bottom, left:right] = 0
    assert outside.max() == 0 and erf.mass_in_box == pytest.approx(1.0, abs=1e-5)
    # a Gaussian-like bump: its 1-sd band is narrower than the 14-pixel square
    assert 0 < erf.size(1)[0] < 14 and erf.size(2)[0] == pytest.approx(2 * erf.size(1)[0])
    assert abs(erf.mean[0] - 14.5) < 2.5  # centre of the box (8 + 13/2)
    with pytest.raises(ReceptiveFieldError, match="whole input"):
        effective_receptive_field(lenet, "classifier.1")
    # a second method for the gradient: autograd through the whole module with a hook
    x = torch.randn(2, 1, 28, 28)
    e2 = effective_receptive_field(lenet, "features.3", x, channel=4, unit=(2, 7))
    xx = x.clone().requires_grad_(True)
    mod = lenet.module
    y = mod.features[:4](xx)
    (g,) = torch.autograd.grad(y[:, 4, 2, 7].sum(), xx)
    torch.testing.assert_close(torch.from_numpy(e2.gradient), g.abs().sum(1).mean(0))


def test_functional_node_output_and_no_leftovers(resnet18_untrained):
    m = resnet18_untrained
    x = torch.randn(1, 3, 224, 224)
    # "add" is the first residual sum, a torch.fx node with no module: relu(add) is the block's output
    block = m.activations(x, ["layer1.0"])["layer1.0"]
    torch.testing.assert_close(torch.relu(layer_output(m, "add", x)), block)
    for _ in range(3):
        effective_receptive_field(m, "layer1", samples=1)
    assert not any(mod._forward_hooks or mod._backward_hooks for mod in m.module.modules())
    assert not any(p.requires_grad for p in m.module.parameters())
    # in-place flags were switched off once at load; nothing flips them per request
    assert not any(getattr(mod, "inplace", False) for mod in m.module.modules() if isinstance(mod, nn.ReLU))


def test_reexported():
    assert cnnviz.receptive_fields is receptive_fields and cnnviz.ReceptiveField is ReceptiveField


# ----------------------------------------------------------------------------- the page's rules, as library functions
def test_padding_share_by_hand():
    rf = ReceptiveField("c", "Conv2d", (5, 5), (2, 2), (-2.0, -2.0))
    # unit (0, 0): rows/cols -2..2, of which 0..2 are on the image: 9 of 25 pixels inside
    assert rf.padding_share(0, 0, 8, 8) == pytest.approx(16 / 25)
    assert rf.padding_share(2, 2, 8, 8) == 0.0  # rows/cols 2..6 lie inside an 8x8 image


def test_field_table_rows():
    from cnnviz.methods.receptive_field import field_table

    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    rows = field_table(list(receptive_fields(net, (1, 8, 8)).values()))
    assert rows[0] == {"layer": "0", "op": "Conv2d", "output": "4×8×8", "field": "3×3", "jump": "1×1",
                       "start": "(-1, -1)", "note": ""}
    assert rows[1]["field"] == "4×4" and rows[1]["jump"] == "2×2" and rows[1]["start"] == "(-1, -1)"
    assert rows[-1]["field"] == "whole input" and rows[-1]["jump"] == "—"


def test_default_layer_rules(resnet18_untrained):
    from cnnviz.methods.receptive_field import default_layer

    fields = receptive_fields(resnet18_untrained)
    spatial = [n for n, f in fields.items() if not f.whole_input and f.output_shape and len(f.output_shape) == 3]
    # ResNet-18: the stages layer1..layer4 are top-level blocks; layer4's field (435 px) exceeds 224, layer3's fits
    assert fields["layer4"].size[0] > 224 >= fields["layer3"].size[0]
    assert default_layer(fields, spatial, 224) == "layer3"
    # without the blocks: the last convolution whose field fits, never a shortcut
    plain = [n for n in spatial if not fields[n].container]
    chosen = default_layer(fields, plain, 224)
    assert fields[chosen].op == "Conv2d" and "downsample" not in chosen and fields[chosen].size[0] <= 224
    later = plain[plain.index(chosen) + 1:]
    assert all(fields[n].op != "Conv2d" or "downsample" in n or fields[n].size[0] > 224 for n in later)
    with pytest.raises(ReceptiveFieldError, match="spatial map"):
        default_layer(fields, [], 224)
