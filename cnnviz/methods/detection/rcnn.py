"""R-CNN and Fast R-CNN built from the bundled LeNet-5, stage by stage, with the seconds each stage takes.

**R-CNN** (Girshick et al., 2014): selective-search proposals; each one *warped* to the network's input
(here a square around the box with MNIST's margin, 28/20 of the box's longer side, resampled to 28x28),
run through the whole CNN; LeNet-5's softmax decides the class, and a proposal is **background** when its
largest probability is under ``min_score`` (LeNet-5 has no background class: a crop of two half digits or
of a stroke gets a flat, unsure softmax); a ridge regression from the proposal's "pool5" features
(LeNet-5's 16x5x5 conv output) to the box offsets ``(dx, dy, dw, dh)`` moves each box; greedy
non-maximum suppression keeps the best box of each overlapping group.

**Fast R-CNN** (Girshick, 2015): the conv layers run *once* on the whole canvas; each proposal's square
is cut out of that one feature map by RoI max pooling into the 16x5x5 grid LeNet-5's classifier expects,
then LeNet-5's own fully connected layers classify it. A feature cell ``j`` of LeNet-5's last pooling
layer sees input pixels ``4j .. 4j+11``, so the cells inside a square ``[x0, x0+s)`` are
``x0/4 .. (x0+s-12)/4``: the RoI handed to :func:`~cnnviz.methods.detection.ops.roi_pool` is
``(x0, y0, x0+s-12, y0+s-12)`` with ``spatial_scale=1/4`` (a 28 px square aligned to the stride gives
exactly the 5x5 cells LeNet-5 computes for that crop). LeNet-5 was trained on 20 px digits, so by default
the feature map is computed at a few canvas scales (Fast R-CNN's image pyramid) and each RoI is pooled at
the scale that brings its square closest to 28 px.

Boxes are ``(x0, y0, x1, y1)`` float32 in canvas pixels (pixel edges). Timings are wall-clock seconds
(``time.perf_counter``), returned as data.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align
from torchvision.ops import roi_pool as tv_roi_pool

from cnnviz.methods.detection import proposals as props
from cnnviz.methods.detection.errors import DetectionError
from cnnviz.methods.detection.ops import box_iou, nms, roi_pool

CONTEXT = 28 / 20  # an MNIST digit fills 20 of its 28 px: the warp keeps that margin
STRIDE = 4  # LeNet-5's last pooling layer: one cell per 4 input pixels
FIELD = 12  # ... and each cell sees 12 input pixels
POOLED = 5  # the grid LeNet-5's classifier expects (16 x 5 x 5)
DEFAULT_SCALES = (1.0, 0.75, 0.5)
REGRESSION_IOU = 0.6  # R-CNN trains its box regression on proposals with IoU >= 0.6 to a true box


# ------------------------------------------------------------------------------------------- geometry
def context_squares(boxes: np.ndarray) -> np.ndarray:
    """The square each proposal is read in: centred on the box, side ``CONTEXT`` x its longer side."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    half = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * CONTEXT / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], 1).astype(np.float32)


def feature_rois(squares: np.ndarray) -> np.ndarray:
    """The RoI boxes (input pixels, for ``spatial_scale=1/STRIDE``) of the feature cells inside each square."""
    s = np.asarray(squares, np.float32).reshape(-1, 4)
    side = np.maximum(s[:, 2] - s[:, 0], FIELD + 1)
    return np.stack([s[:, 0], s[:, 1], s[:, 0] + side - FIELD, s[:, 1] + side - FIELD], 1).astype(np.float32)


