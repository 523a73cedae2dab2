"""Region proposals for R-CNN: a selective-search-style grouping written here, and sliding windows to compare.

Selective search (Uijlings et al., 2013), simplified for dark canvases with bright objects:

1. **Over-segmentation**: a Felzenszwalb-Huttenlocher graph segmentation (2004) of the inked pixels
   (brighter than ``ink``): pixels are nodes, 8-neighbours are joined by edges weighted by their
   intensity difference, and edges are taken from the lightest up; two segments merge when the edge is
   no heavier than either segment's largest internal edge plus ``k / size``. Small ``k``: many small
   segments (strokes, blobs); segments under ``min_size`` pixels join their closest neighbour.
2. **Hierarchical grouping**: the two most similar *neighbouring* regions (boxes at most ``gap`` px
   apart, so a stroke broken by the threshold still counts as adjacent) merge, again and again, until no
   neighbours are left. Similarity is Uijlings' sum of size (small regions merge first), fill (regions
   whose union fills its box merge first) and intensity-histogram intersection.
3. Every region's box, from the first segments up to the last merge, is a proposal; several ``k`` values
   (the paper's diversification) are pooled and duplicates dropped.

Boxes are ``(x0, y0, x1, y1)`` float32 with pixel *edges* as coordinates: a region covering columns
3..9 spans ``x0 = 3, x1 = 10``.

Examples::

    >>> import numpy as np
    >>> img = np.zeros((64, 64), np.uint8); img[10:30, 12:20] = 255; img[40:50, 40:60] = 200
    >>> boxes = selective_search(img)
    >>> [12, 10, 20, 30] in boxes.astype(int).tolist()
    True
    >>> len(sliding_windows(64, 64, sizes=(32,), stride=16, ratios=(1.0,)))
    9
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from cnnviz.methods.detection.errors import DetectionError
from cnnviz.methods.detection.ops import box_iou

HIST_BINS = 16


# ------------------------------------------------------------------------------------ 1. over-segmentation
def _find(parent: list[int], i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


def segment(image: np.ndarray, k: float = 60.0, min_size: int = 8, ink: int = 40, sigma: float = 0.6) -> np.ndarray:
    """Felzenszwalb-Huttenlocher segmentation of the inked pixels of a grayscale uint8 image.

    Args:
        image: ``(H, W)`` uint8, bright objects on a dark background.
        k: the scale: larger values give larger segments.
        min_size: segments smaller than this join their most similar neighbour.
        ink: pixels at or below this are background (label -1).
        sigma: the Gaussian smoothing of the intensities the edges compare.

    Returns:
        ``(H, W)`` int64 labels ``0..S-1`` for inked pixels, ``-1`` for the background.
    """
    img = np.asarray(image, np.float32)
    if img.ndim != 2:
        raise DetectionError(f"segment expects a grayscale (H, W) image, got shape {img.shape}")
    smooth = ndimage.gaussian_filter(img, sigma) if sigma > 0 else img
    mask = img > ink
    h, w = img.shape
    index = np.full((h, w), -1, np.int64)
    index[mask] = np.arange(int(mask.sum()))
    n = int(mask.sum())
    if n == 0:
        return index
    src, dst, wt = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each 8-neighbour pair once
        a = index[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        b = index[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
        va = smooth[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        vb = smooth[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
        both = (a >= 0) & (b >= 0)
        src.append(a[both])
        dst.append(b[both])
        wt.append(np.abs(va[both] - vb[both]))
    src, dst, wt = np.concatenate(src), np.concatenate(dst), np.concatenate(wt)
    order = np.argsort(wt, kind="stable")
    src, dst, wt = src[order].tolist(), dst[order].tolist(), wt[order].tolist()  # plain lists: a fast loop
    parent = list(range(n))
    size = [1] * n
    internal = [0.0] * n  # the largest edge inside each segment (its minimum spanning tree)
    for a, b, w_ in zip(src, dst, wt, strict=True):
        a, b = _find(parent, a), _find(parent, b)
        if a != b and w_ <= min(internal[a] + k / size[a], internal[b] + k / size[b]):
            if size[a] < size[b]:
                a, b = b, a
            parent[b] = a
            size[a] += size[b]
            internal[a] = w_
    for a, b in zip(src, dst, strict=True):  # small segments join a neighbour, lightest edge first
        a, b = _find(parent, a), _find(parent, b)
        if a != b and (size[a] < min_size or size[b] < min_size):
            if size[a] < size[b]:
                a, b = b, a
            parent[b] = a
            size[a] += size[b]
    roots = np.array(parent)
    while True:  # every pixel to its root
        up = roots[roots]
        if np.array_equal(up, roots):
            break
        roots = up
    _, compact = np.unique(roots, return_inverse=True)
    index[mask] = compact
    return index


# ------------------------------------------------------------------------------------ 2. grouping
@dataclass
class _Region:
    size: int
    box: np.ndarray  # x0, y0, x1, y1 (pixel edges)
    hist: np.ndarray  # normalised intensity histogram


def _regions(image: np.ndarray, labels: np.ndarray) -> list[_Region]:
    out = []
    for s, sl in enumerate(ndimage.find_objects(labels + 1)):
        if sl is None:
            continue
        mask = labels[sl] == s
        vals = image[sl][mask]
        hist = np.bincount(np.minimum(vals.astype(np.int64) * HIST_BINS // 256, HIST_BINS - 1), minlength=HIST_BINS)
        out.append(_Region(int(mask.sum()), np.array([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop], np.float32),
                           hist / max(1, hist.sum())))
    return out


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    """The gap between two boxes in px (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return max(dx, dy)


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])], np.float32)


