"""cnnviz.methods.augmentation.shift: measured strides, and aliasing worked out by hand on an average pool."""
import math

import numpy as np
import pytest
import torch

from cnnviz.methods.augmentation import AugmentationError, layer_strides, shift_sweep


def test_shift_by_zero_is_identity(lenet, six):
    s = shift_sweep(lenet, six, max_shift=3, layer="features.0")
    plain = torch.softmax(lenet.logits(lenet.preprocess(six)), 1)[0].cpu()
    assert torch.allclose(s.sweep.probs[0], plain, atol=1e-6)
    assert s.change[0] == 0.0 and s.aligned_change[0] == 0.0
    assert s.stride == 1
    assert s.sweep.values == [0.0, 1.0, 2.0, 3.0] and s.sweep.images.shape == (4, 1, 28, 28)


def test_shift_aliasing_on_a_pooling_model_by_hand(tiny_pool):
    m = tiny_pool
    assert layer_strides(m) == {"0": 2}
    x = torch.zeros(1, 8, 8)
    x[0, 3, 2] = 1.0  # falls in pooled cell (1, 1) as 0.25
    s = shift_sweep(m, x, max_shift=3, layer="0")
    # shift 1: pixel at x=3, still cell (1, 1): no change. shift 2: cell (1, 2): raw sqrt(2), aligned 0.
    # shift 3: cell (1, 2) again, but round(3/2) = 2 cells of alignment overshoots: aligned sqrt(2).
    assert np.allclose(s.change, [0, 0, math.sqrt(2), math.sqrt(2)], atol=1e-6)
    assert np.allclose(s.aligned_change, [0, 0, 0, math.sqrt(2)], atol=1e-6)
    down = shift_sweep(m, x, max_shift=2, layer="0", direction="down")  # row 3 -> 4 crosses into cell (2, 1)
    assert np.allclose(down.change, [0, math.sqrt(2), math.sqrt(2)], atol=1e-6)
    assert shift_sweep(m, x, max_shift=0, layer="0").change == [0.0]  # no shift at all: the clean image only


def test_layer_strides_of_lenet(lenet):
    strides = layer_strides(lenet)
    # conv(pad 2) keeps 28, pool halves, conv 5x5 keeps the jump, pool halves again
    assert [strides[n] for n in ("features.0", "features.2", "features.3", "features.5")] == [1, 2, 2, 4]
    assert list(strides) == [n for n in lenet.output_shapes() if len(lenet.output_shapes()[n]) == 3]  # every map
    assert layer_strides(lenet) is strides  # measured once per model


def test_shift_settings_are_checked_with_the_fix(lenet, six):
    with pytest.raises(AugmentationError, match="direction must be one of"):
        shift_sweep(lenet, six, direction="up")
    with pytest.raises(AugmentationError, match="between 0 and 27 pixels"):
        shift_sweep(lenet, six, max_shift=28)
    with pytest.raises(KeyError, match="m.layer_names"):
        shift_sweep(lenet, six, layer="nope")
