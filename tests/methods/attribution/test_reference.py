"""Integrated Gradients, DeepLIFT and GradientSHAP against Captum, and their completeness."""
import copy

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.methods.attribution.reference import deeplift, gradient_shap, integrated_gradients

from ...conftest import SAMPLES
from .conftest import hook_count


@pytest.mark.parametrize("name,img", [("lenet5-mnist", "digit-2.png"), ("small-vgg-fashion", "fashion-bag.png")])
def test_deeplift_gradientshap_equal_captum(name, img):
    from captum.attr import DeepLift, GradientShap

    m = cnnviz.load_model(name)
    x = m.preprocess(cnnviz.load_image(SAMPLES / img))
    own = copy.deepcopy(m.module)  # Captum hooks the model it is given: a private copy here
    black = ((torch.zeros_like(x) - m.mean[0]) / m.std[0])
    ours = deeplift(m, x, 2)
    theirs = DeepLift(own).attribute(x.clone(), black, target=2)[0]
    assert torch.allclose(ours.raw, theirs, atol=1e-6) and torch.allclose(ours.map, theirs.sum(0), atol=1e-6)
    ours = gradient_shap(m, x, 2, samples=8, noise=0.1, seed=3)
    torch.manual_seed(3)
    np.random.seed(3)  # Captum draws baselines and path points from NumPy, noise from torch
    theirs = GradientShap(own).attribute(x.clone(), torch.cat([black, torch.zeros_like(x)]), n_samples=8,
                                         stdevs=0.1, target=2)[0]
    assert torch.allclose(ours.raw, theirs, atol=1e-6)
    assert torch.equal(gradient_shap(m, x, 2, samples=8, seed=3).raw, ours.raw)  # reproducible
    assert not torch.equal(gradient_shap(m, x, 2, samples=8, seed=4).raw, ours.raw)
    assert hook_count(m.module) == 0


def test_integrated_gradients_completeness(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-4.png"))
    ig = integrated_gradients(lenet, x, 4, steps=64)
    black = ((torch.zeros_like(x) - lenet.mean[0]) / lenet.std[0])
    diff = float(lenet.logits(x)[0, 4] - lenet.logits(black)[0, 4])
    assert abs(float(ig.raw.sum()) - diff) < 0.05 * abs(diff)


def test_integrated_gradients_by_hand_on_a_linear_model(tiny):
    # from the mean baseline (0) to X the tiny model is linear wherever the path keeps the ReLU's sign, which a
    # straight path from 0 does: attribution = x * d y0 / d x = [[1, -2], [3, -4]] * 0.75 * mask
    ig = integrated_gradients(tiny, torch.tensor([[[[1.0, -2.0], [3.0, -4.0]]]]), 0, steps=8, baseline="mean")
    assert torch.allclose(ig.raw, torch.tensor([[[0.75, 0.0], [2.25, 0.0]]]), atol=1e-5)
    assert ig.info["delta"] < 1e-5
    with pytest.raises(cnnviz.CnnvizError, match="black"):
        integrated_gradients(tiny, torch.zeros(1, 1, 2, 2), 0, baseline="white")