def encode(proposals: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """R-CNN's regression targets: ``((Gx-Px)/Pw, (Gy-Py)/Ph, log(Gw/Pw), log(Gh/Ph))`` per pair, ``[N, 4]``."""
    p, g = np.asarray(proposals, np.float64), np.asarray(truth, np.float64)
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    return np.stack([((g[:, 0] + g[:, 2]) - (p[:, 0] + p[:, 2])) / 2 / pw,
                     ((g[:, 1] + g[:, 3]) - (p[:, 1] + p[:, 3])) / 2 / ph,
                     np.log(gw / pw), np.log(gh / ph)], 1)


def decode(proposals: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """The boxes the offsets ``deltas`` move ``proposals`` to (the inverse of :func:`encode`)."""
    p, d = np.asarray(proposals, np.float64).reshape(-1, 4), np.asarray(deltas, np.float64).reshape(-1, 4)
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    cx, cy = (p[:, 0] + p[:, 2]) / 2 + d[:, 0] * pw, (p[:, 1] + p[:, 3]) / 2 + d[:, 1] * ph
    w, h = pw * np.exp(np.clip(d[:, 2], -2, 2)), ph * np.exp(np.clip(d[:, 3], -2, 2))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)


# ------------------------------------------------------------------------------------------- features
def _pixels(image: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(image, np.float32) / 255.0, device=device)[None, None]


def warp(image: np.ndarray, boxes: np.ndarray, size: int = 28) -> torch.Tensor:
    """R-CNN's warp: each proposal's context square resampled to ``size x size`` pixels (0..1, black outside the
    canvas), ``[N, 1, size, size]``."""
    sq = torch.as_tensor(context_squares(boxes))
    return roi_align(_pixels(image, "cpu"), [sq], size, sampling_ratio=2, aligned=True)


@torch.no_grad()
def lenet_forward(handle, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pool5 features ``[N, 400]``, softmax ``[N, classes]``) of LeNet-5 for pixel crops ``[N, 1, 28, 28]``."""
    net = handle.module
    feats = net.features(handle.normalize(pixels.to(handle.device)))
    return feats.flatten(1).cpu(), torch.softmax(net.classifier(feats), 1).cpu()


@torch.no_grad()
def feature_pyramid(handle, image: np.ndarray, scales: Sequence[float] = (1.0,)) -> list[torch.Tensor]:
    """LeNet-5's conv layers on the whole canvas, once per scale: ``[1, 16, H', W']`` per scale."""
    x = _pixels(image, handle.device)
    out = []
    for s in scales:
        xs = x if s == 1 else F.interpolate(x, scale_factor=s, mode="area")
        out.append(handle.module.features(handle.normalize(xs)))
    return out


def pick_scales(squares: np.ndarray, scales: Sequence[float]) -> np.ndarray:
    """For each square, the index of the scale that brings its side closest to 28 px (ties: the larger scale)."""
    side = np.asarray(squares)[:, 2] - np.asarray(squares)[:, 0]
    err = np.abs(np.log(side[:, None] * np.asarray(scales, np.float64)[None, :] / 28.0))
    return err.argmin(1)


def pool_rois(fmaps: list[torch.Tensor], squares: np.ndarray, scales: Sequence[float], pool=roi_pool) -> torch.Tensor:
    """Fast R-CNN's RoI pooling: each square's cells of the feature map (at its scale) max-pooled to 5x5,
    ``[N, 16, 5, 5]``."""
    squares = np.asarray(squares, np.float32).reshape(-1, 4)
    which = pick_scales(squares, scales) if len(squares) else np.zeros(0, np.int64)
    out = fmaps[0].new_zeros((len(squares), fmaps[0].shape[1], POOLED, POOLED))
    for i, s in enumerate(scales):
        idx = np.nonzero(which == i)[0]
        if len(idx):
            rois = torch.as_tensor(feature_rois(squares[idx] * s), device=fmaps[i].device)
            out[torch.as_tensor(idx)] = pool(fmaps[i], [rois], POOLED, spatial_scale=1.0 / STRIDE)
    return out


# ------------------------------------------------------------------------------------------- the learned heads
@dataclass
class Heads:
    """What R-CNN learns on top of the CNN's features of a proposal (its Sec. 2.3 and appendix C), fitted on
    training canvases: an object-vs-background classifier (R-CNN: one linear SVM per class; here one logistic
    regression, so the score is a probability, and the class comes from LeNet-5's softmax) and a class-agnostic
    ridge regression to the box offsets ``(dx, dy, dw, dh)``.

    Attributes:
        features: ``"warp"`` (R-CNN: LeNet-5's 16x5x5 features of the warped crop) or ``"roi"`` (Fast R-CNN:
            the RoI-pooled 16x5x5 cells of the shared feature map).
        object_w, object_b: the background classifier (``P(object) = sigmoid(x . w + b)``).
        coef, intercept: the box regression ``[4, F]``, ``[4]``.
        positives, negatives: proposals it was fitted on (IoU >= ``POSITIVE_IOU`` with a true box, or the true
            box itself; IoU < ``NEGATIVE_IOU`` with every true box).
        pairs: the (proposal, true box) pairs of the regression (IoU >= ``REGRESSION_IOU``).
        mean_iou: mean IoU of those pairs before and after the regression.
    """

    features: str
    object_w: np.ndarray
    object_b: float
    coef: np.ndarray
    intercept: np.ndarray
    positives: int
    negatives: int
    pairs: int
    mean_iou: tuple[float, float]

    def objectness(self, feats) -> np.ndarray:
        z = np.asarray(feats, np.float64) @ self.object_w + self.object_b
        return 1.0 / (1.0 + np.exp(-z))

    def regress(self, boxes: np.ndarray, feats) -> np.ndarray:
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32)
        return decode(boxes, np.asarray(feats, np.float64) @ self.coef.T + self.intercept)


