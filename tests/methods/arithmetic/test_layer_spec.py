"""cnnviz.methods.arithmetic.layer_spec: one layer by hand, why invalid settings are invalid, and thousands of random
settings against PyTorch itself (valid exactly when PyTorch accepts, and then the same shape and parameters)."""
import random

import pytest
import torch
from torch import nn

from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec
from tests.methods.arithmetic.specs import random_spec, torch_outcome


def test_lecture_example_32x32x3_twenty_5x5_filters():
    s = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
    assert s.output_shape() == (20, 28, 28)
    assert s.params() == ar.ParamCount(weights=5 * 5 * 3 * 20, biases=20)
    assert s.params().total == 1520
    assert s.macs() == 28 * 28 * 20 * 75
    # one 3x3x3 filter on 32x32x3: 30x30x1
    assert LayerSpec("conv", 32, 32, 3, 1, kernel=3).output_shape() == (1, 30, 30)


def test_problems_explain_invalid_combinations():
    def fields(**kw):
        return [p.field for p in LayerSpec(**kw).problems()]

    assert fields(mode="conv", height=5, width=5, kernel=7) == ["kernel"]
    assert fields(mode="conv", in_channels=3, out_channels=5, groups=2) == ["groups", "groups"]
    assert fields(mode="conv", stride=0) == ["stride"]
    assert fields(mode="conv", stride=2, padding="same") == ["padding"]
    assert fields(mode="maxpool", kernel=2, padding=2) == ["padding"]
    assert fields(mode="transposed", stride=2, output_padding=2) == ["output_padding"]
    assert fields(mode="conv") == []
    msg = LayerSpec("conv", in_channels=3, groups=2).problems()[0].message
    assert "divide" in msg and "3/2" in msg


def test_problems_of_each_kind_in_the_order_a_student_fixes_them():
    def problems(**kw):
        return [(p.field, p.message) for p in LayerSpec(**kw).problems()]

    assert problems(mode="dense") == [("mode", "unknown mode 'dense'; choose one of conv, maxpool, avgpool, "
                                               "transposed")]
    # each number on its own first; groups and fit are not judged until those are fixed
    assert [f for f, _ in problems(height=0, out_channels=0, stride=0, dilation=0, groups=2)] == [
        "height", "out_channels", "stride", "dilation"]
    assert problems(padding=-1) == [("padding", "padding -1: it cannot be negative.")]
    assert "'full' is not understood" in problems(padding="full")[0][1]
    assert "number as padding" in problems(mode="maxpool", kernel=2, stride=2, padding="valid")[0][1]
    # a transposed convolution takes no padding word, neither 'same' nor 'valid'
    assert [f for f, _ in problems(mode="transposed", padding="valid")] == ["padding"]
    assert [f for f, _ in problems(mode="transposed", padding="same")] == ["padding"]
    assert "no dilation" in problems(mode="avgpool", kernel=2, stride=2, dilation=2)[0][1]
    assert [f for f, _ in problems(groups=0)] == ["groups"]
    # height (1-1)·1 - 2·2 + 1·(1-1) + 0 + 1 = -3 pixels; width (5-1)·1 - 4 + 0 + 0 + 1 = 1 is fine
    assert problems(mode="transposed", height=1, width=5, kernel=1, padding=2, in_channels=1, out_channels=1) == [
        ("padding", "height: the output would have -3 pixels: the padding 2 crops away everything; use less padding.")]
    dilated = problems(height=6, width=9, kernel=3, dilation=4)  # span 4·2+1 = 9 > 6
    assert dilated[0][1].startswith("the 3x3 kernel dilated by 4 (spans 9 pixels) is larger than the padded input "
                                    "(height 6 + 0 padding = 6)")


@pytest.mark.parametrize("mode, count", [("conv", 5000), ("transposed", 2000), ("maxpool", 2000), ("avgpool", 2000)])
def test_formula_and_validity_match_pytorch_over_sweep(mode, count, single_thread):
    """Thousands of random combinations: valid per :func:`problems` exactly when PyTorch accepts,
    and then the formula's shape equals PyTorch's."""
    torch.manual_seed(0)
    rng = random.Random(MODES_SEED[mode])
    valid = 0
    for _ in range(count):
        spec = random_spec(rng, mode)
        got = torch_outcome(spec)
        probs = spec.problems()
        assert (got is not None) == (not probs), (spec, probs, got)
        if got is not None:
            valid += 1
            assert spec.output_shape() == got, spec
            if mode in ("conv", "transposed"):
                assert spec.params().total == sum(p.numel() for p in spec.torch_module().parameters()), spec
    assert valid > count // 4, "the sweep should mostly test valid combinations"


MODES_SEED = {"conv": 1, "transposed": 2, "maxpool": 3, "avgpool": 4}


def test_torch_code_builds_the_same_module():
    for spec in (LayerSpec("conv", 9, 9, 4, 8, kernel=3, stride=2, padding=1, groups=2, bias=False),
                 LayerSpec("conv", 9, 9, 4, 8, kernel=4, padding="same"),
                 LayerSpec("transposed", 4, 4, 2, 4, kernel=3, stride=2, padding=1, output_padding=1),
                 LayerSpec("maxpool", 8, 8, 3, 3, kernel=3, stride=2, padding=1, dilation=2, ceil_mode=True),
                 LayerSpec("avgpool", 8, 8, 3, 3, kernel=2, stride=2)):
        built = eval(spec.torch_code(), {"nn": nn})
        assert repr(built) == repr(spec.torch_module()), spec


def test_layer_from_controls_drops_what_a_mode_lacks():
    pool = ar.layer_from_controls("maxpool", 8, 8, 3, 20, 2, 2, 0, 1, 4, 1, True)
    assert (pool.out_channels, pool.groups, pool.output_padding, pool.ceil_mode) == (3, 1, 0, True)
    conv = ar.layer_from_controls("conv", 8, 8, 4, 8, 3, 1, 1, 1, 2, 1, True)
    assert (conv.groups, conv.output_padding, conv.ceil_mode) == (2, 0, False)
    tconv = ar.layer_from_controls("transposed", 4, 4, 1, 1, 3, 2, 1, 1, 1, 1, True)
    assert (tconv.output_padding, tconv.ceil_mode) == (1, False)
