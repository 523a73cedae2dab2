"""cnnviz.methods.arithmetic.special_cases: the numbers behind the 1×1, dilated, grouped and pooling examples,
by hand and against PyTorch."""
import torch
import torch.nn.functional as F

from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


def test_one_by_one_and_the_bottleneck_by_hand():
    one = ar.one_by_one_layer(LayerSpec("conv", 9, 9, 3, 20, kernel=5, stride=2))
    assert one.output_shape() == (20, 9, 9) and one.params().weights == 3 * 20
    # 3x3 256->256: 9·256·256 + 256; bottleneck: (256·64 + 64) + (9·64·64 + 64) + (64·256 + 256)
    assert ar.bottleneck_params() == (590_080, 70_016)
    plain, cheap = ar.bottleneck_params()
    assert plain == sum(p.numel() for p in torch.nn.Conv2d(256, 256, 3).parameters())
    assert cheap == sum(p.numel() for m in (torch.nn.Conv2d(256, 64, 1), torch.nn.Conv2d(64, 64, 3),
                                            torch.nn.Conv2d(64, 256, 1)) for p in m.parameters())


def test_dilation_sweep_by_hand():
    rows = ar.dilation_sweep(9)
    assert [r.span for r in rows] == [3, 5, 7, 9]  # D(K-1)+1
    assert [r.output for r in rows] == [7, 5, 3, 1]  # 9 - span + 1
    assert {r.params for r in rows} == {10}  # 9 weights + 1 bias, whatever the dilation
    assert ar.dilation_sweep(9, dilations=(5,))[0].output is None  # span 11 > 9


def test_grouped_costs_match_pytorch():
    costs = ar.grouped_costs(9, 9, 3)  # 3 channels: the example uses 32
    assert [c.weights for c in costs] == [9216, 4608, 2304, 288, 1312]
    assert [c.groups for c in costs] == [1, 2, 4, 32, 32] and costs[-1].separable and costs[-2].depthwise
    assert costs[-1].pointwise_weights == 32 * 32
    assert [c.macs for c in costs] == [9 * 9 * 9216, 9 * 9 * 4608, 9 * 9 * 2304, 9 * 9 * 288, 9 * 9 * 1312]
    for c, g in zip(costs[:4], (1, 2, 4, 32), strict=True):
        conv = torch.nn.Conv2d(32, 32, 3, padding=1, groups=g, bias=False)
        assert c.weights == conv.weight.numel()
    assert ar.grouped_channels(64) == 64 and ar.grouped_channels(6) == 32 and ar.grouped_channels(12) == 12


def test_grouped_layer_keeps_a_grouped_spec():
    grouped = LayerSpec("conv", 12, 12, 8, 16, kernel=3, groups=4)
    assert ar.grouped_layer(grouped) is grouped
    assert ar.grouped_layer(LayerSpec("conv", 12, 12, 64, 16, kernel=1)) == LayerSpec(
        "conv", 12, 12, 64, 64, kernel=3, padding=1, groups=64)


def test_pool_example_equals_pytorch():
    ex = ar.pool_example()
    torch.testing.assert_close(ex.y, F.max_pool2d(ex.x[None, None], 2)[0, 0])
    assert ex.windows == ((0, 0), (0, 2), (2, 0), (2, 2))


def test_default_case_follows_the_layer():
    assert ar.default_case(LayerSpec("conv", 28, 28, 64, 16, kernel=1)) == "1x1"
    assert ar.default_case(LayerSpec("conv", 32, 32, 64, 64, kernel=3, padding=1, groups=64)) == "grouped"
    assert ar.default_case(LayerSpec("conv", 32, 32, 3, 20, kernel=3, dilation=2)) == "dilated"
    assert ar.default_case(LayerSpec("maxpool", 32, 32, 3, 3, kernel=2, stride=2)) == "pool"
    assert ar.default_case(LayerSpec()) == "1x1"
    assert set(ar.SPECIAL_CASES) >= {"1x1", "dilated", "grouped", "pool"}
