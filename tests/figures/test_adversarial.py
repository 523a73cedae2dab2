"""Figures of the adversarial page: values checked against the results they draw."""
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.figures import adversarial as fa
from cnnviz.figures.render import COLORMAPS
from cnnviz.methods import adversarial as A

from ..conftest import SAMPLES


@pytest.fixture(scope="module")
def example(lenet):
    return A.attack_image(lenet, cnnviz.load_image(SAMPLES / "digit-3.png"), A.AttackSpec("fgsm", epsilon=0.2))


def _example(delta: torch.Tensor) -> A.AdversarialExample:
    clean = torch.full((1, 2, 2), 0.5)
    p = torch.tensor([0.9, 0.1])
    return A.AdversarialExample(A.AttackSpec(), clean, clean + delta, p, p.flip(0), 0, ["a", "b"])


def test_perturbation_colours_by_hand():
    ex = _example(torch.tensor([[[0.1, -0.1], [0.0, 0.05]]]))
    img = fa.perturbation_image(ex)
    table = (COLORMAPS["rdbu"] * 255).round()
    assert img.shape == (2, 2, 3) and img.dtype == np.uint8
    assert np.array_equal(img[0, 0], table[-1]) and np.array_equal(img[0, 1], table[0])  # +max red, -max blue
    assert np.array_equal(img[1, 0], table[5])  # unchanged: the middle (near white)
    assert fa.amplification(ex) == pytest.approx(10.0)


def test_images_are_the_pixels(example):
    assert np.array_equal(fa.pixels_image(example.clean), (example.clean[0] * 255).round().byte().cpu().numpy())
    assert fa.pixels_image(example.adversarial).shape == (28, 28)


def test_predictions_figure_shows_both_top_lists(example):
    fig = fa.predictions_figure(example, k=3)
    adv, clean = fig.data
    names = set(c for c, _ in example.top(False, 3)) | set(c for c, _ in example.top(True, 3))
    assert set(adv.y) == set(clean.y) == names
    for name, v in zip(clean.y, clean.x, strict=True):
        assert v == pytest.approx(float(example.clean_probs[example.classes.index(name)]))
    for name, v in zip(adv.y, adv.x, strict=True):
        assert v == pytest.approx(float(example.adversarial_probs[example.classes.index(name)]))


def test_curve_figure_one_pair_of_lines_per_model():
    c = A.RobustnessCurve("m", A.AttackSpec("pgd"), [0.0, 0.1], [0.99, 0.3], [0.99, 0.97], n=500)
    fig = fa.curve_figure([c])
    assert [t.name for t in fig.data] == ["PGD-10 L∞", "random noise, same size"]
    assert list(fig.data[0].y) == [0.99, 0.3] and list(fig.data[1].y) == [0.99, 0.97]
    assert "500 images" in fig.layout.title.text
    two = fa.curve_figure([c, c], ["plain", "robust"])
    assert len(two.data) == 4 and two.data[2].name.startswith("robust:")
    attack_only = fa.curve_figure([c, c], ["plain", "robust"], noise=False)
    assert [t.name for t in attack_only.data] == ["plain: PGD-10 L∞", "robust: PGD-10 L∞"]
    unlabelled = A.RobustnessCurve("m", A.AttackSpec(), [0.0], [1.0], [1.0], n=6, labelled=False)
    assert fa.curve_figure([unlabelled]).layout.yaxis.title.text == "answers unchanged"


def test_transfer_figure_groups():
    t = A.TransferResult("a", A.AttackSpec(epsilon=0.2), ["a", "b"], [0.99, 0.98], [0.01, 0.4], [0.96, 0.95], 500)
    fig = fa.transfer_figure(t)
    assert [list(d.y) for d in fig.data] == [[0.99, 0.98], [0.96, 0.95], [0.01, 0.4]]
    assert list(fig.data[0].x) == ["a (attacked)", "b"]


def test_filters_image_grey_is_zero():
    w = torch.zeros(6, 1, 5, 5)
    w[0, 0, 0, 0], w[1, 0, 0, 0] = 1.0, -1.0
    img = fa.filters_image(w, cols=6)
    assert img.shape == (1 + 6, 1 + 6 * 6)
    assert img[1, 1] == 255 and img[1, 7] == 0 and img[2, 2] in (127, 128)  # +1 white, -1 black, 0 grey


def test_attribution_overlay_shape(example):
    heat = torch.zeros(28, 28)
    out = fa.attribution_overlay(example.clean, heat, alpha=0.0)
    assert out.shape == (28, 28, 3) and np.array_equal(out[..., 0], fa.pixels_image(example.clean))
