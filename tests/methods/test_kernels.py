"""cnnviz.methods.kernels: classic kernels on hand-worked images, learned filters, the classic/learned bridge."""
import math

import numpy as np
import pytest
import torch

from cnnviz.methods.kernels import (
    KERNELS,
    KernelError,
    apply_kernel,
    apply_learned_filter,
    best_matches,
    box_blur,
    classic_bank,
    classic_kernel,
    cluster_filters,
    colour_share,
    describe_layer,
    family_summary,
    filter_order,
    first_conv_layer,
    format_kernel,
    gabor,
    gaussian,
    gradient_magnitude,
    grouping_note,
    image_tensor,
    kernel_from_values,
    kernel_params,
    kernel_sum_note,
    learned_filters,
    matched_template,
    mean_abs_cosine,
    parse_kernel,
    similarity_to_classic,
    sort_by_norm,
)
from cnnviz.methods.kernels import filter_response as kn_filter_response

# a 4x4 ramp: +1 per column, +4 per row
RAMP = torch.arange(1, 17, dtype=torch.float32).view(4, 4)


# ------------------------------------------------------------------ classic kernels, by hand

def test_sobel_on_ramp_valid():
    # every 3x3 window: right column - left column = 2 in each row, rows weighted 1, 2, 1 -> 2 * 4 = 8
    assert apply_kernel(RAMP, classic_kernel("sobel_x"), padding="valid")[0].tolist() == [[8, 8], [8, 8]]
    # bottom row - top row = 8 in each column, weighted 1, 2, 1 -> 32
    assert apply_kernel(RAMP, classic_kernel("sobel_y"), padding="valid")[0].tolist() == [[32, 32], [32, 32]]


def test_sobel_zero_padding_corner():
    # window at (0, 0) with zeros outside: rows [0 0 0], [0 1 2], [0 5 6]
    # -> mid row 2 * (2 - 0) = 4, bottom row 1 * (6 - 0) = 6, total 10
    out = apply_kernel(RAMP, classic_kernel("sobel_x"), padding="zeros")[0]
    assert out.shape == (4, 4)
    assert out[0, 0].item() == 10
    # interior keeps the valid value
    assert out[1, 1].item() == 8 and out[2, 2].item() == 8


def test_reflect_padding_edge_value():
    # reflect padding at (0, 0): row -1 mirrors row 1 [6 5 6], col -1 mirrors col 1
    # rows: [6 5 6], [2 1 2], [6 5 6] -> Sobel x = 0 everywhere on the left border column
    out = apply_kernel(RAMP, classic_kernel("sobel_x"), padding="reflect")[0]
    assert out[:, 0].tolist() == [0, 0, 0, 0]
    assert out[1, 1].item() == 8


def test_laplacian_zero_on_linear_ramp_and_box_blur_is_mean():
    assert apply_kernel(RAMP, classic_kernel("laplacian"), padding="valid").abs().max().item() == 0
    # the mean of a 3x3 window of a linear ramp is its centre
    assert torch.allclose(apply_kernel(RAMP, box_blur(3), padding="valid")[0], torch.tensor([[6.0, 7.0], [10.0, 11.0]]))


def test_flipped_kernel_is_true_convolution():
    k = classic_kernel("sobel_x")
    corr = apply_kernel(RAMP, k, padding="valid")
    conv = apply_kernel(RAMP, k, convolution=True, padding="valid")
    assert conv.tolist() == (-corr).tolist()  # Sobel is antisymmetric: flipping negates it
    # a second method: scipy's convolve2d (true convolution) on the same data
    from scipy.signal import convolve2d, correlate2d

    assert np.allclose(conv[0].numpy(), convolve2d(RAMP.numpy(), k.numpy(), mode="valid"))
    assert np.allclose(corr[0].numpy(), correlate2d(RAMP.numpy(), k.numpy(), mode="valid"))
    emb = classic_kernel("emboss")
    assert np.allclose(apply_kernel(RAMP, emb, convolution=True, padding="zeros")[0].numpy(),
                       convolve2d(RAMP.numpy(), emb.numpy(), mode="same"))


def test_even_kernel_alignment():
    # 1x2 kernel [1, -1] with 'same' zero padding pads one column on the right:
    # out[y, x] = in[y, x] - in[y, x + 1] = -1, and the last column sees a zero
    out = apply_kernel(RAMP, [[1.0, -1.0]], padding="zeros")[0]
    assert out[:, :3].tolist() == [[-1, -1, -1]] * 4
    assert out[:, 3].tolist() == [4, 8, 12, 16]


def test_per_channel_and_grayscale_modes():
    rgb = torch.stack([RAMP, 2 * RAMP, -RAMP])
    per = apply_kernel(rgb, classic_kernel("sobel_x"), mode="per_channel", padding="valid")
    assert per.shape == (3, 2, 2)
    assert per[:, 0, 0].tolist() == [8, 16, -8]
    only_red = torch.stack([RAMP, torch.zeros(4, 4), torch.zeros(4, 4)])
    grey = apply_kernel(only_red, classic_kernel("sobel_x"), mode="grayscale", padding="valid")
    assert grey.shape == (1, 2, 2)
    assert grey[0, 0, 0].item() == pytest.approx(0.299 * 8)


