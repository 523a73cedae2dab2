"""cnnviz.methods.kernels.classic: classic kernels on hand-worked images, checked against SciPy where it has them."""
import math

import numpy as np
import pytest
import torch

from cnnviz.errors import CnnvizError
from cnnviz.methods.kernels import (
    KernelError,
    apply_kernel,
    box_blur,
    classic_kernel,
    format_kernel,
    gabor,
    gaussian,
    gradient_magnitude,
    image_tensor,
    kernel_from_values,
    parse_kernel,
)

# a 4x4 ramp: +1 per column, +4 per row
RAMP = torch.arange(1, 17, dtype=torch.float32).view(4, 4)


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



def test_domain_errors_are_cnnviz_errors():
    for bad in (lambda: classic_kernel("no-such"), lambda: apply_kernel(RAMP, [[1.0, float("nan")]]),
                lambda: gaussian(3, 0.0)):
        with pytest.raises(CnnvizError):
            bad()
