"""Views of /detection: canvases, proposals, R-CNN step by step, NMS, Fast R-CNN's RoI pooling, Faster R-CNN's
anchors, and the seconds each takes. Everything computed is cached server-wide (a few seconds at most)."""
from __future__ import annotations

import statistics
import time

import numpy as np
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import detection as fd
from cnnviz.methods.detection import proposals as props
from cnnviz.methods.detection import rcnn as rc
from cnnviz.methods.detection.canvases import make_canvas, make_canvases
from cnnviz.methods.detection.ops import roi_pool
from cnnviz.text import detection as tx
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_figure, shared_model
from cnnviz.ui.view import Frame, register

CANVAS_KEYS = ("dt_seed", "dt_size", "dt_n", "dt_data")
TRAIN_CANVASES, TRAIN_SEED = 16, 1
HELD_OUT, HELD_OUT_SIZE, HELD_OUT_SEED = 24, 200, 2000  # sizes the detector was not trained on (96-160 px)


class DetectorMissing(CnnvizError):
    """The bundled digit-detector's weights are not on this machine."""


# ------------------------------------------------------------------------------------------- shared state
def _canvas_args() -> tuple[int, int, int, str]:
    return (state.peek("dt_seed", 0, int, valid=lambda v: 0 <= v <= 999),
            state.peek("dt_size", 128, int, valid=lambda v: 64 <= v <= 256),
            state.peek("dt_n", 4, int, valid=lambda v: 1 <= v <= 8),
            state.peek("dt_data", "mnist", valid=lambda v: v in tx.DATASET_TITLES))


@st.cache_data(max_entries=64, show_spinner=False)
def _canvas(seed: int, size: int, n: int, dataset: str):
    return make_canvas(size, n_objects=n, dataset=dataset, split="test", seed=seed)


@st.cache_data(max_entries=64, show_spinner="Selective search…")
def _proposals(seed: int, size: int, n: int, dataset: str) -> np.ndarray:
    return props.selective_search(_canvas(seed, size, n, dataset).image)


def _lenet():
    return shared_model("lenet5-mnist")


@st.cache_resource(show_spinner="Selective search on the training canvases…")
def _train_set() -> tuple[list, list[np.ndarray]]:
    canvases = make_canvases(TRAIN_CANVASES, split="train", seed=TRAIN_SEED)
    return canvases, [props.selective_search(c.image) for c in canvases]


@st.cache_resource(show_spinner="Fitting R-CNN's background classifier and box regression…")
def _heads(kind: str) -> rc.Heads:
    canvases, proposals = _train_set()
    return rc.fit_heads(_lenet(), canvases, kind, proposals=proposals)


@st.cache_data(max_entries=32, show_spinner="Running R-CNN…")
def _detections(method: str, seed: int, size: int, n: int) -> rc.Detections:
    image, boxes = _canvas(seed, size, n, "mnist").image, _proposals(seed, size, n, "mnist")
    if method == "R-CNN":
        return rc.rcnn(_lenet(), image, _heads("warp"), proposals=boxes)
    return rc.fast_rcnn(_lenet(), image, _heads("roi"), proposals=boxes)


def _digit_args(f: Frame) -> tuple[int, int, int]:
    seed, size, n, dataset = _canvas_args()
    if dataset != "mnist" and not f.slide:
        st.caption(tx.DIGITS_ONLY)
    return seed, size, n


def _names(labels, scores=None) -> list[str]:
    return [str(int(c)) if scores is None else f"{int(c)} {s:.2f}"
            for c, s in zip(labels, scores if scores is not None else labels, strict=True)]


def _truth(c) -> fd.BoxSet:
    return fd.BoxSet(c.boxes, None, fd.TRUTH, 1.2, "dot")


# ------------------------------------------------------------------------------------------- 1. canvas
@shared_figure()
def _canvas_figure(seed: int, size: int, n: int, dataset: str, height: int | None):
    c = _canvas(seed, size, n, dataset)
    names = [c.classes[k] for k in c.labels]
    title = f"{len(c.boxes)} {tx.DATASET_TITLES[dataset]} on a {size}×{size} canvas, with their true boxes"
    return fd.canvas_figure(c.image, [fd.BoxSet(c.boxes, names, fd.TRUTH)], title, height)


@register("detection.canvas", "A canvas of objects and its ground truth", keys=CANVAS_KEYS)
def canvas(f: Frame) -> None:
    c1, c2, c3, c4 = f.controls(4)
    seed = state.number("Seed", "dt_seed", 0, 999, 0, container=c1)
    size = state.slider("Canvas side (px)", "dt_size", 64, 256, 128, step=32, container=c2)
    n = state.slider("Objects", "dt_n", 1, 8, 4, container=c3)
    dataset = state.select("Objects are", "dt_data", list(tx.DATASET_TITLES), "mnist",
                           format_func=tx.DATASET_TITLES.get, container=c4)
    widgets.show_figure(_canvas_figure(seed, size, n, dataset, f.figure_height), "detection-canvas")
    f.note(tx.CANVAS_NOTE)


