"""cnnviz.methods.arithmetic.demo: the animation's input and kernel, typed ones read or explained."""
import pytest
import torch
import torch.nn.functional as F

import cnnviz
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


def test_parse_matrix_and_demo_kernel_explain_bad_input():
    assert ar.parse_matrix("1 2; 3,4").tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ar.MatrixError, match="cannot be read.*rows separated by ';'"):
        ar.parse_matrix("1 2; 3")
    with pytest.raises(cnnviz.errors.CnnvizError, match="cannot be read"):
        ar.parse_matrix("1 x")
    with pytest.raises(ar.MatrixError, match="2×2, but K = 3"):
        ar.demo_kernel("custom", 3, "1 0; 0 1")
    assert ar.demo_kernel("custom", 2, ar.identity_kernel_text(2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ar.demo_kernel("edge", 3).tolist() == [[-1, 0, 1]] * 3
    assert ar.demo_kernel("ones", 2).sum() == 4
    assert ar.identity_kernel_text(3) == "1 0 0; 0 1 0; 0 0 1"


def test_demo_layer_with_typed_input_equals_pytorch():
    spec = LayerSpec("conv", 4, 4, 1, 1, kernel=2)
    demo = ar.demo_layer(spec, "custom", input_text="1 2 3; 4 5 6; 7 8 9", kernel_kind="ones")
    assert demo.ok and demo.spec.height == 3 and demo.typed_size_differs
    got = [s.value for s in ar.sliding_windows(demo.x, demo.weight, 1.0, demo.spec)]
    assert got[0] == 1 + 2 + 4 + 5 + 1  # worked by hand
    want = F.conv2d(demo.x[None, None], demo.weight[None, None], torch.tensor([1.0], dtype=torch.float64))
    assert got == want.flatten().tolist()
    bad = ar.demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=3), "custom", input_text="1 2; 3 4")
    assert not bad.ok and "does not fit" in str(bad.errors[0])
    digit = ar.demo_layer(LayerSpec("conv", 100, 20, 1, 1, kernel=3), "digit", digit=7)
    assert tuple(digit.x.shape) == (64, 20)  # capped at DEMO_MAX_SIDE
    assert not digit.typed_size_differs  # capped, not typed: the page says nothing
    assert digit.x.min() >= 0 and digit.x.max() == 9 and torch.equal(digit.x, digit.x.round())
    unreadable = ar.demo_layer(spec, "custom", input_text="1 2; 3", kernel_kind="custom", kernel_text="1")
    assert not unreadable.ok and [type(e) for e in unreadable.errors] == [ar.MatrixError, ar.MatrixError]


def test_random_input_and_kernel_are_seeded():
    assert torch.equal(ar.demo_input("random", 5, 6), ar.demo_input("random", 5, 6))
    assert ar.demo_input("random", 5, 6).shape == (5, 6)
    k = ar.demo_kernel("random", 3)
    assert torch.equal(k, ar.demo_kernel("random", 3)) and k.min() >= -1 and k.max() <= 2