def test_gradient_magnitude():
    gx, gy, mag = gradient_magnitude(RAMP, padding="valid")
    assert torch.allclose(mag[0], torch.full((2, 2), math.sqrt(8 ** 2 + 32 ** 2)))


def test_gaussian_and_box_values():
    g = gaussian(3, 1.0)
    assert float(g.sum()) == pytest.approx(1.0)
    # centre / edge-neighbour ratio = exp(1 / (2 sigma^2)) = exp(0.5)
    assert float(g[1, 1] / g[0, 1]) == pytest.approx(math.exp(0.5))
    assert torch.allclose(box_blur(3), torch.full((3, 3), 1 / 9))


def test_gabor_orientation_by_response():
    # theta = 0 means vertical stripes: an odd Gabor answers a vertical step edge, not a horizontal one
    k = gabor(11, theta=0, wavelength=6, sigma=3, gamma=0.5, phase=90)
    vertical_edge = torch.zeros(21, 21)
    vertical_edge[:, 11:] = 1
    horizontal_edge = vertical_edge.T.contiguous()
    rv = apply_kernel(vertical_edge, k, padding="valid").abs().max().item()
    rh = apply_kernel(horizontal_edge, k, padding="valid").abs().max().item()
    assert rv > 1.0 and rh < 1e-4 * rv


def test_kernel_errors_say_the_fix():
    with pytest.raises(ValueError, match="fill every cell"):
        apply_kernel(RAMP, [[1.0, float("nan")]])
    with pytest.raises(KeyError, match="Known"):
        classic_kernel("no-such")
    with pytest.raises(ValueError, match="does not fit"):
        apply_kernel(torch.zeros(2, 2), box_blur(3), padding="valid")


def test_image_tensor_resizes_longer_side():
    from PIL import Image

    t = image_tensor(Image.new("RGB", (40, 20), (255, 0, 0)), size=100)
    assert t.shape == (3, 50, 100)
    assert t[0].min().item() == 1.0 and t[1].max().item() == 0.0
    assert image_tensor(Image.new("RGB", (40, 20)), size=None, grayscale=True).shape == (1, 20, 40)


# ------------------------------------------------------------------ learned filters

def test_sort_and_cluster():
    sob, gau = classic_kernel("sobel_x"), gaussian(3, 1.0)
    scales = [3.0, 1.0, 2.0]
    w = torch.stack([s * sob for s in scales] + [s * gau for s in (0.5, 5.0)]).unsqueeze(1)
    # norms: 3, 1, 2 x sqrt(12) = 10.4, 3.5, 6.9 for the Sobels; 0.5, 5 x |g| = 0.18, 1.77 (|g| = 0.354)
    assert float(gau.norm()) == pytest.approx(0.354, abs=1e-3)
    assert sort_by_norm(w).tolist() == [0, 2, 1, 4, 3]
    order, labels = cluster_filters(w, 2)
    assert labels.tolist() == [0, 0, 0, 1, 1]  # Sobels (3 filters) form the larger cluster
    assert order.tolist() == [0, 2, 1, 4, 3]  # by cluster, strongest first within it


def test_learned_filters_of_lenet(lenet):
    name = first_conv_layer(lenet)
    w = learned_filters(lenet, name)
    assert w.shape == (6, 1, 5, 5)
    assert w.data_ptr() == dict(lenet.module.named_modules())[name].weight.data_ptr()
    with pytest.raises(TypeError, match="conv_layer_names"):
        learned_filters(lenet, lenet.layer_names()[1])
    with pytest.raises(KeyError, match="conv_layer_names"):
        learned_filters(lenet, "nope")


def test_apply_learned_filter_matches_the_network(lenet):
    # LeNet's first conv has stride 1 and padding 2 ('same' for 5x5), so the map must equal its activation
    from PIL import Image

    from tests.conftest import SAMPLES

    img = Image.open(SAMPLES / "digit-3.png")
    name = first_conv_layer(lenet)
    act = lenet.activations(img, [name])[name][0]
    for f in (0, 5):
        assert torch.allclose(apply_learned_filter(lenet, name, f, img), act[f], atol=1e-5)
    with pytest.raises(IndexError, match="0..5"):
        apply_learned_filter(lenet, name, 6, img)


# ------------------------------------------------------------------ bridge

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


