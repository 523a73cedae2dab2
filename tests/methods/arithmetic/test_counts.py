"""cnnviz.methods.arithmetic.counts: parameters and MACs by hand, and the parameter formula against every zoo
model and the bundled ones."""
import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core import zoo as zoo
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


def test_params_and_macs_by_hand():
    assert ar.conv_params(32, 64, 3, groups=1).total == 3 * 3 * 32 * 64 + 64
    dw = ar.conv_params(32, 32, 3, groups=32, bias=False)
    assert dw.weights == 288 and dw.biases == 0
    assert ar.transposed_params(16, 8, 4, groups=2).weights == 16 * 4 * 16
    assert ar.linear_params(400, 120).total == 48120
    assert ar.conv_macs(28, 28, 3, 20, 5) == 28 * 28 * 20 * 75
    assert ar.transposed_macs(4, 4, 2, 6, 3, groups=2) == 4 * 4 * 2 * 3 * 9  # each input value through 3·3·3
    assert LayerSpec("conv", 14, 14, 6, 16, kernel=5).macs() == 10 * 10 * 16 * 6 * 25  # LeNet conv2: 240,000
    assert LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2).pool_ops() == 4 * 3
    assert LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2).params().total == 0


def test_human_numbers():
    assert [ar.human(n) for n in (1520, 1176000, 4.09e9, 0.5, 123_456_789_012)] == [
        "1,520", "1.18 M", "4.09 G", "0.5", "123 G"]


def _zoo_module(name: str) -> nn.Module:
    with torch.device("meta"):
        return zoo.finish_zoo_module(name, zoo.build_zoo_module(name, for_weights=False))


def _formula_params(module: nn.Module) -> int:
    total = 0
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            total += ar.conv_params(m.in_channels, m.out_channels, m.kernel_size[0], m.groups, m.bias is not None).total
            assert m.kernel_size[0] == m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += ar.linear_params(m.in_features, m.out_features, m.bias is not None).total
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            total += 2 * m.weight.numel()  # scale and shift per channel
    return total


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_param_formula_matches_every_zoo_model(name):
    module = _zoo_module(name)
    assert _formula_params(module) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(zoo.BUNDLED))
def test_param_formula_matches_bundled_models(name, request):
    fixture = {"lenet5-mnist": "lenet", "small-vgg-fashion": "small_vgg"}.get(name)
    m = request.getfixturevalue(fixture) if fixture else cnnviz.load_model(name)
    extra = 0
    if name == "capsnet-mnist":  # DigitCaps: one 8 -> 16 matrix per (primary capsule, digit): 6*6*8 x 10 x 16 x 8
        extra = 6 * 6 * 8 * 10 * 16 * 8
        assert m.module.digits.weight.numel() == extra
    assert _formula_params(m.module) + extra == m.num_parameters
    if name.startswith("lenet"):
        assert m.num_parameters == 156 + 2416 + 48120 + 10164 + 850  # worked out layer by layer
