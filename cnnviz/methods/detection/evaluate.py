"""Scoring a detector on canvases: precision and recall at an IoU threshold, with the right label.

A detection is a true positive when it matches a ground-truth box of the same digit with IoU of at
least ``iou``; detections are matched greedily from the highest score down, and each ground-truth box
is matched at most once (to the unmatched one of highest IoU). Precision is the share of detections
that are true positives, recall the share of ground-truth objects found.

Examples::

    >>> from cnnviz.methods.detection import make_canvases
    >>> pr = precision_recall("digit-detector", make_canvases(20, 64, seed=1))
    >>> pr.precision > 0.9 and pr.recall > 0.9                            # doctest: +SKIP
    True
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cnnviz.methods.detection.canvases import Canvas
from cnnviz.methods.detection.detector import Detection, detect
from cnnviz.methods.detection.ops import box_iou


@dataclass(frozen=True)
class PrecisionRecall:
    """The counts and the two ratios (1.0 where there is nothing to count)."""

    true_positives: int
    detections: int
    objects: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.detections if self.detections else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.objects if self.objects else 1.0


def match(detections: Sequence[Detection], boxes, labels, iou: float = 0.5) -> list[int | None]:
    """For each detection (taken by decreasing score), the index of the ground-truth box it matches, or None.

    Args:
        detections: what the detector found.
        boxes: ``[N, 4]`` ground-truth boxes; labels: ``[N]`` their digits.
        iou: the least IoU of a match.
    """
    order = sorted(range(len(detections)), key=lambda i: -detections[i].score)
    result: list[int | None] = [None] * len(detections)
    truth = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if not len(detections) or not len(truth):
        return result
    found = torch.tensor([d.box for d in detections], dtype=torch.float32)
    overlaps = box_iou(found, truth)
    labels = [int(v) for v in labels]
    taken: set[int] = set()
    for i in order:
        best, best_iou = None, iou
        for j in range(len(truth)):
            value = float(overlaps[i, j])
            if j not in taken and labels[j] == detections[i].label and value >= best_iou:
                best, best_iou = j, value
        if best is not None:
            taken.add(best)
            result[i] = best
    return result


def precision_recall(model, canvases: Sequence[Canvas], iou: float = 0.5,
                     score_threshold: float = 0.5) -> PrecisionRecall:
    """Precision and recall of ``model`` (a detector module or ``"digit-detector"``) over ``canvases``."""
    tp = n_det = n_obj = 0
    for canvas in canvases:
        found = detect(model, canvas.image, score_threshold)
        matched = match(found, canvas.boxes, canvas.labels, iou)
        tp += sum(m is not None for m in matched)
        n_det += len(found)
        n_obj += len(canvas.labels)
    return PrecisionRecall(tp, n_det, n_obj)


__all__ = ["PrecisionRecall", "match", "precision_recall"]
