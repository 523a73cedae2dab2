"""cnnviz.methods.arithmetic.im2col: the columns by hand and against F.unfold, the convolution against F.conv2d."""
import pytest
import torch
import torch.nn.functional as F

import cnnviz
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


def test_im2col_hand_worked():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    cols = ar.im2col(x, 2)
    # first column: patch at (0,0) = [0,1,3,4]; last: patch at (1,1) = [4,5,7,8]
    assert cols[0, :, 0].tolist() == [0, 1, 3, 4] and cols[0, :, 3].tolist() == [4, 5, 7, 8]
    torch.testing.assert_close(cols, F.unfold(x, 2))


@pytest.mark.parametrize(
    "k, s, p, d, g",
    [
        (3, 1, 0, 1, 1),
        (3, 2, 1, 1, 1),
        (5, 1, "same", 1, 1),
        (3, 1, 2, 2, 2),
        (1, 1, 0, 1, 4),
        (4, 3, 1, 1, 1),
        (2, 1, "same", 1, 1),
    ],
)
def test_im2col_convolution_equals_conv2d(k, s, p, d, g):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    w = torch.randn(8, 4 // g, k, k, dtype=torch.float64)
    b = torch.randn(8, dtype=torch.float64)
    want = F.conv2d(x, w, b, s, p, d, g)
    got = ar.conv2d_im2col(x, w, b, s, p, d, g)
    torch.testing.assert_close(got, want)


def test_im2col_example_equals_pytorch():
    x, w = torch.randn(6, 7, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    spec = LayerSpec("conv", 6, 7, 1, 1, kernel=3, stride=2, padding=1, dilation=1)
    im = ar.im2col_example(x, w, 0.25, spec)
    want = F.conv2d(x[None, None], w[None, None], torch.tensor([0.25], dtype=torch.float64), 2, 1)[0, 0]
    torch.testing.assert_close(im.y, want)
    assert im.cols.shape == (9, want.numel()) and im.max_difference < 1e-12
    assert im.weight_row.tolist() == [w.flatten().tolist()]
    with pytest.raises(cnnviz.errors.CnnvizError, match="choose the convolution"):
        ar.im2col_example(x, w, 0.0, LayerSpec("maxpool", 6, 7, 1, 1, kernel=2, stride=2))
