"""cnnviz.text.kernels: the words of /kernels say what the numbers do (a kernel's sum, a layer's shape and grouping,
the window of the weight map), and the page's slider table keeps the URL keys of older links."""
import numpy as np
import pytest
import torch

from cnnviz.figures.kernels import map_window
from cnnviz.methods.kernels import KERNELS, apply_kernel, classic_kernel, gaussian
from cnnviz.text.kernels import (
    KERNEL_DESCRIPTIONS,
    ORDER_TITLES,
    PARAM_KEYS,
    describe_layer,
    filter_caption,
    gabor_orientations,
    grouping_note,
    kernel_params,
    kernel_sum_note,
    response_caption,
    weight_map_caption,
)


def test_kernel_params_keep_the_page_url_keys():
    # links made before the page was thinned must still work: these keys are part of the URLs
    assert [(p.name, p.key, p.default) for p in kernel_params("gabor")] == [
        ("size", "kn_gn", 11), ("theta", "kn_theta", 0), ("wavelength", "kn_lambda", 6.0),
        ("gabor_sigma", "kn_gsigma", 3.0), ("gamma", "kn_gamma", 0.5), ("phase", "kn_phase", 0)]
    assert [(p.key, p.default) for p in kernel_params("gaussian")] == [("kn_sn", 5), ("kn_sigma", 1.0)]
    assert [(p.key, p.default) for p in kernel_params("box_blur")] == [("kn_n", 3)]
    assert kernel_params("sobel_x") == []
    assert [v for v, _ in kernel_params("gabor")[-1].choices] == [0, 90]
    # every offered default builds its kernel (sizes within classic_kernel's limits)
    for name in KERNELS:
        k = classic_kernel(name, **{p.name: p.default for p in kernel_params(name)})
        assert torch.isfinite(k).all()
    with pytest.raises(KeyError, match="Known"):
        kernel_params("nope")


def test_kernel_sum_note():
    assert kernel_sum_note(gaussian(5, 1.0)).startswith("sums to 1:")
    assert kernel_sum_note(classic_kernel("sobel_x")).startswith("sums to 0:")
    assert kernel_sum_note(np.full((3, 3), 0.5)) == "sums to 4.5: flat areas are multiplied by 4.5"
    # a flat image times a kernel that sums to s is s times the image: the note is what apply_kernel does
    flat = torch.full((5, 5), 0.4)
    assert apply_kernel(flat, np.full((3, 3), 0.5), padding="valid").unique().item() == pytest.approx(0.4 * 4.5)


def test_describe_layer():
    w = torch.zeros(5, 2, 3, 3)
    assert describe_layer("c", w, 1, [0, 0, 1, 0, 1]) == (
        "Layer `c`: 5 filters × 2 input channels × 3×3 = 90 weights. Clusters (sizes): 3, 2.")
    assert "Grouped convolution (4 groups)" in describe_layer("c", w, 4)


def test_grouping_note():
    assert grouping_note(64, 1) == ""
    assert "each filter sees only 1 of the layer's 32 input channels (depthwise" in grouping_note(1, 32)
    assert "only 16 of the layer's 64 input channels, the channels of its own group" in grouping_note(16, 4)



def test_weight_map_caption_names_the_window():
    win = map_window((512, 512, 3, 3))
    cap = weight_map_caption((512, 512, 3, 3), win, filter_start=100, channel_start=64)
    assert "filters 100…163" in cap and "input channels 64…127" in cap and "own largest |weight|" in cap
    assert weight_map_caption((6, 1, 5, 5), map_window((6, 1, 5, 5)), shared=True).startswith("6 filters, row by row")


def test_every_kernel_and_order_has_its_words():
    assert set(KERNEL_DESCRIPTIONS) == set(KERNELS)
    from cnnviz.methods.kernels import ORDERS

    assert set(ORDER_TITLES) == set(ORDERS)
    # the view's URL keys: one per slider, the size keys of each kernel family among them
    assert PARAM_KEYS == ("kn_n", "kn_sn", "kn_sigma", "kn_gn", "kn_theta", "kn_lambda", "kn_gsigma", "kn_gamma",
                          "kn_phase")


def test_captions_hold_the_numbers():
    assert filter_caption(2, 1.23456, 3) == ("Filter 2: norm 1.235; red = positive, blue = negative weights, one "
                                             "scale for its 3 channels.")
    assert filter_caption(0, 1.0, 64).endswith("(first 16 of 64 shown; the map above shows all).")
    assert response_caption(-0.5, 2) == "Response range -0.5 … 2."
    assert response_caption(0, 1, "CPU", flipped=True).endswith("on CPU as a true convolution (kernel flipped).")
    assert gabor_orientations([90.0, 30.0, 90.0, 90.0]) == "Gabor orientations found: 30°×1, 90°×3"
