"""cnnviz.methods.arithmetic.shape_check: PyTorch's shape beside the formula's, on the CPU or, for huge layers, on
the meta device."""
import pytest

from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec, SettingsError


def test_pytorch_check_agrees():
    got, formula = ar.pytorch_check(LayerSpec("conv", 32, 32, 3, 20, kernel=5))
    assert got == formula == (1, 20, 28, 28)
    assert ar.pytorch_check(LayerSpec("maxpool", 7, 7, 2, 2, kernel=2, stride=2, ceil_mode=True), batch=3) == (
        (3, 2, 4, 4), (3, 2, 4, 4))
    with pytest.raises(SettingsError, match="move at least one pixel"):
        ar.pytorch_check(LayerSpec("conv", stride=0))


def test_check_shape_runs_on_meta_for_huge_layers():
    huge = LayerSpec("conv", 224, 224, 512, 512, kernel=3, padding=1)
    check = ar.check_shape(huge)
    assert check.device == "meta" and check.pytorch == (1, 512, 224, 224) and check.agrees
    small = LayerSpec("conv", 9, 7, 2, 4, kernel=3, stride=2, groups=2)
    check = ar.check_shape(small)
    assert check.device == "cpu" and check.pytorch == check.formula == (1, 4, 4, 3)  # (9-3)/2+1, (7-3)/2+1
    assert not ar.ShapeCheck((1, 4, 4, 3), (1, 4, 4, 2), "cpu").agrees
