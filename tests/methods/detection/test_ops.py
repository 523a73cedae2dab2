"""box_iou, nms and roi_pool written in plain torch: equal to torchvision.ops on random boxes, degenerate ones
included, at several spatial scales and output sizes; plus values worked out by hand."""
from __future__ import annotations

import pytest
import torch
import torchvision

from cnnviz.methods.detection import box_iou, nms, roi_pool


def random_boxes(n: int, extent: float, gen: torch.Generator) -> torch.Tensor:
    """Boxes of any sort: proper, zero width, zero height, corners swapped, a point, partly off the map."""
    xy = torch.rand(n, 2, generator=gen) * extent - extent * 0.1
    wh = torch.rand(n, 2, generator=gen) * extent * 0.6
    b = torch.cat([xy, xy + wh], 1)
    b[0::7, 2] = b[0::7, 0]  # zero width
    b[1::7, 3] = b[1::7, 1]  # zero height
    b[2::7, 2:] = b[2::7, :2] - 3  # corners swapped
    b[3::7, 2:] = b[3::7, :2]  # a point
    return b


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, nan where the other has nan (two empty boxes give 0/0 in both)."""
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


def test_box_iou_by_hand():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 4.0, 4.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    expected = torch.tensor([[50 / 150, 0.0], [0.0, 0.0]])  # 5x10 overlap of two 10x10 boxes
    assert torch.allclose(box_iou(a, b), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_box_iou_equals_torchvision(dtype):
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        a, b = random_boxes(30, 60, gen), random_boxes(17, 60, gen)
        if not dtype.is_floating_point:
            a, b = a.round(), b.round()
        a, b = a.to(dtype), b.to(dtype)
        assert same(box_iou(a, b), torchvision.ops.box_iou(a, b))


def test_nms_by_hand():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [2, 0, 12, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (0.95) wins; box 0 overlaps it 80/120 > 0.5 and box 1 90/110: both go; box 2 stays
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.9).tolist() == [3, 0, 1, 2]  # no IoU is above 0.9: all kept, by score
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_equals_torchvision(threshold):
    gen = torch.Generator().manual_seed(1)
    for trial in range(20):
        b = random_boxes(60, 50, gen)
        s = torch.rand(60, generator=gen)
        if trial % 2:
            s = (s * 4).floor()  # many ties: the order among equal scores must match too
        assert torch.equal(nms(b, s, threshold), torchvision.ops.nms(b, s, threshold))


def test_roi_pool_by_hand():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    box = torch.tensor([[0.0, 0, 0, 3, 3]])  # the whole 4x4 map, pixels 0..3 inclusive
    assert roi_pool(x, box, 2).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    # the box scaled by 0.5 covers rows and columns 0..1 (1.5 rounds away from zero to 2: 0..2)
    assert roi_pool(x, box, 1, spatial_scale=0.5).item() == 10.0
    far = torch.tensor([[0.0, 10, 10, 12, 12]])  # outside the map: every bin empty, 0
    assert roi_pool(x, far, 2).abs().sum() == 0


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25, 1 / 16, 0.3])
@pytest.mark.parametrize("output_size", [1, 2, (3, 5), 7])
def test_roi_pool_equals_torchvision(scale, output_size):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 13, 17, generator=gen)
    for _ in range(3):
        boxes = random_boxes(20, 60, gen)
        rois = torch.cat([torch.randint(0, 2, (20, 1), generator=gen).float(), boxes], 1)
        assert torch.equal(roi_pool(x, rois, output_size, scale), torchvision.ops.roi_pool(x, rois, output_size, scale))


def test_roi_pool_half_pixel_corners_and_box_lists():
    """Corners on half pixels test the rounding rule (C's round: halves away from zero); a list of boxes
    per image is the other input form."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 10, 12, generator=gen)
    for scale in (1.0, 0.5, 0.75):
        halves = torch.randint(-8, 30, (40, 4), generator=gen).float() / 2
        rois = torch.cat([torch.zeros(40, 1), halves], 1)
        for size in (1, 3, (2, 4)):
            assert torch.equal(roi_pool(x, rois, size, scale), torchvision.ops.roi_pool(x, rois, size, scale))
    per_image = [random_boxes(4, 30, gen), random_boxes(3, 30, gen)]
    assert torch.equal(roi_pool(x, per_image, 2, 0.5), torchvision.ops.roi_pool(x, per_image, 2, 0.5))
    assert roi_pool(x, torch.zeros(0, 5), 2).shape == (0, 4, 2, 2)