def test_filter_response_equals_apply_kernel_on_normalised_input(lenet):
    # a classic template through the network's view must equal apply_kernel on the normalised
    # input with zero padding (a second path to the same numbers)
    from PIL import Image

    from tests.conftest import SAMPLES

    img = Image.open(SAMPLES / "digit-7.png")
    sob = classic_kernel("sobel_x")
    x = lenet.preprocess(img)[0]
    expected = apply_kernel(x, sob, padding="zeros")[0]
    assert torch.allclose(kn_filter_response(lenet, sob[None], img), expected, atol=1e-5)
    with pytest.raises(ValueError, match="first conv layer"):
        kn_filter_response(lenet, sob.expand(3, 3, 3), img)


def test_bank_size_depends_on_kernel_size():
    # 11 non-Gabor kernels; Gabors: orientations x 2 wavelengths x 2 phases, capped at 4 orientations for 3x3
    assert len(classic_bank(11)) == 11 + 12 * 2 * 2
    assert len(classic_bank(3)) == 11 + 4 * 2 * 2


# ------------------------------------------------------------------ the page's rules, as library functions

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


def test_typed_kernel_round_trip_and_errors():
    k = np.array([[0.5, -1.25], [3.0, 1e-5]], dtype=np.float32)
    text = format_kernel(k)
    assert text == "0.5,-1.25,3,1e-05"
    assert np.array_equal(kernel_from_values(parse_kernel(text), (2, 2)), k)
    with pytest.raises(KernelError, match="comma-separated"):
        parse_kernel("1,,2")
    with pytest.raises(KernelError, match="finite"):
        parse_kernel("1,nan,2")
    with pytest.raises(KernelError, match="9 numbers, the 2×2 kernel needs 4"):
        kernel_from_values([0.0] * 9, (2, 2))
    assert issubclass(KernelError, ValueError)  # state.get_param treats a ValueError as an invalid link value


def test_kernel_sum_note():
    assert kernel_sum_note(gaussian(5, 1.0)).startswith("sums to 1:")
    assert kernel_sum_note(classic_kernel("sobel_x")).startswith("sums to 0:")
    assert kernel_sum_note(np.full((3, 3), 0.5)) == "sums to 4.5: flat areas are multiplied by 4.5"
    # a flat image times a kernel that sums to s is s times the image: the note is what apply_kernel does
    flat = torch.full((5, 5), 0.4)
    assert apply_kernel(flat, np.full((3, 3), 0.5), padding="valid").unique().item() == pytest.approx(0.4 * 4.5)


def test_filter_order_is_the_chosen_method():
    sob, gau = classic_kernel("sobel_x"), gaussian(3, 1.0)
    w = torch.stack([1.0 * sob, 3.0 * sob, 0.5 * gau, 5.0 * gau]).unsqueeze(1)
    assert filter_order(w, "index") == ([0, 1, 2, 3], None)
    assert filter_order(w, "norm") == (sort_by_norm(w).tolist(), None) == ([1, 0, 3, 2], None)
    order, labels = filter_order(w, "cluster", 2)
    assert labels == [0, 0, 1, 1] and order == [1, 0, 3, 2]  # equal-size clusters: the first found stays 0
    with pytest.raises(KernelError, match="index, norm, cluster"):
        filter_order(w, "random")


def test_describe_layer():
    w = torch.zeros(5, 2, 3, 3)
    assert describe_layer("c", w, 1, [0, 0, 1, 0, 1]) == (
        "Layer `c`: 5 filters × 2 input channels × 3×3 = 90 weights. Clusters (sizes): 3, 2.")
    assert "Grouped convolution (4 groups)" in describe_layer("c", w, 4)


def test_grouping_note():
    assert grouping_note(64, 1) == ""
    assert "each filter sees only 1 of the layer's 32 input channels (depthwise" in grouping_note(1, 32)
    assert "only 16 of the layer's 64 input channels, the channels of its own group" in grouping_note(16, 4)


def test_family_summary_and_mean_best_cosine():
    w = torch.stack([classic_kernel("sobel_x"), -classic_kernel("sobel_y"), box_blur(3)]).unsqueeze(1)
    matches = best_matches(w)
    assert family_summary(matches) == [("edge", 2, pytest.approx(1.0)), ("blur", 1, pytest.approx(1.0))]
    assert mean_abs_cosine(matches) == pytest.approx(1.0, abs=1e-6)
    assert mean_abs_cosine(best_matches(torch.stack([w[0], 0.1 * w[0] + torch.randn(1, 3, 3)]))) < 1
    bank = classic_bank(3)
    assert torch.equal(matched_template(bank, matches[1]), -bank["Sobel y"])  # cosine -1: the negated kernel
    assert torch.equal(matched_template(bank, matches[0]), bank["Sobel x"])


def test_domain_errors_are_cnnviz_errors(lenet):
    from cnnviz.errors import CnnvizError, LayerError

    with pytest.raises(LayerError):
        learned_filters(lenet, "nope")
    for bad in (lambda: learned_filters(lenet, lenet.layer_names()[1]), lambda: classic_kernel("no-such"),
                lambda: apply_kernel(RAMP, [[1.0, float("nan")]]), lambda: gaussian(3, 0.0)):
        with pytest.raises(CnnvizError):
            bad()