# ------------------------------------------------------------------------------------------- 2. proposals
@shared_figure()
def _proposals_figure(seed: int, size: int, n: int, dataset: str, height: int | None):
    c = _canvas(seed, size, n, dataset)
    ss = _proposals(seed, size, n, dataset)
    sw = props.sliding_windows(size, size)
    t_ss, t_sw = tx.proposals_title(len(ss), props.recall(ss, c.boxes), len(sw), props.recall(sw, c.boxes))
    return fd.side_by_side(c.image, [(t_ss, [fd.BoxSet(ss, None, fd.PROPOSAL, 0.8, opacity=0.6), _truth(c)]),
                                     (t_sw, [fd.BoxSet(sw, None, fd.PROPOSAL, 0.4, opacity=0.25), _truth(c)])],
                           height=height)


@register("detection.proposals", "Proposals: selective search against sliding windows", reads=CANVAS_KEYS)
def proposals(f: Frame) -> None:
    seed, size, n, dataset = _canvas_args()
    fig = _proposals_figure(seed, size, n, dataset, f.figure_height)
    widgets.show_figure(fig, "detection-proposals")
    if not f.slide:
        st.caption("Sliding windows: heights 20, 28, 36 and 44 px, square and twice as tall as wide, stride a quarter "
                   "of the height.")
    f.note(tx.PROPOSALS_NOTE)


# ------------------------------------------------------------------------------------------- 3. R-CNN
def _labels_with_iou(stage: rc.Stage, truth: np.ndarray) -> list[str]:
    best = props.best_iou(truth, stage.boxes) if len(stage.boxes) and len(truth) else np.zeros(len(stage.boxes))
    return [f"{int(c)} {s:.2f} · IoU {i:.2f}" for c, s, i in zip(stage.labels, stage.scores, best, strict=True)]


@shared_figure()
def _rcnn_figure(seed: int, size: int, n: int, step: str, height: int | None):
    c = _canvas(seed, size, n, "mnist")
    stage = _detections("R-CNN", seed, size, n).stages[tx.STAGES.index(step)]
    if step == "proposals":
        sets, found = [fd.BoxSet(stage.boxes, None, fd.PROPOSAL, 0.8, opacity=0.6)], None
    else:
        labels = _labels_with_iou(stage, c.boxes) if step == "after NMS" else _names(stage.labels)
        sets = [fd.BoxSet(stage.boxes, labels, fd.KEPT, 2.0 if step == "after NMS" else 1.0)]
        order = np.argsort(-stage.scores)
        found = rc.match(stage.boxes[order], stage.labels[order], c.boxes, c.labels)[0]
    title = tx.stage_title(step, len(stage.boxes), found, len(c.boxes) if found is not None else None)
    return fd.canvas_figure(c.image, [_truth(c), *sets], title, height)


@register("detection.rcnn", "R-CNN, step by step", keys=("dt_step",), reads=CANVAS_KEYS)
def rcnn_steps(f: Frame) -> None:
    seed, size, n = _digit_args(f)
    (c1,) = f.controls(1)
    step = state.select("Step", "dt_step", list(tx.STAGES), "after NMS", format_func=tx.STAGE_TITLES.get,
                        container=c1, radio=True, horizontal=True)
    widgets.show_figure(_rcnn_figure(seed, size, n, step, f.figure_height), "detection-rcnn")
    if not f.slide:
        heads = _heads("warp")
        st.caption(tx.BACKGROUND_RULE)
        st.caption(tx.regression_caption(*heads.mean_iou, heads.pairs))
    f.note(tx.RCNN_NOTE)


# ------------------------------------------------------------------------------------------- 4. NMS
@shared_figure()
def _nms_figure(seed: int, size: int, n: int, thr: float, height: int | None):
    c = _canvas(seed, size, n, "mnist")
    reg = _detections("R-CNN", seed, size, n).stages[2]
    steps = rc.nms_steps(reg.boxes, reg.scores, thr)
    kept = [s.kept for s in steps]
    gone = {j: (s.kept, iou) for s in steps for j, iou in zip(s.suppressed, s.ious, strict=True)}
    return fd.nms_figure(c.image, reg.boxes, _names(reg.labels, reg.scores), kept, gone, c.boxes,
                         tx.nms_title(thr, len(kept), len(gone)), height)


