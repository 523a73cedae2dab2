"""R-CNN and Fast R-CNN from LeNet-5: digits found with their label, NMS equal to torchvision's, RoI-pooled
features equal to LeNet-5's features of a crop where they must be."""
import numpy as np
import pytest
import torch
import torchvision

import cnnviz
from cnnviz.methods.detection import ops
from cnnviz.methods.detection import rcnn as rc
from cnnviz.methods.detection.canvases import make_canvases
from cnnviz.methods.detection.proposals import selective_search


@pytest.fixture(scope="module")
def lenet():
    return cnnviz.load_model("lenet5-mnist", device="cpu")


@pytest.fixture(scope="module")
def heads(lenet):
    train = make_canvases(8, split="train", seed=1)
    props = [selective_search(c.image) for c in train]
    return rc.fit_heads(lenet, train, "warp", proposals=props), rc.fit_heads(lenet, train, "roi", proposals=props)


def test_encode_and_decode_are_inverse():
    rng = np.random.default_rng(0)
    p = np.sort(rng.uniform(0, 100, (20, 2, 2)), axis=1).transpose(0, 2, 1).reshape(20, 4)[:, [0, 2, 1, 3]]
    p[:, 2:] += 1
    g = p + rng.uniform(-3, 3, (20, 4))
    np.testing.assert_allclose(rc.decode(p, rc.encode(p, g)), g, atol=1e-4)


def test_rcnn_finds_most_digits_with_their_label(lenet, heads):
    canvases = make_canvases(6, seed=5)
    tp = dets = objects = 0
    for c in canvases:
        d = rc.rcnn(lenet, c.image, heads[0])
        order = np.argsort(-d.final.scores)
        t, n = rc.match(d.final.boxes[order], d.final.labels[order], c.boxes, c.labels)
        tp, dets, objects = tp + t, dets + n, objects + len(c.boxes)
        assert list(d.seconds) == ["proposals", "warp", "CNN on every crop", "classify", "box regression", "NMS"]
        assert [s.name for s in d.stages] == ["proposals", "classified", "regressed", "after NMS"]
    assert tp / objects >= 0.7 and tp / dets >= 0.7, (tp, dets, objects)
    assert heads[0].mean_iou[1] > heads[0].mean_iou[0]  # the regression moves boxes closer to the truth


def test_nms_stage_equals_torchvision(lenet, heads):
    c = make_canvases(1, seed=7)[0]
    d = rc.rcnn(lenet, c.image, heads[0])
    reg, final = d.stages[2], d.stages[3]
    keep = torchvision.ops.nms(torch.as_tensor(reg.boxes), torch.as_tensor(reg.scores), 0.3).numpy()
    np.testing.assert_array_equal(final.boxes, reg.boxes[keep])
    assert [s.kept for s in d.nms] == keep.tolist()
    for thr in (0.1, 0.5, 0.8):
        ref = torchvision.ops.nms(torch.as_tensor(reg.boxes), torch.as_tensor(reg.scores), thr).tolist()
        assert [s.kept for s in rc.nms_steps(reg.boxes, reg.scores, thr)] == ref


def test_a_roi_aligned_to_the_stride_pools_exactly_lenets_features_of_that_crop(lenet):
    """A digit pasted at (4a, 4b) on a background whose normalised value is 0 (LeNet-5's zero padding): the
    conv layers on the whole canvas, RoI-pooled over that 28x28 square, give LeNet-5's own features of the
    crop, and its classifier the same logits."""
    digit = cnnviz.core.datasets.load_dataset("mnist", "test").images[0].astype(np.float32) / 255
    mean = float(lenet.to_pixels(torch.zeros(1, 1, 1, 1)).flatten()[0])  # the pixel value normalised to 0
    canvas = np.full((96, 96), mean, np.float32)
    a, b = 5, 9
    canvas[4 * b:4 * b + 28, 4 * a:4 * a + 28] = digit
    with torch.no_grad():
        fmap = lenet.module.features(lenet.normalize(torch.as_tensor(canvas)[None, None]))
        own = lenet.module.features(lenet.normalize(torch.as_tensor(digit)[None, None]))
    square = np.array([[4 * a, 4 * b, 4 * a + 28, 4 * b + 28]], np.float32)
    rois = torch.as_tensor(rc.feature_rois(square))
    pooled = ops.roi_pool(fmap, [rois], rc.POOLED, spatial_scale=1 / rc.STRIDE)
    torch.testing.assert_close(pooled, own, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torchvision.ops.roi_pool(fmap, [rois], 5, 1 / rc.STRIDE), pooled)
    torch.testing.assert_close(lenet.module.classifier(pooled), lenet.module.classifier(own), rtol=1e-5, atol=1e-5)


def test_fast_rcnn_shares_the_features_and_pools_as_ops_roi_pool(lenet, heads):
    c = make_canvases(1, seed=11)[0]
    boxes = selective_search(c.image)
    fast = rc.fast_rcnn(lenet, c.image, heads[1], proposals=boxes)
    same = rc.fast_rcnn(lenet, c.image, heads[1], proposals=boxes, pool=ops.roi_pool)
    np.testing.assert_allclose(fast.probs, same.probs, rtol=1e-5, atol=1e-6)
    assert "conv layers once" in fast.seconds and "RoI pooling" in fast.seconds
    order = np.argsort(-fast.final.scores)
    tp, _ = rc.match(fast.final.boxes[order], fast.final.labels[order], c.boxes, c.labels)
    assert tp >= 1
