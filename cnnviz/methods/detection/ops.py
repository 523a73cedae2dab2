"""Box operations of object detection in plain PyTorch: IoU, non-maximum suppression, RoI pooling.

Each one equals its ``torchvision.ops`` namesake (same formulas, same float rounding, same tie
rules), written out here so the steps can be read and taught; ``tests/methods/detection/test_ops.py``
compares them on random boxes, degenerate ones included.

Boxes are ``(x0, y0, x1, y1)`` in pixels, ``x1 > x0`` and ``y1 > y0`` for a proper box.

Examples::

    >>> import torch
    >>> a = torch.tensor([[0., 0., 10., 10.]])
    >>> b = torch.tensor([[5., 0., 15., 10.]])
    >>> round(box_iou(a, b).item(), 4)     # 50 / (100 + 100 - 50)
    0.3333
    >>> nms(torch.cat([a, b]), torch.tensor([0.9, 0.8]), 0.3).tolist()
    [0]
"""
from __future__ import annotations

import torch
from torch import Tensor

from cnnviz.methods.detection.errors import DetectionError


def _upcast(t: Tensor) -> Tensor:
    """Half precision to float32 and small integers to int32, as torchvision does before multiplying."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def box_area(boxes: Tensor) -> Tensor:
    """The area of each box ``[N, 4] -> [N]`` (negative for a box whose corners are swapped)."""
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair: ``[N, 4], [M, 4] -> [N, M]``.

    The intersection is the overlap rectangle's area (0 when the boxes do not touch); the union is
    the two areas minus it. Two boxes of area 0 give 0/0 = nan, as in torchvision.
    """
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])  # top-left of the overlap [N, M, 2]
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])  # bottom-right of the overlap
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression: the indices of the boxes kept, by decreasing score.

    Walk the boxes from the highest score down; keep a box unless an already kept box overlaps it
    with IoU greater than ``iou_threshold``.

    Args:
        boxes: ``[N, 4]`` boxes.
        scores: ``[N]`` their scores.
        iou_threshold: a box is dropped when its IoU with a kept box is strictly above this.

    Returns:
        int64 ``[K]`` indices into ``boxes``.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = scores.sort(stable=True, dim=0, descending=True)[1]  # ties keep their input order
    b = boxes[order]
    x0, y0, x1, y1 = b.unbind(1)
    areas = (x1 - x0) * (y1 - y0)
    w = (torch.min(x1[:, None], x1[None, :]) - torch.max(x0[:, None], x0[None, :])).clamp(min=0)
    h = (torch.min(y1[:, None], y1[None, :]) - torch.max(y0[:, None], y0[None, :])).clamp(min=0)
    inter = w * h
    overlap = inter / (areas[:, None] + areas[None, :] - inter)
    # torchvision compares the box's float IoU with the threshold as a double
    over = overlap.double() > float(iou_threshold)
    n = len(order)
    suppressed = torch.zeros(n, dtype=torch.bool, device=boxes.device)
    keep = []
    later = torch.arange(n, device=boxes.device)
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i] & (later > i)
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def _round_half_away(x: Tensor) -> Tensor:
    """C's ``round``: halves go away from zero (torch.round goes to the even neighbour)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _bin_edges(start: Tensor, end: Tensor, bins: int, limit: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Integer ``[lo, hi)`` of each of ``bins`` bins along one axis, for K RoIs: two ``[K, bins]``.

    A RoI covers the pixels ``start..end`` inclusive (at least one); bin ``p`` is
    ``floor(p * size / bins) .. ceil((p + 1) * size / bins)`` from its start, clipped to the map.
    """
    size = (end - start + 1).clamp(min=1).to(dtype)
    bin_size = size / torch.tensor(float(bins), dtype=dtype)
    p = torch.arange(bins, dtype=dtype, device=start.device)
    lo = torch.floor(p[None, :] * bin_size[:, None]).long() + start[:, None]
    hi = torch.ceil((p[None, :] + 1) * bin_size[:, None]).long() + start[:, None]
    return lo.clamp(0, limit), hi.clamp(0, limit)


def roi_pool(input: Tensor, boxes: Tensor | list[Tensor], output_size: int | tuple[int, int],
             spatial_scale: float = 1.0) -> Tensor:
    """Fast R-CNN's RoI max pooling: each box's region of the feature map cut into a fixed grid of bins,
    the largest value of each bin kept.

    Args:
        input: the feature maps ``[B, C, H, W]``.
        boxes: ``[K, 5]`` rows of (batch index, x0, y0, x1, y1), or a list of ``[L, 4]`` boxes per image.
        output_size: the grid, ``h`` or ``(h, w)``.
        spatial_scale: feature-map pixels per box unit (``0.25`` for a map 4x smaller than the image).
            Box corners are scaled and rounded to the nearest feature-map pixel (halves away from zero).

    Returns:
        ``[K, C, h, w]``; a bin that falls outside the map is 0.
    """
    if isinstance(boxes, (list, tuple)):
        ids = [torch.full_like(b[:, :1], i) for i, b in enumerate(boxes)]
        boxes = torch.cat([torch.cat(ids), torch.cat(list(boxes))], dim=1)
    if boxes.dim() != 2 or boxes.size(1) != 5:
        raise DetectionError(f"boxes must be a Tensor[K, 5] or a list of Tensor[L, 4]; got shape {tuple(boxes.shape)}")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    _, c, height, width = input.shape
    k = boxes.size(0)
    out = input.new_zeros((k, c, oh, ow))
    if k == 0:
        return out
    corners = _round_half_away(boxes[:, 1:].double() * float(spatial_scale)).long()  # the kernel scales in double
    hlo, hhi = _bin_edges(corners[:, 1], corners[:, 3], oh, height, input.dtype)
    wlo, whi = _bin_edges(corners[:, 0], corners[:, 2], ow, width, input.dtype)
    batch = boxes[:, 0].long()  # C's float -> int conversion truncates, as .long() does
    rows = torch.arange(height, device=input.device)
    cols = torch.arange(width, device=input.device)
    lowest = torch.finfo(input.dtype).min  # the kernel starts each bin's max at -FLT_MAX
    for i in range(k):
        r0, r1 = int(hlo[i].min()), int(hhi[i].max())
        c0, c1 = int(wlo[i].min()), int(whi[i].max())
        if r1 <= r0 or c1 <= c0:
            continue  # every bin is empty: zeros
        region = input[batch[i], :, r0:r1, c0:c1]  # [C, h', w']
        in_row = (rows[None, r0:r1] >= hlo[i][:, None]) & (rows[None, r0:r1] < hhi[i][:, None])  # [oh, h']
        in_col = (cols[None, c0:c1] >= wlo[i][:, None]) & (cols[None, c0:c1] < whi[i][:, None])  # [ow, w']
        by_row = region[:, None].masked_fill(~in_row[None, :, :, None], float("-inf")).amax(dim=2)  # [C, oh, w']
        pooled = by_row[:, :, None].masked_fill(~in_col[None, None], float("-inf")).amax(dim=3)  # [C, oh, ow]
        empty = ~(in_row.any(1)[:, None] & in_col.any(1)[None, :])
        out[i] = pooled.clamp(min=lowest).masked_fill(empty[None], 0)
    return out


__all__ = ["box_area", "box_iou", "nms", "roi_pool"]