def _similarity(a: _Region, b: _Region, ink_px: int, image_px: int) -> float:
    """Uijlings' similarity: size + fill + intensity (each in 0..1)."""
    s_size = 1.0 - (a.size + b.size) / ink_px
    u = _union(a.box, b.box)
    bbox = float((u[2] - u[0]) * (u[3] - u[1]))
    area = lambda r: float((r.box[2] - r.box[0]) * (r.box[3] - r.box[1]))  # noqa: E731
    s_fill = 1.0 - (bbox - area(a) - area(b)) / image_px
    s_int = float(np.minimum(a.hist, b.hist).sum())
    return s_size + s_fill + s_int


def group(image: np.ndarray, labels: np.ndarray, gap: float = 3.0) -> list[tuple[int, int, np.ndarray]]:
    """Hierarchical grouping of a segmentation: the merges in order.

    Returns:
        ``[(i, j, box)]``: region ``i`` and ``j`` merged into a new region (numbered after the existing
        ones) with ``box``; the first ``S`` region numbers are the segments of ``labels``.
    """
    regions = _regions(np.asarray(image), labels)
    ink_px = max(1, sum(r.size for r in regions))
    image_px = labels.size
    alive = set(range(len(regions)))
    sims = {(i, j): _similarity(regions[i], regions[j], ink_px, image_px)
            for i in range(len(regions)) for j in range(i + 1, len(regions))
            if _gap(regions[i].box, regions[j].box) <= gap}
    merges = []
    while sims:
        i, j = max(sims, key=sims.get)
        a, b = regions[i], regions[j]
        new = _Region(a.size + b.size, _union(a.box, b.box), (a.hist * a.size + b.hist * b.size) / (a.size + b.size))
        t = len(regions)
        regions.append(new)
        sims = {p: s for p, s in sims.items() if i not in p and j not in p}
        alive -= {i, j}
        for o in alive:
            if _gap(regions[o].box, new.box) <= gap:
                sims[(o, t)] = _similarity(regions[o], new, ink_px, image_px)
        alive.add(t)
        merges.append((i, j, new.box))
    return merges


# ------------------------------------------------------------------------------------ 3. the proposals
def _dedupe(boxes: np.ndarray) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    _, first = np.unique(np.round(boxes, 2), axis=0, return_index=True)
    return boxes[np.sort(first)].astype(np.float32)


def selective_search(image: np.ndarray, ks: Sequence[float] = (30.0, 100.0, 300.0), min_size: int = 8,
                     ink: int = 40, gap: float = 3.0, min_side: float = 4.0) -> np.ndarray:
    """Selective-search-style proposals: every region of the segmentation and of its hierarchical grouping,
    for each scale ``k`` in ``ks``.

    Args:
        image: ``(H, W)`` uint8 canvas (bright objects on dark).
        ks: the segmentation scales pooled (the paper's diversification strategy).
        min_size, ink: as in :func:`segment`.
        gap: regions whose boxes are at most this many px apart are neighbours.
        min_side: boxes narrower or lower than this are dropped.

    Returns:
        ``[N, 4]`` float32 boxes, the segments first, then the merges in order, per ``k``.
    """
    image = np.asarray(image)
    boxes = []
    for k in ks:
        labels = segment(image, k=k, min_size=min_size, ink=ink)
        boxes += [r.box for r in _regions(image, labels)]
        boxes += [m[2] for m in group(image, labels, gap=gap)]
    out = _dedupe(np.array(boxes, np.float32).reshape(-1, 4))
    keep = ((out[:, 2] - out[:, 0]) >= min_side) & ((out[:, 3] - out[:, 1]) >= min_side)
    return out[keep]


def sliding_windows(height: int, width: int, sizes: Sequence[int] = (20, 28, 36, 44), stride: int | None = None,
                    ratios: Sequence[float] = (1.0, 0.5)) -> np.ndarray:
    """Sliding windows: every window of each size and shape at a regular stride (the exhaustive baseline).

    Args:
        height, width: the canvas.
        sizes: window heights in px.
        stride: the step in px; default a quarter of each window's height.
        ratios: width / height of the windows (1: square, 0.5: twice as tall as wide).

    Returns:
        ``[N, 4]`` float32 boxes inside the canvas.
    """
    out = []
    for s in sizes:
        step = stride or max(1, s // 4)
        for r in ratios:
            w = max(1, int(round(s * r)))
            xs = np.arange(0, width - w + 1, step)
            ys = np.arange(0, height - s + 1, step)
            gx, gy = np.meshgrid(xs, ys)
            out.append(np.stack([gx, gy, gx + w, gy + s], -1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 4), np.float32)


def best_iou(proposals: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each true box, the IoU of the proposal that covers it best (``[T]``; 0 without proposals)."""
    if len(truth) == 0:
        return np.zeros(0, np.float32)
    if len(proposals) == 0:
        return np.zeros(len(truth), np.float32)
    iou = box_iou(torch.as_tensor(np.asarray(truth, np.float32)), torch.as_tensor(np.asarray(proposals, np.float32)))
    return iou.max(1).values.numpy()


def recall(proposals: np.ndarray, truth: np.ndarray, iou: float = 0.5) -> float:
    """The fraction of true boxes some proposal overlaps with IoU >= ``iou`` (1.0 when there is no truth)."""
    best = best_iou(proposals, truth)
    return float((best >= iou).mean()) if len(best) else 1.0


__all__ = ["best_iou", "group", "recall", "segment", "selective_search", "sliding_windows"]
