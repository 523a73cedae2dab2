"""Object detection on canvases of digits: box operations, canvases, the bundled ``digit-detector``.

One concept per module:

* :mod:`.ops`: :func:`box_iou`, :func:`nms`, :func:`roi_pool` in plain PyTorch, equal to ``torchvision.ops``.
* :mod:`.canvases`: :func:`make_canvas` / :func:`make_canvases`, bundled digits (or garments) pasted at random
  places and sizes, with tight boxes (:class:`Canvas`).
* :mod:`.detector`: the bundled Faster R-CNN (:func:`build_detector`, :func:`load_detector`), :func:`detect`
  -> :class:`Detection` s, and :func:`rpn_view` (anchors, objectness, proposals) for the Faster R-CNN view.
* :mod:`.evaluate`: :func:`precision_recall` at IoU 0.5 with the right label.
* :mod:`.training`: ``python -m cnnviz.train digit-detector`` (not imported here).

torchvision's detection models are imported on first use of the detector, not here.

Examples::

    >>> c = make_canvas(128, seed=0)
    >>> found = detect("digit-detector", c.image)
    >>> pr = precision_recall("digit-detector", make_canvases(50, 64, seed=1))
"""
from __future__ import annotations

from cnnviz.methods.detection.canvases import Canvas, CanvasError, make_canvas, make_canvases
from cnnviz.methods.detection.detector import (
    CLASSES,
    Detection,
    build_detector,
    canvas_tensor,
    detect,
    load_detector,
    rpn_view,
)
from cnnviz.methods.detection.errors import DetectionError
from cnnviz.methods.detection.evaluate import PrecisionRecall, match, precision_recall
from cnnviz.methods.detection.ops import box_area, box_iou, nms, roi_pool

__all__ = [
    "box_area", "box_iou", "nms", "roi_pool",
    "Canvas", "CanvasError", "make_canvas", "make_canvases",
    "CLASSES", "Detection", "DetectionError", "build_detector", "canvas_tensor", "detect", "load_detector", "rpn_view",
    "PrecisionRecall", "match", "precision_recall",
]
