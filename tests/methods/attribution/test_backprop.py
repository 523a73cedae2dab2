"""One modified-ReLU backward pass: guided backprop and deconvnet by hand and against Captum; Guided Grad-CAM."""
import copy

import pytest
import torch

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.methods.attribution.backprop import deconvnet, guided_backprop, guided_grad_cam, modified_backprop
from cnnviz.methods.attribution.gradients import saliency

from ...conftest import SAMPLES
from .conftest import X, hook_count


def test_guided_backprop_by_hand(tiny):
    # class 0: all gradients reaching the ReLU are positive, so guided = plain gradient
    assert torch.allclose(guided_backprop(tiny, X, 0).raw, saliency(tiny, X, 0).raw)
    # class 1: the gradient at the ReLU output is (0, -0.25): guided backprop drops it -> zero
    assert torch.count_nonzero(guided_backprop(tiny, X, 1).raw) == 0


def test_deconvnet_by_hand(tiny):
    # class 0: 0.25 reaches every ReLU output of both maps and is positive; deconvnet does not gate it by the
    # forward mask, so every pixel gets 0.25 * 1 + 0.25 * 2 = 0.75 (guided backprop: only the 2 positive ones)
    d = deconvnet(tiny, X, 0)
    assert d.method == "deconvnet" and torch.allclose(d.raw, torch.full((1, 2, 2), 0.75))
    # class 1: (0, -0.25) at the ReLU; the negative part is cut -> zero, as for guided backprop
    assert torch.count_nonzero(deconvnet(tiny, X, 1).raw) == 0
    assert modified_backprop(tiny, X, 0, "guided").method == "guided"
    with pytest.raises(CnnvizError, match="guided"):
        modified_backprop(tiny, X, 0, "lrp")


def test_guided_grad_cam_by_hand(tiny):
    # guided backprop for class 0 is 0.75 * mask; Grad-CAM of layer "0" is [[0.375, 0], [1.125, 0]]
    g = guided_grad_cam(tiny, X, 0, layer="0")
    assert torch.allclose(g.raw, torch.tensor([[[0.75 * 0.375, 0.0], [0.75 * 1.125, 0.0]]]))
    assert g.method == "guided_gradcam" and g.info["layer"] == "0"


def test_guided_backprop_equals_captum(lenet):
    from captum.attr import GuidedBackprop

    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-2.png"))
    ours = guided_backprop(lenet, x, 2)
    theirs = GuidedBackprop(lenet.module).attribute(x.clone(), target=2)
    assert torch.allclose(ours.raw, theirs[0], atol=1e-6)


@pytest.mark.parametrize("name,img", [("lenet5-mnist", "digit-2.png"), ("small-vgg-fashion", "fashion-bag.png")])
def test_deconvnet_equals_captum(name, img):
    from captum.attr import Deconvolution

    m = cnnviz.load_model(name)
    x = m.preprocess(cnnviz.load_image(SAMPLES / img))
    own = copy.deepcopy(m.module)  # Captum hooks the model it is given: a private copy here
    ours = deconvnet(m, x, 2)
    assert torch.allclose(ours.raw, Deconvolution(own).attribute(x.clone(), target=2)[0], atol=1e-6)
    assert hook_count(m.module) == 0
