"""cnnviz.methods.arithmetic.quiz: a typed stack of layers read, propagated shape by shape, or explained."""
import pytest

import cnnviz
from cnnviz.methods import arithmetic as ar


def test_parse_and_evaluate_stack():
    rows = ar.evaluate_stack(
        (3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2; conv k3 f40 p1; conv k3 f40 s2 psame")
    )
    assert [r.output_shape for r in rows[:3]] == [(20, 28, 28), (20, 14, 14), (40, 14, 14)]
    assert rows[0].params == 1520 and rows[1].params == 0
    assert rows[3].output_shape is None and rows[3].problems[0].field == "padding"
    with pytest.raises(ValueError, match="unknown kind"):
        ar.parse_stack("dense k3")
    with pytest.raises(ValueError, match="filters"):
        ar.parse_stack("conv k3")
    with pytest.raises(ValueError, match="cannot read"):
        ar.parse_stack("conv k3 f2 x9")


def test_stack_defaults_and_every_token():
    conv, pool, tconv = ar.parse_stack("conv f8 s2 p1 d2 g2\n pool; tconv k2 f4 s2 pvalid")
    assert (conv.mode, conv.kernel, conv.filters, conv.stride, conv.padding, conv.dilation, conv.groups) == (
        "conv", 3, 8, 2, 1, 2, 2)
    assert (pool.mode, pool.kernel, pool.stride, pool.filters) == ("maxpool", 2, 2, None)  # stride = kernel
    assert (tconv.mode, tconv.padding) == ("transposed", "valid")
    assert ar.parse_stack(" ; ") == []
    # 3x8x8 -> conv: (8 + 2 - 2·2 - 1)/2 + 1 = 3; the layer stops there with its channels
    rows = ar.evaluate_stack((4, 8, 8), [conv, pool])
    assert rows[0].output_shape == (8, 3, 3) and rows[1].output_shape == (8, 1, 1)


def test_quiz_shape_and_its_errors():
    assert ar.parse_shape("3×32×32") == (3, 32, 32)
    for bad in ("3x32", "3x0x32", "three"):
        with pytest.raises(ar.StackError, match="C×H×W"):
            ar.parse_shape(bad)
    with pytest.raises(cnnviz.errors.CnnvizError):
        ar.parse_stack("dense k3")
    rows = ar.evaluate_stack((3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2; conv k7 f2 s1; conv k9 f2; pool"))
    assert [r.output_shape for r in rows] == [(20, 28, 28), (20, 14, 14), (2, 8, 8), None]  # stops at the misfit
    assert rows[3].problems[0].field == "kernel"
