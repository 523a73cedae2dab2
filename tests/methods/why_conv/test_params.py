import pytest
from torch import nn

from cnnviz.methods.why_conv import WhyConvError, layer_params, params_by_side


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_lecture_numbers_by_hand():
    assert layer_params(32, 32, 3, units=1).dense_per_unit == 32 * 32 * 3 == 3072
    assert layer_params(256, 256, 3, units=1).dense_per_unit == 256 * 256 * 3 == 196608
    p = layer_params(32, 32, 3, units=64, kernel=3)
    assert p.dense == 64 * (3072 + 1) == 196672
    assert p.conv == 64 * (3 * 3 * 3 + 1) == 1792
    assert p.local == 32 * 32 * 64 * 28 == 1835008
    assert layer_params(4, 4, 1, units=1, kernel=3).local == 16 * 10  # one 3x3 filter + bias at each of 16 places


@pytest.mark.parametrize("h,w,c,k,f", [(28, 28, 1, 6, 5), (32, 32, 3, 64, 3), (224, 224, 3, 16, 7), (9, 5, 2, 3, 1)])
def test_counts_equal_torch_modules(h, w, c, k, f):
    p = layer_params(h, w, c, units=k, kernel=f)
    assert p.dense == _count(nn.Linear(h * w * c, k))
    assert p.conv == _count(nn.Conv2d(c, k, f))
    assert layer_params(h, w, c, k, f, bias=False).conv == _count(nn.Conv2d(c, k, f, bias=False))


def test_conv_count_does_not_depend_on_the_image():
    sweep = params_by_side(3, units=64, kernel=3)
    assert len({s.conv for s in sweep}) == 1
    assert [s.dense for s in sweep] == sorted(s.dense for s in sweep)


def test_bad_sizes_are_said():
    with pytest.raises(WhyConvError, match="does not fit"):
        layer_params(2, 2, 1, kernel=3)
    with pytest.raises(WhyConvError):
        layer_params(0, 4, 1)