@register("detection.nms", "Non-maximum suppression", keys=("dt_nms",), reads=CANVAS_KEYS)
def nms_view(f: Frame) -> None:
    seed, size, n = _digit_args(f)
    (c1,) = f.controls(1)
    thr = state.slider("IoU threshold", "dt_nms", 0.05, 0.95, 0.3, step=0.05, container=c1,
                       help="A box is dropped when it overlaps a better kept box by more than this.")
    fig = _nms_figure(seed, size, n, thr, f.figure_height)
    widgets.show_figure(fig, "detection-nms")
    f.note(tx.NMS_NOTE)


# ------------------------------------------------------------------------------------------- 5. Fast R-CNN
@st.cache_data(max_entries=16, show_spinner="Computing the shared feature map…")
def _fast_view(seed: int, size: int, n: int, roi: int, channel: int):
    c = _canvas(seed, size, n, "mnist")
    boxes = _proposals(seed, size, n, "mnist")
    squares = rc.context_squares(boxes)
    which = rc.pick_scales(squares, rc.DEFAULT_SCALES)
    k = which[roi]
    scale = rc.DEFAULT_SCALES[k]
    fmap = rc.feature_pyramid(_lenet(), c.image, [scale])[0]
    same = np.nonzero(which == k)[0]
    rois = rc.feature_rois(squares[same] * scale)
    cells = np.round(rois * (1.0 / rc.STRIDE))
    pooled = roi_pool(fmap, [torch.as_tensor(rois[same == roi][:1])], rc.POOLED, spatial_scale=1.0 / rc.STRIDE)
    probs = torch.softmax(_lenet().module.classifier(pooled), 1)[0]
    return (fmap[0, channel].cpu().numpy(), cells, int(np.nonzero(same == roi)[0][0]), pooled[0, channel].cpu().numpy(),
            scale, float(squares[roi, 2] - squares[roi, 0]), int(probs.argmax()), float(probs.max()))


@shared_figure(max_entries=32)
def _fast_figure(seed: int, size: int, n: int, roi: int, channel: int, height: int | None):
    fmap, cells, chosen, pooled, scale, side, label, score = _fast_view(seed, size, n, roi, channel)
    c = _canvas(seed, size, n, "mnist")
    d = _detections("Fast R-CNN", seed, size, n)
    found = rc.match(d.final.boxes, d.final.labels, c.boxes, c.labels)[0]
    title = (f"Fast R-CNN: {len(_proposals(seed, size, n, 'mnist'))} RoIs on one feature map; {found} of "
             f"{len(c.boxes)} objects found")
    return (fd.feature_map_figure(fmap, cells, chosen, pooled, f"channel {channel}", title, height),
            tx.fast_caption(scale, side, str(label), score))


@register("detection.fast", "Fast R-CNN: one feature map, RoI pooling", keys=("dt_roi", "dt_ch"), reads=CANVAS_KEYS)
def fast(f: Frame) -> None:
    seed, size, n = _digit_args(f)
    boxes = _proposals(seed, size, n, "mnist")
    if len(boxes) == 0:
        raise CnnvizError("This canvas has no proposals (no ink). Pick another seed.")
    d = _detections("Fast R-CNN", seed, size, n)
    order = np.argsort(-(d.probs.max(1) * d.foreground))  # the best scoring proposals first
    c1, c2 = f.controls(2)
    rank = state.slider("Proposal (by score)", "dt_roi", 0, len(boxes) - 1, 0, container=c1) if len(boxes) > 1 else 0
    channel = state.slider("Channel of the feature map", "dt_ch", 0, 15, 0, container=c2)
    roi = int(order[min(rank, len(order) - 1)])
    fig, caption = _fast_figure(seed, size, n, roi, channel, f.figure_height)
    widgets.show_figure(fig, "detection-fast")
    if not f.slide:
        st.caption(caption)
    f.note(tx.FAST_NOTE)


# ------------------------------------------------------------------------------------------- 6. Faster R-CNN
def _detector():
    from cnnviz.methods.detection.detector import load_detector

    try:
        return load_detector("cpu")
    except (FileNotFoundError, CnnvizError) as e:
        raise DetectorMissing(tx.NO_DETECTOR.format(problem=str(e)[:200])) from e


@st.cache_data(max_entries=32, show_spinner="Running the region proposal network…")
def _faster(seed: int, size: int, n: int, top_n: int):
    from cnnviz.methods.detection.detector import detect, rpn_view

    model = _detector()
    image = _canvas(seed, size, n, "mnist").image
    anchors, obj, proposals, _ = rpn_view(model, image, top_n)
    dets = detect(model, image)
    return anchors.numpy(), obj.numpy(), proposals.numpy(), dets


