import numpy as np
import torch

from cnnviz.methods.why_conv import SIGMOID_SLOPE_MAX, auxiliary_gradients, depth_bound, init_gradients, sigmoid_curves


def test_sigmoid_slope_is_at_most_a_quarter_at_zero():
    x = torch.linspace(-10, 10, 2001)
    s, ds = sigmoid_curves(x)
    expected = 1 / (1 + np.exp(-x.numpy()))
    assert np.allclose(s.numpy(), expected, atol=1e-6)
    assert np.allclose(ds.numpy(), expected * (1 - expected), atol=1e-6)  # σ' = σ(1 − σ), by hand
    assert float(ds.max()) <= 0.25 + 1e-7
    assert abs(float(x[ds.argmax()])) < 1e-6
    assert float(sigmoid_curves(torch.tensor([0.0]))[1][0]) == SIGMOID_SLOPE_MAX == 0.25
    assert np.allclose(depth_bound([0, 1, 2, 10]), [1, 0.25, 0.0625, 0.25 ** 10])


def test_init_scale_makes_gradients_vanish_or_explode():
    small, he, large = (init_gradients("relu", g, depth=20, n=64) for g in (0.5, 2 ** 0.5, 4.0))
    assert small.ratio < 1e-3  # the error signal at layer 1 is a thousandth of the last layer's
    assert 0.1 < he.ratio < 10  # He initialisation keeps it
    assert large.ratio > 1e3
    assert init_gradients("sigmoid", 1.0, depth=20, n=64).ratio < 0.25 ** 10


def test_auxiliary_head_adds_gradient_below_it_only():
    r = auxiliary_gradients(depth=10, width=32, aux_at=5, n=64)
    assert r.boost > 100
    above = slice(r.aux_at, None)  # layers 6..10: the auxiliary loss does not reach them
    assert np.allclose(r.signal_with[above], r.signal_without[above], rtol=1e-12)
    assert (r.signal_with[:r.aux_at] > r.signal_without[:r.aux_at]).all()
