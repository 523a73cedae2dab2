"""Selective search and sliding windows: recall of the canvases' own boxes, against IoUs computed by torchvision."""
import numpy as np
import torch
import torchvision

from cnnviz.methods.detection.canvases import make_canvases
from cnnviz.methods.detection.proposals import best_iou, group, recall, segment, selective_search, sliding_windows


def test_two_separate_blobs_are_two_segments_and_their_boxes_are_proposals():
    img = np.zeros((64, 64), np.uint8)
    img[10:30, 12:20] = 255
    img[40:50, 40:60] = 200
    labels = segment(img, k=1e4)  # a large scale: one segment per blob
    assert sorted(np.unique(labels).tolist()) == [-1, 0, 1]
    assert (labels[img == 0] == -1).all()
    fine = segment(img, k=1.0, min_size=1)  # a small one: more segments, none spanning both blobs
    assert len(np.unique(fine)) > 3
    assert not set(np.unique(fine[10:30, 12:20])) & set(np.unique(fine[40:50, 40:60]))
    boxes = selective_search(img).astype(int).tolist()
    assert [12, 10, 20, 30] in boxes and [40, 40, 60, 50] in boxes
    assert len(group(img, labels, gap=3.0)) == 0  # 10 px apart: not neighbours, nothing merges
    assert [[12, 10, 60, 50]] == [m[2].astype(int).tolist() for m in group(img, labels, gap=20.0)]


def test_selective_search_finds_the_digits_with_far_fewer_boxes_than_sliding_windows():
    canvases = make_canvases(8, seed=3)
    ss = [selective_search(c.image) for c in canvases]
    truth = np.concatenate([c.boxes for c in canvases])
    best = np.concatenate([best_iou(p, c.boxes) for p, c in zip(ss, canvases, strict=True)])
    # the IoUs checked against torchvision's box_iou
    ref = np.concatenate([torchvision.ops.box_iou(torch.as_tensor(c.boxes), torch.as_tensor(p)).max(1).values.numpy()
                          for p, c in zip(ss, canvases, strict=True)])
    np.testing.assert_allclose(best, ref, rtol=1e-6)
    assert len(best) == len(truth) and (best >= 0.5).mean() >= 0.95
    windows = sliding_windows(128, 128)
    assert np.mean([len(p) for p in ss]) * 5 < len(windows)
    assert np.mean([recall(p, c.boxes) for p, c in zip(ss, canvases, strict=True)]) >= 0.95


def test_sliding_windows_tile_the_canvas():
    w = sliding_windows(64, 64, sizes=(32,), stride=16, ratios=(1.0, 0.5))
    assert len(w) == 3 * 3 + 3 * 4  # 32x32 at x, y in 0, 16, 32; 16 wide x 32 tall at x in 0..48, y in 0..32
    assert w.min() >= 0 and w[:, 2].max() <= 64 and w[:, 3].max() <= 64
    assert {(int(b[2] - b[0]), int(b[3] - b[1])) for b in w} == {(32, 32), (16, 32)}