@st.cache_data(show_spinner="Scoring the detector on held-out canvases…")
def _held_out_scores() -> tuple[float, float, int]:
    from cnnviz.methods.detection.evaluate import precision_recall

    canvases = make_canvases(HELD_OUT, size=HELD_OUT_SIZE, n_objects=(3, 6), split="test", seed=HELD_OUT_SEED)
    pr = precision_recall(_detector(), canvases)
    return pr.precision, pr.recall, len(canvases)


@shared_figure()
def _faster_figure(seed: int, size: int, n: int, top_n: int, cell: int, height: int | None):
    anchors, obj, proposals, dets = _faster(seed, size, n, top_n)
    objectness = obj.reshape(-1, 9).max(1)
    padded = int(np.ceil(size / 32) * 32) // 4
    rows, cols = len(objectness) // padded, padded
    c = _canvas(seed, size, n, "mnist")
    det = fd.BoxSet(np.array([d.box for d in dets], np.float32).reshape(-1, 4),
                    [f"{d.name} {d.score:.2f}" for d in dets], fd.KEPT, 2.5)
    precision, recall, count = _held_out_scores()
    return fd.rpn_figure(c.image, anchors[cell * 9:(cell + 1) * 9], objectness.reshape(rows, cols), proposals,
                         [_truth(c), det], tx.faster_title(len(dets), precision, recall, count), height)


@register("detection.faster", "Faster R-CNN: anchors, objectness, proposals", keys=("dt_cell", "dt_top"),
          reads=CANVAS_KEYS)
def faster(f: Frame) -> None:
    seed, size, n = _digit_args(f)
    _detector()
    c1, c2 = f.controls(2)
    top_n = state.slider("Top proposals", "dt_top", 5, 100, 30, step=5, container=c1)
    anchors, obj, proposals, dets = _faster(seed, size, n, top_n)
    cells = len(anchors) // 9
    objectness = obj.reshape(-1, 9).max(1)
    cell = state.slider("Anchors at location (feature-map cell, row by row)", "dt_cell", 0, max(0, cells - 1),
                        int(objectness.argmax()), container=c2)
    fig = _faster_figure(seed, size, n, top_n, cell, f.figure_height)
    widgets.show_figure(fig, "detection-faster")
    f.note(tx.FASTER_NOTE)


# ------------------------------------------------------------------------------------------- 7. timing
def _median_seconds(run, repeats: int = 3) -> dict[str, float]:
    runs = [run() for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


@st.cache_data(max_entries=16, show_spinner="Timing the three detectors…")
def _timings(seed: int, size: int, n: int) -> tuple[list[tuple[str, str, float]], str | None]:
    c = _canvas(seed, size, n, "mnist")
    t0 = time.perf_counter()
    boxes = props.selective_search(c.image)
    t_prop = time.perf_counter() - t0
    h, hw, hr = _lenet(), _heads("warp"), _heads("roi")
    slow = _median_seconds(lambda: rc.rcnn(h, c.image, hw, proposals=boxes).seconds)
    quick = _median_seconds(lambda: rc.fast_rcnn(h, c.image, hr, proposals=boxes).seconds)
    rows = [("R-CNN", "selective search", t_prop), *[("R-CNN", k, v) for k, v in slow.items()],
            ("Fast R-CNN", "selective search", t_prop), *[("Fast R-CNN", k, v) for k, v in quick.items()]]
    missing = None
    try:
        from cnnviz.methods.detection.detector import detect

        model = _detector()
        rows.append(("Faster R-CNN", "one network (RPN + head)",
                     _median_seconds(lambda: {"all": _timed(lambda: detect(model, c.image))})["all"]))
    except DetectorMissing as e:
        missing = str(e)
    return rows, missing


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@register("detection.timing", "Seconds per stage: R-CNN, Fast R-CNN, Faster R-CNN", reads=CANVAS_KEYS)
def timing(f: Frame) -> None:
    seed, size, n = _digit_args(f)
    rows, missing = _timings(seed, size, n)
    total = {m: sum(t for mm, _, t in rows if mm == m) for m in ("R-CNN", "Fast R-CNN", "Faster R-CNN")}
    shown = [("paper", "R-CNN 2014, CPU, per image", 53.0), *rows]
    fig = fd.timing_figure(shown, tx.timing_title(total["R-CNN"], total["Fast R-CNN"], total["Faster R-CNN"]),
                           f.figure_height)
    widgets.show_figure(fig, "detection-timing")
    if missing and not f.slide:
        st.caption(missing)
    if not f.slide:
        st.caption(f"Totals on this {size}×{size} canvas: R-CNN {total['R-CNN']:.3f} s, Fast R-CNN "
                   f"{total['Fast R-CNN']:.3f} s" + (f", Faster R-CNN {total['Faster R-CNN']:.3f} s"
                                                      if total["Faster R-CNN"] else "")
                   + " (median of 3 runs, measured once per server and canvas).")
    f.note(tx.TIMING_NOTE)