POSITIVE_IOU, NEGATIVE_IOU = 0.7, 0.3


def proposal_features(handle, image: np.ndarray, boxes: np.ndarray, kind: str,
                      scales: Sequence[float] = DEFAULT_SCALES) -> torch.Tensor:
    """The ``[N, 400]`` features of proposals: of their warped crops (``"warp"``) or RoI-pooled (``"roi"``)."""
    if kind == "warp":
        return lenet_forward(handle, warp(image, boxes))[0]
    if kind != "roi":
        raise DetectionError(f"features must be 'warp' or 'roi', not {kind!r}")
    with torch.no_grad():
            return pool_rois(feature_pyramid(handle, image, scales), context_squares(boxes), scales,
                         pool=tv_roi_pool).flatten(1).cpu()


def fit_heads(handle, canvases, features: str = "warp", scales: Sequence[float] = DEFAULT_SCALES,
              alpha: float = 10.0, proposals: Sequence[np.ndarray] | None = None) -> Heads:
    """Fit the background classifier and the box regression on ``canvases`` (objects with ``.image`` and
    ``.boxes``) from their selective-search proposals (or ``proposals``, one array per canvas). scikit-learn's
    ``LogisticRegression`` and ``Ridge``: deterministic for the same canvases."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from threadpoolctl import threadpool_limits

    X, y, P, G, R = [], [], [], [], []
    for i, c in enumerate(canvases):
        truth = np.asarray(c.boxes, np.float32).reshape(-1, 4)
        p = props.selective_search(c.image) if proposals is None else np.asarray(proposals[i], np.float32)
        if len(truth) == 0 or len(p) == 0:
            continue
        best, gi = box_iou(torch.as_tensor(p), torch.as_tensor(truth)).max(1)
        best, gi = best.numpy(), gi.numpy()
        boxes = np.concatenate([truth, p])
        f = proposal_features(handle, c.image, boxes, features, scales).numpy()
        fp = f[len(truth):]
        pos, neg = best >= POSITIVE_IOU, best < NEGATIVE_IOU
        X += [f[:len(truth)], fp[pos], fp[neg]]
        y += [np.ones(len(truth) + int(pos.sum())), np.zeros(int(neg.sum()))]
        sel = best >= REGRESSION_IOU
        R.append(fp[sel])
        P.append(p[sel])
        G.append(truth[gi[sel]])
    if not R or not any(len(r) for r in R):
        raise DetectionError("no proposal overlaps a true box enough to fit R-CNN's heads")
    X, y = np.concatenate(X), np.concatenate(y)
    R, P, G = np.concatenate(R), np.concatenate(P), np.concatenate(G)
    with threadpool_limits(1):  # small problems: BLAS threads fighting over busy cores cost 50x
        clf = LogisticRegression(C=0.1, max_iter=2000).fit(X, y)
        ridge = Ridge(alpha=alpha).fit(R, encode(P, G))
    heads = Heads(features, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), ridge.coef_.astype(np.float64),
                  ridge.intercept_.astype(np.float64), int(y.sum()), int((y == 0).sum()), len(R), (0.0, 0.0))
    iou = lambda a, b: float(np.diag(box_iou(torch.as_tensor(a), torch.as_tensor(b)).numpy()).mean())  # noqa: E731
    heads.mean_iou = (iou(P, G), iou(heads.regress(P, R), G))
    return heads


# ------------------------------------------------------------------------------------------- NMS, step by step
@dataclass(frozen=True)
class NmsStep:
    """One step of greedy NMS: the box ``kept`` (the best one left) and the boxes it ``suppressed`` with their
    IoU with it (indices into the boxes NMS was given)."""

    kept: int
    suppressed: tuple[int, ...]
    ious: tuple[float, ...]


def nms_steps(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[NmsStep]:
    """Greedy non-maximum suppression written out step by step; the ``kept`` indices, in order, equal
    :func:`~cnnviz.methods.detection.ops.nms` (and ``torchvision.ops.nms``)."""
    b, s = torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4), torch.as_tensor(np.asarray(scores))
    if len(b) == 0:
        return []
    order = torch.sort(s, descending=True, stable=True)[1].tolist()
    iou = box_iou(b, b).double().numpy()
    done = np.zeros(len(b), bool)
    steps = []
    for i in order:
        if done[i]:
            continue
        done[i] = True
        gone = [j for j in order if not done[j] and iou[i, j] > iou_threshold]
        done[gone] = True
        steps.append(NmsStep(i, tuple(gone), tuple(float(iou[i, j]) for j in gone)))
    return steps


# ------------------------------------------------------------------------------------------- the pipelines
@dataclass
class Stage:
    """The boxes after one stage, with their labels (-1: none yet) and scores."""

    name: str
    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


@dataclass
class Detections:
    """What R-CNN or Fast R-CNN did on one canvas.

    Attributes:
        method: ``"R-CNN"`` or ``"Fast R-CNN"``.
        stages: proposals -> classified (foreground only) -> regressed -> after NMS.
        probs: the softmax of every proposal ``[P, classes]``; foreground: ``[P]`` bool.
        nms: the NMS steps on the regressed boxes.
        seconds: stage -> wall-clock seconds, in order.
    """

    method: str
    stages: list[Stage]
    probs: np.ndarray
    foreground: np.ndarray
    nms: list[NmsStep]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))


class _Clock:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self.t
        self.t = now


def _finish(method: str, clock: _Clock, boxes: np.ndarray, probs: torch.Tensor, feats: torch.Tensor,
            heads: Heads | None, min_score: float, nms_iou: float) -> Detections:
    """Background rule, regression and NMS: the stages both pipelines share."""
    probs_np = probs.numpy()
    score, label = probs_np.max(1), probs_np.argmax(1)
    if heads is not None:
        score = (score * heads.objectness(feats)).astype(np.float32)
    fg = score >= min_score
    clock.lap("classify" if method == "R-CNN" else "classifier head")
    idx = np.nonzero(fg)[0]
    cls = Stage("classified", boxes[idx], label[idx], score[idx])
    moved = heads.regress(boxes[idx], feats[torch.as_tensor(idx)]) if heads is not None else boxes[idx]
    reg = Stage("regressed", moved, label[idx], score[idx])
    clock.lap("box regression")
    keep = nms(torch.as_tensor(moved), torch.as_tensor(score[idx]), nms_iou).numpy() if len(idx) else np.zeros(0, int)
    final = Stage("after NMS", moved[keep], label[idx][keep], score[idx][keep])
    clock.lap("NMS")
    steps = nms_steps(moved, score[idx], nms_iou)  # for the drawing, not timed
    prop = Stage("proposals", boxes, np.full(len(boxes), -1), np.zeros(len(boxes), np.float32))
    return Detections(method, [prop, cls, reg, final], probs_np, fg, steps, clock.seconds)


def _proposals(image: np.ndarray, proposals: np.ndarray | None, clock: _Clock) -> np.ndarray:
    if proposals is None:
        boxes = props.selective_search(image)
        clock.lap("proposals")
        return boxes
    clock.t = time.perf_counter()
    return np.asarray(proposals, np.float32).reshape(-1, 4)


def rcnn(handle, image: np.ndarray, heads: Heads | None = None, proposals: np.ndarray | None = None,
         min_score: float = 0.5, nms_iou: float = 0.3) -> Detections:
    """R-CNN on a canvas: proposals -> warp -> LeNet-5 on every crop -> background rule -> regression -> NMS.

    Args:
        handle: the bundled LeNet-5 (``cnnviz.load_model("lenet5-mnist")``).
        image: ``(H, W)`` uint8 canvas.
        heads: ``"warp"`` :class:`Heads` from :func:`fit_heads`; None: the score is LeNet-5's largest softmax
            probability alone and the boxes are not moved.
        proposals: ``[P, 4]`` boxes; None: selective search (timed as a stage).
        min_score: a proposal scoring below this is background; the score is ``P(object) x`` the largest
            softmax probability.
        nms_iou: NMS drops a box whose IoU with a better kept box is above this (class-agnostic).
    """
    clock = _Clock()
    boxes = _proposals(image, proposals, clock)
    crops = warp(image, boxes)
    clock.lap("warp")
    feats, probs = lenet_forward(handle, crops)
    clock.lap("CNN on every crop")
    return _finish("R-CNN", clock, boxes, probs, feats, heads, min_score, nms_iou)


def fast_rcnn(handle, image: np.ndarray, heads: Heads | None = None, proposals: np.ndarray | None = None,
              min_score: float = 0.5, nms_iou: float = 0.3, scales: Sequence[float] = DEFAULT_SCALES,
              pool=tv_roi_pool) -> Detections:
    """Fast R-CNN on a canvas: proposals -> conv layers once (per scale) -> RoI pooling -> LeNet-5's classifier
    -> background rule -> regression (``"roi"`` :class:`Heads`) -> NMS. Arguments as :func:`rcnn`, and

    Args:
        pool: the RoI pooling: torchvision's compiled kernel by default (as the paper's CUDA kernel);
            :func:`cnnviz.methods.detection.ops.roi_pool` gives the same numbers, one RoI at a time in Python.
    """
    clock = _Clock()
    boxes = _proposals(image, proposals, clock)
    with torch.no_grad():
        fmaps = feature_pyramid(handle, image, scales)
        clock.lap("conv layers once")
        pooled = pool_rois(fmaps, context_squares(boxes), scales, pool=pool)
        clock.lap("RoI pooling")
        probs = torch.softmax(handle.module.classifier(pooled), 1).cpu()
    return _finish("Fast R-CNN", clock, boxes, probs, pooled.flatten(1).cpu(), heads, min_score, nms_iou)


def match(boxes: np.ndarray, labels: np.ndarray, truth: np.ndarray, truth_labels: np.ndarray,
          iou: float = 0.5) -> tuple[int, int]:
    """(true positives, detections): greedy matching by order of ``boxes`` (give them best first), a detection
    is right when it overlaps an unmatched true box of its label with IoU >= ``iou``."""
    if len(boxes) == 0 or len(truth) == 0:
        return 0, len(boxes)
    m = box_iou(torch.as_tensor(np.asarray(boxes, np.float32)), torch.as_tensor(np.asarray(truth, np.float32))).numpy()
    used = np.zeros(len(truth), bool)
    tp = 0
    for i in range(len(boxes)):
        ok = (m[i] >= iou) & ~used & (np.asarray(truth_labels) == labels[i])
        if ok.any():
            used[np.argmax(np.where(ok, m[i], -1))] = True
            tp += 1
    return tp, len(boxes)


__all__ = ["Detections", "Heads", "NmsStep", "Stage", "context_squares", "decode", "encode", "fast_rcnn",
           "feature_pyramid", "feature_rois", "fit_heads", "lenet_forward", "match", "nms_steps", "pick_scales",
           "pool_rois", "proposal_features", "rcnn", "warp"]
