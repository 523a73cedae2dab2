"""Occlusion by hand, against Captum, its position count and its progress reports."""
import pytest
import torch

import cnnviz
from cnnviz.methods.attribution.base import AttributionError
from cnnviz.methods.attribution.perturbation import occlusion, occlusion_positions

from ...conftest import SAMPLES
from .conftest import X


def test_occlusion_by_hand(tiny):
    # hiding pixel ij (fill 0) lowers y0 by 0.75 * relu(x_ij)
    occ = occlusion(tiny, X, 0, patch=1, stride=1)
    assert torch.allclose(occ.map, torch.tensor([[0.75, 0.0], [2.25, 0.0]]))
    assert occ.info["positions"] == 4
    # a 2x2 patch covers everything once: every pixel gets y0(x) - y0(0) = 3
    assert torch.allclose(occlusion(tiny, X, 0, patch=2, stride=1).map, torch.full((2, 2), 3.0))


def test_occlusion_reports_progress_per_batch(tiny):
    seen = []
    occlusion(tiny, X, 0, patch=1, stride=1, batch_size=3, progress=lambda f, text: seen.append((f, text)))
    assert seen == [(0.75, "3 of 4 patches"), (1.0, "4 of 4 patches")]


def test_occlusion_equals_captum(lenet):
    from captum.attr import Occlusion

    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-5.png"))
    ours = occlusion(lenet, x, 5, patch=4, stride=4, batch_size=10)  # (28 - 4) / 4 + 1 = 7 positions a side
    theirs = Occlusion(lenet.module).attribute(x, sliding_window_shapes=(1, 4, 4), strides=(1, 4, 4), target=5,
                                               baselines=0.0)
    assert ours.info["positions"] == 49
    assert torch.allclose(ours.map, theirs[0, 0], atol=1e-4)


def test_occlusion_positions_agree_with_the_method(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-4.png"))
    for patch, stride in [(4, 2), (5, 3), (28, 1), (3, 10)]:
        # (28 - 4) // 2 + 1 = 13 a side, 13 * 13 = 169 positions; the method's own count agrees
        assert occlusion_positions((28, 28), patch, stride) == occlusion(lenet, x, 4, patch, stride).info["positions"]
    assert occlusion_positions((28, 28), 4, 2) == 169 and occlusion_positions((10, 20), 4, 4) == 2 * 5


def test_bad_patch_says_the_fix(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    with pytest.raises(ValueError, match="patch"):
        occlusion(lenet, x, 7, patch=40)
    with pytest.raises(AttributionError) as e:  # what a page catches and shows
        occlusion(lenet, x, 7, patch=40)
    assert isinstance(e.value, cnnviz.CnnvizError) and "1 <= patch <= 28" in str(e.value)
