"""cnnviz.methods.kernels.bridge: learned filters against classic kernels, with planted filters whose match and
cosine are known by hand."""
import math

import pytest
import torch

from cnnviz.methods.kernels import (
    best_matches,
    box_blur,
    classic_bank,
    classic_kernel,
    colour_share,
    family_summary,
    gabor,
    matched_template,
    mean_abs_cosine,
    similarity_to_classic,
)


def test_planted_sobel_matches_sobel():
    sob = classic_kernel("sobel_x")
    w = torch.stack([sob.expand(3, 3, 3), -classic_kernel("sobel_y").expand(3, 3, 3)])
    m = best_matches(w)
    assert m[0].name == "Sobel x" and m[0].cosine == pytest.approx(1.0, abs=1e-6)
    assert m[1].name == "Sobel y" and m[1].cosine == pytest.approx(-1.0, abs=1e-6)
    assert m[0].family == "edge" and m[0].colour_share == pytest.approx(0.0, abs=1e-6)
    # with noise it is still Sobel, with cosine close to 1
    torch.manual_seed(0)
    noisy = sob.expand(1, 3, 3, 3) + 0.05 * torch.randn(1, 3, 3, 3)
    nm = best_matches(noisy)[0]
    assert nm.name == "Sobel x" and nm.cosine > 0.95


def test_similarity_matrix_hand_value():
    # Sobel x . Prewitt x = 1+1+2+2+1+1 = 8; |Sobel| = sqrt 12, |Prewitt| = sqrt 6 -> 8 / sqrt 72
    sim, names = similarity_to_classic(classic_kernel("sobel_x").view(1, 1, 3, 3))
    assert float(sim[0, names.index("Prewitt x")]) == pytest.approx(8 / math.sqrt(72), abs=1e-6)
    assert float(sim[0, names.index("Sobel y")]) == pytest.approx(0.0, abs=1e-6)


def test_colour_filter_has_colour_share_one():
    k = classic_kernel("sobel_x")
    w = torch.stack([k, -k, torch.zeros(3, 3)]).unsqueeze(0)  # red edge minus green edge
    assert float(colour_share(w)[0]) == pytest.approx(1.0, abs=1e-6)
    sim, _ = similarity_to_classic(w)
    assert sim.abs().max().item() < 1e-6


@pytest.mark.parametrize("theta", [0, 30, 60, 90, 135])
def test_gabor_orientation_recovered(theta):
    # planted with a wavelength, width and aspect the bank does not contain
    w = gabor(11, theta, wavelength=5, sigma=2.5, gamma=0.7, phase=90).view(1, 1, 11, 11)
    m = best_matches(w)[0]
    assert m.family == "Gabor" and m.theta == theta


def test_bank_resizes_to_filter_size():
    bank = classic_bank((7, 7))
    assert all(k.shape == (7, 7) for k in bank.values())
    sx = bank["Sobel x"]
    assert sx[:, 0].lt(0).all() and sx[:, -1].gt(0).all() and sx[:, 3].abs().max() < 1e-6


def test_bank_size_depends_on_kernel_size():
    # 11 non-Gabor kernels; Gabors: orientations x 2 wavelengths x 2 phases, capped at 4 orientations for 3x3
    assert len(classic_bank(11)) == 11 + 12 * 2 * 2
    assert len(classic_bank(3)) == 11 + 4 * 2 * 2


def test_family_summary_and_mean_best_cosine():
    w = torch.stack([classic_kernel("sobel_x"), -classic_kernel("sobel_y"), box_blur(3)]).unsqueeze(1)
    matches = best_matches(w)
    assert family_summary(matches) == [("edge", 2, pytest.approx(1.0)), ("blur", 1, pytest.approx(1.0))]
    assert mean_abs_cosine(matches) == pytest.approx(1.0, abs=1e-6)
    assert mean_abs_cosine(best_matches(torch.stack([w[0], 0.1 * w[0] + torch.randn(1, 3, 3)]))) < 1
    bank = classic_bank(3)
    assert torch.equal(matched_template(bank, matches[1]), -bank["Sobel y"])  # cosine -1: the negated kernel
    assert torch.equal(matched_template(bank, matches[0]), bank["Sobel x"])
