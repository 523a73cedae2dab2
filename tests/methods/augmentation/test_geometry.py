"""cnnviz.methods.augmentation.geometry: rotation, shifts and tile shuffles against rot90, torchvision and by hand."""
import pytest
import torch

from cnnviz.methods.augmentation import AugmentationError, rotate_scale, scramble, shift_image


def test_rotation_by_90_is_counter_clockwise_like_rot90():
    x = torch.rand(1, 9, 9)
    r = rotate_scale(x, [90, -90, 180, 0])
    assert torch.allclose(r[0], torch.rot90(x, 1, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(r[1], torch.rot90(x, -1, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(r[2], torch.rot90(x, 2, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(r[3], x, atol=1e-5)


def test_batched_rotation_matches_torchvision_affine_inside_the_image():
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    x = torch.rand(3, 20, 30)  # not square: the map must work in pixel units
    ours = rotate_scale(x, [30.0, 0.0], [0.9, 0.5])
    for got, (a, s) in zip(ours, [(30.0, 0.9), (0.0, 0.5)], strict=True):
        ref = TF.affine(x, angle=-a, translate=[0, 0], scale=s, shear=[0.0, 0.0],
                        interpolation=v2.InterpolationMode.BILINEAR, fill=0.0)
        diff = (got - ref).abs()
        # identical inside; torchvision blends the fill differently on the rotated border pixels only
        assert float(diff.mean()) < 0.01 and float(diff[:, 8:12, 12:18].max()) < 1e-5


def test_zoom_must_be_positive():
    with pytest.raises(AugmentationError, match="positive zoom"):
        rotate_scale(torch.rand(1, 4, 4), 0.0, [1.0, 0.0])


def test_shift_image_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert torch.equal(shift_image(x, 0, 0), x)
    assert shift_image(x, 0, 1).tolist() == [[0, 1, 2], [0, 4, 5]]
    assert shift_image(x, 1, -1).tolist() == [[0, 0, 0], [2, 3, 0]]
    assert shift_image(x, 0, 3).tolist() == [[0, 0, 0], [0, 0, 0]]  # shifted out entirely


def test_scramble_one_tile_is_identity_and_tiles_are_permuted():
    x = torch.arange(16.0).view(1, 4, 4)
    assert torch.equal(scramble(x, 1), x)
    y = scramble(x, 2, seed=0)
    def tiles(t):
        return sorted(t[0, i:i + 2, j:j + 2].flatten().tolist() for i in (0, 2) for j in (0, 2))

    assert tiles(y) == tiles(x) and not torch.equal(y, x)
    assert torch.equal(scramble(x, 2, seed=0), y)
    # 5x5 with a 2x2 grid: tiles of 2x2, the last row and column stay in place
    z = torch.arange(25.0).view(1, 5, 5)
    w = scramble(z, 2, seed=3)
    assert torch.equal(w[0, 4], z[0, 4]) and torch.equal(w[0, :, 4], z[0, :, 4])
    with pytest.raises(ValueError, match="at most"):
        scramble(z, 6)


def test_scramble_errors_are_augmentation_errors_that_name_the_fix():
    with pytest.raises(AugmentationError, match="use at most 4 tiles"):
        scramble(torch.zeros(1, 4, 4), 5)
    with pytest.raises(AugmentationError, match="at least 1 tile"):
        scramble(torch.zeros(1, 4, 4), 0)
