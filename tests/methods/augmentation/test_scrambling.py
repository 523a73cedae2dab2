"""cnnviz.methods.augmentation.scrambling: the Picasso problem's sweep and demo against their parts."""
import numpy as np
import torch

from cnnviz.methods.augmentation import (
    image_tensor,
    predict_pixels,
    scramble,
    scramble_demo,
    scramble_limits,
    scramble_sweep,
    to_arrays,
)


def test_scramble_sweep_one_tile_keeps_the_prediction(lenet, six):
    s = scramble_sweep(lenet, six, grids=(1, 4), shuffles=3)
    p = lenet.predict(six, 1)[0][1]
    assert np.allclose(s.probs[0].tolist(), [p] * 3, atol=1e-6) and s.kept[0] == 1.0
    assert s.tiles == [1, 16]
    x0 = image_tensor(lenet, six).cpu()
    assert torch.equal(s.examples[0], x0) and torch.equal(s.examples[1], scramble(x0, 4, 0))  # first shuffle per grid


def test_scramble_demo_matches_its_parts(lenet, six):
    grid_max, shuffles = scramble_limits(lenet)
    assert (grid_max, shuffles) == (7, 8)  # 28 // 4 tiles per side at most, 8 shuffles on a small model
    d = scramble_demo(lenet, six, 3, seed=5, max_grid=3, shuffles=2)
    x0 = image_tensor(lenet, six)
    np.testing.assert_array_equal(d.scrambled, to_arrays(scramble(x0, 3, 5)[None])[0])
    np.testing.assert_array_equal(d.clean, to_arrays(x0[None])[0])
    want = predict_pixels(lenet, torch.stack([x0, scramble(x0, 3, 5)])).cpu()
    torch.testing.assert_close(d.clean_probs, want[0])
    torch.testing.assert_close(d.scrambled_probs, want[1])
    assert d.clean_class == lenet.predict(six, 1)[0][0]
    assert d.sweep.tiles == [1, 4, 9] and d.sweep.probs.shape == (3, 2)


def test_scramble_limits_of_an_imagenet_size_model(resnet18_untrained):
    assert scramble_limits(resnet18_untrained) == (8, 4)  # 224 // 4 = 56 capped at 8; fewer shuffles for 224 px
